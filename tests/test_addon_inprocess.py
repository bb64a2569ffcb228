"""The addon's hooks in-process (mitmproxy.test.taddons / tflow): each hook from the flow it is
given to the answer, the options it sets and the event it writes, in milliseconds.

What only a real mitmdump can show (TLS, HTTP/2, the order mitmproxy calls the hooks in, real
clients and browsers) stays in the end-to-end tests (marker `e2e`). The rules are the
end-to-end tests' (fixtures/proxy/rules.yaml) over the shipped vendor records, loaded once.
"""

import contextlib
import html
import json
import re
import ssl
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.engine import Engine
from aiwall.proxy import reload, tunnels
from aiwall.proxy.addon import AiWall
from mitmproxy import connection, exceptions, http, tcp, tls
from mitmproxy.proxy import context, events, layer, layers, server_hooks
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.test import taddons, tflow

from .conftest import FIXTURES, ROOT
from .eventcheck import validate_event_lines

RULES = FIXTURES / "proxy" / "rules.yaml"
POLICIES = ROOT / "policies"
ACK = "/.well-known/aiwall/ack"
BROWSER = {"accept": "text/html", "sec-fetch-mode": "navigate"}
API = {"accept": "application/json"}


@pytest.fixture(scope="module")
def proxy_config() -> Config:
    return load_config(RULES, POLICIES)


class Wall:
    """One AiWall in a taddons context, with its event log in a file."""

    def __init__(self, tctx: taddons.context, addon: AiWall, log: Path) -> None:
        self.tctx = tctx
        self.addon = addon
        self.log = log

    def run[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.tctx.master.event_loop.run_until_complete(coroutine)

    def configure(self, **options: Any) -> None:
        self.tctx.configure(self.addon, **options)

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        found = validate_event_lines(lines)
        return [e for e in found if action is None or e["event"]["action"] == action]

    def client(self, ip: str = "127.0.0.1", sni: str | None = None) -> connection.Client:
        client = tflow.tclient_conn()
        client.peername = (ip, 50000)
        client.sni = sni
        return client

    def connect(self, host: str, port: int = 443, client: connection.Client | None = None) -> Any:
        """A CONNECT request through the http_connect hook; the flow it leaves."""
        authority = f"{host}:{port}".encode()
        request = http.Request(
            host,
            port,
            b"CONNECT",
            b"",
            authority,
            b"",
            b"HTTP/1.1",
            http.Headers(),
            b"",
            None,
            0,
            0,
        )
        flow = tflow.tflow(client_conn=client or self.client(), req=request)
        self.addon.http_connect(flow)
        return flow

    def request(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        content: bytes = b"",
        client: connection.Client | None = None,
        user: str | None = None,
    ) -> http.HTTPFlow:
        """A request as mitmproxy hands it over: HTTPS inside a CONNECT tunnel (SNI set),
        plain HTTP in absolute form. Runs requestheaders, then request, as mitmproxy would."""
        request = http.Request.make(method, url, content)
        given = list((headers or {}).items()) if isinstance(headers, dict) else headers or []
        names = {name.lower() for name, _ in given}
        fields = [] if "host" in names else [("Host", request.host)]
        fields += [(n, v) for n, v in request.headers.items() if n.lower() not in names]
        request.headers = http.Headers([(n.encode(), v.encode()) for n, v in fields + given])
        if request.scheme == "https":
            client = client or self.client(sni=request.host)
            self.connect(request.host, request.port, client)
            client.tls = True
        else:
            client = client or self.client()
            request.authority = f"{request.host}:{request.port}"
        flow = tflow.tflow(client_conn=client, req=request)
        if user:
            flow.metadata["proxyauth"] = (user, "password")
        self.run(self.addon.requestheaders(flow))
        self.run(self.addon.request(flow))
        return flow


@pytest.fixture
def wall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proxy_config: Config) -> Iterator[Wall]:
    real_load = load_config

    def loaded_once(rules: Path, policies: Path | None = None, **kwargs: Any) -> Config:
        same = rules == RULES and policies == POLICIES
        return proxy_config if same else real_load(rules, policies, **kwargs)

    monkeypatch.setattr(reload, "load_config", loaded_once)
    addon = AiWall()
    with taddons.context(addon) as tctx:
        log = tmp_path / "events.jsonl"
        tctx.configure(
            addon,
            aiwall_rules=str(RULES),
            aiwall_policies=str(POLICIES),
            aiwall_log=str(log),
            aiwall_reload_interval=0,
        )
        yield Wall(tctx, addon, log)
        addon.done()


