"""`aiwall discover` over real-format logs → exact aggregates.

The fixtures in fixtures/logs/ follow the formats as the servers print them (Squid's
FormatSquidNative.cc, dnsmasq's log_query, BIND's query log) over the fictitious vendors of
fixtures/policies.
"""

import gzip
import json
import random
from pathlib import Path

import pytest
from aiwall.cli.main import main
from aiwall.core.config import Config

from ..conftest import FIXTURES
from .conftest import LOGS, discover, products, tally


def test_squid_access_log(test_config: Config) -> None:
    report = discover(test_config, LOGS / "squid-access.log")
    assert products(report) == {
        "usbot/personal": (4, 3, "2024-11-29T09:00:00Z", "2024-11-29T09:00:07Z", "log", None),
        "usbot/anonymous": (
            2,
            2,
            "2024-11-29T09:00:02Z",
            "2024-11-29T09:00:04Z",
            "warn",
            "warn-anon-path",
        ),
        "usbot/api": (2, 1, "2024-11-29T09:00:01Z", "2024-11-29T09:00:09Z", "log", None),
        "euapi/api": (2, 1, "2024-11-29T09:00:04Z", "2024-11-29T09:00:05Z", "log", "log-eu"),
        "cnchat/consumer": (
            1,
            1,
            "2024-11-29T09:00:02Z",
            "2024-11-29T09:00:02Z",
            "block",
            "block-cn",
        ),
        "cnchat/api": (1, 1, "2024-11-29T09:00:07Z", "2024-11-29T09:00:07Z", "block", "block-cn"),
    }
    assert tally(report) == {
        "format": "squid",
        "lines": 24,
        "requests": 18,
        "ai_requests": 12,
        "not_ai_requests": 5,
        "invalid_names": 1,
        "skipped": 1,  # error:transaction-end-before-headers
        "blank": 0,
        "malformed": 5,
        "malformed_lines": [19, 20, 21, 22, 23],
    }
    totals = report["totals"]
    assert (totals["clients"], totals["ai_clients"], totals["not_ai_names"]) == (9, 7, 3)
    assert report["invalid_examples"] == [
        {"name": "bad..name:443", "reason": "empty label", "count": 1}
    ]
    garbage = report["files"][0]["malformed_examples"][1]["text"]
    assert garbage == "\\x00\\x00\\x17\\x03\\x03\\x00\\xfe\\xff\\xc3(garbage\\x1b[31m"


def test_squid_product_rows_carry_the_facts_and_every_hosts_decision(test_config: Config) -> None:
    report = discover(test_config, LOGS / "squid-access.log")
    usbot = next(v for v in report["vendors"] if v["vendor"] == "usbot")
    assert (usbot["name"], usbot["requests"], usbot["clients"]) == ("US Bot", 8, 5)
    personal = next(p for p in usbot["products"] if p["product"] == "usbot/personal")
    assert {k: personal[k] for k in ("verdict", "training", "residency", "retention")} == {
        "verdict": "Trains unless you opt out",
        "training": "default",
        "residency": ["US"],
        "retention": "P30D",
    }
    # The tenant restriction sits on usbot.test only: there the rules see the enterprise tier.
    assert [(h["host"], h["requests"], h["decision"]) for h in personal["hosts"]] == [
        (
            "usbot.test",
            3,
            {
                "action": "allow",
                "rule": "allow-enterprise",
                "reason": "rule allow-enterprise: Our tenant.",
                "as_product": "usbot/enterprise",
                "shadow": [],
            },
        ),
        (
            "usbotcdn.test",
            1,
            {
                "action": "log",
                "rule": None,
                "reason": "no rule matched: the default action is log",
                "as_product": None,
                "shadow": [],
            },
        ),
    ]
    assert personal["decision_varies_by_host"] is True
    cn_api = next(
        p for v in report["vendors"] for p in v["products"] if p["product"] == "cnchat/api"
    )
    assert cn_api["decision"]["shadow"] == ["shadow-block-api-unknown"]
    assert report["assumed_request"]["rules_not_judged"] == [
        "research-cn",
        "warn-stale",
        "log-eu-zdr",
    ]


