"""Bypass 1: connections mitmproxy would relay unseen (ignore_hosts, allow_hosts) are judged on
every name they carry — CONNECT target, TLS SNI, the first plaintext Host — before they are
ignored; a plaintext tunnel is looked into request by request."""

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import start_proxy
from ..proxy import Proxy
from ..upstream import Upstream

pytestmark = [pytest.mark.security, pytest.mark.e2e]

RULES = Path(__file__).parent / "rules.yaml"


@pytest.fixture(scope="module")
def ignoring(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    options = (r"ignore_hosts=bank\.example",)
    with start_proxy(tmp_path_factory, upstream, RULES, options=options) as running:
        yield running


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    options = (r"allow_hosts=chatgpt\.com",)
    with start_proxy(tmp_path_factory, upstream, RULES, options=options) as running:
        yield running


def tunnel(proxy: Proxy, target: str) -> socket.socket:
    """A CONNECT tunnel through the proxy, answered 200."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    answer = read_head(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return sock


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length body, whole."""
    data = read_head(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    length = int(lengths[0].split(b":", 1)[1]) if lengths else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def connect_status(proxy: Proxy, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return read_head(sock).split(b"\r\n", 1)[0]


def test_a_vendor_tunnel_with_an_ignored_sni_is_refused(ignoring: Proxy) -> None:
    ignoring.upstream.clear()
    before = ignoring.event_count()
    sock = tunnel(ignoring, "chat.deepseek.com:443")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        pytest.raises((ssl.SSLError, ConnectionError, OSError)),
        context.wrap_socket(sock, server_hostname="www.bank.example") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: chat.deepseek.com\r\n\r\n")
        if not tls.recv(1):
            raise ConnectionError("closed")
    assert not ignoring.upstream.saw("bank.example")
    assert not ignoring.upstream.saw("deepseek.com")
    [event] = ignoring.new_events(before)
    assert event["aiwall"]["action"] == "block" and event["event"]["outcome"] == "failure"
    assert {n["name"] for n in event["aiwall"]["names"]} >= {"www.bank.example"}


def test_a_non_ai_tunnel_with_an_ignored_sni_is_still_relayed(ignoring: Proxy) -> None:
    ignoring.upstream.clear()
    sock = tunnel(ignoring, "www.bank.example:443")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the upstream's own certificate: not intercepted
    with context.wrap_socket(sock, server_hostname="www.bank.example") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: www.bank.example\r\nConnection: close\r\n\r\n")
        assert b"Upstream page for www.bank.example" in b"".join(iter(lambda: tls.recv(65536), b""))
    assert ignoring.upstream.saw("www.bank.example")


def test_a_second_request_in_an_ignored_plaintext_tunnel_is_judged(ignoring: Proxy) -> None:
    ignoring.upstream.clear()
    sock = tunnel(ignoring, "www.bank.example:80")
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: www.bank.example\r\n\r\n")
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200") and b"www.bank.example" in first, first
        sock.sendall(b"GET / HTTP/1.1\r\nHost: chat.deepseek.com\r\nConnection: close\r\n\r\n")
        rest = b"".join(iter(lambda: sock.recv(65536), b""))
    assert b"HTTP/1.1 403" in rest
    assert not ignoring.upstream.saw("deepseek.com")


def test_a_vendor_outside_allow_hosts_is_refused_at_connect(allowing: Proxy) -> None:
    allowing.upstream.clear()
    before = allowing.event_count()
    assert connect_status(allowing, "chat.deepseek.com:443") == b"HTTP/1.1 403 Forbidden"
    assert not allowing.upstream.saw("deepseek.com")
    [event] = allowing.new_events(before)
    assert event["aiwall"]["action"] == "block"
    assert event["http"]["response"]["status_code"] == 403


def test_a_logged_vendor_outside_allow_hosts_is_relayed_and_logged(allowing: Proxy) -> None:
    """Relayed unseen, because the organisation said so — but never without a trace."""
    before = allowing.event_count()
    assert connect_status(allowing, "api.mistral.ai:443") == b"HTTP/1.1 403 Forbidden"  # warned
    status, body = allowing.curl("https://api.openai.com/", "-k")  # the upstream's certificate
    assert status == 200 and "Upstream page" in body
    events = allowing.new_events(before)
    assert [e["aiwall"]["action"] for e in events] == ["warn", "log"]
    assert events[1]["event"]["outcome"] == "success"


def test_allow_hosts_still_lets_the_allowed_host_be_looked_into(allowing: Proxy) -> None:
    before = allowing.event_count()
    url = "https://chatgpt.com/backend-anon/conversation"
    status, _ = allowing.curl(url, "-H", "Accept: application/json")
    assert status == 403  # logged-out ChatGPT is warned: the tunnel was intercepted
    assert allowing.new_events(before)[-1]["rule"]["id"] == "warn-logged-out-chatgpt"
