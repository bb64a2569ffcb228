"""Kerberos single sign-on at the proxy, against a real MIT KDC on loopback: a user logs in
with kinit, curl answers aiwall's `407 Proxy-Authenticate: Negotiate` with a ticket for
HTTP/localhost, and aiwall names the user from it (identity/kerberos.py, proxy/identify.py).
"""

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from aiwall.identity.kerberos import NegotiateAcceptor, NegotiateError, negotiate_token, user_of

from ..conftest import start_proxy
from ..proxy import Proxy
from ..upstream import Upstream
from .services import REALM, Kdc, curl, running_kdc

gssapi = pytest.importorskip("gssapi", reason="python-gssapi: pip install 'aiwall[kerberos]'")

RULES = Path(__file__).parent / "rules.yaml"
ALLOWED = "https://claude.ai/"
DEEPSEEK = "https://chat.deepseek.com/"


@pytest.fixture(scope="module")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kdc]:
    with running_kdc(tmp_path_factory.mktemp("kdc")) as server:
        yield server


def client_token(kdc: Kdc, user: str, cache: Path, service: str = "HTTP@localhost") -> str:
    """What a browser sends after `Negotiate `: a SPNEGO token for the service, as `user`."""
    env = kdc.kinit(user, cache)
    script = (
        "import base64, gssapi\n"
        f"name = gssapi.Name({service!r}, gssapi.NameType.hostbased_service)\n"
        "spnego = gssapi.Mechanism.from_sasl_name('SPNEGO')\n"
        "context = gssapi.SecurityContext(name=name, usage='initiate', mech=spnego)\n"
        "print(base64.b64encode(context.step()).decode())\n"
    )
    # In a process of its own: the client's krb5.conf and ticket cache are its environment.
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def acceptor(kdc: Kdc) -> NegotiateAcceptor:
    return NegotiateAcceptor(kdc.keytab)


def test_a_ticket_names_its_user(kdc: Kdc, acceptor: NegotiateAcceptor, tmp_path: Path) -> None:
    accepted = acceptor.accept(client_token(kdc, "alice", tmp_path / "cc"))
    assert accepted.principal == f"alice@{REALM}"
    assert accepted.user == "alice"


def test_the_realm_is_kept_when_asked(kdc: Kdc, tmp_path: Path) -> None:
    acceptor = NegotiateAcceptor(kdc.keytab, keep_realm=True)
    assert acceptor.accept(client_token(kdc, "bob", tmp_path / "cc")).user == f"bob@{REALM}"


def test_a_token_is_accepted_once(kdc: Kdc, acceptor: NegotiateAcceptor, tmp_path: Path) -> None:
    token = client_token(kdc, "carol", tmp_path / "cc")
    acceptor.accept(token)
    with pytest.raises(NegotiateError):
        acceptor.accept(token)  # a replayed authenticator


def test_a_ticket_for_another_service_is_refused(kdc: Kdc, tmp_path: Path) -> None:
    kdc.admin("addprinc -randkey HTTP/other.aiwall.test")
    acceptor = NegotiateAcceptor(kdc.keytab)
    token = client_token(kdc, "alice", tmp_path / "cc", service="HTTP@other.aiwall.test")
    with pytest.raises(NegotiateError):
        acceptor.accept(token)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not base64!", "not base64"),
        ("", "empty"),
        (base64.b64encode(b"\x60\x03garbage").decode(), "."),
        ("A" * 70_000, "too long"),
    ],
)
def test_a_broken_token_is_refused(acceptor: NegotiateAcceptor, token: str, reason: str) -> None:
    with pytest.raises(NegotiateError, match=reason):
        acceptor.accept(token)


def test_a_missing_keytab_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(NegotiateError, match="no keytab"):
        NegotiateAcceptor(tmp_path / "none.keytab")


def test_a_keytab_without_the_principal_is_refused_at_start(kdc: Kdc) -> None:
    with pytest.raises(NegotiateError, match="keytab"):
        NegotiateAcceptor(kdc.keytab, principal=f"HTTP/elsewhere@{REALM}")


@pytest.mark.parametrize(
    ("header", "token"),
    [("Negotiate YIIx", "YIIx"), ("negotiate  abc ", "abc"), ("Basic YWxpY2U6cHc=", None)],
)
def test_negotiate_token_reads_the_scheme(header: str, token: str | None) -> None:
    assert negotiate_token(header) == token


@pytest.mark.parametrize(
    ("principal", "user"),
    [("alice@CORP.EXAMPLE.COM", "alice"), ("svc/host@R", "svc/host"), ("bare", "bare")],
)
def test_user_of_drops_the_realm(principal: str, user: str) -> None:
    assert user_of(principal) == user


# --- end to end: mitmdump with aiwall, curl --proxy-negotiate ------------------------------


