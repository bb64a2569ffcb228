"""aiwall beside a real Squid, both ways round.

Behind: Squid is the proxy employees use. It asks for a password (Basic), sends the AI hosts
of `aiwall squid-acl` to aiwall as its parent with X-Authenticated-User and X-Forwarded-For,
and everything else direct. aiwall believes those headers from Squid's address alone
(`aiwall_trusted_proxies`) and removes them before the vendor.

In front: aiwall is the proxy employees use and sends what it lets through to the company's
egress proxy (mitmproxy's upstream mode, with Basic towards it); what aiwall blocks never
reaches the egress proxy.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT, start_proxy
from ..proxy import Proxy
from ..upstream import Upstream
from .services import USERS, Squid, curl, running_squid

RULES = Path(__file__).parent / "rules.yaml"
SQUID_ADDRESS = "127.0.0.2"  # Squid's outgoing address: the only one aiwall trusts
JSON = ("-H", "Accept: application/json")

BEHIND = """\
acl ai_hosts dstdomain "{folder}/aiwall-hosts.acl"
http_access allow authenticated
http_access deny all
cache_peer 127.0.0.1 parent @AIWALL_PORT@ 0 no-query no-digest no-netdb-exchange name=aiwall
cache_peer_access aiwall allow ai_hosts
cache_peer_access aiwall deny all
never_direct allow ai_hosts
request_header_add X-Authenticated-User "%ul" ai_hosts
forwarded_for on
tcp_outgoing_address 127.0.0.2
"""

EGRESS = """\
http_access allow authenticated
http_access deny all
"""


def squid_acl() -> str:
    """The domain list exactly as an administrator makes it: `aiwall squid-acl`."""
    return subprocess.run(
        [sys.executable, "-m", "aiwall", "squid-acl", "--policies", str(ROOT / "policies")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.fixture(scope="module")
def aiwall(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    options = (f"aiwall_trusted_proxies={SQUID_ADDRESS}/32",)
    with start_proxy(tmp_path_factory, upstream, RULES, options) as running:
        yield running


@pytest.fixture(scope="module")
def squid(aiwall: Proxy) -> Iterator[Squid]:
    config = BEHIND.replace("@AIWALL_PORT@", str(aiwall.port))
    with running_squid(config, USERS, files={"aiwall-hosts.acl": squid_acl()}) as running:
        yield running


def via_squid(squid: Squid, aiwall: Proxy, url: str, user: str | None, *args: str) -> int:
    login = ("--proxy-user", f"{user}:{USERS[user]}") if user else ()
    status, _, _ = curl(squid.url, url, *login, *args, ca=aiwall.ca)
    return status


def test_squid_sends_ai_hosts_to_aiwall_with_the_user_it_authenticated(
    squid: Squid, aiwall: Proxy
) -> None:
    before = aiwall.event_count()
    assert via_squid(squid, aiwall, "https://chat.deepseek.com/", "alice") == 200
    [event] = aiwall.new_events(before)
    assert event["user"]["name"] == "alice"
    assert event["source"]["ip"] == "127.0.0.1"  # the employee's address, not Squid's
    assert event["rule"]["id"] == "engineers-may-use-deepseek"


def test_each_user_behind_squid_gets_their_own_rule(squid: Squid, aiwall: Proxy) -> None:
    before = aiwall.event_count()
    assert via_squid(squid, aiwall, "https://chat.deepseek.com/", "bob", *JSON) == 403
    [event] = aiwall.new_events(before)
    assert event["user"]["name"] == "bob" and event["rule"]["id"] == "block-deepseek"


def test_plain_http_requests_carry_their_own_user(squid: Squid, aiwall: Proxy) -> None:
    """Squid sends several users' plain requests over one connection to its parent."""
    before = aiwall.event_count()
    assert via_squid(squid, aiwall, "http://chat.deepseek.com/a", "bob", *JSON) == 403
    assert via_squid(squid, aiwall, "http://chat.deepseek.com/b", "alice") == 200
    assert via_squid(squid, aiwall, "http://chat.deepseek.com/c", "bob", *JSON) == 403
    users = [e["user"]["name"] for e in aiwall.new_events(before, wait=3.0)]
    assert users == ["bob", "alice", "bob"]


def test_the_vendor_never_sees_the_identity_headers(squid: Squid, aiwall: Proxy) -> None:
    assert via_squid(squid, aiwall, "http://claude.ai/behind-squid", "carol") == 200
    [seen] = [r for r in aiwall.upstream.requests if r.path == "/behind-squid"]
    names = {name.lower() for name in seen.headers}
    assert not names & {"x-authenticated-user", "x-forwarded-for"}


