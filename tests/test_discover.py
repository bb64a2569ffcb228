"""`aiwall discover`: real-format Squid, dnsmasq, Pi-hole, BIND and plain logs (with the
malformed lines real logs have) → exact aggregates; a generated day of traffic → exact counts;
the HTML page in headless Chromium.

The fixtures in fixtures/logs/ follow the formats as the servers print them (Squid's
FormatSquidNative.cc, dnsmasq's log_query, BIND's query log) over the fictitious vendors of
fixtures/policies. Screenshots go to test-output/discover/ (git-ignored).
"""

import gzip
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiwall.analysis.discover import Discovery, build_report
from aiwall.analysis.discover_html import render_html
from aiwall.analysis.discover_text import render_text
from aiwall.analysis.logformats import FORMATS, Request, Tally, detect
from aiwall.cli.main import main
from aiwall.core.config import Config

from .chromium import OVERFLOWING, overflowing
from .conftest import FIXTURES, ROOT

LOGS = FIXTURES / "logs"
SCREENSHOTS = ROOT / "test-output" / "discover"


def discover(config: Config, *paths: Path, log_format: str | None = None) -> dict[str, Any]:
    discovery = Discovery(config.registry)
    for path in paths:
        with path.open(encoding="utf-8", errors="backslashreplace") as lines:
            discovery.read(path.name, lines, FORMATS[log_format] if log_format else None)
    return build_report(discovery, config)


def products(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """product → (requests, clients, first seen, last seen, action, rule)."""
    return {
        p["product"]: (
            p["requests"],
            p["clients"],
            p["first_seen"],
            p["last_seen"],
            p["decision"]["action"],
            p["decision"]["rule"],
        )
        for v in report["vendors"]
        for p in v["products"]
    }


def tally(report: dict[str, Any]) -> dict[str, Any]:
    """The one file's counts, with its malformed lines' numbers."""
    (f,) = report["files"]
    keys = ("format", "lines", "requests", "ai_requests", "not_ai_requests", "invalid_names")
    counts = {k: f[k] for k in (*keys, "skipped", "blank", "malformed")}
    counts["malformed_lines"] = [e["line"] for e in f["malformed_examples"]]
    return counts


# --- Each format, line by line. --------------------------------------------------------------


def read(log_format: str, *lines: str) -> tuple[list[Request], Tally]:
    counts = Tally()
    return list(FORMATS[log_format].read([line + "\n" for line in lines], counts)), counts


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "1732870800.114    187 10.1.0.21 TCP_TUNNEL/200 6521 CONNECT chatgpt.com:443 -"
            " HIER_DIRECT/104.18.32.47 -",
            ("10.1.0.21", "chatgpt.com:443", None, "CONNECT", "1732870800.114"),
        ),
        (
            "1732870800.392     41 10.1.0.21 TCP_MISS/200 1532 GET"
            " http://user@Example.ORG:8080/a/b?q=secret - HIER_DIRECT/93.184.215.14 text/html",
            ("10.1.0.21", "Example.ORG:8080", "/a/b", "GET", "1732870800.392"),
        ),
        (
            "1732870800.392      3 fe80::1 TCP_MISS/200 10 GET https://[2001:db8::1]/ -"
            " HIER_DIRECT/2001:db8::1 -",
            ("fe80::1", "[2001:db8::1]", "/", "GET", "1732870800.392"),
        ),
        (
            # log_mime_hdrs: the headers follow in brackets, with spaces in them
            "1732870806.400     12 10.1.0.21 TCP_MEM_HIT/200 5120 GET http://a.example/ -"
            " HIER_NONE/- image/png [Host: a.example\\r\\nUser-Agent: X Y\\r\\n] [HTTP/1.1 200]",
            ("10.1.0.21", "a.example", "/", "GET", "1732870806.400"),
        ),
    ],
)
def test_squid_lines_become_requests(line: str, expected: Request) -> None:
    requests, counts = read("squid", line)
    assert requests == [expected]
    assert (counts.requests, counts.malformed) == (1, 0)