def decision(wall: Wall) -> dict[str, Any]:
    """The one decision event written so far."""
    (event,) = wall.events("decision")
    return event


def json_error(flow: http.HTTPFlow) -> dict[str, Any]:
    assert flow.response is not None
    assert flow.response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = json.loads(flow.response.content or b"")["error"]
    return error


def token_of(flow: http.HTTPFlow) -> str:
    assert flow.response is not None
    found = re.search(r'name="token" value="([^"]+)"', flow.response.text or "")
    assert found, "the warning page carries no token"
    return html.unescape(found.group(1))


# requestheaders → the enforcement step → the answer and the event


def test_a_blocked_vendor_gets_the_block_page_and_one_event(wall: Wall) -> None:
    flow = wall.request("https://chat.deepseek.com/chat?secret=1", headers=BROWSER)
    assert flow.response is not None and flow.response.status_code == 403
    assert flow.response.headers["cache-control"] == "no-store"
    assert "text/html" in flow.response.headers["content-type"]
    assert "DeepSeek" in (flow.response.text or "")
    event = decision(wall)
    assert event["event"]["outcome"] == "failure"
    assert event["rule"]["id"] == "block-cn"
    assert event["aiwall"]["vendor"] == "deepseek"
    assert event["http"]["response"]["status_code"] == 403
    assert event["url"] == {"domain": "chat.deepseek.com", "path": "/chat", "scheme": "https"}
    assert event["tls"]["client"]["server_name"] == "chat.deepseek.com"
    assert {n["seen_in"] for n in event["aiwall"]["names"]} == {"connect", "sni", "host"}


def test_an_api_client_of_a_blocked_vendor_gets_the_json_denial(wall: Wall) -> None:
    flow = wall.request("https://api.deepseek.com/v1/chat/completions", "POST", API, content=b"{}")
    assert flow.response is not None and flow.response.status_code == 403
    error = json_error(flow)
    assert (error["code"], error["vendor"], error["rule"]) == (
        "aiwall_blocked",
        "deepseek",
        "block-cn",
    )
    assert error["acknowledge_url"] is None
    assert flow.request.content == b""  # a refused body is not kept while the flow lives
    assert decision(wall)["http"]["request"]["method"] == "POST"


def test_a_plain_http_request_to_a_blocked_vendor_is_blocked(wall: Wall) -> None:
    flow = wall.request("http://chat.deepseek.com/", headers=API)
    assert flow.response is not None and flow.response.status_code == 403
    assert [n["seen_in"] for n in decision(wall)["aiwall"]["names"]] == ["host", "url", "url"]


def test_a_logged_vendor_is_forwarded_and_logged_once(wall: Wall) -> None:
    flow = wall.request("https://api.openai.com/v1/models", headers=API)
    assert flow.response is None
    event = decision(wall)
    assert event["event"]["outcome"] == "success"
    assert event["aiwall"]["action"] == "log"
    assert event["aiwall"]["product"] == "openai/api"
    assert "response" not in event["http"]


def test_an_allowed_vendor_is_forwarded_and_not_logged(wall: Wall) -> None:
    flow = wall.request("https://api.anthropic.com/v1/messages", "POST", API, b"{}")
    assert flow.response is None
    assert wall.events("decision") == []


def test_traffic_that_is_not_ai_is_untouched_and_unlogged(wall: Wall) -> None:
    flow = wall.request("https://example.org/page", headers={"x-client": "1"})
    assert flow.response is None
    assert flow.request.headers["x-client"] == "1"
    assert wall.events("decision") == []


