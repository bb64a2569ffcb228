"""Weaknesses 5 and 9: hostile or mistaken rules files and records. `aiwall check` answers
each in under two seconds with file:line and no traceback; a hot reload of one is rejected with
`config.rejected`, and the watcher keeps watching."""

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..proxy import Proxy, running_proxy
from ..upstream import Upstream

pytestmark = [pytest.mark.security]

ROOT = Path(__file__).resolve().parents[2]
AIWALL = [sys.executable, "-m", "aiwall"]

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9 if previous else ['lol'] * 9)}]\n"
    for previous, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True)
)

HOSTILE: dict[str, tuple[str, str]] = {
    # name: (file text, what the message must say)
    "billion laughs": (LAUGHS, "aliases"),
    "recursive alias": ("settings: &s\n  contact: x\n  loop: *s\n", "aliases"),
    "merge key": ("base: &b {action: log}\nrules:\n  - <<: *b\n    id: x\n", "aliases"),
    "nesting": ("rules: " + "[" * 5000 + "]" * 5000 + "\n", "nesting"),
    "overflowing stale_after": ("settings:\n  stale_after: P9000000D\nrules: []\n", "100 years"),
    "overflowing ack_ttl": ("settings:\n  ack_ttl: P99999999999D\nrules: []\n", "100 years"),
    "zero ack_ttl": ("settings:\n  ack_ttl: 0s\nrules: []\n", "longer than zero"),
    "zero rule ack_ttl": (
        "rules:\n  - id: w\n    description: d\n    action: warn\n    ack_ttl: 0s\n",
        "longer than zero",
    ),
    "tabs": ("rules:\n\t- id: x\n", "spaces, not tabs"),
    # Once accepted, then every AI request failed closed: a warning without a rule has no page.
    "default warn": ("settings:\n  default_action: warn\nrules: []\n", "a warning needs a rule"),
    "not utf-8": ("rules: []\n# \udcff\n", "cannot read"),
}


def write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_check_answers_a_hostile_rules_file_fast_and_plainly(tmp_path: Path, name: str) -> None:
    text, said = HOSTILE[name]
    rules = tmp_path / "rules.yaml"
    write(rules, text)
    started = time.monotonic()
    result = subprocess.run(
        [*AIWALL, "check", "--rules", str(rules)], capture_output=True, text=True, timeout=20
    )
    assert time.monotonic() - started < 2.0 + 1.0  # + the interpreter's own start
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{rules}:" in result.stderr and said in result.stderr, result.stderr


def test_check_refuses_a_huge_rules_file_without_reading_it_all(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    with rules.open("w") as file:
        file.write("rules:\n")
        for i in range(400_000):
            file.write(f"  - {{id: r{i}, description: d, action: log}}\n")
    started = time.monotonic()
    result = subprocess.run(
        [*AIWALL, "check", "--rules", str(rules)], capture_output=True, text=True, timeout=20
    )
    assert time.monotonic() - started < 3.0
    assert f"{rules}:1: (file): the file is larger than" in result.stderr


def test_a_hostile_record_is_named_too(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    write(policies / "deepseek.yaml", LAUGHS)
    result = subprocess.run(
        [
            *AIWALL,
            "check",
            "--rules",
            str(ROOT / "rules.example.yaml"),
            "--policies",
            str(policies),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{policies / 'deepseek.yaml'}:1: (syntax): YAML anchors and aliases" in result.stderr


@pytest.fixture
def reloading(tmp_path: Path, upstream: Upstream) -> Iterator[tuple[Proxy, Path]]:
    rules = tmp_path / "rules.yaml"
    shutil.copy(Path(__file__).parent / "rules.yaml", rules)
    options = ("aiwall_reload_interval=1",)
    with running_proxy(tmp_path / "proxy", upstream, rules, ROOT / "policies", options) as proxy:
        yield proxy, rules


def events_named(
    proxy: Proxy, action: str, since: int, timeout: float = 15
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in proxy.events()[since:] if e["event"]["action"] == action]
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["billion laughs", "overflowing ack_ttl", "zero ack_ttl"])
def test_a_hostile_reload_is_rejected_and_the_watcher_lives_on(
    reloading: tuple[Proxy, Path], name: str
) -> None:
    proxy, rules = reloading
    good = rules.read_text()
    before = proxy.event_count()
    write(rules, HOSTILE[name][0])
    [rejected] = events_named(proxy, "config.rejected", before)[:1]
    assert str(rules) in json.dumps(rejected)
    assert proxy.curl("https://chat.deepseek.com/", "-H", "Accept: application/json")[0] == 403
    before = proxy.event_count()
    rules.write_text(good.replace("action: block\n", "action: log\n", 1))  # block-cn → log
    assert events_named(proxy, "config.loaded", before)
    assert proxy.curl("https://chat.deepseek.com/", "-H", "Accept: application/json")[0] == 200