@pytest.mark.parametrize(
    "line",
    [
        "1732870808.5",  # torn write
        "1732870809.004    120 10.1.0.29 TCP_MISS/200 411 GET http://www.example.org/",
        "not-a-time    120 10.1.0.29 TCP_MISS/200 411 GET http://a.example/ - HIER_NONE/- -",
        "1732870809.5     33 10.1.0.30 TCP_MISS 200 GET http://a.example/ - HIER_NONE/- -",
        "\x00\x17\x03\x03garbage\x1b[31m",
        "1.0 x 10.0.0.1 TCP_MISS/200 1 GET http://a.example/ - HIER_NONE/- -",
    ],
)
def test_squid_malformed_lines_are_counted_with_an_example(line: str) -> None:
    requests, counts = read("squid", line)
    assert requests == []
    assert counts.malformed == 1
    assert counts.examples[0][0] == 1
    assert counts.examples[0][1].isprintable()


def test_squid_transactions_without_a_destination_are_skipped() -> None:
    line = (
        "1732870803.112      0 10.1.0.24 NONE/000 0 NONE error:transaction-end-before-headers"
        " - HIER_NONE/- -"
    )
    requests, counts = read("squid", line, "")
    assert requests == []
    assert (counts.skipped, counts.blank, counts.malformed, counts.lines) == (1, 1, 0, 2)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Nov 29 09:00:01 dnsmasq[812]: query[A] chatgpt.com from 10.1.0.21",
            ("10.1.0.21", "chatgpt.com", "--11-29T09:00:01"),
        ),
        (
            "Nov  3 09:00:01 gw dnsmasq[812]: query[AAAA] claude.ai from fd00::5",
            ("fd00::5", "claude.ai", "--11-03T09:00:01"),
        ),
        (  # log-queries=extra
            "Nov 29 09:00:07 dnsmasq[812]: 1043 10.1.0.24/53211 query[HTTPS] x.test from 10.1.0.24",
            ("10.1.0.24", "x.test", "--11-29T09:00:07"),
        ),
        (  # rsyslog's RFC 3339 time stamps
            "2024-11-29T09:00:01.123456+01:00 gw dnsmasq[812]: query[A] x.test from 10.0.0.9",
            ("10.0.0.9", "x.test", "2024-11-29T09:00:01.123456+01:00"),
        ),
    ],
)
def test_dnsmasq_queries_become_requests(line: str, expected: tuple[str, str, str]) -> None:
    requests, _ = read("dnsmasq", line)
    client, host, stamp = expected
    assert requests == [(client, host, None, None, stamp)]


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        ("Nov 29 09:00:01 dnsmasq[812]: forwarded chatgpt.com to 192.0.2.53", "skipped"),
        ("Nov 29 09:00:01 dnsmasq[812]: reply chatgpt.com is 104.18.32.47", "skipped"),
        ("Nov 29 10:00:00 dnsmasq[401]: gravity blocked ads.example is 0.0.0.0", "skipped"),
        ("Nov 29 09:00:06 dnsmasq-dhcp[812]: DHCPACK(eth0) 10.1.0.24 52:54:00:12:34:56", "skipped"),
        ("Nov 29 09:00:13 dnsmasq[812]: query[A] usbo", "malformed"),
        ("Nov 29 09:00:14 dnsmasq[812]: query[A] x.test from", "malformed"),
        ("Nov 29 10:00:12 dnsmasq[401", "malformed"),
        ("\xff\xfe\x00\x01", "malformed"),
    ],
)
def test_dnsmasq_lines_without_a_query(line: str, outcome: str) -> None:
    requests, counts = read("dnsmasq", line)
    assert requests == []
    assert getattr(counts, outcome) == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "29-Nov-2024 09:15:02.114 client @0x7f3a2c01d168 10.2.0.31#51234 (chatgpt.com):"
            " query: chatgpt.com IN A +E(0)K (10.2.0.1)",
            ("10.2.0.31", "chatgpt.com", "2024-11-29T09:15:02"),
        ),
        (
            "29-Nov-2024 09:15:03.002 queries: info: client @0x7f3a2c0a4b58 10.2.0.32#40112"
            " (claude.ai): view internal: query: claude.ai IN HTTPS +E(0)K (10.2.0.1)",
            ("10.2.0.32", "claude.ai", "2024-11-29T09:15:03"),
        ),
        (  # BIND 9.9: no @0x; 9.8 and older: no (name) either
            "29-Nov-2024 09:15:05.001 client 10.2.0.34#1036: query: x.test IN A +",
            ("10.2.0.34", "x.test", "2024-11-29T09:15:05"),
        ),
        (
            "Nov 29 09:15:06 ns1 named[811]: client @0x7f3a 2001:db8::40#4001 (x.test): query:"
            " x.test IN AAAA -E(0)DV (2001:db8::1)",
            ("2001:db8::40", "x.test", "--11-29T09:15:06"),
        ),
    ],
)
def test_bind_queries_become_requests(line: str, expected: tuple[str, str, str]) -> None:
    requests, _ = read("bind", line)
    client, host, stamp = expected
    assert requests == [(client, host, None, None, stamp)]


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        (
            "29-Nov-2024 09:15:05.700 lame-servers: info: lame server resolving 'example.net'"
            " (in 'example.net'?): 192.0.2.77#53",
            "skipped",
        ),
        (
            "29-Nov-2024 09:15:05.800 query-errors: info: client @0x7f3a 10.2.0.31#51234"
            " (x.test): query failed (SERVFAIL) for x.test/IN/A at query.c:7375",
            "skipped",
        ),
        ("29-Nov-2024 09:15:07.120 client @0x7f3a2c01d168 10.2.0.31#51240 (usbo", "malformed"),
        ("29-Nov-2024 09:15:07.120 client @0x7f3a 10.2.0.31#512 (x.test): query: x.t", "malformed"),
        (
            "29-Nov-2024 09:15:08.333 client @0x7f 10.2.0.35 (x.test): query: x.test IN A +",
            "malformed",
        ),
        ("29-Nov-2024 09:15:08.333 client 10.2.0.35#1: query: x.test A", "malformed"),
        ("\x00\x00\x00\x00", "malformed"),
    ],
)
def test_bind_lines_without_a_query(line: str, outcome: str) -> None:
    requests, counts = read("bind", line)
    assert requests == []
    assert getattr(counts, outcome) == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("chatgpt.com", (None, "chatgpt.com", None)),
        ("https://u@chatgpt.com/backend-anon/x?q=1", (None, "chatgpt.com", "/backend-anon/x")),
        ("10.0.0.5 claude.ai", ("10.0.0.5", "claude.ai", None)),
        ("10.0.0.5,claude.ai/new", ("10.0.0.5", "claude.ai", "/new")),
        ("laptop-7\tclaude.ai:443", ("laptop-7", "claude.ai:443", None)),
    ],
)
def test_plain_lines_are_names_with_an_optional_client(
    line: str, expected: tuple[str | None, str, str | None]
) -> None:
    requests, _ = read("plain", line)
    client, host, path = expected
    assert requests == [(client, host, path, None, None)]


