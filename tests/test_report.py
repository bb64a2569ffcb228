"""`aiwall report`: exact aggregates from a log the real EventLog wrote (tests/report_log.py), in
JSON and text; the HTML page is tests/test_report_html.py's."""

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiwall.analysis.report import build, document
from aiwall.analysis.report_html import render_html
from aiwall.analysis.report_text import render_text
from aiwall.analysis.tally import Tally
from aiwall.analysis.text import text_table
from aiwall.analysis.times import parse_when
from aiwall.cli.main import main
from aiwall.core.config import Config

from .report_log import EXPIRED, JUSTIFICATIONS, SCRIPT, report_config, write_report_log

ACTIONS_ZERO = {"block": 0, "warn": 0, "log": 0, "allow": 0}


def acts(**counts: int) -> dict[str, int]:
    return ACTIONS_ZERO | counts


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return report_config(tmp_path_factory.mktemp("rules"))


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Path:
    return write_report_log(tmp_path_factory.mktemp("log"), config)


@pytest.fixture(scope="module")
def doc(log: Path) -> dict[str, Any]:
    return build([str(log)])


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["report", "--format", "json", *args]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


# ---------------------------------------------------------------------------------------------
# The JSON document


def test_lines_are_counted_by_kind_and_malformed_ones_named(log: Path, doc: dict[str, Any]) -> None:
    lines = doc["lines"]
    total = len(log.read_text().split("\n"))
    assert lines["read"] == total
    assert lines["decisions"] == 211
    assert lines["acks"] == 12
    assert lines["other"] == {"config.loaded": 1, "error": 1, "policy.changed": 1}
    assert lines["ignored"] == 1
    assert lines["outside_window"] == 0
    assert lines["malformed"] == 3
    examples = lines["malformed_examples"]
    assert [e.split(": ", 1)[1] for e in examples] == [
        "not JSON: Expecting value at column 1",
        "aiwall is not an object",
        examples[2].split(": ", 1)[1],
    ]
    assert examples[2].startswith(f"{log}:{total}: not ")
    assert sum(lines["other"].values()) + lines["ignored"] + 211 + 12 + 3 == total


def test_decisions_by_action(doc: dict[str, Any]) -> None:
    assert doc["decisions"] == {
        "total": 211,
        "actions": {"block": 91, "warn": 30, "log": 84, "allow": 6},
        "acknowledged": 12,
        "suppressed": 0,
    }
    assert doc["report"]["first_event"] == "2026-11-23T09:00:00.000000Z"
    assert doc["report"]["last_event"] == "2026-11-28T09:36:00.000000Z"


def test_vendors_and_products(doc: dict[str, Any]) -> None:
    def product(name: str | None, **counts: int) -> dict[str, Any]:
        return {
            "product": name,
            "total": sum(counts.values()),
            "actions": acts(**counts),
            "recorded": 0,
        }

    assert doc["vendors"] == [
        {
            "vendor": "cnchat",
            "total": 126,
            "actions": acts(block=90, log=36),
            "recorded": 0,
            "products": [
                product("cnchat/api", block=30, log=36),
                product("cnchat/consumer", block=60),
            ],
        },
        {
            "vendor": "usbot",
            "total": 42,
            "actions": acts(warn=30, log=6, allow=6),
            "recorded": 0,
            "products": [
                product("usbot/personal", warn=30),
                product("usbot/api", log=6),
                product("usbot/enterprise", allow=6),
            ],
        },
        {
            "vendor": "euapi",
            "total": 36,
            "actions": acts(log=36),
            "recorded": 0,
            "products": [product("euapi/api", log=36)],
        },
        {
            "vendor": "host:llm.corp.test",
            "total": 6,
            "actions": acts(log=6),
            "recorded": 0,
            "products": [product(None, log=6)],
        },
        {
            "vendor": "(invalid host name)",
            "total": 1,
            "actions": acts(block=1),
            "recorded": 0,
            "products": [product(None, block=1)],
        },
    ]  # fmt: skip


def test_rules_with_their_names(doc: dict[str, Any]) -> None:
    rows = [(r["rule"], r["name"], r["decided_by"], r["total"], r["actions"]) for r in doc["rules"]]
    assert rows == [
        ("block-cn", "No data to China.", "rule", 90, acts(block=90)),
        ("log-eu", "EU API.", "rule", 36, acts(log=36)),
        ("research-cn", "Research may reach CN Chat.", "rule", 36, acts(log=36)),
        ("warn-personal", 'Personal accounts train <unless> you "opt out".', "rule", 30,
         acts(warn=30)),
        ("allow-enterprise", "Our tenant.", "rule", 6, acts(allow=6)),
        ("gateway", "Our own gateway.", "rule", 6, acts(log=6)),
        (None, None, "default", 6, acts(log=6)),
        (None, None, "invalid-host", 1, acts(block=1)),
    ]  # fmt: skip


