"""`aiwall report`: what the security team reads, from aiwall's own JSON log.

    aiwall report LOG... [--since T] [--until T] [--format text|json|html] [--output FILE]
                         [--rules RULES]

LOG is a file of JSON lines as `EventLog` writes them, plain or gzip-compressed (recognised by
its first bytes, whatever its name), or `-` for stdin; several are read one after the other,
line by line, never whole into memory. `--since` and `--until` take an ISO 8601 date
(`2026-11-23`, midnight UTC), a date and time (`2026-11-23T08:00`, `...+01:00`, `...Z`; without
an offset it is UTC, like the log), or a duration before now (`24h`, `7d`, `2w`, `P30D`).
`--since` is inclusive, `--until` exclusive. `--rules` reads the `groups` of a rules file and
counts decisions per group as well: a client belongs to a group when its proxy-auth user is
one of the group's users or its address is in one of the group's networks, as the rules
engine decides; a client in two groups counts in both, and clients in none are counted as
"no group". Only the `groups` are used: the rest of the file is validated, not checked
against the vendor records.

What is counted: decisions (`event.action` = `decision`) and acknowledgements (`ack`). Other
known events (`config.loaded`, `config.rejected`, `policy.changed`, `error`) are counted by
kind; unknown kinds are counted as ignored; lines that are not a complete JSON event are
counted as malformed, with the first few named (file:line), and never stop the report. A
client is its proxy-auth user (`user.name`), else its address (`source.ip`), else anonymous.

Speed (a million lines in a few seconds; `bench/report.py` measures it): lines are read as
bytes and only the parts kept are decoded. A decision line in the layout `EventLog` writes is
not parsed whole: the parts the report needs are cut out by their keys (a key pattern such as
`,"aiwall":{` cannot occur inside a JSON string, where every quote is escaped), and the
`aiwall` part, which repeats from line to line, is parsed once per distinct text. A line that
does not start and end the way `EventLog` writes a decision, or whose parts do not parse, or
whose user name holds an escape, is parsed whole by `json.loads`; a test holds the two ways to
the same result. Only counts are kept, and the acknowledgements.

The JSON document (`--format json`; keys are stable, lists sorted by count, largest first,
then by name; every `actions` object has the keys `block`, `warn`, `log`, `allow` in that
order; times are UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ` as in the log):

    {
      "report": {"version": 1, "files": [str], "since": time|null, "until": time|null,
                 "first_event": time|null, "last_event": time|null},
      "lines": {"read": int, "decisions": int, "acks": int, "other": {kind: int},
                "ignored": int, "outside_window": int, "malformed": int,
                "malformed_examples": ["file:line: why"]},          # the first 20
      "decisions": {"total": int, "actions": actions,
                    "acknowledged": int},     # warn decisions forwarded after an acknowledgement
      "timeline": {"bucket": "hour"|"day",    # hours when the events span at most 72 hours
                   "buckets": [{"start": time, "total": int, "actions": actions}]},
      "vendors": [{"vendor": str,             # vendor id; `host:NAME` for a host only the rules
                                              # name; `(invalid host name)`
                   "total": int, "actions": actions,
                   "products": [{"product": str|null, "total": int, "actions": actions}]}],
      "rules": [{"rule": str|null, "name": str|null,     # name: the rule's description
                 "decided_by": "rule"|"default"|"invalid-host", "total": int, "actions": actions}],
      "users": [{"user": str,                 # the proxy-auth user, else the address
                 "identity": "user:NAME"|"ip:ADDRESS"|"anonymous",
                 "total": int, "actions": actions}],
      "groups": null |                        # null without --rules
                [{"group": str|null,          # null: clients in no group
                  "clients": int, "total": int, "actions": actions}],
      "acknowledgements": {"total": int, "accepted": int, "refused": int,
                           "refusals": {reason: int},
                           "items": [{"time": time, "user": str, "identity": str,
                                      "vendor": str, "product": str|null, "rule": str,
                                      "host": str, "justification": str, "accepted": bool,
                                      "reason": str}]},              # oldest first
      "shadow": [{"rule": str, "total": int,  # decisions this shadow rule matched
                  "would": actions,           # what it would have done
                  "stricter": int,            # ... where that is stricter than what was done
                  "by": [{"action": str,      # what it would have done
                          "vendor": str, "product": str|null, "user": str,
                          "enforced": str,    # what the deciding rule did
                          "count": int}]}],
      "stale": [{"vendor": str, "product": str|null, "last_verified": date,
                 "confidence": str, "total": int, "actions": actions, "users": int}]
    }

`stale` lists the vendor records that were stale (older than the rules' `stale_after`) when
they decided: one entry per product and `last_verified`, so a record refreshed during the
period shows twice.
"""

import argparse
import gzip
import io
import ipaddress
import json
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from aiwall.analysis.render import number, text_bar, text_table
from aiwall.core.durations import parse_duration