def test_plain_skips_comments_and_counts_extra_columns_as_malformed() -> None:
    requests, counts = read("plain", "# exported", "", "a b c")
    assert requests == []
    assert (counts.blank, counts.malformed) == (2, 1)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("squid-access.log", "squid"),
        ("dnsmasq.log", "dnsmasq"),
        ("pihole.log", "dnsmasq"),  # pihole.log is dnsmasq's format; --log-format pihole says so
        ("bind-queries.log", "bind"),
        ("hosts.txt", "plain"),
    ],
)
def test_format_is_told_from_the_first_lines(log: str, expected: str) -> None:
    sample = (LOGS / log).read_text(errors="backslashreplace").splitlines(keepends=True)[:50]
    found = detect(sample)
    assert found is not None
    assert found.name == expected


def test_no_format_is_detected_in_garbage() -> None:
    assert detect(["\x00\x01\x02\n", "\x1b[2J \x07 x y z\n"]) is None


# --- Real-format fixtures → exact aggregates. --------------------------------------------------


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


# --- A generated, realistic log → exact counts. -----------------------------------------------

# Hosts of the fixture registry, what they resolve to, and the share of AI traffic they get.
AI_TRAFFIC = [
    ("usbot.test", "/c/{n}", "usbot/personal", 30),
    ("usbot.test", "/backend-anon/conversation", "usbot/anonymous", 5),
    ("usbotcdn.test", "/static/{n}.js", "usbot/personal", 10),
    ("api.usbot.test", "/v1/chat/completions", "usbot/api", 20),
    ("cnchat.test", "/chat/{n}", "cnchat/consumer", 8),
    ("api.cnchat.test", "/v1/models", "cnchat/api", 2),
    ("eu.euapi.test", "/v1/embed", "euapi/api", 10),
]
OTHER_HOSTS = [f"{name}.example" for name in ("intranet", "news", "cdn", "mail", "wiki", "crm")]
OTHER_HOSTS += ["fonts.gstatic.com", "ocsp.digicert.com", "update.corp.test"]