def test_dnsmasq_log(test_config: Config) -> None:
    report = discover(test_config, LOGS / "dnsmasq.log")
    assert products(report) == {
        "usbot/personal": (
            3,
            2,
            "--11-29T09:00:01",
            "--11-29T09:00:12",
            "allow",  # usbot.test only, where the tenant restriction applies
            "allow-enterprise",
        ),
        "cnchat/consumer": (2, 1, "--11-29T09:00:04", "--11-29T09:00:18", "block", "block-cn"),
        "usbot/api": (1, 1, "--11-29T09:00:07", "--11-29T09:00:07", "log", None),
        "euapi/api": (1, 1, "--11-29T09:00:16", "--11-29T09:00:16", "log", "log-eu"),
    }
    assert tally(report) == {
        "format": "dnsmasq",
        "lines": 27,
        "requests": 10,
        "ai_requests": 7,
        "not_ai_requests": 2,
        "invalid_names": 1,
        "skipped": 12,  # forwarded, reply, cached, config and DHCP lines
        "blank": 1,
        "malformed": 4,
        "malformed_lines": [20, 21, 22, 23],
    }
    assert any("no year" in note for note in report["notes"])
    assert any("look-ups, not requests" in note for note in report["notes"])


def test_pihole_log(test_config: Config) -> None:
    report = discover(test_config, LOGS / "pihole.log", log_format="pihole")
    assert products(report) == {
        "cnchat/consumer": (2, 2, "--11-29T10:00:00", "--11-29T10:00:09", "block", "block-cn"),
        "euapi/api": (1, 1, "--11-29T10:00:03", "--11-29T10:00:03", "log", "log-eu"),
        "usbot/personal": (
            1,
            1,
            "--11-29T10:00:10",
            "--11-29T10:00:10",
            "allow",
            "allow-enterprise",
        ),
    }
    assert tally(report) == {
        "format": "pihole",
        "lines": 14,
        "requests": 5,
        "ai_requests": 4,
        "not_ai_requests": 1,
        "invalid_names": 0,
        "skipped": 8,  # gravity blocked, forwarded, reply, cached, regex blacklisted
        "blank": 0,
        "malformed": 1,
        "malformed_lines": [14],
    }


def test_bind_query_log(test_config: Config) -> None:
    report = discover(test_config, LOGS / "bind-queries.log")
    assert products(report) == {
        "usbot/personal": (3, 2, "2024-11-29T09:15:02", "2024-11-29T09:15:06", "log", None),
        "cnchat/api": (1, 1, "2024-11-29T09:15:03", "2024-11-29T09:15:03", "block", "block-cn"),
        "cnchat/consumer": (
            1,
            1,
            "2024-11-29T09:15:09",
            "2024-11-29T09:15:09",
            "block",
            "block-cn",
        ),
        "euapi/api": (1, 1, "2024-11-29T09:15:04", "2024-11-29T09:15:04", "log", "log-eu"),
        "usbot/api": (1, 1, "2024-11-29T09:15:10", "2024-11-29T09:15:10", "log", None),
    }
    assert tally(report) == {
        "format": "bind",
        "lines": 12,
        "requests": 8,
        "ai_requests": 7,
        "not_ai_requests": 1,
        "invalid_names": 0,
        "skipped": 1,  # a lame-servers message in the same channel
        "blank": 0,
        "malformed": 3,
        "malformed_lines": [8, 9, 10],
    }
    assert any("local time" in note for note in report["notes"])


def test_plain_list_resolves_paths_to_their_product(test_config: Config) -> None:
    report = discover(test_config, LOGS / "hosts.txt")
    assert {k: v[:2] for k, v in products(report).items()} == {
        "usbot/personal": (1, 0),  # no client column on that line
        "usbot/anonymous": (1, 0),
        "usbot/api": (1, 1),
        "euapi/api": (1, 1),
        "cnchat/consumer": (1, 1),
    }
    assert tally(report) == {
        "format": "plain",
        "lines": 10,
        "requests": 7,
        "ai_requests": 5,
        "not_ai_requests": 1,
        "invalid_names": 1,
        "skipped": 0,
        "blank": 2,
        "malformed": 1,
        "malformed_lines": [9],
    }