ACTIONS = ("block", "warn", "log", "allow")  # strictest first, the order of every `actions`
_STRICTNESS = {"allow": 0, "log": 1, "warn": 2, "block": 3}
_SLOT = {action: i for i, action in enumerate(ACTIONS)}
OTHER_KINDS = frozenset({"config.loaded", "config.rejected", "policy.changed", "error"})
INVALID_HOST = "(invalid host name)"
MALFORMED_EXAMPLES = 20
HOURLY_UP_TO = timedelta(hours=72)
_CORE_CACHE_LIMIT = 100_000

_TS_PREFIX = b'{"@timestamp":"'
_TS_SHAPE = b"0000-00-00T00:00:00.000000Z"  # the canonical timestamp, every digit made 0
_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
_FIVE = ord("5")
# How EventLog ends a decision line (with `invalid_host`, the line takes the slow path).
_DECISION_ENDS = tuple(
    f',"tenant_restricted":{value}}}}}{end}'.encode()
    for value in ("false", "true")
    for end in ("\n", "", "\r\n")
)


class Decided(NamedTuple):
    """What a decision line says, without who and when: many lines share one."""

    action: str
    rule: str | None
    rule_name: str | None
    vendor: str  # vendor id, `host:NAME` for a host only the rules name, or INVALID_HOST
    product: str | None  # `vendor/product`
    record: tuple[str, str, bool] | None  # last_verified, confidence, stale
    shadow: tuple[tuple[str, str], ...]  # (shadow rule id, what it would have done)
    acknowledged: bool
    invalid: bool


class Who(NamedTuple):
    user: str | None
    ip: str | None

    @property
    def label(self) -> str:
        return self.user or self.ip or "anonymous"

    @property
    def identity(self) -> str:
        if self.user:
            return f"user:{self.user}"
        return f"ip:{self.ip}" if self.ip else "anonymous"


class _Malformed(ValueError):
    """A line that is JSON, but not an event this report understands."""


@dataclass(frozen=True)
class Groups:
    """The rules file's groups: users and client networks by group name."""

    members: dict[str, tuple[frozenset[str], tuple[Any, ...]]]

    @classmethod
    def from_rules(cls, path: Path) -> "Groups":
        from aiwall.core.rules import RulesFile
        from aiwall.core.yamlsource import load_yaml

        rules = load_yaml(path).validate(RulesFile)
        return cls({name: (frozenset(g.users), g.networks) for name, g in rules.groups.items()})

    def of(self, who: Who) -> list[str]:
        ip: Any = None
        if who.ip:
            try:
                ip = ipaddress.ip_address(who.ip)
            except ValueError:
                ip = None
        return [
            name
            for name, (users, networks) in self.members.items()
            if (who.user is not None and who.user in users)
            or (ip is not None and any(ip in network for network in networks))
        ]


# ---------------------------------------------------------------------------------------------
# Times


