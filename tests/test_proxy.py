"""End to end: a real mitmdump with aiwall, real clients, a local upstream standing in for vendors.

The rules are tests/fixtures/proxy/rules.yaml over the shipped vendor records: DeepSeek is
blocked (data in China), Grok and Le Chat are warned, Anthropic is allowed, the rest logged.
"""

import asyncio
import json
import socket
import ssl
import subprocess
import time
import zlib

import httpx
import openai
import pytest
import websockets.asyncio.client

from .proxy import Proxy
from .upstream import STREAM_PAUSE

pytestmark = pytest.mark.e2e  # a real mitmdump: `pytest -m 'not e2e'` skips it

BLOCKED = "https://chat.deepseek.com/"
HTML = ("-H", "Accept: text/html", "-H", "Sec-Fetch-Mode: navigate")


def test_blocked_vendor_gets_the_block_page_and_never_reaches_upstream(proxy: Proxy) -> None:
    before = proxy.event_count()
    status, body = proxy.curl(BLOCKED, *HTML)
    assert status == 403
    assert "DeepSeek" in body and "Company ChatGPT" in body
    assert "&lt;b&gt;really&lt;/b&gt;" in body  # the rule's message, escaped
    assert not proxy.upstream.saw("deepseek.com")
    events = proxy.new_events(before)
    assert len(events) == 1
    event = events[0]
    assert event["event"]["action"] == "decision"
    assert event["aiwall"]["action"] == "block"
    assert event["rule"]["id"] == "block-cn"
    assert event["aiwall"]["product"] == "deepseek/consumer"
    assert event["url"]["domain"] == "chat.deepseek.com"
    assert event["http"]["response"]["status_code"] == 403


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--http1.1",), id="http1.1"),
        pytest.param(("--http2",), id="http2"),
    ],
)
def test_curl_is_blocked_over_each_http_version(proxy: Proxy, args: tuple[str, ...]) -> None:
    status, body = proxy.curl(BLOCKED, *args, "-H", "Accept: application/json")
    assert status == 403
    assert json.loads(body)["error"]["code"] == "aiwall_blocked"
    assert not proxy.upstream.saw("deepseek.com")


def test_plain_http_to_a_blocked_vendor_is_blocked(proxy: Proxy) -> None:
    status, _ = proxy.curl("http://chat.deepseek.com/api", "-H", "Accept: application/json")
    assert status == 403
    assert not proxy.upstream.saw("deepseek.com")


@pytest.mark.parametrize("http2", [False, True])
def test_httpx_gets_the_json_denial(proxy: Proxy, http2: bool) -> None:
    with httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), http2=http2
    ) as client:
        response = client.post("https://api.deepseek.com/v1/chat/completions", json={"x": 1})
        other = client.get("https://api.openai.com/v1/models")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["vendor"] == "deepseek" and error["rule"] == "block-cn"
    assert response.headers["cache-control"] == "no-store"
    assert other.status_code == 200  # logged, forwarded
    assert not proxy.upstream.saw("deepseek.com")
    assert proxy.upstream.saw("api.openai.com")


def test_openai_sdk_raises_permission_error_with_aiwall_message(proxy: Proxy) -> None:
    http_client = httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca))
    )
    client = openai.OpenAI(
        base_url="https://api.deepseek.com/v1",
        api_key="sk-test",
        http_client=http_client,
        max_retries=0,
    )
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": "hi"}]
        )
    assert "China" in str(raised.value)
    assert raised.value.status_code == 403


def test_openai_sdk_on_a_warned_vendor_gets_the_acknowledge_url(proxy: Proxy) -> None:
    http_client = httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca))
    )
    client = openai.OpenAI(
        base_url="https://api.x.ai/v1", api_key="xai-test", http_client=http_client, max_retries=0
    )
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.models.list()
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["code"] == "aiwall_warning"
    assert body["acknowledge_url"] == "https://api.x.ai/.well-known/aiwall/ack"


@pytest.mark.parametrize(
    "url",
    [
        "https://CHAT.DeepSeek.COM/",
        "https://chat.deepseek.com./",
        "https://chat.deepseek.com:443/",
        "https://a.b.deepseek.com/",
        "https://deepseek.com/",
        "https://allowed.example@chat.deepseek.com/",
    ],
)
def test_spellings_of_a_blocked_host_are_blocked(proxy: Proxy, url: str) -> None:
    status, _ = proxy.curl(url, "-H", "Accept: application/json")
    assert status == 403
    assert not proxy.upstream.saw("deepseek.com")


