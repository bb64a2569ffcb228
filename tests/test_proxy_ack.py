"""End to end: warn → acknowledge → continue, and every way the acknowledgement must refuse.

The proxy runs with proxy authentication (any user name is accepted), so the identity that
acknowledgements are bound to is the proxy-auth user.
"""

import base64
import html
import json
import re
import socket
from collections.abc import Iterator

import pytest

from .conftest import start_proxy
from .proxy import Proxy
from .upstream import Upstream

pytestmark = pytest.mark.e2e  # a real mitmdump: `pytest -m 'not e2e'` skips it

WARNED = "https://grok.com/chat?q=1"
HTML = ("-H", "Accept: text/html", "-H", "Sec-Fetch-Mode: navigate")
ACK = "https://grok.com/.well-known/aiwall/ack"
BLOCKED_URL = "https://chat.deepseek.com/"
JUSTIFICATION = "Comparing answers for the vendor review, no customer data."


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    with start_proxy(tmp_path_factory, upstream, options=("proxyauth=any",)) as running:
        yield running


def warning(proxy: Proxy, user: str, url: str = WARNED) -> str:
    """Open a warned page as `user`; return the token its form carries."""
    status, body = proxy.curl(url, *HTML, proxy_user=f"{user}:pw")
    assert status == 403
    assert 'action="/.well-known/aiwall/ack"' in body
    match = re.search(r'name="token" value="([^"]+)"', body)
    assert match
    return html.unescape(match.group(1))


def acknowledge(
    proxy: Proxy,
    user: str,
    token: str,
    justification: str = JUSTIFICATION,
    origin: str | None = "https://grok.com",
    url: str = ACK,
    extra: tuple[str, ...] = (),
) -> tuple[int, str, str]:
    """POST the form; return status, Location header and body."""
    args = [
        "-D",
        "-",
        "--data-urlencode",
        f"token={token}",
        "--data-urlencode",
        f"justification={justification}",
    ]
    if origin:
        args += ["-H", f"Origin: {origin}"]
    status, output = proxy.curl(url, *args, *extra, proxy_user=f"{user}:pw")
    location = re.search(r"(?im)^location: (.+?)\r?$", output)
    return status, location.group(1) if location else "", output


def test_warn_acknowledge_continue(proxy: Proxy) -> None:
    token = warning(proxy, "walter")
    assert not proxy.upstream.saw("grok.com")
    before = proxy.event_count()
    status, location, _ = acknowledge(proxy, "walter", token)
    assert (status, location) == (303, WARNED)
    ack = proxy.new_events(before)[-1]
    assert ack["event"]["action"] == "ack" and ack["aiwall"]["ack"]["accepted"] is True
    assert ack["aiwall"]["ack"]["justification"] == JUSTIFICATION
    assert ack["user"]["name"] == "walter"
    status, body = proxy.curl(WARNED, *HTML, proxy_user="walter:pw")
    assert status == 200 and "Upstream page for grok.com" in body
    # every host of the vendor now passes for this identity
    status, _ = proxy.curl("https://api.x.ai/v1/models", proxy_user="walter:pw")
    assert status == 200
    # and for nobody else
    status, _ = proxy.curl(WARNED, *HTML, proxy_user="otto:pw")
    assert status == 403


def test_justification_is_required_when_the_rule_says_so(proxy: Proxy) -> None:
    token = warning(proxy, "jules")
    status, _, _ = acknowledge(proxy, "jules", token, justification="")
    assert status == 403
    status, _, _ = acknowledge(proxy, "jules", token)  # the same token, now with a reason
    assert status == 303


def test_a_token_is_single_use(proxy: Proxy) -> None:
    token = warning(proxy, "rita")
    assert acknowledge(proxy, "rita", token)[0] == 303
    before = proxy.event_count()
    assert acknowledge(proxy, "rita", token)[0] == 403
    refused = proxy.new_events(before)[-1]["aiwall"]["ack"]
    assert refused["accepted"] is False and "replay" in refused["reason"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: "forged." + t.split(".", 1)[1],
        lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),
        lambda t: t.split(".")[0] + "." + "x" * 43,
        lambda t: "",
        lambda t: "not-a-token",
    ],
    ids=["forged-payload", "tampered-signature", "fake-signature", "empty", "garbage"],
)
def test_forged_and_tampered_tokens_are_refused(proxy: Proxy, mutate: object) -> None:
    token = warning(proxy, "fiona")
    status, _, _ = acknowledge(proxy, "fiona", mutate(token))  # type: ignore[operator]
    assert status == 403
    status, _ = proxy.curl(WARNED, *HTML, proxy_user="fiona:pw")
    assert status == 403


