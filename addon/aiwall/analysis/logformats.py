"""Readers for the logs `aiwall discover` takes: Squid, dnsmasq / Pi-hole, BIND, plain lists,
and aiwall's own event log.

Each reader turns the lines of one file into requests, `(client, host, path, method, stamp)`,
and counts in a `Tally` the lines that carry no request (blank lines, comments, a DNS server's
replies) and the ones it cannot read, with a few of those as examples. A bad line is never
fatal. `host` is the name as logged (port and all); normalising it is the caller's job.
`stamp` sorts in time order within one file; `LogFormat.stamp_text` turns it into ISO 8601.

The formats, as their authors print them:

- Squid's native access.log (`logformat squid`, src/log/FormatSquidNative.cc):
  `time elapsed remotehost code/status bytes method URL rfc931 peerstatus/peerhost type`,
  time as `%9ld.%03d` Unix seconds, elapsed padded to six columns; `log_mime_hdrs` appends
  the request and reply headers in brackets. The URL is `host:port` for CONNECT, absolute
  otherwise, and `error:...` for transactions that never named a destination.
- dnsmasq with `log-queries` (src/cache.c, log_query): `<source> <name> <verb> <dest>` after
  the syslog prefix `Mon DD HH:MM:SS [host] dnsmasq[pid]: `; a query is
  `query[A] chatgpt.com from 10.0.0.5`. With `log-queries=extra` each message starts with a
  serial number and the client's `address/port`. Pi-hole's pihole.log is this format.
- BIND's query log: `DD-Mon-YYYY HH:MM:SS.mmm [category: severity: ]client [@0x...]
  10.0.0.5#port [(name)]: [view v: ]query: name IN A flags (server)`; older servers omit the
  `@0x...` and the `(name)`, and syslog lines carry a syslog prefix instead of the date.
- plain: one host name or URL per line, optionally after a client column (`CLIENT NAME`,
  separated by blanks, a tab or a comma). Pi-hole's long-term database exports to it:
  `sqlite3 -separator ' ' /etc/pihole/pihole-FTL.db 'SELECT client, domain FROM queries'`.
- aiwall: the JSON lines aiwall writes. A decision is one request (`url.domain`, `url.path`,
  the user or address); a session event is its `requests`, to its first host; other events
  carry no request. An event whose `event.id` was read before, in this file or an earlier
  one (rotated files that overlap), is counted as a duplicate, not again.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiwall.telemetry.ids import SeenIds

# (client or None, host as logged, path or None, method or None, stamp or None)
Request = tuple[str | None, str, str | None, str | None, str | None]

EXAMPLES = 5  # malformed lines kept per file to show
_EXAMPLE_CHARS = 160
_MONTHS = {
    name: f"{number:02}"
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DNS_CLASSES = frozenset(("IN", "CH", "HS", "ANY", "NONE"))


@dataclass
class Tally:
    """What one file held besides its requests."""

    requests: int = 0
    blank: int = 0  # blank lines and # comments
    skipped: int = 0  # well-formed lines that record no request (replies, other messages)
    malformed: int = 0
    duplicates: int = 0  # events read before (the same event.id): aiwall's log only
    examples: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    seen: SeenIds = field(default_factory=SeenIds)  # shared by the files read together

    @property
    def lines(self) -> int:
        return self.requests + self.blank + self.skipped + self.malformed + self.duplicates

    def bad(self, number: int, line: str) -> None:
        self.malformed += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((number, shown(line)))


def shown(text: str) -> str:
    """A line as it is safe to print: control characters escaped, long lines cut."""
    text = text.rstrip("\r\n")
    cut = text[:_EXAMPLE_CHARS]
    # Control, format (bidi) and unassigned characters as escapes: safe in a terminal or HTML.
    escaped = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in cut)
    return escaped + (f"… ({len(text)} characters)" if len(text) > len(cut) else "")


def read_squid(lines: Iterable[str], tally: Tally) -> Iterator[Request]:
    """Squid's native access.log format."""
    for number, line in enumerate(lines, 1):
        fields = line.split(None, 9)
        if len(fields) < 10:
            if fields:
                tally.bad(number, line)
            else:
                tally.blank += 1
            continue
        stamp, elapsed, client, result, _, method, url = fields[:7]
        try:
            float(stamp)
        except ValueError:
            tally.bad(number, line)
            continue
        if not elapsed.isdigit() or "/" not in result:
            tally.bad(number, line)
            continue
        if method == "CONNECT":
            tally.requests += 1
            yield client, url, None, method, stamp
            continue
        scheme = url.find("://")
        if scheme < 0:
            if url.startswith("error:"):  # Squid names no destination for these
                tally.skipped += 1
                continue
            rest = url
        else:
            rest = url[scheme + 3 :]
        slash = rest.find("/")
        if slash < 0:
            authority, path = rest, "/"
        else:
            authority, path = rest[:slash], rest[slash:]
            if "?" in path:
                path = path.partition("?")[0]
        if "@" in authority:
            authority = authority.rpartition("@")[2]
        tally.requests += 1
        yield client, authority, path, method, stamp