@pytest.mark.parametrize("host", ["evil-deepseek.com", "deepseek.com.evil.net", "notdeepseek.com"])
def test_look_alikes_are_not_the_vendor(proxy: Proxy, host: str) -> None:
    before = proxy.event_count()
    status, _ = proxy.curl(f"http://{host}/", "-H", "Accept: application/json")
    assert status == 200  # not AI traffic: passed untouched and unlogged
    assert proxy.new_events(before, wait=0.3) == []


def raw_request(proxy: Proxy, head: bytes) -> bytes:
    """Send raw bytes to the proxy (plain HTTP proxy request) and read the answer."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


@pytest.mark.parametrize(
    "host",
    [
        b"chat..deepseek.com",
        b"chat_deepseek.com",
        b"chat%2edeepseek.com",
        b"chat deepseek.com",
        b"chat.deepseek.com\x01",
        b"a" * 64 + b".deepseek.com",
        b"a." * 130 + b"com",
    ],
)
def test_invalid_host_header_is_refused_with_400(proxy: Proxy, host: bytes) -> None:
    answer = raw_request(
        proxy,
        b"GET http://example.org/ HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n",
    )
    assert answer.split(b" ", 2)[1] == b"400"
    assert not proxy.upstream.saw("deepseek.com")


def test_a_16kb_host_header_is_refused(proxy: Proxy) -> None:
    answer = raw_request(
        proxy,
        b"GET http://example.org/ HTTP/1.1\r\nHost: "
        + b"a" * 16384
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert answer.split(b" ", 2)[1] in (b"400", b"431")


def test_two_host_headers_are_refused(proxy: Proxy) -> None:
    answer = raw_request(
        proxy,
        b"GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nHost: chat.deepseek.com\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert answer.split(b" ", 2)[1] == b"400"


def test_host_header_naming_a_vendor_in_a_plain_request_is_blocked(proxy: Proxy) -> None:
    answer = raw_request(
        proxy,
        b"GET http://example.org/ HTTP/1.1\r\nHost: chat.deepseek.com\r\nConnection: close\r\n\r\n",
    )
    assert answer.split(b" ", 2)[1] == b"403"
    assert not proxy.upstream.saw("deepseek.com")


def tunnel(
    proxy: Proxy, connect: str, sni: str | None, alpn: list[str] | None = None
) -> ssl.SSLSocket:
    """CONNECT to `connect`, then TLS with `sni` (None: no SNI), trusting the proxy's CA."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    if b" 200 " not in answer.split(b"\r\n")[0]:
        sock.close()
        raise ConnectionRefusedError(answer.split(b"\r\n")[0].decode())
    context = ssl.create_default_context(cafile=str(proxy.ca))
    context.check_hostname = False
    if alpn:
        context.set_alpn_protocols(alpn)
    return context.wrap_socket(sock, server_hostname=sni)


def http_over(sock: ssl.SSLSocket, host: str, target: str = "/") -> int:
    head = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
    sock.sendall(f"{head}Connection: close\r\n\r\n".encode())
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    sock.close()
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("connect", "sni", "host"),
    [
        ("chat.deepseek.com:443", "example.org", "example.org"),  # CONNECT vendor
        ("example.org:443", "chat.deepseek.com", "example.org"),  # SNI vendor
        ("example.org:443", "chat.deepseek.com", "chat.deepseek.com"),
        ("127.0.0.1:443", None, "chat.deepseek.com"),  # no SNI, CONNECT to an IP
        ("api.anthropic.com:443", "api.anthropic.com", "chat.deepseek.com"),  # allowed tunnel
    ],
)
def test_disagreeing_names_take_the_strictest_outcome(
    proxy: Proxy, connect: str, sni: str | None, host: str
) -> None:
    before = proxy.event_count()
    assert http_over(tunnel(proxy, connect, sni), host) == 403
    assert not proxy.upstream.saw("deepseek.com")
    names = {n["name"] for n in proxy.new_events(before)[-1]["aiwall"]["names"]}
    assert any("deepseek" in n for n in names) and len(names) >= 2


def test_absolute_form_url_inside_an_allowed_tunnel_is_blocked(proxy: Proxy) -> None:
    sock = tunnel(proxy, "api.anthropic.com:443", "api.anthropic.com")
    assert http_over(sock, "api.anthropic.com", "https://chat.deepseek.com/") == 403
    assert not proxy.upstream.saw("deepseek.com")


