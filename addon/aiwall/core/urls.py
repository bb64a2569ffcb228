"""The host names and path a URL carries, as the engine wants them."""

from urllib.parse import urlsplit

from aiwall.core.decision import HostName


def url_names(url: str) -> tuple[tuple[HostName, ...], str]:
    """`https://user@chat.deepseek.com:443/a?q` → the name `chat.deepseek.com:443` and path `/a`.

    Userinfo is dropped: `http://allowed.example@chat.deepseek.com/` goes to the vendor.
    A URL without a scheme is read as a host name followed by a path.
    """
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = parts.netloc.rpartition("@")[2]
    return (HostName("url", host),), parts.path or "/"
