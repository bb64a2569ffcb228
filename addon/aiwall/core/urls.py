"""The host names and path a URL carries, as the engine wants them."""

import re
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
    return (HostName("url", host),), judged_path(parts.path or "/")


# Escapes a server decodes before routing: unreserved characters (RFC 3986 2.3), and `/` and `\`,
# which many servers and frameworks also read as separators once decoded.
_DECODED = re.compile(r"%(2[dDeEfF]|5[cCfF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")


def judged_path(raw: str) -> str:
    """The path as the server will route it, which is the path rules and products are judged on
    (and the one the log shows).

    Query and fragment go; path parameters (`;jsessionid=...`) go; escapes of unreserved
    characters, `/` and `\\` are decoded; `\\` counts as `/`; `.` and `..` segments are removed
    (RFC 3986 5.2.4); runs of `/` become one. `/chat/../api/upload`, `/chat/%2e%2e/api/upload`,
    `/chat/..%2fapi/upload` and `/api;x=1/upload` are all `/api/upload`.
    """
    path = raw.split("?", 1)[0].split("#", 1)[0]
    # Decoded once, as a server does: `%252e` is the segment `%2e`, not `.`.
    path = _DECODED.sub(lambda m: chr(int(m.group(1), 16)), path).replace("\\", "/")
    segments: list[str] = []
    for segment in path.split("/"):
        segment = segment.split(";", 1)[0]
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    trailing = "/" if path.endswith(("/", "/.", "/..")) and segments else ""
    return "/" + "/".join(segments) + trailing
