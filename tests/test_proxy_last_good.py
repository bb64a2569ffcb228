"""A policy that survives: policy tests gate every reload, the last good configuration is kept in
the state directory, and a start that finds broken files serves it, loudly. Through a real
mitmdump and a real `aiwall run`."""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import FIXTURES, ROOT
from .eventcheck import validate_event_lines
from .proxy import Proxy, free_port, running_proxy
from .test_reload_metrics import JSON, MISTRAL_WARN, edit, scrape, wait_for
from .upstream import Upstream

pytestmark = pytest.mark.e2e

BLOCK_CN = "match: {residency: [CN]}\n    action: block"
POLICY_TESTS = """
tests:
  - {url: https://chat.deepseek.com/, expect: block, rule: block-cn}
  - {url: https://chat.mistral.ai/, expect: warn, rule: warn-mistral}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    rules = tmp_path / "rules.yaml"
    rules.write_text((FIXTURES / "proxy" / "rules.yaml").read_text() + POLICY_TESTS)
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("*.tsv"))
    return rules, policies, tmp_path / "state"


@pytest.fixture
def watched(
    tmp_path: Path, upstream: Upstream, files: tuple[Path, Path, Path]
) -> Iterator[tuple[Proxy, Path, Path, int]]:
    rules, policies, state = files
    metrics = free_port()
    options = (
        "aiwall_reload_interval=1",
        f"aiwall_metrics=127.0.0.1:{metrics}",
        f"aiwall_state_dir={state}",
    )
    with running_proxy(tmp_path / "proxy", upstream, rules, policies, options) as proxy:
        yield proxy, rules, state, metrics
    validate_event_lines(proxy.events_path.read_text().splitlines())


def kept_rules_hash(state: Path) -> str:
    return str(json.loads((state / "current").read_text())["rules_hash"])


def test_a_reload_whose_policy_tests_fail_is_rejected_and_the_last_good_keeps_serving(
    watched: tuple[Proxy, Path, Path, int],
) -> None:
    proxy, rules, state, metrics = watched
    kept = kept_rules_hash(state)
    before = proxy.event_count()
    edit(rules, lambda t: t.replace(BLOCK_CN, BLOCK_CN.replace("block", "warn")))
    rejected = wait_for(proxy, before, "config.rejected")
    problems = rejected["aiwall"]["config"]["problems"]
    assert problems == [
        f"{rules}:{len(rules.read_text().splitlines()) - 1}: tests[0]: GET"
        " https://chat.deepseek.com/: expected block by rule block-cn, got warn by rule block-cn"
    ]
    assert rejected["aiwall"]["config"]["serving"] == "the configuration in force before"
    assert proxy.curl("https://chat.deepseek.com/", *JSON)[0] == 403
    assert json.loads(proxy.curl("https://chat.deepseek.com/", *JSON)[1])["error"]["code"] == (
        "aiwall_blocked"
    )
    # Loudly: on stderr too, in the gauge, and in /readyz's answer (still ready: it serves).
    assert "aiwall: ERROR: rejected the changed configuration" in _wait_for_text(proxy, problems[0])
    assert "aiwall_config_in_sync 0.0" in scrape(metrics, "/metrics")[1]
    status, body = scrape(metrics, "/readyz")
    assert status == 200
    assert body.startswith("ready, serving the configuration in force before: the rules or")
    assert kept_rules_hash(state) == kept  # a rejected change is never kept

    before = proxy.event_count()
    edit(
        rules,
        lambda t: (
            t.replace(BLOCK_CN.replace("block", "warn"), BLOCK_CN)
            .replace("warn-mistral", "block-mistral")
            .replace(MISTRAL_WARN, MISTRAL_WARN.replace("warn", "block"))
            .replace("expect: warn", "expect: block")
        ),
    )
    loaded = wait_for(proxy, before, "config.loaded")
    config = loaded["aiwall"]["config"]
    assert config["rules_hash"].startswith("sha256:") and config["rules_hash"] != kept
    assert sorted(config["rule_changes"], key=lambda c: c["rule"]) == [
        {"rule": "block-mistral", "change": "added", "fields": []},
        {"rule": "warn-mistral", "change": "removed", "fields": []},
    ]
    assert "aiwall_config_in_sync 1.0" in scrape(metrics, "/metrics")[1]
    assert scrape(metrics, "/readyz") == (200, "ready\n")
    assert kept_rules_hash(state) == config["rules_hash"]
    assert proxy.curl("https://chat.mistral.ai/", *JSON)[0] == 403


def _wait_for_text(proxy: Proxy, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = proxy.stderr_path.read_text()
        if text in output:
            return output
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not on stderr: {proxy.stderr_path.read_text()}")


def test_a_fresh_aiwall_run_with_a_broken_rules_file_serves_the_kept_one_and_blocks_deepseek(
    tmp_path: Path, upstream: Upstream, files: tuple[Path, Path, Path]
) -> None:
    rules, policies, state = files
    # A first run accepts the files and keeps them.
    options = (f"aiwall_state_dir={state}",)
    with running_proxy(tmp_path / "first", upstream, rules, policies, options) as first:
        assert first.curl("https://chat.deepseek.com/", *JSON)[0] == 403
    kept = kept_rules_hash(state)
    # Someone breaks the rules file in two places; then the machine restarts.
    rules.write_text(
        rules.read_text()
        .replace('action: block\n    message: "Company', 'action: deny\n    message: "Company')
        .replace("{vendor: deepseek, group: auditors}", "{vendr: deepseek, group: auditors}")
    )
    run = AiwallRun(tmp_path / "second", rules, policies, state)
    with run:
        rejected, loaded = run.events("config.rejected")[0], run.events("config.loaded")[0]
        problems = rejected["aiwall"]["config"]["problems"]
        assert len(problems) == 2
        assert "rules[1].match.vendr: unknown field; did you mean 'vendor'?" in problems[0]
        assert "rules[3].action: Input should be 'allow', 'log', 'warn' or 'block'" in problems[1]
        assert rejected["aiwall"]["config"]["serving"].startswith(
            "the last good configuration, accepted "
        )
        assert loaded["aiwall"]["config"]["rules_hash"] == kept
        assert loaded["aiwall"]["config"]["rules"].startswith(str(state))

        status, body = run.curl("https://chat.deepseek.com/")
        assert status == 403
        assert json.loads(body)["error"]["code"] == "aiwall_blocked"
        assert "aiwall_config_in_sync 0.0" in scrape(run.metrics, "/metrics")[1]
        status, ready = scrape(run.metrics, "/readyz")
        assert status == 200
        assert ready.startswith("ready, serving the last good configuration, accepted")
    assert (
        "aiwall: ERROR: rejected the configuration; serving the last good configuration"
        in run.stderr
    )
    for problem in problems:
        assert f"  {problem}\n" in run.stderr


def test_aiwall_run_with_broken_files_and_nothing_kept_does_not_start(
    tmp_path: Path, files: tuple[Path, Path, Path]
) -> None:
    rules, policies, state = files
    rules.write_text(rules.read_text().replace("action: block", "action: deny", 1))
    run = AiwallRun(tmp_path, rules, policies, state)
    result = subprocess.run(run.command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert (
        "rules[2].action: Input should be 'allow', 'log', 'warn' or 'block' (got 'deny')"
        in result.stderr
    )
    assert (
        "aiwall: the configuration was rejected and there is no last good configuration to serve"
        in result.stderr
    )
    assert [e["aiwall"]["config"]["serving"] for e in run.events("config.rejected")] == [
        "nothing: aiwall does not start"
    ]


@dataclass
class AiwallRun:
    """`aiwall run` as the systemd unit starts it, until its log has its configuration."""

    folder: Path
    rules: Path
    policies: Path
    state: Path
    port: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)
    stderr: str = ""
    process: "subprocess.Popen[str] | None" = None

    @property
    def log(self) -> Path:
        return self.folder / "events.jsonl"

    @property
    def ca(self) -> Path:
        return self.folder / "conf" / "mitmproxy-ca-cert.pem"

    @property
    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "aiwall", "run", "--rules", str(self.rules)),
            *("--policies", str(self.policies), "--state-dir", str(self.state)),
            *("--listen", f"127.0.0.1:{self.port}", "--confdir", str(self.folder / "conf")),
            *("--log", str(self.log), "--metrics", f"127.0.0.1:{self.metrics}"),
            *("--set", "block_global=false"),
        ]

    def events(self, action: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [e for e in map(json.loads, lines) if e["event"]["action"] == action]

    def curl(self, url: str) -> tuple[int, str]:
        result = subprocess.run(
            [
                *("curl", "-sS", "--max-time", "10", "-x", f"http://127.0.0.1:{self.port}"),
                *("--cacert", str(self.ca), "-H", "Accept: application/json"),
                *("-w", "\n%{http_code}", url),
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        body, _, status = result.stdout.rpartition("\n")
        return int(status or 0), body

    def __enter__(self) -> "AiwallRun":
        self.folder.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        deadline = time.monotonic() + 30
        while not (self.ca.exists() and self.events("config.loaded")):
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "aiwall run did not start"
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.stderr = self.process.communicate(timeout=15)[1]