@pytest.fixture(scope="module")
def sso_proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, kdc: Kdc
) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("htpasswd")
    htpasswd = folder / "htpasswd"
    hashed = bcrypt.hashpw(b"frank-pw", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"frank:{hashed}\n")
    options = (
        f"aiwall_negotiate_keytab={kdc.keytab}",
        f"aiwall_negotiate_basic=@{htpasswd}",
    )
    with start_proxy(tmp_path_factory, upstream, RULES, options, env=kdc.env) as running:
        yield running


def negotiate(
    proxy: Proxy, url: str, env: dict[str, str] | None, *args: str
) -> tuple[int, str, str]:
    return curl(
        f"http://localhost:{proxy.port}",
        url,
        "--proxy-negotiate",
        "-U",
        ":",
        *args,
        ca=proxy.ca,
        env=env,
    )


def test_curl_with_a_ticket_passes_as_its_user(sso_proxy: Proxy, kdc: Kdc, tmp_path: Path) -> None:
    env = kdc.kinit("alice", tmp_path / "cc")
    before = sso_proxy.event_count()
    status, _, trace = negotiate(sso_proxy, DEEPSEEK, env)
    assert status == 200, trace
    assert "Proxy-Authorization: Negotiate" in trace
    [event] = sso_proxy.new_events(before)
    assert event["user"]["name"] == "alice"
    assert event["rule"]["id"] == "engineers-may-use-deepseek"


def test_another_user_gets_their_own_rule(sso_proxy: Proxy, kdc: Kdc, tmp_path: Path) -> None:
    env = kdc.kinit("bob", tmp_path / "cc")
    before = sso_proxy.event_count()
    status, _, trace = negotiate(sso_proxy, DEEPSEEK, env, "-H", "Accept: application/json")
    assert status == 403, trace
    [event] = sso_proxy.new_events(before)
    assert event["user"]["name"] == "bob" and event["rule"]["id"] == "block-deepseek"


def test_plain_http_is_authenticated_too(sso_proxy: Proxy, kdc: Kdc, tmp_path: Path) -> None:
    env = kdc.kinit("bob", tmp_path / "cc")
    before = sso_proxy.event_count()
    status, _, trace = negotiate(sso_proxy, "http://chat.deepseek.com/x", env)
    assert status == 403, trace
    [event] = sso_proxy.new_events(before)
    assert event["user"]["name"] == "bob"


def test_the_credential_never_reaches_the_vendor(
    sso_proxy: Proxy, kdc: Kdc, tmp_path: Path
) -> None:
    env = kdc.kinit("alice", tmp_path / "cc")
    status, _, trace = negotiate(sso_proxy, "http://claude.ai/plain-negotiate", env)
    assert status == 200, trace
    [seen] = [r for r in sso_proxy.upstream.requests if r.path == "/plain-negotiate"]
    assert not {name.lower() for name in seen.headers} & {"proxy-authorization"}


def test_without_a_ticket_the_proxy_asks_for_negotiate_and_basic(
    sso_proxy: Proxy, kdc: Kdc, tmp_path: Path
) -> None:
    env = {**kdc.env, "KRB5CCNAME": f"FILE:{tmp_path / 'empty'}"}
    for url in ("https://claude.ai/no-ticket", "http://claude.ai/no-ticket"):
        status, _, trace = negotiate(sso_proxy, url, env)
        assert status == 407
        assert "Proxy-Authenticate: Negotiate" in trace
        assert 'Proxy-Authenticate: Basic realm="aiwall"' in trace
    assert not [r for r in sso_proxy.upstream.requests if r.path == "/no-ticket"]


def test_basic_is_the_fallback_where_configured(sso_proxy: Proxy) -> None:
    before = sso_proxy.event_count()
    status, _, _ = curl(
        sso_proxy.url,
        DEEPSEEK,
        "--proxy-user",
        "frank:frank-pw",
        "-H",
        "Accept: text/html",
        ca=sso_proxy.ca,
    )
    assert status == 403
    [event] = sso_proxy.new_events(before)
    assert event["user"]["name"] == "frank"


@pytest.mark.parametrize(
    "credential", [("--proxy-user", "frank:wrong"), ("-H", "Proxy-Authorization: Negotiate AAAA")]
)
def test_a_wrong_credential_gets_407(sso_proxy: Proxy, credential: tuple[str, str]) -> None:
    status, _, _ = curl(sso_proxy.url, ALLOWED, *credential, ca=sso_proxy.ca)
    assert status == 407


def test_proxyauth_and_negotiate_together_are_refused_at_start(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, kdc: Kdc
) -> None:
    options = (f"aiwall_negotiate_keytab={kdc.keytab}", "proxyauth=any")
    started = start_proxy(tmp_path_factory, upstream, RULES, options, env=kdc.env)
    with pytest.raises(RuntimeError, match="aiwall_negotiate_basic"), started:
        pass