def test_the_tenant_header_replaces_every_copy_the_client_sent(wall: Wall) -> None:
    sent = [("ChatGPT-Allowed-Workspace-Id", "evil-1"), ("chatgpt-allowed-workspace-id", "x")]
    flow = wall.request("https://chatgpt.com/c/1", headers=sent)
    assert flow.response is None
    assert flow.request.headers.get_all("chatgpt-allowed-workspace-id") == ["ws-test-1"]
    assert wall.events("decision") == []  # the enterprise tier is allowed, not logged


def test_a_shadow_rule_is_logged_and_not_enforced(wall: Wall) -> None:
    flow = wall.request("https://www.perplexity.ai/", headers=BROWSER)
    assert flow.response is None
    event = decision(wall)
    assert event["aiwall"]["shadow"] == [{"rule": "shadow-block-perplexity", "action": "block"}]
    assert event["event"]["outcome"] == "success"


def test_a_group_exception_applies_to_its_proxy_auth_user(wall: Wall) -> None:
    assert wall.request("https://chat.deepseek.com/", user="audrey").response is None
    assert wall.request("https://chat.deepseek.com/", user="mallory").response is not None
    actions = [(e["user"]["name"], e["aiwall"]["action"]) for e in wall.events("decision")]
    assert actions == [("audrey", "log"), ("mallory", "block")]


@pytest.mark.parametrize("host", ["chat_bot.deepseek.com", "chat..deepseek.com", "a b"])
def test_an_invalid_host_header_is_refused_with_400_and_logged(wall: Wall, host: str) -> None:
    flow = wall.request("https://example.org/", headers={"host": host, **API})
    assert flow.response is not None and flow.response.status_code == 400
    assert json_error(flow)["code"] == "aiwall_invalid_host"
    assert decision(wall)["aiwall"]["invalid_host"]


def test_two_host_headers_are_refused_and_logged(wall: Wall) -> None:
    headers = [("Host", "example.org"), ("Host", "chat.deepseek.com"), ("accept", "*/*")]
    flow = wall.request("https://example.org/", headers=headers)
    assert flow.response is not None and flow.response.status_code == 400
    assert decision(wall)["aiwall"]["invalid_host"] == "two Host headers"


def test_a_vendor_host_header_inside_a_tunnel_to_another_host_is_blocked(wall: Wall) -> None:
    client = wall.client(sni="example.org")
    flow = wall.request(
        "https://example.org/", headers={"host": "chat.deepseek.com", **API}, client=client
    )
    assert flow.response is not None and flow.response.status_code == 403
    assert decision(wall)["url"]["domain"] == "chat.deepseek.com"


def test_a_flow_that_is_answered_or_dead_is_left_alone(wall: Wall) -> None:
    answered = tflow.tflow(resp=True)
    answered.request.host = "chat.deepseek.com"
    wall.run(wall.addon.requestheaders(answered))
    assert answered.response is not None and answered.response.status_code == 200
    dead = tflow.tflow(live=False)
    dead.request.host = "chat.deepseek.com"
    wall.run(wall.addon.requestheaders(dead))
    assert dead.response is None
    assert wall.events("decision") == []


@pytest.mark.parametrize(
    ("length", "streamed"), [(None, True), ("1000", False), (str(256 * 1024 + 1), True)]
)
def test_a_large_or_open_ended_upload_that_goes_on_is_streamed(
    wall: Wall, length: str | None, streamed: bool
) -> None:
    flow = wall.request("https://api.anthropic.com/v1/files", "POST", API, b"x")
    del flow.request.headers["content-length"]
    flow.request.stream = False
    if length is not None:
        flow.request.headers["content-length"] = length
    wall.run(wall.addon.requestheaders(flow))
    assert flow.request.stream is streamed


def test_an_answered_request_drops_expect_continue(wall: Wall) -> None:
    headers = {"expect": "100-continue", **API}
    flow = wall.request("https://chat.deepseek.com/upload", "POST", headers, b"x" * 10)
    assert flow.response is not None and flow.response.status_code == 403
    assert "expect" not in flow.request.headers