def test_a_user_header_inside_the_tunnel_is_not_believed(squid: Squid, aiwall: Proxy) -> None:
    """Squid vouches for the CONNECT; what the client writes inside TLS is its own."""
    before = aiwall.event_count()
    forged = ("-H", "X-Authenticated-User: alice", *JSON)
    assert via_squid(squid, aiwall, "https://chat.deepseek.com/in-tunnel", "bob", *forged) == 403
    [event] = aiwall.new_events(before)
    assert event["user"]["name"] == "bob"


def test_other_hosts_go_direct_and_never_reach_aiwall(squid: Squid, aiwall: Proxy) -> None:
    before = aiwall.event_count()
    url = f"http://127.0.0.1:{aiwall.upstream.plain_port}/not-ai"
    assert via_squid(squid, aiwall, url, "carol") == 200
    assert via_squid(squid, aiwall, "http://claude.ai/is-ai", "carol") == 200
    assert squid.logged("/not-ai carol ", "HIER_DIRECT/127.0.0.1")
    assert squid.logged("/is-ai carol ", "PARENT")  # sent to a parent: aiwall
    assert aiwall.new_events(before, wait=0.5) == []  # allowed, not logged; not-ai unseen


def test_squid_asks_for_a_password_first(squid: Squid, aiwall: Proxy) -> None:
    assert via_squid(squid, aiwall, "https://chat.deepseek.com/", None) == 407


@pytest.mark.parametrize("url", ["http://chat.deepseek.com/forged", "https://chat.deepseek.com/"])
def test_headers_from_an_untrusted_address_are_ignored_and_removed(aiwall: Proxy, url: str) -> None:
    """A client that talks to aiwall itself (from 127.0.0.1, not Squid's 127.0.0.2)."""
    before = aiwall.event_count()
    forged = ("-H", "X-Authenticated-User: alice", "-H", "X-Forwarded-For: 10.9.9.9")
    proxy_headers = ("--proxy-header", "X-Authenticated-User: alice")
    status, _, _ = curl(aiwall.url, url, *forged, *proxy_headers, *JSON, ca=aiwall.ca)
    assert status == 403  # alice may; an anonymous client may not
    [event] = aiwall.new_events(before)
    assert "user" not in event
    assert event["source"]["ip"] == "127.0.0.1"


def test_an_untrusted_clients_headers_are_not_forwarded(aiwall: Proxy) -> None:
    forged = ("-H", "X-Authenticated-User: alice", "-H", "X-Forwarded-For: 10.9.9.9")
    status, _, _ = curl(aiwall.url, "http://claude.ai/forged-headers", *forged, ca=aiwall.ca)
    assert status == 200
    [seen] = [r for r in aiwall.upstream.requests if r.path == "/forged-headers"]
    assert not {n.lower() for n in seen.headers} & {"x-authenticated-user", "x-forwarded-for"}


# --- aiwall in front of a parent proxy -------------------------------------------------------


@pytest.fixture(scope="module")
def egress() -> Iterator[Squid]:
    hosts = "127.0.0.1 localhost claude.ai chat.deepseek.com\n"
    with running_squid(EGRESS, {"aiwall-egress": "egress-pw"}, hosts=hosts) as running:
        yield running


@pytest.fixture(scope="module")
def in_front(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, egress: Squid
) -> Iterator[Proxy]:
    options = (
        f"mode=upstream:http://127.0.0.1:{egress.port}",
        "upstream_auth=aiwall-egress:egress-pw",
    )
    # No test redirection: the egress proxy resolves names (its hosts file) and connects.
    with start_proxy(tmp_path_factory, upstream, RULES, options, redirect=False) as running:
        yield running


def test_allowed_traffic_leaves_through_the_parent_proxy(in_front: Proxy, egress: Squid) -> None:
    port = in_front.upstream.tls_port
    status, body, trace = curl(in_front.url, f"https://claude.ai:{port}/via-parent", ca=in_front.ca)
    assert status == 200, trace
    assert "claude.ai" in body
    assert egress.logged(f"CONNECT claude.ai:{port} aiwall-egress")


def test_plain_http_leaves_through_the_parent_proxy(in_front: Proxy, egress: Squid) -> None:
    port = in_front.upstream.plain_port
    status, _, trace = curl(in_front.url, f"http://claude.ai:{port}/plain-via-parent")
    assert status == 200, trace
    assert egress.logged("/plain-via-parent aiwall-egress")


def test_blocked_traffic_never_reaches_the_parent_proxy(in_front: Proxy, egress: Squid) -> None:
    for url in (
        f"https://chat.deepseek.com:{in_front.upstream.tls_port}/",
        f"http://chat.deepseek.com:{in_front.upstream.plain_port}/",
    ):
        status, _, _ = curl(in_front.url, url, *JSON, ca=in_front.ca)
        assert status == 403
    assert "deepseek" not in egress.access_log()
