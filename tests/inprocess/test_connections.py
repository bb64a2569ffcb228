"""The addon's connection hooks in-process: CONNECT with ignore_hosts / allow_hosts, the TLS
ClientHello with intercept: ai-only, next_layer for connections mitmproxy would relay unseen,
and raw TCP through a tunnel.
"""

from typing import Any

import pytest
from aiwall.proxy import tunnels
from mitmproxy import tcp, tls
from mitmproxy.proxy import layers, server_hooks
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.test import tflow

from .conftest import Wall, client_hello_bytes, connection_context, decision, next_layer

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


@pytest.mark.parametrize(
    ("target", "sni", "ignored"),
    [
        ("example.org", "example.org", True),
        ("chat.deepseek.com", "chat.deepseek.com", False),
        ("example.org", "chat.deepseek.com", False),  # the SNI names a vendor
        ("chat.deepseek.com", "example.org", False),  # a fake SNI for a vendor's tunnel
        ("example.org", None, False),  # no SNI: only the Host inside can tell
        ("example.org", "chat_bot.example.org", False),  # invalid: decided inside
        # an AI product on a path of the host (github.com/copilot): only the path tells
        ("github.com", "github.com", False),
        ("example.org", "www.github.com", False),
        ("gist.github.io", "gist.github.io", True),
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
