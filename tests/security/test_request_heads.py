"""Weakness 13: a 200 MiB request head was buffered whole, and 400 connections trickling a head
held their slots for as long as the clients liked. An HTTP/1 head over aiwall_head_max_bytes is
answered 431, one slower than aiwall_head_timeout seconds 408, and the connection is closed;
each refusal is logged as `connection.refused`."""

import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

from ..eventcheck import validate_event_lines
from ..proxy import Proxy, running_proxy
from ..upstream import Upstream

pytestmark = [pytest.mark.security, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
RULES = Path(__file__).parent / "rules.yaml"
HEAD = b"GET http://chat.deepseek.com/ HTTP/1.1\r\nHost: chat.deepseek.com\r\n"


def _answer(sock: socket.socket) -> bytes:
    """Everything the proxy sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _one_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) of a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _send_until_refused(sock: socket.socket, total: int) -> int:
    """Send up to `total` bytes of header fields; how many went before the proxy stopped it."""
    field = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    sent = 0
    try:
        while sent < total:
            sock.sendall(field)
            sent += len(field)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def _refusals(proxy: Proxy) -> list[dict[str, object]]:
    validate_event_lines(proxy.events_path.read_text().splitlines())
    return [e for e in proxy.events() if e["event"]["action"] == "connection.refused"]


def test_a_head_over_the_limit_is_refused_431_and_not_kept(
    tmp_path: Path, upstream: Upstream
) -> None:
    with running_proxy(tmp_path / "proxy", upstream, RULES, ROOT / "policies") as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(HEAD)
            sent = _send_until_refused(sock, 50 * 1024 * 1024)
            answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert sent < 50 * 1024 * 1024  # the proxy closed the connection long before the end
        [refusal] = _refusals(proxy)
    assert refusal["http"] == {"response": {"status_code": 431}}
    assert refusal["source"] == {"ip": "127.0.0.1"}
    assert "65536 bytes" in str(refusal["aiwall"])
    assert not upstream.saw("deepseek.com")


def test_a_large_head_sent_whole_in_one_write_is_refused_431(
    tmp_path: Path, upstream: Upstream
) -> None:
    """Complete heads that arrive in one read are measured too, not only heads that trickle."""
    with running_proxy(tmp_path / "proxy", upstream, RULES, ROOT / "policies") as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(HEAD + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n")
            answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        [refusal] = _refusals(proxy)
    assert refusal["http"] == {"response": {"status_code": 431}}
    assert refusal["source"] == {"ip": "127.0.0.1"}
    assert "65536 bytes" in str(refusal["aiwall"])
    assert not upstream.saw("deepseek.com")


def test_a_head_under_the_limit_is_decided_as_usual(tmp_path: Path, upstream: Upstream) -> None:
    fields = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"a" * 1000) for n in range(60))  # ~61 KB
    with running_proxy(tmp_path / "proxy", upstream, RULES, ROOT / "policies") as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(HEAD + fields + b"Connection: close\r\n\r\n")
            answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]  # blocked by its rule
        assert _refusals(proxy) == []


def test_a_slow_head_is_refused_408_after_the_timeout(tmp_path: Path, upstream: Upstream) -> None:
    options = ["aiwall_head_timeout=2"]
    with running_proxy(tmp_path / "proxy", upstream, RULES, ROOT / "policies", options) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            start = time.monotonic()
            sock.sendall(HEAD)
            try:
                for _ in range(20):  # a byte a second would go on for 20 s
                    sock.sendall(b"X")
                    time.sleep(0.5)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = _answer(sock)
            took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert 1.5 < took < 6
        [refusal] = _refusals(proxy)
    assert refusal["http"] == {"response": {"status_code": 408}}


def test_the_time_limit_starts_at_a_heads_first_byte_not_on_an_idle_connection(
    tmp_path: Path, upstream: Upstream
) -> None:
    """A kept-alive connection may wait between requests (mitmproxy's tcp_timeout bounds that);
    each head has the whole limit from its first byte."""
    options = ["aiwall_head_timeout=2"]
    request = HEAD + b"Accept: application/json\r\n\r\n"
    with running_proxy(tmp_path / "proxy", upstream, RULES, ROOT / "policies", options) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(request)
            first = _one_response(sock)
            time.sleep(3)  # idle for longer than the limit
            sock.sendall(request)
            second = _one_response(sock)
        assert first.startswith(b"HTTP/1.1 403 "), first[:300]
        assert second.startswith(b"HTTP/1.1 403 "), second[:300]
        assert _refusals(proxy) == []


def test_a_large_head_inside_a_tls_tunnel_is_refused_431(
    tmp_path: Path, upstream: Upstream
) -> None:
    with running_proxy(tmp_path / "proxy", upstream, RULES, ROOT / "policies") as proxy:
        context = ssl.create_default_context(cafile=str(proxy.ca))
        with httpx.Client(proxy=proxy.url, verify=context, timeout=10) as client:
            big = client.get("https://chat.deepseek.com/", headers={"X-Big": "a" * 100_000})
            usual = client.get("https://chat.deepseek.com/", headers={"X-Usual": "a" * 1000})
        assert big.status_code == 431
        assert usual.status_code == 403  # a new connection, decided as usual
        [refusal] = _refusals(proxy)
    assert refusal["http"] == {"response": {"status_code": 431}}
