"""`aiwall report`'s answers to the analyst's questions, on a small log written by EventLog:
who used which AI service (requests, sessions, days, recorded allowed use), distinct users and
sessions per vendor per day, the facts that applied, filters on every format, what changed and
which outcomes flipped, and overlapping files counted once."""

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiwall.analysis.report import build
from aiwall.analysis.report_html import render_html
from aiwall.analysis.report_text import render_text
from aiwall.analysis.tally import Filters
from aiwall.cli.main import main
from aiwall.core.config import Config, load_config
from aiwall.telemetry.events import EventLog

from .conftest import FIXTURES, TODAY
from .eventcheck import context, decide, fact_change

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = """
settings: {default_action: log}
groups:
  research: {users: [rita]}
rules:
  - id: research-usbot-recorded
    description: Research uses US Bot; recorded.
    match: {vendor: usbot, group: research}
    action: allow
    record: true
  - id: block-cn
    description: No data to China.
    match: {residency: [CN]}
    action: block
  - id: eu
    description: EU API.
    match: {vendor: euapi}
    action: ACTION
"""


class Clock:
    now = START

    @classmethod
    def time(cls) -> float:
        return cls.now.timestamp()


def rules(tmp: Path, action: str) -> Config:
    path = tmp / f"rules-{action}.yaml"
    path.write_text(RULES.replace("ACTION", action))
    return load_config(path, FIXTURES / "policies", today=lambda: TODAY)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days. Day one: EU API logged; a reload makes it blocked at 14:00 on day two."""
    tmp = tmp_path_factory.mktemp("views")
    path = tmp / "events.jsonl"
    logged, blocked = rules(tmp, "log"), rules(tmp, "block")
    Clock.now = START
    events = EventLog(str(path), clock=Clock.time, session_interval=600)
    events.config_loaded(logged, rules="rules.yaml", policies="policies")
    for day in range(2):
        Clock.now = START + timedelta(days=day)
        config = logged
        for hour in range(8):  # 09:00 to 16:00
            Clock.now = START + timedelta(days=day, hours=hour)
            if day == 1 and hour == 5:
                events.config_loaded(blocked, rules="rules.yaml", policies="p", previous=logged)
                events.policy_changed([fact_change("never", product="euapi/api")])
                config = blocked
            for user, host in (("alice", "euapi.test"), ("bob", "cnchat.test")):
                decision = decide(config, host, user=user)
                status = 403 if decision.blocks else None
                events.decision(decision, context(user=user, status_code=status,
                                                  forwarded=status is None))  # fmt: skip
                Clock.now += timedelta(minutes=1)
            if hour < 2:  # rita's recorded use: 3 requests an hour, in the first two hours
                research = decide(config, "usbot.test", user="rita")
                for _ in range(3):
                    events.allowed(research, user="rita", client_ip=None, body=1000)
                    Clock.now += timedelta(minutes=2)
                events.sessions.flush(everything=True)
    events.close()
    return path


@pytest.fixture(scope="module")
def doc(log: Path) -> dict[str, Any]:
    return build([str(log)])


def test_who_used_what(doc: dict[str, Any]) -> None:
    rows = {(u["user"], u["vendor"]): u for u in doc["usage"]}
    alice = rows[("alice", "euapi")]
    assert alice["requests"] == 16 and alice["sessions"] == 16 and alice["days"] == 2
    assert alice["actions"] == {"block": 3, "warn": 0, "log": 13, "allow": 0}
    assert alice["products"] == ["euapi/api"]
    assert (alice["first_hour"], alice["last_hour"]) == ("2026-11-23T09:00Z", "2026-11-24T16:00Z")
    bob = rows[("bob", "cnchat")]
    assert bob["actions"]["block"] == 16 and bob["identity"] == "user:bob"
    rita = rows[("rita", "usbot")]
    assert rita["recorded"] == rita["requests"] == 12  # 3 a session, 2 sessions a day, 2 days
    assert rita["request_bytes"] == 12_000 and rita["sessions"] == 4 and rita["days"] == 2
    assert doc["usage_rows"] == {"shown": 3, "total": 3}
    assert doc["recorded"] == {
        "requests": 12,
        "request_bytes": 12_000,
        "sessions": 4,
        "unlogged_allow": [],
    }


def test_distinct_users_and_sessions_per_vendor_per_day(doc: dict[str, Any]) -> None:
    daily = {(d["day"], d["vendor"]): d for d in doc["daily"]}
    assert set(daily) == {
        (day, vendor)
        for day in ("2026-11-23", "2026-11-24")
        for vendor in ("euapi", "cnchat", "usbot")
    }
    first = daily[("2026-11-23", "usbot")]
    assert (first["requests"], first["recorded"], first["users"], first["sessions"]) == (6, 6, 1, 2)
    eu = daily[("2026-11-24", "euapi")]
    assert (eu["requests"], eu["users"], eu["sessions"]) == (8, 1, 8)
    assert eu["actions"] == {"block": 3, "warn": 0, "log": 5, "allow": 0}


def test_requests_by_the_facts_that_applied(doc: dict[str, Any]) -> None:
    facts = {
        name: {v["value"]: v["requests"] for v in values} for name, values in doc["facts"].items()
    }
    assert facts["training"] == {"default": 28, "never": 16}  # cnchat and US Bot; the EU API
    assert facts["residency"]["CN"] == 16
    assert sum(facts["stale"].values()) == 44


def test_changes_list_rules_facts_and_the_outcome_that_flipped(doc: dict[str, Any]) -> None:
    start, reload, policy = doc["changes"]
    assert (start["kind"], start["reload"], start["rules"], start["flips"]) == (
        "config.loaded", False, [], [])  # fmt: skip
    assert reload["reload"] is True and reload["rules_hash"] != start["rules_hash"]
    assert reload["rules"] == [{"rule": "eu", "change": "changed", "fields": ["action"]}]
    assert reload["instance"].endswith(")") and reload["file"].endswith(":32")
    assert policy["facts"] == [fact_change("never", product="euapi/api")]
    assert policy["flips"] == [
        {
            "product": "euapi/api",
            "before": "log",
            "after": "block",
            "since": "2026-11-24T14:00:00.000000Z",
            "requests_since": 3,
        }
    ]
    text = render_text(doc)
    assert "rule eu changed: action" in text
    assert "outcome flipped: euapi/api: log → block, 3 requests since 2026-11-24 14:00" in text


@pytest.mark.parametrize(
    ("option", "value", "vendors"),
    [
        ("--user", "alice", ["euapi"]),
        ("--user", "user:rita", ["usbot"]),
        ("--vendor", "cnchat", ["cnchat"]),
        ("--vendor", "euapi/api,usbot", ["euapi", "usbot"]),
        ("--action", "block", ["cnchat", "euapi"]),
        ("--rule", "block-cn", ["cnchat"]),
        ("--rule", "eu", ["euapi"]),
    ],
)
def test_filters_apply_to_every_count(
    capsys: pytest.CaptureFixture[str], log: Path, option: str, value: str, vendors: list[str]
) -> None:
    assert main(["report", str(log), "--format", "json", option, value]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted({u["vendor"] for u in doc["usage"]}) == vendors
    assert sorted({d["vendor"] for d in doc["daily"]}) == vendors
    assert sorted(v["vendor"] for v in doc["vendors"]) == vendors
    assert doc["report"]["filters"][option[2:]] == sorted(value.split(","))
    assert doc["lines"]["filtered_out"] > 0
    for shape in ("text", "html"):
        assert main(["report", str(log), "--format", shape, option, value]) == 0
        out = capsys.readouterr().out
        for other in {"euapi", "cnchat", "usbot"} - set(vendors):
            assert other not in out.replace(f"{other}/", "").split("Changes")[0], (shape, other)


def test_a_bad_action_filter_is_an_error(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    assert main(["report", str(log), "--action", "deny"]) == 2
    assert "--action deny" in capsys.readouterr().err


def test_top_keeps_the_largest_rows(log: Path) -> None:
    doc = build([str(log)], top=1)
    assert [(u["user"], u["vendor"]) for u in doc["usage"]] == [("alice", "euapi")]
    assert doc["usage_rows"] == {"shown": 1, "total": 3}


def test_overlapping_rotated_files_count_as_one_log(
    tmp_path: Path, log: Path, doc: dict[str, Any]
) -> None:
    """logrotate's copytruncate: the rotated copy and the live file share their edge."""
    lines = log.read_bytes().splitlines(keepends=True)
    rotated, live = tmp_path / "events.jsonl.1.gz", tmp_path / "events.jsonl"
    rotated.write_bytes(gzip.compress(b"".join(lines[:30])))
    live.write_bytes(b"".join(lines[20:]))
    both = build([str(rotated), str(live)])
    assert both["lines"]["duplicates"] == 10
    twice = build([str(log), str(log)])
    assert twice["lines"]["duplicates"] == len(lines)
    for other in (both, twice):
        for key in doc:
            if key not in ("report", "lines", "changes"):
                assert other[key] == doc[key], key
        assert [c["flips"] for c in other["changes"]] == [c["flips"] for c in doc["changes"]]
    assert "10 duplicates dropped" in render_html(both)


