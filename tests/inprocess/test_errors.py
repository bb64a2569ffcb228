"""The addon in-process when something goes wrong: every hook fails closed on an internal error,
and bad options and rules files are refused (a later broken one keeps the last good).
"""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiwall.core.engine import Engine
from aiwall.proxy import tunnels
from aiwall.proxy.addon import AiWall
from mitmproxy import exceptions, tls
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.test import taddons, tflow

from ..conftest import FIXTURES
from .conftest import API, Wall, client_hello_bytes, connection_context, json_error, next_layer

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
