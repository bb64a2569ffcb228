"""Counting a log for `aiwall report`: what a `LogReader` reads, kept as counts.

Only counts are kept, and the acknowledgements and configuration changes, so a month of log
fits in memory. Filters (`--user`, `--vendor`, `--rule`, `--action`) apply while counting: a
line that does not match costs one look-up and is counted as filtered out. The hot loop is in
`Tally.feed`; everything else happens once per distinct decision kind, client or hour.

What is kept, per decision kind (`Decided`, `analysis/logged.py`) and client:
- requests per kind and client (vendors, rules, users, groups, shadow rules, stale records,
  who used what);
- per hour, requests per kind (the timeline, requests per vendor per day) and the (vendor,
  user) pairs with any request (`vendor << 24 | user`): distinct users and sessions per vendor
  per day, sessions per user and vendor (a session is one user's use of one vendor within one
  clock hour; a user is a client's label, so one person seen from two addresses is one);
- the first and last time of each kind (which outcomes flipped after a change).
"""

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiwall.analysis.logged import (
    Decided,
    ack_item,
    change_item,
    client_of,
    decided,
    decided_from_event,
    session_counts,
    suppressed_count,
)
from aiwall.telemetry.reader import Client, Event, LogReader, Malformed

OTHER_KINDS = frozenset(
    {
        "config.loaded",
        "config.rejected",
        "policy.changed",
        "source.changed",
        "error",
        "decisions.suppressed",
        "connection.refused",
    }
)
CHANGE_KINDS = frozenset({"config.loaded", "config.rejected", "policy.changed"})
FILTERED = -1  # the id of a decision kind or client that the filters leave out
VENDOR_SHIFT = 24  # an activity key: vendor << VENDOR_SHIFT | user
USER_MASK = (1 << VENDOR_SHIFT) - 1


@dataclass(frozen=True)
class Filters:
    """What to count; an empty set lets everything through."""

    users: frozenset[str] = frozenset()  # user name, address, or identity (user:..., ip:...)
    vendors: frozenset[str] = frozenset()  # vendor id, or product `vendor/product`
    rules: frozenset[str] = frozenset()  # rule id; `default` for the default action
    actions: frozenset[str] = frozenset()

    def client(self, client: Client) -> bool:
        users = self.users
        return not users or bool({client.label, client.identity, client.user, client.ip} & users)

    def decided(self, d: Decided) -> bool:
        return (
            (not self.vendors or d.vendor in self.vendors or d.product in self.vendors)
            and (not self.rules or (d.rule or d.decided_by) in self.rules)
            and (not self.actions or d.action in self.actions)
        )

    def ack(self, item: dict[str, Any]) -> bool:
        """Acknowledgements answer warnings: an action filter without `warn` leaves them out."""
        return (
            (not self.users or bool({item["user"], item["identity"]} & self.users))
            and (not self.vendors or bool({item["vendor"], item["product"]} & self.vendors))
            and (not self.rules or item["rule"] in self.rules)
            and (not self.actions or "warn" in self.actions)
        )

    def suppressed(self, client: Client, rule: str | None) -> bool:
        """Refusals counted, not written: they name no vendor, and are blocks or warnings."""
        return (
            self.client(client)
            and not self.vendors
            and (not self.rules or (rule or "default") in self.rules)
            and (not self.actions or bool({"block", "warn"} & self.actions))
        )

    def as_json(self) -> dict[str, list[str]]:
        return {
            "user": sorted(self.users),
            "vendor": sorted(self.vendors),
            "rule": sorted(self.rules),
            "action": sorted(self.actions),
        }


@dataclass(frozen=True)
class Groups:
    """The rules file's groups: a client belongs to a group by user name or address."""

    members: dict[str, Any]  # group name → aiwall.core.rules.Group

    @classmethod
    def from_rules(cls, path: Path) -> "Groups":
        from aiwall.core.rules import RulesFile
        from aiwall.core.yamlsource import load_yaml

        return cls(dict(load_yaml(path).validate(RulesFile).groups))

    def of(self, client: Client) -> list[str]:
        ip: Any = None
        if client.ip:
            try:
                ip = ipaddress.ip_address(client.ip)
            except ValueError:
                ip = None
        return [name for name, group in self.members.items() if group.has(client.user, ip)]