def test_users_are_the_proxy_user_else_the_address(doc: dict[str, Any]) -> None:
    rows = [(u["user"], u["identity"], u["total"], u["actions"]) for u in doc["users"]]
    assert rows == [
        ("alice", "user:alice", 60, acts(block=60)),
        ("10.0.0.9", "ip:10.0.0.9", 36, acts(log=36)),
        ("bob", "user:bob", 30, acts(block=30)),
        ("sam", "user:sam", 30, acts(warn=30)),
        ("10.99.0.5", "ip:10.99.0.5", 24, acts(log=24)),
        ("rita", "user:rita", 12, acts(log=12)),
        ("carol", "user:carol", 6, acts(allow=6)),
        ("dave", "user:dave", 6, acts(log=6)),
        ("erin", "user:erin", 6, acts(log=6)),
        ("mallory", "user:mallory", 1, acts(block=1)),
    ]
    assert doc["groups"] is None


def test_groups_come_from_the_rules_file(
    capsys: pytest.CaptureFixture[str], log: Path, config: Config
) -> None:
    doc = report_json(capsys, str(log), "--rules", str(config.rules_path))
    assert doc["groups"] == [
        {"group": None, "clients": 7, "total": 145, "actions": acts(block=91, log=48, allow=6)},
        {"group": "research", "clients": 2, "total": 36, "actions": acts(log=36)},
        {"group": "sales", "clients": 1, "total": 30, "actions": acts(warn=30)},
    ]


def test_timeline_per_day_over_several_days(doc: dict[str, Any]) -> None:
    timeline = doc["timeline"]
    assert timeline["bucket"] == "day"
    assert [b["start"] for b in timeline["buckets"]] == [
        f"2026-11-{day:02d}T00:00:00.000000Z" for day in range(23, 29)
    ]
    assert timeline["buckets"][0]["actions"] == acts(block=16, warn=5, log=14, allow=1)
    for bucket in timeline["buckets"][1:]:
        assert bucket["total"] == 35
        assert bucket["actions"] == acts(block=15, warn=5, log=14, allow=1)


def test_acknowledgements_keep_the_justification_verbatim(doc: dict[str, Any]) -> None:
    acks = doc["acknowledgements"]
    assert (acks["total"], acks["accepted"], acks["refused"]) == (12, 6, 6)
    assert acks["refusals"] == {EXPIRED: 6}
    accepted = [a for a in acks["items"] if a["accepted"]]
    assert [a["justification"] for a in accepted] == JUSTIFICATIONS
    assert accepted[0] == {
        "time": "2026-11-23T09:36:00.000000Z",
        "user": "sam",
        "identity": "user:sam",
        "vendor": "usbot",
        "product": "usbot/personal",
        "rule": "warn-personal",
        "host": "usbotcdn.test",
        "justification": SCRIPT,
        "accepted": True,
        "reason": "acknowledged",
    }
    refused = [a for a in acks["items"] if not a["accepted"]]
    assert {(a["user"], a["identity"], a["reason"]) for a in refused} == {
        ("10.0.0.9", "ip:10.0.0.9", EXPIRED)
    }
    assert [a["time"] for a in acks["items"]] == sorted(a["time"] for a in acks["items"])


def test_shadow_rules_what_they_would_have_done_and_for_whom(doc: dict[str, Any]) -> None:
    def by(
        would: str, vendor: str, product: str, user: str, enforced: str, n: int
    ) -> dict[str, Any]:
        return {"action": would, "vendor": vendor, "product": product, "user": user,
                "enforced": enforced, "count": n}  # fmt: skip

    assert doc["shadow"] == [
        {
            "rule": "shadow-block-api-unknown",
            "total": 66,
            "would": acts(block=66),
            "stricter": 36,
            "by": [
                by("block", "cnchat", "cnchat/api", "bob", "block", 30),
                by("block", "cnchat", "cnchat/api", "10.99.0.5", "log", 24),
                by("block", "cnchat", "cnchat/api", "rita", "log", 12),
            ],
        },
        {
            "rule": "shadow-warn-usbot",
            "total": 42,
            "would": acts(warn=42),
            "stricter": 12,
            "by": [
                by("warn", "usbot", "usbot/personal", "sam", "warn", 30),
                by("warn", "usbot", "usbot/api", "dave", "log", 6),
                by("warn", "usbot", "usbot/enterprise", "carol", "allow", 6),
            ],
        },
    ]