@pytest.mark.parametrize(("length", "streamed"), [(None, True), ("10", False)])
def test_an_answer_of_unknown_length_from_upstream_is_streamed(
    wall: Wall, length: str | None, streamed: bool
) -> None:
    flow = tflow.tflow(resp=True)
    assert flow.response is not None
    flow.response.raw_content = None
    flow.response.headers.pop("content-length")
    if length:
        flow.response.headers["content-length"] = length
    wall.addon.responseheaders(flow)
    assert flow.response.stream is streamed


# warn → acknowledge → continue


def test_warn_acknowledge_continue(wall: Wall) -> None:
    url = "https://grok.com/chat?q=1"
    warned = wall.request(url, headers=BROWSER)
    assert warned.response is not None and warned.response.status_code == 403
    token = token_of(warned)
    form = {
        "token": token,
        "justification": "Vendor review, no customer data.",
    }
    posted = wall.request(
        f"https://grok.com{ACK}",
        "POST",
        {"origin": "https://grok.com", "content-type": "application/x-www-form-urlencoded"},
        content=_urlencoded(form),
    )
    assert posted.response is not None and posted.response.status_code == 303
    assert posted.response.headers["location"] == url
    (ack,) = wall.events("ack")
    assert ack["aiwall"]["ack"]["accepted"] is True
    assert ack["aiwall"]["ack"]["justification"] == form["justification"]
    # every host of the vendor now passes for this client, and the event says why
    assert wall.request(url, headers=BROWSER).response is None
    assert wall.request("https://api.x.ai/v1/models", headers=API).response is None
    assert [e["aiwall"]["acknowledged"] for e in wall.events("decision")] == [False, True, True]
    # but not for another client
    other = wall.client("10.0.0.9", sni="grok.com")
    assert wall.request(url, headers=BROWSER, client=other).response is not None


def test_an_acknowledgement_from_another_site_is_refused_and_logged(wall: Wall) -> None:
    token = token_of(wall.request("https://grok.com/", headers=BROWSER))
    posted = wall.request(
        f"https://grok.com{ACK}",
        "POST",
        {"origin": "https://evil.example", "content-type": "application/x-www-form-urlencoded"},
        content=_urlencoded({"token": token, "justification": "because"}),
    )
    assert posted.response is not None and posted.response.status_code == 403
    (ack,) = wall.events("ack")
    assert ack["aiwall"]["ack"]["accepted"] is False
    assert wall.request("https://grok.com/", headers=BROWSER).response is not None


def test_an_api_client_of_a_warned_vendor_gets_the_url_to_acknowledge_at(wall: Wall) -> None:
    flow = wall.request("https://api.x.ai/v1/chat/completions", "POST", API, b"{}")
    assert flow.response is not None and flow.response.status_code == 403
    error = json_error(flow)
    assert error["code"] == "aiwall_warning"
    assert error["acknowledge_url"] == f"https://api.x.ai{ACK}"


@pytest.mark.parametrize(
    ("method", "status", "page"), [("GET", 403, "token"), ("PUT", 403, "one small POST")]
)
def test_the_ack_path_shows_the_warning_and_takes_one_small_post(
    wall: Wall, method: str, status: int, page: str
) -> None:
    flow = wall.request(f"https://grok.com{ACK}", method, BROWSER, b"x" if method == "PUT" else b"")
    assert flow.response is not None and flow.response.status_code == status
    assert page in (flow.response.text or "")
    assert wall.events("ack") == []


def test_the_ack_path_of_a_vendor_without_a_warning_acknowledges_nothing(wall: Wall) -> None:
    flow = wall.request(f"https://api.openai.com{ACK}", "POST", API, b"token=x")
    assert flow.response is not None and flow.response.status_code == 403
    assert "nothing to acknowledge" in json_error(flow)["message"]


def _urlencoded(form: dict[str, str]) -> bytes:
    request = http.Request.make("POST", "https://x.test/")
    request.urlencoded_form = form  # type: ignore[assignment]
    return request.content or b""


# CONNECT with ignore_hosts / allow_hosts