def test_another_users_token_is_refused(proxy: Proxy) -> None:
    token = warning(proxy, "alice")
    assert acknowledge(proxy, "mallory", token)[0] == 403
    assert proxy.curl(WARNED, *HTML, proxy_user="mallory:pw")[0] == 403


def test_another_vendors_token_is_refused(proxy: Proxy) -> None:
    token = warning(proxy, "victor", "https://chat.mistral.ai/")
    status, _, _ = acknowledge(proxy, "victor", token)  # posted on grok.com
    assert status == 403


@pytest.mark.parametrize(
    "origin", [None, "https://evil.example", "null", "https://grok.com.evil.example"]
)
def test_cross_site_or_originless_posts_are_refused(proxy: Proxy, origin: str | None) -> None:
    token = warning(proxy, "olga")
    assert acknowledge(proxy, "olga", token, origin=origin)[0] == 403


@pytest.mark.parametrize(
    ("user", "evil"),
    [
        ("ruth1", "//evil.com"),
        ("ruth2", "/\\evil.com"),
        ("ruth3", "javascript:alert(1)"),
        ("ruth4", "https://grok.com.evil.com/"),
    ],
)
def test_return_url_in_the_form_is_ignored(proxy: Proxy, user: str, evil: str) -> None:
    token = warning(proxy, user)
    status, location, _ = acknowledge(
        proxy,
        user,
        token,
        extra=("--data-urlencode", f"return={evil}", "--data-urlencode", f"next={evil}"),
    )
    assert (status, location) == (303, WARNED)


def test_the_ack_path_takes_post_only(proxy: Proxy) -> None:
    status, _ = proxy.curl(
        ACK, "-X", "PUT", "--data", "token=x", "-H", "Origin: https://grok.com", proxy_user="pat:pw"
    )
    assert status == 403
    status, body = proxy.curl(
        ACK, *HTML, proxy_user="pat:pw"
    )  # GET shows the warning to acknowledge
    assert status == 403 and 'name="token"' in body


def test_a_cookie_from_the_client_never_counts_as_an_acknowledgement(proxy: Proxy) -> None:
    for cookie in ("__Host-aiwall-ack=1", "aiwall=acknowledged", "aiwall_ack=walter"):
        status, _ = proxy.curl(WARNED, *HTML, "-H", f"Cookie: {cookie}", proxy_user="carl:pw")
        assert status == 403


def test_api_clients_get_json_with_the_url_to_acknowledge_at(proxy: Proxy) -> None:
    proxy.upstream.clear()
    status, body = proxy.curl(
        "https://api.x.ai/v1/chat/completions",
        "-H",
        "Accept: application/json",
        proxy_user="api:pw",
    )
    assert status == 403
    error = json.loads(body)["error"]
    assert error["code"] == "aiwall_warning"
    assert error["acknowledge_url"] == "https://api.x.ai/.well-known/aiwall/ack"
    assert not proxy.upstream.saw("x.ai")


def test_warned_without_justification_needs_no_reason(proxy: Proxy) -> None:
    status, body = proxy.curl("https://chat.mistral.ai/", *HTML, proxy_user="nina:pw")
    assert status == 403 and 'name="justification"' not in body
    token = html.unescape(re.search(r'name="token" value="([^"]+)"', body).group(1))  # type: ignore[union-attr]
    status, location, _ = acknowledge(
        proxy,
        "nina",
        token,
        justification="",
        origin="https://chat.mistral.ai",
        url="https://chat.mistral.ai/.well-known/aiwall/ack",
    )
    assert (status, location) == (303, "https://chat.mistral.ai/")


@pytest.mark.parametrize(
    "user",
    [
        b"eve\r\nforged: line",
        b"\xe2\x80\xa8sep",
        b"\x1b[31mred",
        b"\xff\xfe\x80",
        b"\xed\xa0\x80",
        b'q"uote\\',
    ],
)
def test_hostile_user_names_still_give_one_valid_json_line(proxy: Proxy, user: bytes) -> None:
    before = proxy.event_count()
    credentials = base64.b64encode(user + b":pw")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            b"GET http://chat.deepseek.com/ HTTP/1.1\r\nHost: chat.deepseek.com\r\n"
            b"Proxy-Authorization: Basic " + credentials + b"\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(4096).split(b" ", 2)[1] == b"403"
    proxy.new_events(before)
    lines = proxy.events_path.read_text().splitlines()[before:]
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["aiwall"]["action"] == "block"
    assert "\n" not in event["user"]["name"] or user.startswith(b"eve")


def test_a_group_exception_applies_to_its_proxy_auth_user(proxy: Proxy) -> None:
    status, _ = proxy.curl(BLOCKED_URL, "-H", "Accept: application/json", proxy_user="audrey:pw")
    assert status == 200
    status, _ = proxy.curl(BLOCKED_URL, "-H", "Accept: application/json", proxy_user="bob:pw")
    assert status == 403
