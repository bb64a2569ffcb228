"""The security analyst's questions, answered from `aiwall report --format json` for traffic
that went through a real mitmdump with aiwall (issue 14):

- who used which AI service, how often, in how many sessions, with which outcome; allowed use
  that a rule records is there, and the report says which allowed traffic is not in the log;
- which vendor facts applied to the requests;
- what changed in the rules and the vendor records, and which outcome flipped because of it;
- the same counts from overlapping rotated files as from the one log;
- filters by user, vendor, rule and action.

The report of this traffic is written to test-output/e2e/ (JSON and text).
"""

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiwall.cli.main import main

from .conftest import ROOT
from .proxy import Proxy, running_proxy
from .upstream import Upstream

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

OUTPUT = ROOT / "test-output" / "e2e"
JSON = ("-H", "Accept: application/json")
RULES = """
settings:
  default_action: log
  intercept: ai-only
groups:
  research: {users: [rita]}
rules:
  - id: research-claude-recorded
    description: Research may use Claude; its use is recorded per session.
    match: {vendor: anthropic, group: research}
    action: allow
    record: true
  - id: block-cn
    description: Vendors that keep data in China.
    match: {residency: [CN]}
    action: block
  - id: allow-anthropic
    description: Anthropic is approved.
    match: {vendor: anthropic}
    action: allow
  - id: le-chat
    description: Le Chat.
    match: {product: mistral/le-chat}
    action: log
"""


def traffic(proxy: Proxy, user: str, url: str, times: int, *args: str) -> list[int]:
    return [proxy.curl(url, *JSON, *args, proxy_user=f"{user}:pw")[0] for _ in range(times)]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Path:
    """A morning of traffic, a change of Le Chat's record, then of its rule, more traffic."""
    folder = tmp_path_factory.mktemp("analyst")
    rules, policies = folder / "rules.yaml", folder / "policies"
    rules.write_text(RULES)
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("*.tsv"))
    options = ("proxyauth=any", "aiwall_reload_interval=1")
    with running_proxy(folder / "proxy", upstream, rules, policies, options) as proxy:
        assert traffic(proxy, "alice", "https://chatgpt.com/", 3) == [200] * 3
        assert traffic(proxy, "alice", "https://chat.deepseek.com/", 2) == [403] * 2
        assert traffic(proxy, "bob", "https://chat.mistral.ai/", 2) == [200] * 2
        body = ("-X", "POST", "--data-binary", "x" * 100)
        assert traffic(proxy, "rita", "https://claude.ai/api/chat", 4, *body) == [200] * 4
        assert traffic(proxy, "carl", "https://api.anthropic.com/v1/messages", 2) == [200] * 2
        # Mistral's record changes (a fact), then the organisation blocks Le Chat (a rule).
        before = proxy.event_count()
        record = policies / "mistral.yaml"
        record.write_text(record.read_text().replace("confidence: medium", "confidence: low", 1))
        proxy.wait_for(before, "policy.changed")
        before = proxy.event_count()
        le_chat = "match: {product: mistral/le-chat}\n    action: "
        rules.write_text(RULES.replace(le_chat + "log", le_chat + "block"))
        proxy.wait_for(before, "config.loaded")
        assert traffic(proxy, "bob", "https://chat.mistral.ai/", 4) == [403] * 4
        assert traffic(proxy, "alice", "https://chatgpt.com/", 1) == [200]
    # Stopped: the open session of recorded use has been written.
    return proxy.events_path


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["report", "--format", "json", *args]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


@pytest.fixture(scope="module")
def doc(log: Path) -> dict[str, Any]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    assert (
        main(["report", str(log), "--format", "json", "--output", str(OUTPUT / "report.json")]) == 0
    )
    assert main(["report", str(log), "--output", str(OUTPUT / "report.txt")]) == 0
    answer: dict[str, Any] = json.loads((OUTPUT / "report.json").read_text())
    return answer


def usage(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(u["user"], u["vendor"]): u for u in doc["usage"]}


def test_who_used_which_ai_service(doc: dict[str, Any]) -> None:
    rows = usage(doc)
    assert set(rows) == {
        ("alice", "openai"), ("alice", "deepseek"), ("bob", "mistral"), ("rita", "anthropic"),
    }  # fmt: skip
    assert rows[("alice", "openai")]["actions"]["log"] == 4
    assert rows[("alice", "deepseek")]["actions"]["block"] == 2
    bob = rows[("bob", "mistral")]
    assert bob["requests"] == 6 and bob["actions"]["log"] == 2 and bob["actions"]["block"] == 4
    assert bob["products"] == ["mistral/le-chat"]
    rita = rows[("rita", "anthropic")]  # allowed, and recorded in a session event
    assert rita["recorded"] == rita["requests"] == 4 and rita["request_bytes"] == 400
    assert all(row["sessions"] >= 1 and row["days"] == 1 for row in rows.values())
    assert doc["recorded"]["requests"] == 4 and doc["recorded"]["sessions"] >= 1


