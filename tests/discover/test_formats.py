"""`aiwall discover`, each log format line by line: Squid, dnsmasq (and Pi-hole), BIND and plain
lists, with the malformed lines real logs have, and telling the format from the first lines."""

import pytest
from aiwall.analysis.logformats import FORMATS, Request, Tally, detect

from .conftest import LOGS


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
