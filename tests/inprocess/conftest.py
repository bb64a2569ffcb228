"""The addon in-process (mitmproxy.test.taddons / tflow): one AiWall in a taddons context with
its event log in a file, and the flows, ClientHellos and connection contexts its hooks are
given. The rules are the end-to-end tests' (fixtures/proxy/rules.yaml) over the shipped vendor
records, loaded once.
"""

import contextlib
import html
import json
import re
import ssl
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiwall.core.config import Config, load_config
from aiwall.proxy import reload
from aiwall.proxy.addon import AiWall
from mitmproxy import connection, http
from mitmproxy.proxy import context, events, layer
from mitmproxy.test import taddons, tflow

from ..conftest import FIXTURES, ROOT
from ..eventcheck import validate_event_lines

RULES = FIXTURES / "proxy" / "rules.yaml"
POLICIES = ROOT / "policies"
ACK = "/.well-known/aiwall/ack"
BROWSER = {"accept": "text/html", "sec-fetch-mode": "navigate"}
API = {"accept": "application/json"}


@pytest.fixture(scope="package")
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


def next_layer(wall: Wall, target: str, data: bytes, sni: str | None = None) -> layer.NextLayer:
    ctx = connection_context(wall, target, sni)
    nextlayer = layer.NextLayer(ctx)
    nextlayer.events.append(events.DataReceived(ctx.client, data))
    wall.addon.next_layer(nextlayer)
    return nextlayer