def test_the_report_says_which_allowed_traffic_is_not_in_the_log(doc: dict[str, Any]) -> None:
    assert doc["recorded"]["unlogged_allow"] == ["allow-anthropic"]  # carl's calls: no trace
    assert not any(u["user"] == "carl" for u in doc["usage"])


def test_distinct_users_and_sessions_per_vendor_per_day(doc: dict[str, Any]) -> None:
    daily = {d["vendor"]: d for d in doc["daily"]}
    assert set(daily) == {"openai", "deepseek", "mistral", "anthropic"}
    assert {vendor: d["users"] for vendor, d in daily.items()} == {
        "openai": 1, "deepseek": 1, "mistral": 1, "anthropic": 1
    }  # fmt: skip
    assert {vendor: d["requests"] for vendor, d in daily.items()} == {
        "openai": 4, "deepseek": 2, "mistral": 6, "anthropic": 4
    }  # fmt: skip
    assert all(d["sessions"] >= d["users"] for d in daily.values())


def test_which_facts_applied(doc: dict[str, Any]) -> None:
    facts = {
        name: {v["value"]: v["requests"] for v in values} for name, values in doc["facts"].items()
    }
    assert sum(facts["training"].values()) == 16  # every request had a vendor record
    assert facts["residency"].get("CN") == 2  # the DeepSeek requests
    assert set(facts) >= {"training", "opt_out", "zero_retention", "dpa", "residency",
                          "jurisdiction", "retention_class", "confidence", "stale"}  # fmt: skip


def test_what_changed_and_what_it_changed(doc: dict[str, Any]) -> None:
    # The record's change is a reload too: config.loaded (no rule changed), then policy.changed.
    start, records, policy, reload = doc["changes"]
    assert start["kind"] == "config.loaded" and not start["reload"]
    assert records["kind"] == "config.loaded" and records["reload"] and records["rules"] == []
    assert policy["kind"] == "policy.changed"
    assert {"vendor": "mistral", "product": None, "change": "changed", "field": "confidence",
            "old": "medium", "new": "low"} in policy["facts"]  # fmt: skip
    assert reload["kind"] == "config.loaded" and reload["reload"]
    assert reload["rules"] == [{"rule": "le-chat", "change": "changed", "fields": ["action"]}]
    assert reload["rules_hash"] != start["rules_hash"]
    [flip] = reload["flips"]
    assert (flip["product"], flip["before"], flip["after"], flip["requests_since"]) == (
        "mistral/le-chat", "log", "block", 4)  # fmt: skip
    assert start["instance"] == reload["instance"]  # one proxy: one instance


def test_overlapping_files_give_the_same_counts_as_one(
    capsys: pytest.CaptureFixture[str], log: Path, doc: dict[str, Any], tmp_path: Path
) -> None:
    lines = log.read_bytes().splitlines(keepends=True)
    cut = len(lines) * 2 // 3
    rotated, live = tmp_path / "events.jsonl.1.gz", tmp_path / "events.jsonl"
    rotated.write_bytes(gzip.compress(b"".join(lines[:cut])))  # copytruncate: the copy ...
    live.write_bytes(b"".join(lines[cut // 2 :]))  # ... and the file both hold the middle
    both = report(capsys, str(rotated), str(live))
    assert both["lines"]["duplicates"] == cut - cut // 2
    for key in ("decisions", "recorded", "vendors", "rules", "users", "usage", "daily", "facts"):
        assert both[key] == doc[key], key
    (OUTPUT / "overlap-lines.json").write_text(json.dumps(both["lines"], indent=2) + "\n")


def test_filters(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    bob = report(capsys, str(log), "--user", "bob")
    assert [(u["user"], u["vendor"]) for u in bob["usage"]] == [("bob", "mistral")]
    blocked = report(capsys, str(log), "--action", "block")
    assert blocked["decisions"]["actions"] == {"block": 6, "warn": 0, "log": 0, "allow": 0}
    le_chat = report(capsys, str(log), "--vendor", "mistral/le-chat", "--rule", "le-chat")
    assert le_chat["decisions"]["total"] == 6