def test_a_tunnel_that_is_looked_into_is_not_decided_at_connect(wall: Wall) -> None:
    flow = wall.connect("chat.deepseek.com")
    assert flow.response is None
    assert wall.events("decision") == []


def test_an_ignored_tunnel_to_a_blocked_vendor_is_refused_at_connect(wall: Wall) -> None:
    wall.configure(ignore_hosts=[r"deepseek\.com", r"x\.ai", r"openai\.com", r"example\.org"])
    refused = wall.connect("chat.deepseek.com")
    assert refused.response is not None and refused.response.status_code == 403
    assert decision(wall)["http"]["response"]["status_code"] == 403
    warned = wall.connect("api.x.ai")  # a warning cannot be shown inside an unseen tunnel
    assert warned.response is not None and warned.response.status_code == 403
    assert wall.connect("api.openai.com").response is None  # logged where it goes: next_layer
    assert wall.connect("example.org").response is None
    assert len(wall.events("decision")) == 2


def test_a_vendor_outside_allow_hosts_is_refused_at_connect(wall: Wall) -> None:
    wall.configure(allow_hosts=[r"^example\.org"])
    assert wall.connect("example.org").response is None
    refused = wall.connect("chat.deepseek.com")
    assert refused.response is not None and refused.response.status_code == 403


# TLS ClientHello with intercept: ai-only


def client_hello_bytes(sni: str | None) -> bytes:
    tls_context = ssl.create_default_context()
    if sni is None:
        tls_context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = tls_context.wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def connection_context(
    wall: Wall, target: str, sni: str | None, connect: bool = True
) -> context.Context:
    client = wall.client(sni=sni)
    if connect:
        wall.connect(target, 443, client)
    ctx = context.Context(client, wall.tctx.options)
    ctx.server.address = (target, 443)
    return ctx


@pytest.mark.parametrize(
    ("target", "sni", "ignored"),
    [
        ("example.org", "example.org", True),
        ("chat.deepseek.com", "chat.deepseek.com", False),
        ("example.org", "chat.deepseek.com", False),  # the SNI names a vendor
        ("chat.deepseek.com", "example.org", False),  # a fake SNI for a vendor's tunnel
        ("example.org", None, False),  # no SNI: only the Host inside can tell
        ("example.org", "chat_bot.example.org", False),  # invalid: decided inside
    ],
)
def test_ai_only_passes_through_what_is_not_ai(
    wall: Wall, target: str, sni: str | None, ignored: bool
) -> None:
    ctx = connection_context(wall, target, sni)
    hello = parse_client_hello(client_hello_bytes(sni))
    assert hello is not None
    data = tls.ClientHelloData(ctx, hello)
    wall.addon.tls_clienthello(data)
    assert data.ignore_connection is ignored


def test_ai_only_judges_the_destination_without_a_connect(wall: Wall) -> None:
    """A transparent or reverse proxy has no CONNECT: the destination address stands in."""
    ctx = connection_context(wall, "chat.deepseek.com", "example.org", connect=False)
    hello = parse_client_hello(client_hello_bytes("example.org"))
    assert hello is not None
    data = tls.ClientHelloData(ctx, hello)
    wall.addon.tls_clienthello(data)
    assert data.ignore_connection is False


def test_intercept_all_looks_into_every_tunnel(wall: Wall) -> None:
    wall.configure(aiwall_intercept="all")
    hello = parse_client_hello(client_hello_bytes("example.org"))
    assert hello is not None
    data = tls.ClientHelloData(connection_context(wall, "example.org", "example.org"), hello)
    wall.addon.tls_clienthello(data)
    assert data.ignore_connection is False


# next_layer: connections mitmproxy would relay unseen


def next_layer(wall: Wall, target: str, data: bytes, sni: str | None = None) -> layer.NextLayer:
    ctx = connection_context(wall, target, sni)
    nextlayer = layer.NextLayer(ctx)
    nextlayer.events.append(events.DataReceived(ctx.client, data))
    wall.addon.next_layer(nextlayer)
    return nextlayer