def test_stale_records_per_product(doc: dict[str, Any]) -> None:
    assert doc["stale"] == [
        {"vendor": "usbot", "product": "usbot/personal", "last_verified": "2020-01-01",
         "confidence": "high", "total": 30, "actions": acts(warn=30), "users": 1},
        {"vendor": "usbot", "product": "usbot/api", "last_verified": "2020-01-01",
         "confidence": "high", "total": 6, "actions": acts(log=6), "users": 1},
        {"vendor": "usbot", "product": "usbot/enterprise", "last_verified": "2020-01-01",
         "confidence": "high", "total": 6, "actions": acts(allow=6), "users": 1},
    ]  # fmt: skip


def test_the_fast_path_counts_what_json_loads_counts(tmp_path: Path, log: Path) -> None:
    """The whole log re-serialised (sorted keys, spaces) takes the slow path: same report."""
    other = tmp_path / "sorted.log"
    lines = log.read_text().split("\n")
    out = []
    for line in lines:
        try:
            out.append(json.dumps(json.loads(line), sort_keys=True))
        except ValueError:
            out.append(line)
    other.write_text("\n".join(out))
    fast, slow = build([str(log)]), build([str(other)])
    for part in (fast, slow):
        part["report"]["files"] = []
        for change in part["changes"]:
            change["file"] = change["file"].rpartition(":")[2]  # the line, not the file
        part["lines"]["malformed_examples"] = [
            e.split(":", 2)[2] for e in part["lines"]["malformed_examples"]
        ]
    assert fast == slow  # fmt: skip


def test_stable_keys_and_order(doc: dict[str, Any]) -> None:
    assert list(doc) == [
        "report", "lines", "decisions", "recorded", "timeline", "vendors", "rules", "users",
        "groups", "usage", "usage_rows", "daily", "facts", "acknowledgements", "shadow", "stale",
        "changes",
    ]  # fmt: skip
    assert list(doc["report"]) == [
        "version",
        "files",
        "since",
        "until",
        "first_event",
        "last_event",
        "filters",
        "session",
    ]
    assert list(doc["decisions"]["actions"]) == ["block", "warn", "log", "allow"]


# ---------------------------------------------------------------------------------------------
# Time window, inputs


def test_since_and_until_keep_one_day(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    doc = report_json(capsys, str(log), "--since", "2026-11-25", "--until", "2026-11-26T00:00Z")
    assert doc["report"]["since"] == "2026-11-25T00:00:00.000000Z"
    assert doc["report"]["until"] == "2026-11-26T00:00:00.000000Z"
    assert doc["decisions"]["total"] == 35
    assert doc["acknowledgements"]["total"] == 2
    assert doc["acknowledgements"]["items"][0]["justification"] == JUSTIFICATIONS[2]
    assert doc["lines"]["outside_window"] == 211 - 35 + 12 - 2 + 4  # 3 known kinds, 1 unknown
    assert doc["timeline"]["bucket"] == "hour"
    assert [b["total"] for b in doc["timeline"]["buckets"]] == [35]


def test_window_with_offsets_is_in_utc(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    # 10:10+01:00 is 09:10Z: on each day the first 10 decisions (alice's) are before it.
    doc = report_json(capsys, str(log), "--since", "2026-11-28T10:10+01:00")
    assert doc["decisions"]["total"] == 35 - 10
    assert doc["report"]["first_event"] == "2026-11-28T09:10:00.000000Z"


def test_relative_times_count_back_from_now() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_when("24h", now) == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_when("7d", now) == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_when("P2W", now) == datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert parse_when("2026-11-23", now) == datetime(2026, 11, 23, tzinfo=UTC)
    assert parse_when("2026-11-23 08:30:00-02:00", now) == datetime(
        2026, 11, 23, 10, 30, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="not a time"):
        parse_when("yesterday", now)


def test_a_bad_time_is_an_error(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    assert main(["report", str(log), "--since", "last tuesday"]) == 2
    assert "not a time" in capsys.readouterr().err


def test_a_missing_log_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "nope.log")]) == 2
    assert "nope.log" in capsys.readouterr().err