def test_http2_streams_with_different_authorities_are_decided_alone(proxy: Proxy) -> None:
    import h2.config
    import h2.connection
    import h2.events

    sock = tunnel(proxy, "api.anthropic.com:443", "api.anthropic.com", alpn=["h2"])
    assert sock.selected_alpn_protocol() == "h2"
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    for stream, authority in ((1, "api.anthropic.com"), (3, "chat.deepseek.com")):
        headers = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", authority),
            (":path", "/"),
        ]
        connection.send_headers(stream, headers, end_stream=True)
    sock.sendall(connection.data_to_send())
    statuses: dict[int, int] = {}
    ended: set[int] = set()
    while len(ended) < 2:
        data = sock.recv(65536)
        if not data:
            break
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                statuses[event.stream_id] = int(dict(event.headers)[b":status"])
            if isinstance(event, h2.events.StreamEnded):
                ended.add(event.stream_id)
        sock.sendall(connection.data_to_send())
    sock.close()
    assert statuses == {1: 200, 3: 403}
    assert not proxy.upstream.saw("deepseek.com")


def test_non_ai_tls_is_passed_through_untouched(proxy: Proxy) -> None:
    """ai-only: the client sees the upstream's own certificate, not one from the proxy's CA."""
    before = proxy.event_count()
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-x",
            proxy.url,
            "--cacert",
            str(proxy.ca),
            "https://example.org/",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 60  # curl: the peer's certificate is not signed by our CA
    insecure = subprocess.run(
        ["curl", "-sS", "-k", "--max-time", "10", "-x", proxy.url, "https://example.org/"],
        capture_output=True,
        text=True,
    )
    assert "Upstream page for example.org" in insecure.stdout
    assert proxy.new_events(before, wait=0.3) == []


async def _websocket_echo(proxy: Proxy, url: str) -> str:
    """One message there and back through the proxy, on asyncio so every step is cancellable.

    The sync client once hung a full run for over ten minutes: when its handshake times out it
    closes the socket and then joins its receiving thread with no timeout, and a thread blocked
    in a TLS read is not always woken by that close. `open_timeout` bounds the handshake only;
    `asyncio.wait_for` bounds everything, including that clean-up.
    """
    context = ssl.create_default_context(cafile=str(proxy.ca))
    async with websockets.asyncio.client.connect(
        url, proxy=proxy.url, ssl=context, open_timeout=10, close_timeout=2
    ) as ws:
        await ws.send("hello")
        return str(await ws.recv())


def websocket_echo(proxy: Proxy, url: str) -> str:
    return asyncio.run(asyncio.wait_for(_websocket_echo(proxy, url), timeout=20))


def test_websocket_to_a_blocked_vendor_is_refused_at_the_handshake(proxy: Proxy) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as raised:
        websocket_echo(proxy, "wss://chat.deepseek.com/ws")
    assert raised.value.response.status_code == 403
    assert not proxy.upstream.saw("deepseek.com")


def test_websocket_to_an_allowed_vendor_works(proxy: Proxy) -> None:
    assert websocket_echo(proxy, "wss://api.anthropic.com/ws") == "hello"


def test_tenant_header_replaces_any_copy_from_the_client(proxy: Proxy) -> None:
    proxy.upstream.clear()
    status, _ = proxy.curl(
        "https://chatgpt.com/c/1",
        "-H",
        "ChatGPT-Allowed-Workspace-Id: attacker-workspace",
        "-H",
        "chatgpt-allowed-workspace-id: second-copy",
    )
    assert status == 200
    seen = [r for r in proxy.upstream.requests if r.host.startswith("chatgpt.com")]
    assert seen and seen[-1].headers["chatgpt-allowed-workspace-id"] == "ws-test-1"


def test_shadow_rule_is_logged_and_not_enforced(proxy: Proxy) -> None:
    before = proxy.event_count()
    status, _ = proxy.curl("https://www.perplexity.ai/", "-H", "Accept: application/json")
    assert status == 200
    event = proxy.new_events(before)[-1]
    assert event["aiwall"]["action"] == "log"
    assert event["aiwall"]["shadow"] == [{"rule": "shadow-block-perplexity", "action": "block"}]


def test_allowed_vendor_is_forwarded_and_not_logged(proxy: Proxy) -> None:
    before = proxy.event_count()
    status, body = proxy.curl("https://api.anthropic.com/v1/models")
    assert status == 200 and "Upstream page for api.anthropic.com" in body
    assert proxy.new_events(before, wait=0.3) == []