def test_an_ignored_tls_connection_is_judged_on_its_sni(wall: Wall) -> None:
    wall.configure(ignore_hosts=[r"example\.org"])
    refused = next_layer(wall, "example.org", client_hello_bytes("chat.deepseek.com"))
    assert isinstance(refused.layer, tunnels.Refused)
    event = decision(wall)
    assert event["aiwall"]["vendor"] == "deepseek"
    assert event["tls"]["client"]["server_name"] == "chat.deepseek.com"
    relayed = next_layer(wall, "example.org", client_hello_bytes("example.org"))
    assert relayed.layer is None  # mitmproxy relays it as it would have
    assert len(wall.events("decision")) == 1


def test_an_ignored_plaintext_connection_is_looked_into(wall: Wall) -> None:
    wall.configure(ignore_hosts=[r"example\.org"])
    head = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"
    nextlayer = next_layer(wall, "example.org", head)
    assert isinstance(nextlayer.layer, layers.HttpLayer)


@pytest.mark.parametrize(
    ("options", "data"),
    [
        ({}, client_hello_bytes("chat.deepseek.com")),  # nothing is ignored
        ({"ignore_hosts": [r"example\.org"]}, client_hello_bytes("chat.deepseek.com")[:40]),
        ({"ignore_hosts": [r"example\.org"]}, b"GET / HTTP/1.1\r\nHost: exa"),  # incomplete
        ({"ignore_hosts": [r"other\.test"]}, client_hello_bytes("chat.deepseek.com")),
    ],
)
def test_a_connection_mitmproxy_looks_into_or_waits_on_is_left_to_it(
    wall: Wall, options: dict[str, Any], data: bytes
) -> None:
    if options:
        wall.configure(**options)
    assert next_layer(wall, "example.org", data).layer is None
    assert wall.events("decision") == []


# raw TCP through a tunnel


def test_raw_tcp_to_a_blocked_vendor_is_killed_and_never_connects(wall: Wall) -> None:
    client = wall.client(sni="chat.deepseek.com")
    wall.connect("chat.deepseek.com", 443, client)
    flow = tflow.ttcpflow(client_conn=client)
    wall.addon.tcp_start(flow)
    assert flow.error is not None and not flow.killable
    server = server_hooks.ServerConnectionHookData(tflow.tserver_conn(), client)
    wall.addon.server_connect(server)
    assert server.server.error == "refused by aiwall"


def test_raw_tcp_to_an_allowed_vendor_goes_on(wall: Wall) -> None:
    client = wall.client(sni="api.anthropic.com")
    wall.connect("api.anthropic.com", 443, client)
    flow: tcp.TCPFlow = tflow.ttcpflow(client_conn=client)
    wall.addon.tcp_start(flow)
    assert flow.killable
    server = server_hooks.ServerConnectionHookData(tflow.tserver_conn(), client)
    wall.addon.server_connect(server)
    assert server.server.error is None


# failing closed


