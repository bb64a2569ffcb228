"""`aiwall run`'s mitmproxy (aiwall/proxy/master.py): the addons a policy proxy needs, each event
dispatched only to the addons that implement it, and `--set` options checked once scripts are
loaded."""

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from aiwall.proxy.master import PolicyMaster
from mitmproxy import exceptions, hooks
from mitmproxy.options import Options

from .mitm import free_port

ROOT = Path(__file__).resolve().parent.parent
AIWALL = Path(sys.executable).parent / "aiwall"


class Seen:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    def requestheaders(self, flow: object) -> None:
        self.calls.append(self.name)


class Halts(Seen):
    def requestheaders(self, flow: object) -> None:
        super().requestheaders(flow)
        raise exceptions.AddonHalt


class Fails(Seen):
    def requestheaders(self, flow: object) -> None:
        super().requestheaders(flow)
        raise ValueError("broken addon")


class Async(Seen):
    async def requestheaders(self, flow: object) -> None:
        await asyncio.sleep(0)
        self.calls.append(self.name + " (after await)")


def _event() -> hooks.Hook:
    from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
    from mitmproxy.test import tflow

    return HttpRequestHeadersHook(tflow.tflow())


def test_an_event_reaches_every_addon_that_has_its_hook_in_order() -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        master = PolicyMaster(Options(), Seen("a", calls), Async("b", calls), Seen("c", calls))
        await master.addons.trigger_event(_event())
        return calls

    assert asyncio.run(run()) == ["a", "b (after await)", "c"]


def test_only_implementing_addons_are_walked_and_an_added_addon_is_found() -> None:
    async def run() -> tuple[list[str], list[str], list[str]]:
        calls: list[str] = []
        master = PolicyMaster(Options(), Seen("a", calls))
        before = [type(addon).__name__ for addon, _ in master.addons.handlers("requestheaders")]
        await master.addons.trigger_event(_event())
        master.addons.add(Seen("late", calls))  # a script loaded later, say
        await master.addons.trigger_event(_event())
        return before, calls, [type(a).__name__ for a, _ in master.addons.handlers("update")]

    before, calls, update = asyncio.run(run())
    # Of mitmproxy's own addons, only the two that authenticate handle requestheaders.
    assert before == ["ProxyAuth", "UpstreamAuth", "Seen"]
    assert calls == ["a", "a", "late"]
    assert update == []  # the `update` after every flow event walks nothing


def test_a_failing_addon_is_logged_and_a_halt_stops_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        master = PolicyMaster(
            Options(), Fails("x", calls), Seen("y", calls), Halts("z", calls), Seen("never", calls)
        )
        await master.addons.trigger_event(_event())
        return calls

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(run()) == ["x", "y", "z"]
    assert "broken addon" in caplog.text


def test_policy_master_leaves_out_what_a_policy_proxy_does_not_need() -> None:
    async def names() -> set[str]:
        master = PolicyMaster(Options())
        return set(master.addons.lookup)

    loaded = asyncio.run(names())
    assert {"proxyserver", "nextlayer", "tlsconfig", "proxyauth", "block", "scriptloader"} <= loaded
    assert not {"save", "serverplayback", "clientplayback", "mapremote", "stickycookie"} & loaded


def _aiwall_run(tmp_path: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    command = [str(AIWALL), "run", "--listen", f"127.0.0.1:{free_port()}"]
    command += ["--confdir", str(tmp_path / "confdir"), "--log", str(tmp_path / "events.jsonl")]
    for setting in sets:
        command += ["--set", setting]
    return subprocess.run(command, capture_output=True, text=True, timeout=45, cwd=tmp_path)


@pytest.mark.e2e
def test_an_unknown_option_stops_aiwall_run(tmp_path: Path) -> None:
    result = _aiwall_run(tmp_path, "no_such_option=1")
    assert result.returncode == 1
    assert "unknown option no_such_option" in result.stderr


@pytest.mark.e2e
def test_a_scripts_option_is_known_once_the_script_is_loaded(tmp_path: Path) -> None:
    script = tmp_path / "marker.py"
    script.write_text(
        "from pathlib import Path\n"
        "from mitmproxy import ctx\n"
        "class Marker:\n"
        "    def load(self, loader):\n"
        "        loader.add_option('marker_text', str, '', 'written at start')\n"
        "    def running(self):\n"
        "        Path(ctx.options.marker_text).write_text('running')\n"
        "        ctx.master.shutdown()\n"
        "addons = [Marker()]\n"
    )
    marker = tmp_path / "ran.txt"
    result = _aiwall_run(tmp_path, f"scripts={script}", f"marker_text={marker}")
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "running"