def test_the_html_page_is_the_same_bytes_every_time(log: Path, doc: dict[str, Any]) -> None:
    page = render_html(doc)
    assert render_html(build([str(log)])) == page
    code = (
        "import sys, json; from aiwall.analysis.report import build;"
        "from aiwall.analysis.report_html import render_html;"
        "sys.stdout.write(render_html(build([sys.argv[1]])))"
    )
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", code, str(log)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            check=True,
        ).stdout
        assert other == page


def test_filters_object(log: Path) -> None:
    only = build([str(log)], filters=Filters(users=frozenset({"bob"})))
    assert only["decisions"]["total"] == 16 and only["acknowledgements"]["total"] == 0


def test_refusals_the_proxy_counted_instead_of_writing_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    config = rules(tmp_path, "log")
    events = EventLog(str(path))
    events.decision(decide(config, "cnchat.test", user="bob"), context(user="bob", status_code=403))
    events.decisions_suppressed(
        client_ip=None, user="bob", host="cnchat.test", rule_id="block-cn", status_code=403,
        count=280, seconds=10,
    )  # fmt: skip
    events.close()
    doc = build([str(path)])
    assert doc["decisions"]["total"] == 1 and doc["decisions"]["suppressed"] == 280
    assert doc["lines"]["other"] == {"decisions.suppressed": 1}
    assert (
        build([str(path)], filters=Filters(users=frozenset({"alice"})))["decisions"]["suppressed"]
        == 0
    )
    assert main(["report", str(path)]) == 0
    assert "280 repeated refusals counted by the proxy" in capsys.readouterr().out