@pytest.fixture
def exploding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine fails on every name containing `explode`."""

    def exploding(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(self: Engine, *args: Any, **kwargs: Any) -> Any:
            request = args[0]
            names = getattr(request, "names", request)
            if any("explode" in name.raw for name in names):
                raise RuntimeError("injected fault")
            return method(self, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(Engine, "concerns", exploding(Engine.concerns))
    monkeypatch.setattr(Engine, "decide", exploding(Engine.decide))


@pytest.mark.usefixtures("exploding")
@pytest.mark.parametrize("url", ["https://explode.deepseek.com/", "http://explode.example.org/"])
def test_an_internal_error_answers_with_an_error_and_an_event(wall: Wall, url: str) -> None:
    flow = wall.request(url, headers=API)
    assert flow.response is not None and flow.response.status_code == 503
    assert json_error(flow)["code"] == "aiwall_error"
    (error,) = wall.events("error")
    assert "injected fault" in error["error"]["message"]
    assert wall.events("decision") == []


@pytest.mark.usefixtures("exploding")
def test_an_error_at_connect_refuses_an_ignored_tunnel(wall: Wall) -> None:
    wall.configure(ignore_hosts=[r"example\.org"])
    flow = wall.connect("explode.example.org")
    assert flow.response is not None and flow.response.status_code == 503


@pytest.mark.usefixtures("exploding")
def test_an_error_in_next_layer_refuses_the_connection(wall: Wall) -> None:
    wall.configure(ignore_hosts=[r"example\.org"])
    nextlayer = next_layer(wall, "example.org", client_hello_bytes("explode.example.org"))
    assert isinstance(nextlayer.layer, tunnels.Refused)
    assert wall.events("error")


@pytest.mark.usefixtures("exploding")
def test_an_error_at_the_client_hello_looks_inside(wall: Wall) -> None:
    hello = parse_client_hello(client_hello_bytes("explode.example.org"))
    assert hello is not None
    ctx = connection_context(wall, "example.org", "explode.example.org")
    data = tls.ClientHelloData(ctx, hello, ignore_connection=True)
    wall.addon.tls_clienthello(data)
    assert data.ignore_connection is False
    assert wall.events("error")


@pytest.mark.usefixtures("exploding")
def test_an_error_at_tcp_start_kills_the_flow(wall: Wall) -> None:
    client = wall.client(sni="explode.example.org")
    flow = tflow.ttcpflow(client_conn=client)
    wall.addon.tcp_start(flow)
    assert not flow.killable


def test_without_a_configuration_every_request_fails_closed(wall: Wall) -> None:
    wall.addon.config = None
    flow = wall.request("https://example.org/", headers=API)
    assert flow.response is not None and flow.response.status_code == 503


# options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"aiwall_intercept": "some"}, "'some' is not ai-only or all"),
        ({"aiwall_log_max_bytes": -1}, "aiwall_log"),
        ({"aiwall_ack_store": "memcached://x"}, "aiwall_ack_store"),
        ({"aiwall_metrics": "localhost"}, "is not HOST:PORT"),
    ],
)
def test_a_bad_option_is_refused_with_the_value_in_the_message(
    wall: Wall, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(exceptions.OptionsError, match=re.escape(message)):
        wall.configure(**options)


def test_a_broken_rules_file_at_start_is_refused_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default rules file, rules.yaml in the working folder: a refused option is rolled
    # back to it, so it is the file both attempts read.
    monkeypatch.chdir(tmp_path)
    Path("rules.yaml").write_text("rules:\n  - id: r\n    description: d\n    action: maybe\n")
    addon = AiWall()
    with taddons.context(addon) as tctx:
        with pytest.raises(
            exceptions.OptionsError, match=r"rules\.yaml:4: rules\[0\]\.action: .*maybe"
        ):
            tctx.configure(addon, aiwall_policies=str(FIXTURES / "policies"), aiwall_log="log")
        assert addon.config is None
        addon.done()


def test_a_broken_rules_file_later_is_rejected_and_the_last_good_one_kept(
    wall: Wall, tmp_path: Path
) -> None:
    good = wall.addon.config
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: r\n    description: d\n    action: maybe\n")
    wall.configure(aiwall_rules=str(rules))
    assert wall.addon.config is good
    (rejected,) = wall.events("config.rejected")
    assert f"{rules}:4" in json.dumps(rejected)
    assert wall.request("https://chat.deepseek.com/").response is not None


def test_a_short_secret_is_refused(wall: Wall, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"too short")
    with pytest.raises(exceptions.OptionsError, match="under 32 bytes"):
        wall.configure(aiwall_secret=str(secret))
    with pytest.raises(exceptions.OptionsError, match="cannot read"):
        wall.configure(aiwall_secret=str(tmp_path / "missing"))


def test_options_that_would_contact_or_stream_to_a_vendor_are_undone(wall: Wall) -> None:
    # mitmproxy's proxy server declares this one; taddons does not load it
    wall.tctx.options.add_option("connection_strategy", str, "lazy", "")
    wall.tctx.options.add_option("stream_large_bodies", str | None, None, "")  # type: ignore[arg-type]
    wall.configure(connection_strategy="eager")
    assert wall.tctx.options.connection_strategy == "lazy"
    wall.configure(stream_large_bodies="1m")
    assert wall.tctx.options.stream_large_bodies is None