def generated_squid_log(
    path: Path, lines: int, seed: int = 11
) -> tuple[Counter[str], dict[str, set[str]], int]:
    """About a tenth AI; CONNECT for most HTTPS, absolute URLs for the rest; a malformed line
    now and then. Returns requests and clients per product, and the malformed count."""
    rng = random.Random(seed)
    clients = [f"10.{20 + i // 250}.{i % 250 // 10}.{i % 10 + 1}" for i in range(400)]
    requests: Counter[str] = Counter()
    users: dict[str, set[str]] = {}
    malformed = 0
    weights = [share for *_, share in AI_TRAFFIC]
    stamp = 1732870800.0
    with path.open("w") as out:
        for i in range(lines):
            stamp += rng.random() * 0.05
            client = rng.choice(clients)
            if i % 499 == 17:
                out.write(f"{stamp:.3f}    12 {client} TCP_MISS/200 1532 GET http://trunc\n")
                malformed += 1
                continue
            if rng.random() < 0.1:
                host, path_template, product, _ = rng.choices(AI_TRAFFIC, weights)[0]
                requests[product] += 1
                users.setdefault(product, set()).add(client)
            else:
                host, path_template = rng.choice(OTHER_HOSTS), "/p/{n}"
            url_path = path_template.format(n=rng.randrange(1000))
            if path_template.startswith("/backend-anon/") or rng.random() < 0.2:
                method, url, result = "GET", f"https://{host}{url_path}", "TCP_MISS/200"
            else:
                method, url, result = "CONNECT", f"{host}:443", "TCP_TUNNEL/200"
            elapsed = rng.randrange(2, 90000)
            out.write(
                f"{stamp:.3f} {elapsed:6} {client} {result} {rng.randrange(200, 90000)}"
                f" {method} {url} - HIER_DIRECT/192.0.2.{rng.randrange(1, 250)} -\n"
            )
    return requests, users, malformed


def generated_dnsmasq_log(path: Path, queries: int, seed: int = 12) -> Counter[str]:
    """Queries, each followed by the forwarded/reply lines dnsmasq writes for it."""
    rng = random.Random(seed)
    counted: Counter[str] = Counter()
    with path.open("w") as out:
        for i in range(queries):
            second = i // 20
            when = f"Nov 29 {9 + second // 3600:02}:{second // 60 % 60:02}:{second % 60:02}"
            client = f"192.168.7.{rng.randrange(2, 200)}"
            if rng.random() < 0.25:
                host, _, product, _ = rng.choice(AI_TRAFFIC)
                counted[product] += 1
            else:
                host = rng.choice(OTHER_HOSTS)
            kind = rng.choice(["A", "AAAA", "HTTPS"])
            out.write(f"{when} dnsmasq[812]: query[{kind}] {host} from {client}\n")
            out.write(f"{when} dnsmasq[812]: forwarded {host} to 192.0.2.53\n")
            out.write(f"{when} dnsmasq[812]: reply {host} is 198.51.100.{rng.randrange(1, 250)}\n")
    return counted


def test_generated_day_of_squid_and_dns_logs(test_config: Config, tmp_path: Path) -> None:
    squid, dns = tmp_path / "access.log", tmp_path / "dnsmasq.log"
    requests, users, malformed = generated_squid_log(squid, 6000)
    dns_requests = generated_dnsmasq_log(dns, 2000)
    report = discover(test_config, squid, dns)
    # DNS only shows host names, so anonymous (a path under usbot.test) counts as personal there.
    dns_requests["usbot/personal"] += dns_requests.pop("usbot/anonymous", 0)
    expected = requests + dns_requests
    assert {p: row[0] for p, row in products(report).items()} == dict(expected)
    squid_only = discover(test_config, squid)
    assert {p: row[1] for p, row in products(squid_only).items()} == {
        product: len(clients) for product, clients in users.items()
    }
    squid_file, dns_file = report["files"]
    assert (squid_file["lines"], squid_file["malformed"]) == (6000, malformed)
    assert squid_file["ai_requests"] == sum(requests.values())
    assert squid_file["not_ai_requests"] == 6000 - malformed - sum(requests.values())
    assert (dns_file["lines"], dns_file["requests"], dns_file["skipped"]) == (6000, 2000, 4000)
    assert report["totals"]["not_ai_names"] == len(OTHER_HOSTS)