def test_gzip_and_several_files_count_the_same(
    tmp_path: Path, log: Path, doc: dict[str, Any]
) -> None:
    lines = log.read_bytes().split(b"\n")
    half = len(lines) // 2
    first, second = tmp_path / "events.log.1.gz", tmp_path / "events.log"
    first.write_bytes(gzip.compress(b"\n".join(lines[:half]) + b"\n"))
    second.write_bytes(b"\n".join(lines[half:]))
    split = build([str(first), str(second)])
    assert split["report"]["files"] == [str(first), str(second)]
    for key in (
        "decisions",
        "timeline",
        "vendors",
        "rules",
        "users",
        "acknowledgements",
        "shadow",
        "stale",
    ):
        assert split[key] == doc[key], key
    assert split["lines"]["read"] == doc["lines"]["read"]
    assert split["lines"]["malformed"] == doc["lines"]["malformed"]  # fmt: skip


def test_a_truncated_gzip_is_reported_not_fatal(tmp_path: Path, log: Path) -> None:
    packed = gzip.compress(log.read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    doc = build([str(cut)])
    assert 0 < doc["decisions"]["total"] < 211
    assert doc["lines"]["malformed_examples"][-1].startswith(f"{cut}:end: compressed data ends")


def test_garbage_never_stops_the_report(tmp_path: Path) -> None:
    junk = tmp_path / "junk.log"
    junk.write_bytes(
        b"\xff\xfe\x00binary\n[1,2]\n{}\n\n"
        b'{"@timestamp":"2026-13-45T99:99:99.000000Z","event":{"action":"decision"}}\n'
        b'{"@timestamp":"x","event":{"action":"ack"},"aiwall":{"ack":{"accepted":true}}}\n'
        b'{"event":{"action":"decision"},"@timestamp":"2026-11-23T09:00:00Z","aiwall":'
        b'{"action":"explode"}}\n'
    )
    tally = Tally()
    with junk.open("rb") as lines:
        tally.feed(lines, "junk.log")
    doc = document(tally)
    assert doc["lines"]["read"] == 7
    assert doc["lines"]["malformed"] == 6  # the blank line is nothing
    assert doc["decisions"]["total"] == 0
    assert render_text(doc)
    assert render_html(doc)


def test_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, log: Path
) -> None:
    with log.open("rb") as stream:
        monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": stream})())
        doc = report_json(capsys, "-")
    assert doc["decisions"]["total"] == 211


# ---------------------------------------------------------------------------------------------
# Text


def test_text_report_has_the_key_lines(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    assert main(["report", str(log)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"aiwall report: {log}, 2026-11-23 09:00 to 2026-11-28 09:36 UTC\n")
    assert (
        "Decisions: 211   block 91   warn 30 (12 continued after acknowledging)   log 84   allow 6"
    ) in text
    assert re.search(r"^  2026-11-24 +35 +15 +5 +14 +1  █+[▏▎▍▌▋▊▉]?$", text, re.M)
    assert re.search(r"^  cnchat +cnchat/api +66 +30 +0 +36 +0 +0$", text, re.M)
    assert re.search(r"^  block-cn +No data to China\. +90 +90 +0 +0 +0 +0$", text, re.M)
    assert re.search(r"^  \(default action\) +6 +0 +0 +6 +0 +0$", text, re.M)
    assert re.search(r"^  10\.0\.0\.9 +36 +0 +0 +36 +0 +0$", text, re.M)
    assert "Acknowledgements: 12 (6 accepted, 6 refused)" in text
    assert f"refused: {EXPIRED}" in text
    assert SCRIPT in text
    assert "Line one\\x0aLine two" in text  # a newline cannot break the table
    assert (
        "  shadow-block-api-unknown: matched 66 decisions: would block 66;"
        " 36 stricter than what was done"
    ) in text
    assert re.search(r"^    block +cnchat +cnchat/api +10\.99\.0\.5 +log +24$", text, re.M)
    assert re.search(r"^  usbot +usbot/personal +2020-01-01 +high +30 +1$", text, re.M)
    assert "Malformed lines: 3" in text
    assert f"  {log}:" in text


def test_text_table_aligns_and_escapes() -> None:
    table_text = text_table(["NAME", "N"], [["a\x1b[31m", 1234], ["bb", 5]], numeric=[1])
    assert table_text.split("\n") == [
        "  NAME         N",
        "  a\\e[31m  1,234",
        "  bb           5",
    ]
