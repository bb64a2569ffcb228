"""Operations: rules and records reloaded on change or SIGHUP, never failing open; metrics."""

import json
import shutil
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import FIXTURES, ROOT
from .eventcheck import validate_event_lines
from .proxy import Proxy, free_port, running_proxy
from .upstream import Upstream

pytestmark = pytest.mark.e2e  # a real mitmdump: `pytest -m 'not e2e'` skips it

JSON = ("-H", "Accept: application/json")
MISTRAL_WARN = "match: {vendor: mistral}\n    action: warn"


def mistral_action(action: str) -> Callable[[str], str]:
    return lambda text: text.replace(
        MISTRAL_WARN, f"match: {{vendor: mistral}}\n    action: {action}"
    )


def wait_for(proxy: Proxy, since: int, action: str, timeout: float = 15) -> dict[str, Any]:
    """The first event of this kind written after the first `since` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in proxy.events()[since:]:
            if event["event"]["action"] == action:
                return event
        time.sleep(0.1)
    raise AssertionError(f"no {action} event within {timeout} s")


@pytest.fixture
def config_copy(tmp_path: Path) -> tuple[Path, Path]:
    rules = tmp_path / "rules.yaml"
    shutil.copy(FIXTURES / "proxy" / "rules.yaml", rules)
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("*.tsv"))
    return rules, policies


@pytest.fixture
def reloading_proxy(
    tmp_path: Path, upstream: Upstream, config_copy: tuple[Path, Path]
) -> Iterator[tuple[Proxy, Path, Path, int]]:
    rules, policies = config_copy
    metrics_port = free_port()
    options = ("aiwall_reload_interval=1", f"aiwall_metrics=127.0.0.1:{metrics_port}")
    with running_proxy(tmp_path / "proxy", upstream, rules, policies, options) as proxy:
        yield proxy, rules, policies, metrics_port
    validate_event_lines(proxy.events_path.read_text().splitlines())


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Replace the file the way editors do: write a new one, rename it over the old."""
    text = change(path.read_text())
    assert text != path.read_text()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def mistral_status(proxy: Proxy) -> int:
    return proxy.curl("https://chat.mistral.ai/", *JSON)[0]


def test_a_good_change_is_swapped_in(reloading_proxy: tuple[Proxy, Path, Path, int]) -> None:
    proxy, rules, _, _ = reloading_proxy
    assert mistral_status(proxy) == 403  # warned
    before = proxy.event_count()
    edit(rules, mistral_action("allow"))
    wait_for(proxy, before, "config.loaded")
    assert mistral_status(proxy) == 200


def test_a_bad_change_is_rejected_and_the_last_good_config_keeps_serving(
    reloading_proxy: tuple[Proxy, Path, Path, int],
) -> None:
    proxy, rules, policies, _ = reloading_proxy
    for broken in (
        lambda t: t.replace("action: block", "action: deny", 1),
        lambda t: t + "rules: [\n",
        lambda t: t[: len(t) // 2],
    ):
        before = proxy.event_count()
        good = rules.read_text()
        edit(rules, broken)
        rejected = wait_for(proxy, before, "config.rejected")
        problems = rejected["aiwall"]["config"]["problems"]
        assert problems and all(p.startswith(f"{rules}:") for p in problems)
        assert proxy.curl("https://chat.deepseek.com/", *JSON)[0] == 403
        assert proxy.curl("https://api.anthropic.com/", *JSON)[0] == 200
        edit(rules, lambda _, good=good: good + "\n")
        wait_for(proxy, before, "config.loaded")
    before = proxy.event_count()
    edit(
        policies / "deepseek.yaml",
        lambda t: t.replace("training: default", "training: sometimes", 1),
    )
    rejected = wait_for(proxy, before, "config.rejected")
    assert any("deepseek.yaml" in p for p in rejected["aiwall"]["config"]["problems"])
    assert proxy.curl("https://chat.deepseek.com/", *JSON)[0] == 403


def test_a_change_of_vendor_facts_is_announced_field_by_field(
    reloading_proxy: tuple[Proxy, Path, Path, int],
) -> None:
    proxy, _, policies, _ = reloading_proxy
    before = proxy.event_count()
    edit(policies / "mistral.yaml", lambda t: t.replace("confidence: medium", "confidence: low", 1))
    changed = wait_for(proxy, before, "policy.changed")
    assert {
        "vendor": "mistral",
        "product": None,
        "change": "changed",
        "field": "confidence",
        "old": "medium",
        "new": "low",
    } in changed["aiwall"]["policy"]["changes"]


def test_sighup_reloads(tmp_path: Path, upstream: Upstream, config_copy: tuple[Path, Path]) -> None:
    rules, policies = config_copy
    options = ("aiwall_reload_interval=0",)
    with running_proxy(tmp_path / "proxy", upstream, rules, policies, options) as proxy:
        edit(rules, mistral_action("block"))
        time.sleep(1.5)
        assert mistral_status(proxy) == 403
        assert (
            json.loads(proxy.curl("https://chat.mistral.ai/", *JSON)[1])["error"]["code"]
            == "aiwall_warning"
        )
        before = proxy.event_count()
        proxy.process.send_signal(signal.SIGHUP)
        wait_for(proxy, before, "config.loaded")
        body = proxy.curl("https://chat.mistral.ai/", *JSON)[1]
        assert json.loads(body)["error"]["code"] == "aiwall_blocked"


def scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_count_decisions_acknowledgements_reloads_and_time(
    reloading_proxy: tuple[Proxy, Path, Path, int],
) -> None:
    proxy, _, _, port = reloading_proxy
    for _ in range(3):
        proxy.curl("https://chat.deepseek.com/", *JSON)
    proxy.curl("https://api.anthropic.com/")
    status, text = scrape(port, "/metrics")
    assert status == 200
    assert 'aiwall_decisions_total{action="block",rule="block-cn",vendor="deepseek"} 3.0' in text
    assert (
        'aiwall_decisions_total{action="allow",rule="allow-anthropic",vendor="anthropic"} 1.0'
        in text
    )
    assert 'aiwall_reloads_total{outcome="loaded"} 1.0' in text
    assert "aiwall_decision_seconds_count 4.0" in text
    assert "# TYPE aiwall_internal_errors_total counter" in text
    assert scrape(port, "/healthz") == (200, "ok\n")
    assert scrape(port, "/readyz") == (200, "ready\n")
    assert scrape(port, "/other")[0] == 404