# --- The HTML page, in a real browser. --------------------------------------------------------


def test_html_report_in_chromium(browser: Any, test_config: Config, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.txt"
    hostile.write_text("usbot.test\n<img src=x onerror=alert(1)> <b>bold</b> x\n")
    report = discover(
        test_config, *(LOGS / name for name in ("squid-access.log", "bind-queries.log")), hostile
    )
    page_file = tmp_path / "discover.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.goto(page_file.as_uri())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "discover.png", full_page=True)
    assert problems == []
    body = page.inner_text("body")
    for name in ("US Bot", "CN Chat", "EU API", "usbot/personal", "block-cn"):
        assert name in body
    rows = page.locator("section", has_text="Products, and what").locator("tbody tr")
    cells = {
        rows.nth(i).locator("td").nth(0).inner_text().split("\n")[-1]: rows.nth(i)
        .locator("td")
        .nth(5)
        .inner_text()
        for i in range(rows.count())
    }
    assert cells == {
        product: str(row[0]) for product, row in products(report).items()
    }  # one row per product, with its request count
    vendors_chart = page.locator('svg[data-chart="vendors"]')
    # usbot: warn (logged-out path) + log; cnchat; euapi — and allow for the tenant's own
    assert vendors_chart.locator(".mark").count() == 5
    assert page.locator("img").count() == 0
    assert page.locator("main b").count() == 0
    assert page.evaluate(OVERFLOWING) == []  # every table fits a 1280 px desktop
    assert "<img src=x onerror=alert(1)> <b>bold</b> x" in body


def test_wide_product_rows_fit_a_desktop(browser: Any, test_config: Config, tmp_path: Path) -> None:
    report = discover(test_config, LOGS / "squid-access.log")
    for vendor in report["vendors"]:
        for product in vendor["products"]:
            product["verdict"] = "Trains on what you type unless you opt out " * 4
            product["residency"] = ["CN", "US", "EU", "DE", "FR", "GB", "JP", "SG"]
            product["retention"] = "open-ended"
            product["name"] = "A product with a name that goes on and on " * 2
            for host in product["hosts"]:
                host["host"] = "a-very-long-host-name-" * 6 + "example.com"
    page_file = tmp_path / "wide.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    assert overflowing(browser, page_file) == []


def test_text_output_has_the_tables_and_notes(test_config: Config) -> None:
    text = render_text(discover(test_config, LOGS / "bind-queries.log"))
    assert "Products, and what the rules would decide" in text
    assert "cnchat/api" in text
    assert "Rules not judged here (they need an identity): research-cn" in text
    assert "\x00" not in text


def test_aiwall_logs_are_read_each_event_once(test_config: Config, tmp_path: Path) -> None:
    """aiwall's own log as discover's input: decisions are requests; overlapping rotated files
    (copytruncate) count each event once, and the report says how many it dropped."""
    from aiwall.telemetry.events import EventLog

    from .eventcheck import context, decide

    path = tmp_path / "events.jsonl"
    events = EventLog(str(path))
    for number in range(30):
        host = ("cnchat.test", "api.usbot.test", "euapi.test")[number % 3]
        events.decision(decide(test_config, host), context(user=f"u{number % 4}"))
    events.internal_error(error="x", where="y", host=None, client_ip=None)
    events.close()
    lines = path.read_text().splitlines(keepends=True)
    rotated, live = tmp_path / "events.jsonl.1", tmp_path / "live.jsonl"
    rotated.write_text("".join(lines[:20]))
    live.write_text("".join(lines[12:]))
    one = discover(test_config, path)
    both = discover(test_config, rotated, live)
    assert [f["format"] for f in both["files"]] == ["aiwall", "aiwall"]
    assert both["totals"]["duplicates"] == 8 and one["totals"]["duplicates"] == 0
    assert both["totals"]["ai_requests"] == one["totals"]["ai_requests"] == 30
    assert both["vendors"] == one["vendors"]
    assert products(both) == products(one)
    assert "duplicate events dropped: 8" in render_text(both)