def test_org_host_named_by_a_rule_is_ai_traffic(proxy: Proxy) -> None:
    status, _ = proxy.curl("http://llm.corp.test/v1/chat")
    assert status == 200


def test_secrets_and_query_strings_never_reach_the_log(proxy: Proxy) -> None:
    before = proxy.event_count()
    proxy.curl(
        "https://api.openai.com/v1/chat?api_key=sk-SECRETQUERY&x=1",
        "-H",
        "Authorization: Bearer sk-SECRETBEARER",
        "-H",
        "Cookie: session=SECRETCOOKIE",
        "-H",
        "X-Api-Key: SECRETAPIKEY",
        "--data",
        "prompt=SECRETBODY",
    )
    assert len(proxy.new_events(before)) == 1
    text = proxy.events_path.read_text()
    for secret in ("SECRETQUERY", "SECRETBEARER", "SECRETCOOKIE", "SECRETAPIKEY", "SECRETBODY"):
        assert secret not in text


@pytest.mark.parametrize(
    "path", [b"/a%0d%0aInjected:%20x", b"/%e2%80%a8line", b"/%1b[31mred", b"/%ff%fe", b"/%ed%a0%80"]
)
def test_hostile_escapes_in_the_path_still_give_one_json_line(proxy: Proxy, path: bytes) -> None:
    # A host of its own for each path: past 20 identical refusals of one client in 10 seconds
    # the proxy counts them instead of writing each (telemetry/limits.py).
    host = b"%08x.deepseek.com" % zlib.crc32(path)
    before = proxy.event_count()
    raw_request(
        proxy,
        b"GET http://" + host + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Connection: close\r\n\r\n",
    )
    proxy.new_events(before)
    lines = proxy.events_path.read_text().splitlines()[before:]
    assert len(lines) == 1
    assert json.loads(lines[0])["aiwall"]["action"] == "block"


@pytest.mark.parametrize(
    "path", [b"/\xe2\x80\xa8line", b"/\x1b[31mred", b"/\xff\xfe\x80", b"/\xed\xa0\x80"]
)
def test_raw_bytes_in_the_request_line_never_reach_the_vendor(proxy: Proxy, path: bytes) -> None:
    answer = raw_request(
        proxy,
        b"GET http://chat.deepseek.com" + path + b" HTTP/1.1\r\nHost: chat.deepseek.com\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert answer.split(b" ", 2)[1] in (b"400", b"403")
    assert not proxy.upstream.saw("deepseek.com")


def test_a_streamed_ai_answer_arrives_as_it_is_written(proxy: Proxy) -> None:
    """Server-sent events from a logged vendor reach the client part by part, not at the end."""
    context = ssl.create_default_context(cafile=str(proxy.ca))
    with httpx.Client(proxy=proxy.url, verify=context, timeout=10) as client:
        start = time.monotonic()
        with client.stream("GET", "https://api.openai.com/stream") as response:
            parts = response.iter_bytes()
            first = next(parts)
            first_after = time.monotonic() - start
            rest = b"".join(parts)
    assert first.startswith(b"data: first")
    assert b"data: last" in first + rest
    assert first_after < STREAM_PAUSE - 0.3


UPLOAD = 8 * 1024 * 1024


def test_a_large_upload_to_a_blocked_vendor_is_refused_and_not_forwarded(proxy: Proxy) -> None:
    proxy.upstream.clear()
    context = ssl.create_default_context(cafile=str(proxy.ca))
    with httpx.Client(proxy=proxy.url, verify=context, timeout=30) as client:
        blocked = client.post("https://chat.deepseek.com/upload", content=b"x" * UPLOAD)
        allowed = client.post("https://api.anthropic.com/v1/files", content=b"y" * UPLOAD)
    assert blocked.status_code == 403
    assert not proxy.upstream.saw("deepseek.com")
    assert allowed.status_code == 200
    assert UPLOAD in proxy.upstream.bodies


def test_the_reference_on_a_block_page_is_the_id_of_its_decision_event(proxy: Proxy) -> None:
    before = proxy.event_count()
    status, body = proxy.curl(
        "https://chat.deepseek.com/", "-H", "Accept: text/html", "-H", "Sec-Fetch-Mode: navigate"
    )
    assert status == 403
    [event] = proxy.new_events(before)
    assert event["event"]["id"] in body