def _squid_stamp_text(stamp: str) -> str:
    moment = datetime.fromtimestamp(float(stamp), UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _syslog_stamp(prefix: str) -> str | None:
    """`Jan  5 10:00:01 ...` → `--01-05T10:00:01` (syslog has no year); an RFC 3339 stamp
    (rsyslog's high-precision format) is kept as it is."""
    month = _MONTHS.get(prefix[:3])
    if month is not None and prefix[15:16] in (" ", ""):
        day = prefix[4:6].strip()
        if day.isdigit():
            return f"--{month}-{int(day):02}T{prefix[7:15]}"
        return None
    first = prefix.split(" ", 1)[0]
    if len(first) >= 19 and first[4] == "-" and first[10] == "T":
        return first
    return None


def read_dnsmasq(lines: Iterable[str], tally: Tally) -> Iterator[Request]:
    """dnsmasq's `log-queries` lines (Pi-hole's pihole.log is the same)."""
    for number, line in enumerate(lines, 1):
        head, separator, message = line.partition("]: ")
        if not separator:
            if line.strip():
                tally.bad(number, line)
            else:
                tally.blank += 1
            continue
        ident = head.rpartition(" ")[2].partition("[")[0]
        if ident not in ("dnsmasq", "pihole-FTL"):
            tally.skipped += 1  # another program's line in a shared syslog file
            continue
        words = message.split()
        if len(words) > 2 and (words[0].isdigit() or words[0] == "*") and "/" in words[1]:
            words = words[2:]  # log-queries=extra: serial number, client address/port
        if not words or not words[0].startswith("query["):
            if words:
                tally.skipped += 1
            else:
                tally.bad(number, line)
            continue
        if len(words) != 4 or words[2] != "from" or not words[0].endswith("]"):
            tally.bad(number, line)
            continue
        tally.requests += 1
        yield words[3], words[1], None, None, _syslog_stamp(head)


def read_bind(lines: Iterable[str], tally: Tally) -> Iterator[Request]:
    """BIND's query log (`category queries`), from a file channel or syslog."""
    for number, line in enumerate(lines, 1):
        start = line.find("client ")
        if start < 0:
            if not line.strip():
                tally.blank += 1
            elif _bind_stamp(line) is not None:
                tally.skipped += 1  # another category's message in the same channel
            else:
                tally.bad(number, line)
            continue
        query = line.find(" query: ", start)
        if query < 0:
            # A whole message about a client (query-errors, security) is no query; a query
            # line cut short before its `query:` is malformed.
            if ": " in line[start:] and _bind_stamp(line) is not None:
                tally.skipped += 1
            else:
                tally.bad(number, line)
            continue
        peer = line[start + 7 : query].split()
        if peer and peer[0].startswith("@0x"):
            del peer[0]
        asked = line[query + 8 :].split()
        if not peer or "#" not in peer[0] or len(asked) < 3 or asked[1] not in _DNS_CLASSES:
            tally.bad(number, line)
            continue
        tally.requests += 1
        yield peer[0].partition("#")[0], asked[0], None, None, _bind_stamp(line)


def _bind_stamp(line: str) -> str | None:
    """`02-May-2023 13:33:40.299 ...` → `2023-05-02T13:33:40` (the server's local time)."""
    if line[2:3] == "-" and line[6:7] == "-" and line[11:12] == " ":
        month = _MONTHS.get(line[3:6])
        if month is not None and line[0:2].isdigit() and line[7:11].isdigit():
            return f"{line[7:11]}-{month}-{line[0:2]}T{line[12:20]}"
        return None
    return _syslog_stamp(line)


def read_plain(lines: Iterable[str], tally: Tally) -> Iterator[Request]:
    """One host name or URL per line, optionally after a client: `NAME` or `CLIENT NAME`."""
    for number, line in enumerate(lines, 1):
        words = line.replace(",", " ").split()
        if not words or words[0].startswith("#"):
            tally.blank += 1
            continue
        if len(words) > 2:
            tally.bad(number, line)
            continue
        name = words[-1]
        client = words[0] if len(words) == 2 else None
        scheme = name.find("://")
        rest = name[scheme + 3 :] if scheme >= 0 else name
        host, slash, path = rest.partition("/")
        tally.requests += 1
        yield client, host.rpartition("@")[2], slash + path.partition("?")[0] or None, None, None


def read_aiwall(lines: Iterable[str], tally: Tally) -> Iterator[Request]:
    """aiwall's event log: decisions and recorded sessions, each event once."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            tally.blank += 1
            continue
        try:
            event = json.loads(line)
            envelope = event["event"]
            kind, stamp = envelope["action"], event["@timestamp"]
        except (ValueError, TypeError, KeyError):
            tally.bad(number, line)
            continue
        if kind not in ("decision", "session"):
            tally.skipped += 1
            continue
        event_id = envelope.get("id")
        if isinstance(event_id, str) and not tally.seen.first_time_text(event_id):
            tally.duplicates += 1
            continue
        client = _field(event, "user", "name") or _field(event, "source", "ip")
        if kind == "session":
            session = event.get("aiwall", {}).get("session", {})
            hosts, requests = session.get("hosts") or [], session.get("requests")
            if not hosts or not isinstance(requests, int):
                tally.bad(number, line)
                continue
            tally.requests += requests
            for _ in range(requests):
                yield client, str(hosts[0]), None, None, stamp
            continue
        host = _field(event, "url", "domain")
        if host is None:
            tally.skipped += 1  # an invalid name: no host to count
            continue
        method = event.get("http", {}).get("request", {}).get("method")
        tally.requests += 1
        yield client, host, _field(event, "url", "path") or "/", method, stamp


def _field(event: dict[str, Any], outer: str, inner: str) -> str | None:
    part = event.get(outer)
    value = part.get(inner) if isinstance(part, dict) else None
    return value if isinstance(value, str) else None


def _is_aiwall(line: str) -> bool:
    return line.startswith('{"@timestamp":"') and '"event":{' in line


def _is_squid(line: str) -> bool:
    fields = line.split(None, 9)
    if len(fields) < 10 or not fields[1].isdigit() or "/" not in fields[3]:
        return False
    try:
        float(fields[0])
    except ValueError:
        return False
    return True


def _is_dnsmasq(line: str) -> bool:
    head, separator, _ = line.partition("]: ")
    ident = head.rpartition(" ")[2].partition("[")[0]
    return bool(separator) and ident in ("dnsmasq", "pihole-FTL")


def _is_bind(line: str) -> bool:
    return "client " in line and " query: " in line


def _is_plain(line: str) -> bool:
    words = line.replace(",", " ").split()
    return 0 < len(words) <= 2 and "." in words[-1] and line.rstrip("\r\n").isprintable()


@dataclass(frozen=True)
class LogFormat:
    name: str
    read: Callable[[Iterable[str], Tally], Iterator[Request]]
    looks_like: Callable[[str], bool]
    stamp_text: Callable[[str], str] = str


FORMATS: dict[str, LogFormat] = {
    f.name: f
    for f in (
        LogFormat("squid", read_squid, _is_squid, _squid_stamp_text),
        LogFormat("bind", read_bind, _is_bind),
        LogFormat("dnsmasq", read_dnsmasq, _is_dnsmasq),
        LogFormat("pihole", read_dnsmasq, _is_dnsmasq),
        LogFormat("plain", read_plain, _is_plain),
        LogFormat("aiwall", read_aiwall, _is_aiwall),
    )
}
_DETECTION_ORDER = ("aiwall", "squid", "bind", "dnsmasq", "plain")


def detect(sample: Iterable[str]) -> LogFormat | None:
    """The format most of the sample's non-blank lines have; None when no line fits any."""
    lines = [line for line in sample if line.strip() and not line.startswith("#")]
    scores = {name: sum(FORMATS[name].looks_like(line) for line in lines) for name in FORMATS}
    best = max(_DETECTION_ORDER, key=lambda name: scores[name])  # ties: the earlier one
    return FORMATS[best] if scores[best] else None