@dataclass
class Tally:
    """Feed it logs (`feed`); then `aiwall.analysis.report.document` reads what it counted."""

    since: datetime | None = None
    until: datetime | None = None
    filters: Filters = field(default_factory=Filters)
    files: list[str] = field(default_factory=list)
    decision_lines: int = 0  # decision events read, before the filters
    session_lines: int = 0
    filtered_out: int = 0
    suppressed: int = 0  # refusals the proxy counted instead of writing (decisions.suppressed)
    ignored: int = 0
    other: Counter[str] = field(default_factory=Counter)
    acks: list[dict[str, Any]] = field(default_factory=list)
    acks_filtered_out: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    infos: list[Decided] = field(default_factory=list)  # decision kinds, by id
    clients: list[Client] = field(default_factory=list)  # by id
    users: list[str] = field(default_factory=list)  # client labels, by user id
    vendors: list[str] = field(default_factory=list)  # by vendor id
    counts: list[dict[int, int]] = field(default_factory=list)  # [info] → client → requests
    # b"YYYY-MM-DDTHH" → [{info: requests}, {vendor << 24 | user with any request}]
    hours: dict[bytes, list[Any]] = field(default_factory=dict)
    spans: list[list[bytes]] = field(default_factory=list)  # [info] → [first, last]
    session_bytes: dict[tuple[int, int], int] = field(default_factory=dict)  # (info, client)
    first_ack = b"~"
    last_ack = b""

    def __post_init__(self) -> None:
        self.reader = LogReader(self._interpret, self.since, self.until, self._client_id)
        self.user_of: list[int] = []  # [client] → user id
        self.vendor_of: list[int] = []  # [info] → vendor id
        self._info_ids: dict[Decided, int] = {}
        self._client_ids: dict[Client, int] = {}
        self._user_ids: dict[str, int] = {}
        self._vendor_ids: dict[str, int] = {}
        self._vendor_bases: list[int] = []  # [info] → vendor id << VENDOR_SHIFT

    # The hot loop: one pass over every event, names bound locally.
    def feed(self, lines: Iterable[bytes], source: str) -> None:
        self.files.append(source)
        counts, hours, spans = self.counts, self.hours, self.spans
        user_of, vendor_bases = self.user_of, self._vendor_bases
        decisions = filtered = 0
        for item in self.reader.read(lines, source):
            if type(item) is not tuple:
                self._event(item)  # type: ignore[arg-type]
                continue
            hour_name, ts, info, who = item  # type: ignore[misc]
            decisions += 1
            if info < 0 or who < 0:
                filtered += 1
                continue
            hour = hours.get(hour_name)
            if hour is None:
                hour = hours[hour_name] = [{}, set()]
            per_client = counts[info]
            per_client[who] = per_client.get(who, 0) + 1
            per_info = hour[0]
            per_info[info] = per_info.get(info, 0) + 1
            hour[1].add(vendor_bases[info] | user_of[who])
            span = spans[info]
            if ts > span[1]:
                span[1] = ts
            if ts < span[0]:
                span[0] = ts
        self.decision_lines += decisions
        self.filtered_out += filtered

    def _interpret(self, aiwall: dict[str, Any], rule_name: str | None) -> int:
        """For the reader's fast path: the id of a decision line's kind (FILTERED: left out)."""
        return self._info(decided(aiwall, rule_name, None))

    def _info(self, d: Decided) -> int:
        info = self._info_ids.get(d)
        if info is None:
            if not self.filters.decided(d):
                info = self._info_ids[d] = FILTERED
                return info
            info = self._info_ids[d] = len(self.infos)
            self.infos.append(d)
            self.counts.append({})
            self.spans.append([b"~", b""])
            self.vendor_of.append(self.vendor_id(d.vendor))
            self._vendor_bases.append(self.vendor_of[-1] << VENDOR_SHIFT)
        return info

    def vendor_id(self, vendor: str) -> int:
        found = self._vendor_ids.get(vendor)
        if found is None:
            found = self._vendor_ids[vendor] = len(self.vendors)
            self.vendors.append(vendor)
        return found

    def _client_id(self, client: Client) -> int:
        """For the reader's fast path: the id of a client (FILTERED: left out)."""
        who = self._client_ids.get(client)
        return self._client(client) if who is None else who

    def _client(self, client: Client) -> int:
        who = FILTERED
        if self.filters.client(client):
            who = len(self.clients)
            self.clients.append(client)
            user = self._user_ids.get(client.label)
            if user is None:
                user = self._user_ids[client.label] = len(self.users)
                self.users.append(client.label)
            self.user_of.append(user)
        self._client_ids[client] = who
        return who

    def _event(self, event: Event) -> None:
        """An event parsed whole: any kind."""
        try:
            if event.kind == "decision":
                d, client = decided_from_event(event), client_of(event)
                self.decision_lines += 1
                self._count(d, client, event.timestamp, 1)
            elif event.kind == "session":
                requests, sent, start = session_counts(event)
                d, client = decided_from_event(event), client_of(event)
                self.session_lines += 1
                if self._count(d, client, start, requests):
                    key = (self._info(d), self._client_ids[client])
                    self.session_bytes[key] = self.session_bytes.get(key, 0) + sent
            elif event.kind == "ack":
                item = ack_item(event)
                if not self.filters.ack(item):
                    self.acks_filtered_out += 1
                    return
                self.acks.append(item)
                stamp = event.timestamp.encode("ascii")
                self.first_ack, self.last_ack = (
                    min(self.first_ack, stamp),
                    max(self.last_ack, stamp),
                )
            elif event.kind in OTHER_KINDS:
                if event.kind in CHANGE_KINDS:
                    self.changes.append(change_item(event))
                elif event.kind == "decisions.suppressed":
                    count, rule = suppressed_count(event)
                    if self.filters.suppressed(client_of(event), rule):
                        self.suppressed += count
                self.other[event.kind] += 1
            else:
                self.ignored += 1
        except Malformed as error:
            self.reader.bad(event.source, event.line, str(error))

    def _count(self, d: Decided, client: Client, ts: str, requests: int) -> bool:
        """Count requests of one kind by one client at `ts`; False when the filters leave
        them out."""
        info = self._info(d)
        who = self._client_ids.get(client)
        if who is None:
            who = self._client(client)
        if info < 0 or who < 0:
            self.filtered_out += 1
            return False
        stamp = ts.encode("ascii")
        hour = self.hours.setdefault(stamp[:13], [{}, set()])
        per_client = self.counts[info]
        per_client[who] = per_client.get(who, 0) + requests
        hour[0][info] = hour[0].get(info, 0) + requests
        hour[1].add(self._vendor_bases[info] | self.user_of[who])
        span = self.spans[info]
        span[0], span[1] = min(span[0], stamp), max(span[1], stamp)
        return True

    def damaged(self, source: str, why: str) -> None:
        self.reader.damaged(source, why)