def canonical(moment: datetime) -> str:
    """A time as the log writes it: UTC, microseconds, `Z`."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """`2026-11-23`, `2026-11-23T08:00[:00][+01:00|Z]` (no offset: UTC), or a duration before
    `now` (`24h`, `7d`, `P30D`). Raise ValueError naming the text."""
    cleaned = text.strip()
    try:
        ago = parse_duration(cleaned)
    except ValueError:
        pass
    else:
        return (now or datetime.now(UTC)) - ago
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 2026-11-23, 2026-11-23T08:00[+01:00], or 24h / 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(value: object) -> str:
    """The event's `@timestamp` in canonical form; _Malformed when there is none."""
    if isinstance(value, str):
        try:
            return canonical(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise _Malformed("no valid @timestamp")


# ---------------------------------------------------------------------------------------------
# Reading


@contextmanager
def open_log(
    path: str, on_damage: Callable[[str], None] | None = None
) -> Iterator[Iterable[bytes]]:
    """A log file as lines of bytes: `-` is stdin; gzip is recognised by its magic bytes.

    Bytes, not text: aiwall's lines are ASCII, and decoding a gigabyte costs more than reading
    it; only the parts that are kept are decoded. Compressed data that ends early or is damaged
    (a log rotated while being compressed) ends the lines there and is reported to
    `on_damage`; without it, the error is raised."""
    if path == "-":
        yield sys.stdin.buffer
        return
    raw = io.BufferedReader(io.FileIO(path, "rb"), buffer_size=1 << 20)
    try:
        if raw.peek(2)[:2] != b"\x1f\x8b":
            yield raw
            return
        unpacked = gzip.GzipFile(fileobj=raw, mode="rb")
        yield unpacked if on_damage is None else _guarded(unpacked, on_damage)
    finally:
        raw.close()


def _guarded(lines: Iterable[bytes], on_damage: Callable[[str], None]) -> Iterator[bytes]:
    try:
        yield from lines
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        on_damage(f"compressed data ends early or is damaged ({error}); read up to there")


# ---------------------------------------------------------------------------------------------
# Counting


class Report:
    """Feed it lines (`feed`), then take the document (`document`)."""

    def __init__(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        groups: Groups | None = None,
    ) -> None:
        self.since = canonical(since) if since else None
        self.until = canonical(until) if until else None
        self.groups = groups
        self.files: list[str] = []
        self.read = 0
        self.decisions = 0
        self.outside = 0
        self.ignored = 0
        self.other: Counter[str] = Counter()
        self.malformed = 0
        self.malformed_examples: list[str] = []
        self.acks: list[dict[str, Any]] = []
        self.first = b"~"  # after every digit: no event yet
        self.last = b""
        self._infos: list[Decided] = []
        self._info_ids: dict[Decided, int] = {}
        self._cores: dict[bytes, int] = {}  # the aiwall part of a line → info id; -1: slow
        self._whos: dict[Who, int] = {}
        self._who_list: list[Who] = []
        self._who_bytes: dict[tuple[bytes | None, bytes | None], int] = {}
        self._counts: list[dict[int, int]] = []  # [info id] → who id → decisions
        self._hours: dict[bytes, dict[int, int]] = {}  # b"YYYY-MM-DDTHH" → info id → decisions

    # The hot loop: one pass over every line, in one function, names bound locally.
    def feed(self, lines: Iterable[bytes], source: str) -> None:
        self.files.append(source)
        since = self.since.encode() if self.since else None
        until = self.until.encode() if self.until else None
        cores, counts, hours, whos = self._cores, self._counts, self._hours, self._who_bytes
        first, last = self.first, self.last
        decisions = outside = 0
        number = 0
        for number, line in enumerate(lines, 1):
            k = line.find(b'"action":"')
            if k < 0 or not line.startswith(b'decision"', k + 10):
                self._other_line(line, source, number, k)
                continue
            ts = line[15:42]
            if (
                ts.translate(_DIGITS_TO_0) != _TS_SHAPE
                or not line.startswith(_TS_PREFIX)
                or line[42] != 34  # the closing quote
                or ts[14] > _FIVE  # minutes and seconds below 60
                or ts[17] > _FIVE
                or not line.endswith(_DECISION_ENDS)
            ):
                self._parse_line(line, source, number)
                continue
            if (since is not None and ts < since) or (until is not None and ts >= until):
                outside += 1
                continue
            i_aw = line.find(b',"aiwall":{"action":"', k)
            i_names = line.find(b',"names":[', i_aw) if i_aw > 0 else -1
            if i_names < 0:
                self._parse_line(line, source, number)
                continue
            core = line[i_aw + 10 : i_names]
            info = cores.get(core)
            if info is None:
                info = self._core(line, k, i_aw, core)
            i = line.find(b',"source":{"ip":"', k, i_aw)
            ip = line[i + 17 : line.find(b'"', i + 17)] if i > 0 else None
            i = line.find(b',"user":{"name":"', k, i_aw)
            user = line[i + 17 : line.find(b'"', i + 17)] if i > 0 else None
            who = whos.get((user, ip))
            if who is None:
                who = self._new_who(user, ip)
            per_hour = hours.get(ts[:13])
            if per_hour is None:
                per_hour = self._hour(ts[:13])
            if info < 0 or who < 0 or per_hour is None:  # take the slow path
                self._parse_line(line, source, number)
                continue
            per_who = counts[info]
            per_who[who] = per_who.get(who, 0) + 1
            per_hour[info] = per_hour.get(info, 0) + 1
            if ts > last:
                last = ts
            if ts < first:
                first = ts
            decisions += 1
        self.read += number
        self.decisions += decisions
        self.outside += outside
        self.first = min(first, self.first)
        self.last = max(last, self.last)

    def _core(self, line: bytes, k: int, i_aw: int, core: bytes) -> int:
        """Parse the aiwall part of a decision line (and its rule's name) once per text.

        -1 when this text needs the whole line: no vendor (a host only the rules name, whose
        name is in `url`), or it does not parse."""
        try:
            aiwall = json.loads(core + b"}")
            name = None
            i_rule = line.find(b',"rule":{', k, i_aw)
            if i_rule > 0:
                rule = json.loads(line[i_rule + 8 : i_aw])
                name = _string(rule.get("name"), "rule.name") if isinstance(rule, dict) else None
            if not isinstance(aiwall, dict) or aiwall.get("vendor") is None:
                info = -1
            else:
                info = self._intern(_decided(aiwall, name, None))
        except ValueError:  # JSONDecodeError, UnicodeDecodeError and _Malformed
            info = -1
        if len(self._cores) < _CORE_CACHE_LIMIT:
            self._cores[core] = info
        return info

    def _intern(self, decided: Decided) -> int:
        info = self._info_ids.get(decided)
        if info is None:
            info = self._info_ids[decided] = len(self._infos)
            self._infos.append(decided)
            self._counts.append({})
        return info

    def _who(self, who: Who) -> int:
        ident = self._whos.get(who)
        if ident is None:
            ident = self._whos[who] = len(self._who_list)
            self._who_list.append(who)
        return ident

    def _new_who(self, user: bytes | None, ip: bytes | None) -> int:
        """The client of user and address as cut from a line; -1 (slow path) for escapes."""
        if (user and b"\\" in user) or (ip and b"\\" in ip):
            return -1
        ident = self._who(
            Who(
                user.decode("ascii", "replace") if user is not None else None,
                ip.decode("ascii", "replace") if ip is not None else None,
            )
        )
        self._who_bytes[(user, ip)] = ident
        return ident

    def _hour(self, hour: bytes) -> dict[int, int] | None:
        """The counts of one hour, b"YYYY-MM-DDTHH"; None when that is no hour."""
        try:
            datetime.strptime(hour.decode("ascii"), "%Y-%m-%dT%H")
        except ValueError:
            return None
        return self._hours.setdefault(hour, {})

    def _other_line(self, line: bytes, source: str, number: int, k: int) -> None:
        """Not a decision in aiwall's layout: another kind of event, cheaply, or parse it."""
        text = line.strip()
        if not text:
            return  # a blank line: nothing
        e = line.find(b'"event":{')
        if 0 <= e < k and line.find(b"}", e, k) < 0:  # the first action is the event's
            kind = line[k + 10 : line.find(b'"', k + 10)].decode("ascii", "replace")
            if kind != "ack" and kind != "decision":
                if not (text.startswith(b"{") and text.endswith(b"}")):
                    self._bad(source, number, "not a complete JSON object (cut short?)")
                    return
                ts = line[15:42]
                canonical = line.startswith(_TS_PREFIX) and ts.translate(_DIGITS_TO_0) == _TS_SHAPE
                self._other_kind(kind, ts.decode("ascii") if canonical else None)
                return
        self._parse_line(line, source, number)

    def _parse_line(self, line: bytes, source: str, number: int) -> None:
        """The whole line through json.loads: any layout, any kind."""
        try:
            event = json.loads(line.decode("utf-8", "replace").rstrip("\r\n"))
            if not isinstance(event, dict):
                raise _Malformed("not a JSON object")
            envelope = event.get("event")
            kind = envelope.get("action") if isinstance(envelope, dict) else None
            if not isinstance(kind, str):
                raise _Malformed("no event.action")
            if kind not in ("decision", "ack"):
                self._other_kind(kind, event.get("@timestamp"))
                return
            ts = _timestamp(event.get("@timestamp"))
            if not self._inside(ts):
                self.outside += 1
                return
            if kind == "decision":
                self._decision(event, ts)
            else:
                self._ack(event, ts)
        except _Malformed as error:
            self._bad(source, number, str(error))
        except json.JSONDecodeError as error:
            self._bad(source, number, f"not JSON: {error.msg} at column {error.colno}")
        except ValueError as error:
            self._bad(source, number, f"not JSON ({error})")

    def _other_kind(self, kind: str, timestamp: object) -> None:
        """An event that is neither a decision nor an acknowledgement: counted by kind."""
        try:
            if not self._inside(_timestamp(timestamp)):
                self.outside += 1
                return
        except _Malformed:
            pass  # counted all the same: its time does not matter
        if kind in OTHER_KINDS:
            self.other[kind] += 1
        else:
            self.ignored += 1

    def _inside(self, ts: str) -> bool:
        return (self.since is None or ts >= self.since) and (self.until is None or ts < self.until)

    def _decision(self, event: dict[str, Any], ts: str) -> None:
        aiwall = _object(event.get("aiwall"), "aiwall")
        rule = event.get("rule")
        name = _string(rule.get("name"), "rule.name") if isinstance(rule, dict) else None
        url = event.get("url")
        domain = _string(url.get("domain"), "url.domain") if isinstance(url, dict) else None
        info = self._intern(_decided(aiwall, name, domain))
        who = self._who(Who(_field(event, "user", "name"), _field(event, "source", "ip")))
        per_hour = self._hour(ts[:13].encode("ascii"))
        if per_hour is None:  # cannot be: ts is canonical
            raise _Malformed("no valid @timestamp")
        per_who = self._counts[info]
        per_who[who] = per_who.get(who, 0) + 1
        per_hour[info] = per_hour.get(info, 0) + 1
        self._seen(ts)
        self.decisions += 1

    def _ack(self, event: dict[str, Any], ts: str) -> None:
        ack = _object(_object(event.get("aiwall"), "aiwall").get("ack"), "aiwall.ack")
        identity = _string(ack.get("identity"), "aiwall.ack.identity") or "anonymous"
        user = _field(event, "user", "name") or _field(event, "source", "ip") or identity
        accepted = ack.get("accepted")
        if not isinstance(accepted, bool):
            raise _Malformed("aiwall.ack.accepted is not true or false")
        self.acks.append(
            {
                "time": ts,
                "user": user,
                "identity": identity,
                "vendor": _string(ack.get("vendor"), "aiwall.ack.vendor") or "",
                "product": _string(ack.get("product"), "aiwall.ack.product"),
                "rule": _string(ack.get("rule"), "aiwall.ack.rule") or "",
                "host": _string(ack.get("host"), "aiwall.ack.host") or "",
                "justification": _string(ack.get("justification"), "justification") or "",
                "accepted": accepted,
                "reason": _string(ack.get("reason"), "aiwall.ack.reason") or "",
            }
        )
        self._seen(ts)

    def _seen(self, ts: str) -> None:
        stamp = ts.encode("ascii")
        self.first = min(self.first, stamp)
        self.last = max(self.last, stamp)

    def damaged(self, source: str, why: str) -> None:
        """A file that could not be read to its end: one malformed entry."""
        self._bad(source, "end", why)

    def _bad(self, source: str, number: int | str, why: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < MALFORMED_EXAMPLES:
            self.malformed_examples.append(f"{source}:{number}: {why}")

    def document(self) -> dict[str, Any]:
        """Everything counted, as the JSON document the module docstring describes."""
        infos, whos = self._infos, self._who_list
        actions: Counter[str] = Counter()
        acknowledged = 0
        vendors: dict[str, Counter[str]] = {}
        products: dict[tuple[str, str | None], Counter[str]] = {}
        rules: dict[tuple[str | None, str], Counter[str]] = {}
        rule_names: dict[str | None, str | None] = {}
        per_who: dict[int, list[int]] = {}  # who id → decisions per action, in ACTIONS order
        shadow: dict[str, dict[tuple[str, str, str | None, str, str], int]] = {}
        stale: dict[tuple[str, str | None, str, str], Counter[str]] = {}
        stale_users: dict[tuple[str, str | None, str, str], set[int]] = {}
        for info_id, counts in enumerate(self._counts):  # first seen, first
            if not counts:
                continue
            d = infos[info_id]
            n = sum(counts.values())
            slot = _SLOT[d.action]
            actions[d.action] += n
            if d.acknowledged:
                acknowledged += n
            _add(vendors, d.vendor, d.action, n)
            _add(products, (d.vendor, d.product), d.action, n)
            decided_by = "rule" if d.rule else ("invalid-host" if d.invalid else "default")
            _add(rules, (d.rule, decided_by), d.action, n)
            if d.rule is not None:
                rule_names[d.rule] = d.rule_name  # of the kind of line seen first last
            for who_id, count in counts.items():
                row = per_who.get(who_id)
                if row is None:
                    row = per_who[who_id] = [0, 0, 0, 0]
                row[slot] += count
            for shadow_rule, would in d.shadow:
                by = shadow.setdefault(shadow_rule, {})
                for who_id, count in counts.items():
                    key = (would, d.vendor, d.product, whos[who_id].label, d.action)
                    by[key] = by.get(key, 0) + count
            if d.record is not None and d.record[2]:
                record_key = (d.vendor, d.product, d.record[0], d.record[1])
                _add(stale, record_key, d.action, n)
                stale_users.setdefault(record_key, set()).update(counts)

        # Users with the same label (a user seen from several addresses) are one user.
        by_label: dict[str, tuple[str, list[int]]] = {}
        groups: dict[str | None, list[int]] = {}
        group_clients: dict[str | None, set[str]] = {}
        for who_id, row in per_who.items():
            who = whos[who_id]
            entry = by_label.setdefault(who.label, (who.identity, [0, 0, 0, 0]))
            entry[1][:] = [a + b for a, b in zip(entry[1], row, strict=True)]
            if self.groups is not None:
                member_of: list[str | None] = [*self.groups.of(who)] or [None]
                for group in member_of:
                    total = groups.setdefault(group, [0, 0, 0, 0])
                    total[:] = [a + b for a, b in zip(total, row, strict=True)]
                    group_clients.setdefault(group, set()).add(who.label)

        acks = sorted(self.acks, key=lambda a: str(a["time"]))
        refusals = Counter(a["reason"] for a in acks if not a["accepted"])
        return {
            "report": {
                "version": 1,
                "files": list(self.files),
                "since": self.since,
                "until": self.until,
                "first_event": self.first.decode() if self.last else None,
                "last_event": self.last.decode() if self.last else None,
            },
            "lines": {
                "read": self.read,
                "decisions": self.decisions,
                "acks": len(self.acks),
                "other": dict(sorted(self.other.items())),
                "ignored": self.ignored,
                "outside_window": self.outside,
                "malformed": self.malformed,
                "malformed_examples": list(self.malformed_examples),
            },
            "decisions": {
                "total": sum(actions.values()),
                "actions": _actions(actions),
                "acknowledged": acknowledged,
            },
            "timeline": self._timeline(),
            "vendors": _ranked(
                {
                    "vendor": vendor,
                    "total": sum(counter.values()),
                    "actions": _actions(counter),
                    "products": _ranked(
                        {
                            "product": product,
                            "total": sum(c.values()),
                            "actions": _actions(c),
                        }
                        for (v, product), c in products.items()
                        if v == vendor
                    ),
                }
                for vendor, counter in vendors.items()
            ),
            "rules": _ranked(
                {
                    "rule": rule,
                    "name": rule_names.get(rule) if rule else None,
                    "decided_by": decided_by,
                    "total": sum(counter.values()),
                    "actions": _actions(counter),
                }
                for (rule, decided_by), counter in rules.items()
            ),
            "users": _ranked(
                {
                    "user": label,
                    "identity": identity,
                    "total": sum(row),
                    "actions": dict(zip(ACTIONS, row, strict=True)),
                }
                for label, (identity, row) in by_label.items()
            ),
            "groups": None
            if self.groups is None
            else _ranked(
                {
                    "group": group,
                    "clients": len(group_clients[group]),
                    "total": sum(row),
                    "actions": dict(zip(ACTIONS, row, strict=True)),
                }
                for group, row in groups.items()
            ),
            "acknowledgements": {
                "total": len(acks),
                "accepted": sum(1 for a in acks if a["accepted"]),
                "refused": sum(1 for a in acks if not a["accepted"]),
                "refusals": dict(sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))),
                "items": acks,
            },
            "shadow": _ranked(_shadow_entry(rule, by) for rule, by in shadow.items()),
            "stale": _ranked(
                {
                    "vendor": vendor,
                    "product": product,
                    "last_verified": last_verified,
                    "confidence": confidence,
                    "total": sum(counter.values()),
                    "actions": _actions(counter),
                    "users": len(stale_users[(vendor, product, last_verified, confidence)]),
                }
                for (vendor, product, last_verified, confidence), counter in stale.items()
            ),
        }

    def _timeline(self) -> dict[str, Any]:
        hours: dict[datetime, Counter[str]] = {}
        for hour, per_info in self._hours.items():
            if not per_info:
                continue
            counter = Counter[str]()
            for info_id, n in per_info.items():
                counter[self._infos[info_id].action] += n
            hours[datetime.fromisoformat(hour.decode("ascii") + ":00:00+00:00")] = counter
        if not hours:
            return {"bucket": "hour", "buckets": []}
        start, end = min(hours), max(hours)
        step = timedelta(hours=1) if end - start <= HOURLY_UP_TO else timedelta(days=1)
        if step == timedelta(days=1):
            start = start.replace(hour=0)
            days: dict[datetime, Counter[str]] = {}
            for moment, counter in hours.items():
                days.setdefault(moment.replace(hour=0), Counter()).update(counter)
            hours = days
        buckets = []
        moment = start
        while moment <= end:
            counter = hours.get(moment, Counter())
            buckets.append(
                {
                    "start": canonical(moment),
                    "total": sum(counter.values()),
                    "actions": _actions(counter),
                }
            )
            moment += step
        return {"bucket": "hour" if step == timedelta(hours=1) else "day", "buckets": buckets}


