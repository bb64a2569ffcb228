"""Weakness 14: one client wrote 7,413 events in 10 s during HTTP/2 rapid reset against a blocked
name. Identical refusals are now bounded per client and counted in one summary event."""

import ssl
from pathlib import Path

import httpx
import pytest
from aiwall.telemetry.limits import RefusalLimiter
from hypothesis import given
from hypothesis import strategies as st

from ..eventcheck import validate_event_lines
from ..proxy import running_proxy
from ..upstream import Upstream

pytestmark = [pytest.mark.security]

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 3)), max_size=300))
def test_every_refusal_is_written_or_counted(steps: list[tuple[str, float]]) -> None:
    clock = Clock()
    limiter: RefusalLimiter[str] = RefusalLimiter(limit=5, interval=10.0, clock=clock)
    written: dict[str, int] = {}
    for key, pause in steps:
        clock.now += pause
        if limiter.admit(key):
            written[key] = written.get(key, 0) + 1
    clock.now += 10.0
    counted = {key: count for key, count, _ in limiter.expired()}
    for key in "abc":
        total = sum(1 for k, _ in steps if k == key)
        assert written.get(key, 0) + counted.get(key, 0) == total


def test_a_window_writes_at_most_the_limit() -> None:
    clock = Clock()
    limiter: RefusalLimiter[str] = RefusalLimiter(limit=20, interval=10.0, clock=clock)
    assert sum(limiter.admit("flood") for _ in range(1000)) == 20
    assert limiter.expired() == []  # not over yet
    clock.now = 10.0
    assert limiter.expired() == [("flood", 980, 10.0)]
    assert limiter.admit("flood")  # a new window


@pytest.mark.e2e
def test_a_flood_of_refusals_is_written_twenty_times_and_summarised(
    tmp_path: Path, upstream: Upstream
) -> None:
    rules = Path(__file__).parent / "rules.yaml"
    upstream.clear()
    options = ("aiwall_refusal_events=20",)  # the default, which the suite's proxies turn off
    with running_proxy(tmp_path / "proxy", upstream, rules, ROOT / "policies", options) as proxy:
        context = ssl.create_default_context(cafile=str(proxy.ca))
        with httpx.Client(proxy=proxy.url, verify=context, http2=True, timeout=10) as client:
            statuses = {client.get("https://chat.deepseek.com/").status_code for _ in range(300)}
        assert statuses == {403}
    lines = proxy.events_path.read_text().splitlines()
    validate_event_lines(lines)
    events = proxy.events()
    decisions = [e for e in events if e["event"]["action"] == "decision"]
    [summary] = [e for e in events if e["event"]["action"] == "decisions.suppressed"]
    assert len(decisions) == 20
    assert summary["aiwall"]["suppressed"]["count"] == 280
    assert summary["url"]["domain"] == "chat.deepseek.com"
    assert not upstream.saw("deepseek.com")