def test_every_fixture_at_once_through_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    logs = sorted(str(p) for p in LOGS.iterdir())
    out = tmp_path / "discover.json"
    args = ["--rules", str(FIXTURES / "rules.yaml"), "--policies", str(FIXTURES / "policies")]
    assert main(["discover", *args, "--format", "json", "--output", str(out), *logs]) == 0
    report = json.loads(out.read_text())
    assert report["totals"] == {
        "lines": 87,
        "requests": 48,
        "clients": 22,
        "ai_requests": 35,
        "ai_clients": 19,
        "vendors": 3,
        "products": 6,
        "not_ai_requests": 10,
        "not_ai_names": 5,
        "invalid_names": 3,
        "skipped": 22,
        "blank": 3,
        "malformed": 14,
        "duplicates": 0,
    }
    assert [(v["vendor"], v["requests"], v["clients"]) for v in report["vendors"]] == [
        ("usbot", 20, 11),
        ("cnchat", 9, 7),
        ("euapi", 6, 5),
    ]
    # A time with a year wins over dnsmasq's yearless ones.
    assert report["vendors"][0]["first_seen"] == "2024-11-29T09:00:00Z"
    assert main(["discover", *args, *logs]) == 0
    text = capsys.readouterr().out
    for expected in ("US Bot (usbot)", "cnchat/consumer", "block (block-cn)", "Malformed lines"):
        assert expected in text


def test_a_forced_format_reads_every_line_that_way(test_config: Config) -> None:
    report = discover(test_config, LOGS / "dnsmasq.log", log_format="squid")
    (f,) = report["files"]
    assert (f["format"], f["detected"], f["requests"], f["malformed"]) == ("squid", False, 0, 26)
    assert report["vendors"] == []


def test_garbage_file_is_read_as_plain_with_a_warning_never_fatal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "random.bin"
    log.write_bytes(random.Random(7).randbytes(4096))
    assert main(["discover", "--format", "json", str(log)]) == 0
    (f,) = json.loads(capsys.readouterr().out)["files"]
    assert f["format"] == "plain"
    assert "read as plain" in f["warning"]
    assert f["lines"] == f["malformed"] + f["requests"] + f["blank"]
    assert all(e["text"].isprintable() for e in f["malformed_examples"])


def test_compressed_logs_and_missing_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "access.log.1.gz"
    log.write_bytes(gzip.compress((LOGS / "squid-access.log").read_bytes()))
    args = ["--rules", str(FIXTURES / "rules.yaml"), "--policies", str(FIXTURES / "policies")]
    assert main(["discover", *args, "--format", "json", str(log)]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["ai_requests"] == 12
    assert main(["discover", *args, str(tmp_path / "missing.log")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_stdin_and_an_empty_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    squid = (LOGS / "squid-access.log").read_bytes()
    stdin = tmp_path / "stdin"
    stdin.write_bytes(squid)
    with stdin.open() as fake:
        monkeypatch.setattr("sys.stdin", fake)
        args = ["--rules", str(FIXTURES / "rules.yaml"), "--policies", str(FIXTURES / "policies")]
        assert main(["discover", *args, "--format", "json", "-", str(empty)]) == 0
    piped, nothing = json.loads(capsys.readouterr().out)["files"]
    assert (piped["path"], piped["format"], piped["ai_requests"]) == ("-", "squid", 12)
    assert (nothing["lines"], nothing["warning"]) == (0, None)


def test_json_shape(test_config: Config) -> None:
    report = discover(test_config, LOGS / "squid-access.log")
    assert list(report) == [
        "rules",
        "assumed_request",
        "totals",
        "vendors",
        "files",
        "invalid_examples",
        "notes",
    ]
    vendor = report["vendors"][0]
    assert list(vendor) == [
        "vendor",
        "name",
        "requests",
        "clients",
        "first_seen",
        "last_seen",
        "products",
    ]
    assert list(vendor["products"][0]) == [
        *("vendor", "product", "name", "kind", "requests", "clients", "first_seen"),
        *("last_seen", "verdict", "training", "residency", "retention", "zero_retention"),
        *("dpa", "last_verified", "confidence", "stale", "decision", "decision_varies_by_host"),
        "hosts",
    ]
    assert list(vendor["products"][0]["hosts"][0]) == ["host", "requests", "clients", "decision"]
    assert any("llm.corp.test" in note for note in report["notes"])


def test_shipped_registry_names_the_real_vendors(shipped_config: Config, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f"1732870800.{i:03} 10 10.0.0.{i} TCP_TUNNEL/200 100 CONNECT {host}:443 -"
            " HIER_DIRECT/192.0.2.1 -\n"
            for i, host in enumerate(["chatgpt.com", "claude.ai", "chat.deepseek.com", "a.example"])
        )
    )
    report = discover(shipped_config, log)
    assert {v["vendor"] for v in report["vendors"]} == {"openai", "anthropic", "deepseek"}
    assert report["totals"]["not_ai_requests"] == 1