def _shadow_entry(
    rule: str, by: dict[tuple[str, str, str | None, str, str], int]
) -> dict[str, Any]:
    would: Counter[str] = Counter()
    stricter = 0
    for (action, _vendor, _product, _user, enforced), n in by.items():
        would[action] += n
        if _STRICTNESS[action] > _STRICTNESS[enforced]:
            stricter += n
    rows = sorted(by.items(), key=lambda kv: (-kv[1], [x or "" for x in kv[0]]))
    return {
        "rule": rule,
        "total": sum(would.values()),
        "would": _actions(would),
        "stricter": stricter,
        "by": [
            {
                "action": action,
                "vendor": vendor,
                "product": product,
                "user": user,
                "enforced": enforced,
                "count": n,
            }
            for (action, vendor, product, user, enforced), n in rows
        ],
    }


def _add[K](table: dict[K, Counter[str]], key: K, action: str, n: int) -> None:
    counter = table.get(key)
    if counter is None:
        counter = table[key] = Counter()
    counter[action] += n


def _actions(counter: Counter[str]) -> dict[str, int]:
    return {action: counter.get(action, 0) for action in ACTIONS}


def _ranked(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Largest total first, then by the entry's names in order (None after any name)."""

    def key(entry: dict[str, Any]) -> tuple[int, list[tuple[bool, str]]]:
        names = [
            (v is None, str(v or "")) for v in entry.values() if not isinstance(v, dict | list)
        ]
        return (-int(entry["total"]), names)

    return sorted(entries, key=key)


def _decided(aiwall: dict[str, Any], rule_name: str | None, domain: str | None) -> Decided:
    action = aiwall.get("action")
    if action not in _STRICTNESS:
        raise _Malformed(f"aiwall.action {action!r} is not one of {', '.join(ACTIONS)}")
    vendor = _string(aiwall.get("vendor"), "aiwall.vendor")
    invalid = "invalid_host" in aiwall
    if vendor is None:
        vendor = INVALID_HOST if invalid or not domain else f"host:{domain}"
    record = aiwall.get("record")
    stamp: tuple[str, str, bool] | None = None
    if isinstance(record, dict):
        stamp = (
            _string(record.get("last_verified"), "aiwall.record.last_verified") or "",
            _string(record.get("confidence"), "aiwall.record.confidence") or "",
            record.get("stale") is True,
        )
    shadow = aiwall.get("shadow") or []
    if not isinstance(shadow, list):
        raise _Malformed("aiwall.shadow is not a list")
    outcomes = []
    for item in shadow:
        item = _object(item, "aiwall.shadow[]")
        would = item.get("action")
        rule = _string(item.get("rule"), "aiwall.shadow[].rule")
        if would not in _STRICTNESS or not rule:
            raise _Malformed("aiwall.shadow[] needs a rule and an action")
        outcomes.append((rule, str(would)))
    return Decided(
        action=str(action),
        rule=_string(aiwall.get("rule"), "aiwall.rule") or None,
        rule_name=rule_name,
        vendor=vendor,
        product=_string(aiwall.get("product"), "aiwall.product"),
        record=stamp,
        shadow=tuple(outcomes),
        acknowledged=aiwall.get("acknowledged") is True,
        invalid=invalid,
    )


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{name} is not an object")
    return value


def _string(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _Malformed(f"{name} is not a string")


def _field(event: dict[str, Any], outer: str, inner: str) -> str | None:
    part = event.get(outer)
    return _string(part.get(inner), f"{outer}.{inner}") if isinstance(part, dict) else None


def build(
    paths: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    groups: Groups | None = None,
) -> dict[str, Any]:
    """Read every log in `paths` and return the report document."""
    report = Report(since, until, groups)
    for path in paths:
        with open_log(path, partial(report.damaged, path)) as lines:
            report.feed(lines, path)
    return report.document()


# ---------------------------------------------------------------------------------------------
# Text


ACKS_SHOWN_AS_TEXT = 50
ROWS_SHOWN_AS_TEXT = 25
_ACTION_HEADERS = [a.upper() for a in ACTIONS]


def render_text(doc: dict[str, Any]) -> str:
    """The report for a terminal: aligned tables, most important first."""
    out: list[str] = []
    meta, lines, decisions = doc["report"], doc["lines"], doc["decisions"]
    out.append(f"aiwall report: {_files(meta['files'])}, {_period(meta)}")
    other = sum(lines["other"].values())
    out.append(
        f"Read {number(lines['read'])} lines: {number(lines['decisions'])} decisions,"
        f" {number(lines['acks'])} acknowledgements, {number(other)} other events,"
        f" {number(lines['ignored'])} of unknown kinds, {number(lines['malformed'])} malformed,"
        f" {number(lines['outside_window'])} outside the time window"
    )
    acts = decisions["actions"]
    out.append("")
    out.append(
        f"Decisions: {number(decisions['total'])}   block {number(acts['block'])}"
        f"   warn {number(acts['warn'])} ({number(decisions['acknowledged'])} continued after"
        f" acknowledging)   log {number(acts['log'])}   allow {number(acts['allow'])}"
    )

    timeline = doc["timeline"]
    if timeline["buckets"]:
        hourly = timeline["bucket"] == "hour"
        out += ["", f"Over time (per {timeline['bucket']}, UTC)"]
        peak = max(b["total"] for b in timeline["buckets"])
        out.append(
            text_table(
                ["HOUR" if hourly else "DAY", "TOTAL", *_ACTION_HEADERS, ""],
                (
                    [
                        _bucket_label(b["start"], hourly),
                        b["total"],
                        *b["actions"].values(),
                        text_bar(b["total"], peak),
                    ]
                    for b in timeline["buckets"]
                ),
                numeric=range(1, 6),
            )
        )

    out += ["", "Vendors and products"]
    out.append(
        text_table(
            ["VENDOR", "PRODUCT", "TOTAL", *_ACTION_HEADERS],
            (
                [
                    v["vendor"] if i == 0 else "",
                    p["product"] or "-",
                    p["total"],
                    *p["actions"].values(),
                ]
                for v in doc["vendors"]
                for i, p in enumerate(v["products"])
            ),
            numeric=range(2, 7),
        )
        or "  none"
    )

    out += ["", "Rules"]
    out.append(
        text_table(
            ["RULE", "NAME", "TOTAL", *_ACTION_HEADERS],
            (
                [_rule_label(r), r["name"] or "", r["total"], *r["actions"].values()]
                for r in doc["rules"]
            ),
            numeric=range(2, 7),
        )
        or "  none"
    )

    users = doc["users"]
    shown = (
        f" (top {ROWS_SHOWN_AS_TEXT} of {number(len(users))})"
        if len(users) > ROWS_SHOWN_AS_TEXT
        else ""
    )
    out += ["", f"Users{shown}"]
    out.append(
        text_table(
            ["USER", "TOTAL", *_ACTION_HEADERS],
            ([u["user"], u["total"], *u["actions"].values()] for u in users[:ROWS_SHOWN_AS_TEXT]),
            numeric=range(1, 6),
        )
        or "  none"
    )
    if doc["groups"] is not None:
        out += ["", "Groups (a client in two groups counts in both)"]
        out.append(
            text_table(
                ["GROUP", "CLIENTS", "TOTAL", *_ACTION_HEADERS],
                (
                    [g["group"] or "(no group)", g["clients"], g["total"], *g["actions"].values()]
                    for g in doc["groups"]
                ),
                numeric=range(1, 7),
            )
            or "  none"
        )

    acks = doc["acknowledgements"]
    out += [
        "",
        f"Acknowledgements: {number(acks['total'])} ({number(acks['accepted'])} accepted,"
        f" {number(acks['refused'])} refused)",
    ]
    items = acks["items"]
    if len(items) > ACKS_SHOWN_AS_TEXT:
        out.append(f"  the latest {ACKS_SHOWN_AS_TEXT}; --format json lists all")
        items = items[-ACKS_SHOWN_AS_TEXT:]
    if items:
        out.append(
            text_table(
                ["TIME", "USER", "VENDOR", "RULE", "OUTCOME", "JUSTIFICATION"],
                (
                    [
                        _minute(a["time"]),
                        a["user"],
                        a["product"] or a["vendor"],
                        a["rule"] or "-",
                        "accepted" if a["accepted"] else f"refused: {a['reason']}",
                        a["justification"] or "-",
                    ]
                    for a in items
                ),
                max_width=80,
            )
        )

    out += ["", "Shadow rules (what they would have done; nothing was enforced)"]
    if not doc["shadow"]:
        out.append("  none matched")
    for s in doc["shadow"]:
        would = ", ".join(f"{a} {number(n)}" for a, n in s["would"].items() if n)
        out.append(
            f"  {s['rule']}: matched {number(s['total'])} decisions: would {would};"
            f" {number(s['stricter'])} stricter than what was done"
        )
        out.append(
            text_table(
                ["WOULD", "VENDOR", "PRODUCT", "USER", "WAS", "COUNT"],
                (
                    [
                        b["action"],
                        b["vendor"],
                        b["product"] or "-",
                        b["user"],
                        b["enforced"],
                        b["count"],
                    ]
                    for b in s["by"][:ROWS_SHOWN_AS_TEXT]
                ),
                numeric=[5],
                indent="    ",
            )
        )

    out += ["", "Stale vendor records (older than stale_after when they decided)"]
    out.append(
        text_table(
            ["VENDOR", "PRODUCT", "LAST VERIFIED", "CONFIDENCE", "DECISIONS", "USERS"],
            (
                [
                    s["vendor"],
                    s["product"] or "-",
                    s["last_verified"],
                    s["confidence"],
                    s["total"],
                    s["users"],
                ]
                for s in doc["stale"]
            ),
            numeric=[4, 5],
        )
        or "  none"
    )

    if lines["malformed"]:
        out += ["", f"Malformed lines: {number(lines['malformed'])}"]
        out += [f"  {example}" for example in lines["malformed_examples"]]
    return "\n".join(out) + "\n"


def _files(files: Sequence[str]) -> str:
    if len(files) == 1:
        return files[0]
    return f"{len(files)} files"


def _period(meta: dict[str, Any]) -> str:
    if meta["first_event"] is None:
        return "no events"
    return f"{_minute(meta['first_event'])} to {_minute(meta['last_event'])} UTC"


def _minute(ts: str) -> str:
    return f"{ts[:10]} {ts[11:16]}"


def _bucket_label(start: str, hourly: bool) -> str:
    return f"{start[:10]} {start[11:13]}h" if hourly else start[:10]


def _rule_label(rule: dict[str, Any]) -> str:
    if rule["rule"]:
        return str(rule["rule"])
    return "(invalid host name)" if rule["decided_by"] == "invalid-host" else "(default action)"


# ---------------------------------------------------------------------------------------------
# Command line


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": render_text,
    "json": lambda doc: json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `aiwall report`, on its subcommand parser."""
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="event log files (.gz too; - for stdin)"
    )
    parser.add_argument(
        "--since", metavar="T", help="from T: 2026-11-23, 2026-11-23T08:00Z, 24h, 7d"
    )
    parser.add_argument("--until", metavar="T", help="before T (same forms)")
    parser.add_argument("--format", choices=["text", "json", "html"], default="text")
    parser.add_argument("--output", "-o", type=Path, help="write to FILE instead of stdout")
    parser.add_argument("--rules", type=Path, help="rules file whose groups to count decisions by")


def run(args: argparse.Namespace) -> int:
    """`aiwall report`: 0 when the report was written, 2 for bad arguments or unreadable logs."""
    now = datetime.now(UTC)
    try:
        since = parse_when(args.since, now) if args.since else None
        until = parse_when(args.until, now) if args.until else None
    except ValueError as error:
        print(f"aiwall report: {error}", file=sys.stderr)
        return 2
    groups = Groups.from_rules(args.rules) if args.rules else None  # ConfigError: cli prints it
    try:
        doc = build(args.logs, since, until, groups)
    except OSError as error:
        print(
            f"aiwall report: cannot read {error.filename or 'the log'}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 2
    if args.format == "html":
        from aiwall.analysis.report_html import render_html

        text = render_html(doc)
    else:
        text = FORMATS[args.format](doc)
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as error:
        print(
            f"aiwall report: cannot write {args.output}: {error.strerror or error}", file=sys.stderr
        )
        return 2
    return 0
