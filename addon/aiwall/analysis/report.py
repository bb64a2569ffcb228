"""`aiwall report`: what the security team reads, from aiwall's own JSON log.

`build(paths, ...)` reads every log (plain or gzip, `-` for stdin) with
`aiwall.telemetry.reader.LogReader`, each event once however often it appears in the files
(overlapping rotated files count as one), counts it (`aiwall.analysis.tally`), and returns the
document below. `report_text` and `report_html` render it; `--format json` prints it.

A client is its proxy-auth user (`user.name`), else its address (`source.ip`), else
anonymous. `--rules` adds decisions per group of the rules file. Filters (`--user`,
`--vendor`, `--rule`, `--action`) apply to every count below the `lines` part.

The JSON document (keys are stable, lists sorted by count, largest first, then by name; every
`actions` object has the keys `block`, `warn`, `log`, `allow` in that order; times are UTC,
`YYYY-MM-DDTHH:MM:SS.ffffffZ` as in the log):

    {
      "report": {"version": 2, "files": [str], "since": time|null, "until": time|null,
                 "first_event": time|null, "last_event": time|null,
                 "filters": {"user": [str], "vendor": [str], "rule": [str], "action": [str]},
                 "session": "one client's use of one vendor within one clock hour (UTC)"},
      "lines": {"read": int, "decisions": int, "sessions": int, "acks": int,
                "other": {kind: int}, "ignored": int, "outside_window": int,
                "duplicates": int,          # events read before (same event.id): dropped
                "without_id": int,          # events with no event.id (older aiwall)
                "filtered_out": int, "malformed": int,
                "malformed_examples": ["file:line: why"]},          # the first 20
      "decisions": {"total": int, "actions": actions,
                    "acknowledged": int,      # warn decisions forwarded after an acknowledgement
                    "suppressed": int},       # refusals the proxy counted but did not write one
                                              # by one (decisions.suppressed): not in the counts
      "recorded": {"requests": int,           # allowed requests counted in session events
                   "request_bytes": int, "sessions": int,          # session events
                   "unlogged_allow": [str]},  # rules whose allowed requests leave no trace
      "timeline": {"bucket": "hour"|"day",    # hours when the events span at most 72 hours
                   "buckets": [{"start": time, "total": int, "actions": actions}]},
      "vendors": [{"vendor": str,             # vendor id; `host:NAME` for a host only the rules
                                              # name; `(invalid host name)`
                   "total": int, "actions": actions, "recorded": int,
                   "products": [{"product": str|null, "total": int, "actions": actions,
                                 "recorded": int}]}],
      "rules": [{"rule": str|null, "name": str|null,     # name: the rule's description
                 "decided_by": "rule"|"default"|"invalid-host", "total": int, "actions": actions,
                 "recorded": int}],
      "users": [{"user": str,                 # the proxy-auth user, else the address
                 "identity": "user:NAME"|"ip:ADDRESS"|"anonymous",
                 "total": int, "actions": actions, "recorded": int}],
      "groups": null |                        # null without --rules
                [{"group": str|null,          # null: clients in no group
                  "clients": int, "total": int, "actions": actions}],
      "usage": [{"user": str, "identity": str, "vendor": str,       # who used what
                 "requests": int,             # decisions + recorded allowed requests
                 "actions": actions,          # decisions by action
                 "recorded": int, "request_bytes": int,            # from session events
                 "sessions": int, "days": int, "products": [str],
                 "first_hour": "YYYY-MM-DDTHH:00Z", "last_hour": ...}],    # UTC
      "usage_rows": {"shown": int, "total": int},   # --top N keeps the N largest
      "daily": [{"day": date, "vendor": str, "requests": int, "actions": actions,
                 "recorded": int, "users": int, "sessions": int}],  # by day, then requests
      "facts": {fact: [{"value": str, "requests": int}]},           # requests by record fact
      "acknowledgements": {"total": int, "accepted": int, "refused": int,
                           "refusals": {reason: int},
                           "items": [{"time": time, "user": str, "identity": str,
                                      "vendor": str, "product": str|null, "rule": str,
                                      "host": str, "justification": str, "accepted": bool,
                                      "reason": str}]},              # oldest first
      "shadow": [{"rule": str, "total": int,  # decisions this shadow rule matched
                  "would": actions,           # what it would have done
                  "stricter": int,            # ... where that is stricter than what was done
                  "by": [{"action": str, "vendor": str, "product": str|null, "user": str,
                          "enforced": str, "count": int}]}],
      "stale": [{"vendor": str, "product": str|null, "last_verified": date,
                 "confidence": str, "total": int, "actions": actions, "users": int}],
      "changes": [{"time": time, "kind": "config.loaded"|"config.rejected"|"policy.changed",
                   "instance": "OBSERVER (INSTANCE)", "file": "file:line",
                   "rules_hash": str|null, "rules": [{"rule", "change", "fields"}],
                   "settings": [str], "facts": [{"vendor", "product", "change", "field",
                   "old", "new"}], "problems": [str],
                   "flips": [{"product": str, "before": str, "after": str,
                              "since": time, "requests_since": int}]}]      # oldest first
    }

`stale` lists the vendor records that were stale (older than the rules' `stale_after`) when
they decided: one entry per product and `last_verified`. A flip is a product whose every
request before a change had one action and every request after it another ("mistral/le-chat:
log → block, 4 requests since"); it is listed under the latest change before its first
request with the new action.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from aiwall.analysis.logged import ACTIONS, RECORD_FACTS, STRICTNESS
from aiwall.analysis.tally import Filters, Groups, Tally
from aiwall.analysis.timeline import timeline
from aiwall.analysis.views import changes, daily, usage
from aiwall.telemetry.reader import open_log

VERSION = 2
TOP = 0  # usage rows in the document: all
SESSION = "one client's use of one vendor within one clock hour (UTC)"
_SLOT = {action: i for i, action in enumerate(ACTIONS)}


def build(
    paths: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    groups: Groups | None = None,
    filters: Filters | None = None,
    top: int = 0,
) -> dict[str, Any]:
    """Read every log in `paths` and return the report document (`top`: usage rows, 0 all)."""
    tally = Tally(since, until, filters or Filters())
    for path in paths:
        with open_log(path, partial(tally.damaged, path)) as lines:
            tally.feed(lines, path)
    return document(tally, groups, top)


def document(tally: Tally, groups: Groups | None = None, top: int = TOP) -> dict[str, Any]:
    """Everything counted, as the JSON document the module docstring describes."""
    reader, infos, clients = tally.reader, tally.infos, tally.clients
    actions: Counter[str] = Counter()
    acknowledged = recorded = 0
    vendors: dict[str, list[int]] = {}  # vendor → [block, warn, log, allow, recorded]
    products: dict[tuple[str, str | None], list[int]] = {}
    rules: dict[tuple[str | None, str], list[int]] = {}
    rule_names: dict[str | None, str | None] = {}
    per_client: dict[int, list[int]] = {}  # client → decisions per action, recorded
    shadow: dict[str, dict[tuple[str, str, str | None, str, str], int]] = {}
    stale: dict[tuple[str, str | None, str, str], list[int]] = {}
    stale_users: dict[tuple[str, str | None, str, str], set[int]] = {}
    facts: dict[str, Counter[str]] = {name: Counter() for name in RECORD_FACTS}
    for info, counts in enumerate(tally.counts):  # first seen, first
        if not counts:
            continue
        d = infos[info]
        n = sum(counts.values())
        slot = 4 if d.recorded else _SLOT[d.action]
        if d.recorded:
            recorded += n
        else:
            actions[d.action] += n
            acknowledged += n if d.acknowledged else 0
        _add(vendors, d.vendor, slot, n)
        _add(products, (d.vendor, d.product), slot, n)
        _add(rules, (d.rule, d.decided_by), slot, n)
        if d.rule is not None:
            rule_names[d.rule] = d.rule_name  # of the kind of line seen first last
        for name, value in d.facts:
            facts[name][value] += n
        for client, count in counts.items():
            _add(per_client, client, slot, count)
        for shadow_rule, would in d.shadow:
            by = shadow.setdefault(shadow_rule, {})
            for client, count in counts.items():
                key = (would, d.vendor, d.product, clients[client].label, d.action)
                by[key] = by.get(key, 0) + count
        if d.record is not None and d.record[2] and not d.recorded:
            record_key = (d.vendor, d.product, d.record[0], d.record[1])
            _add(stale, record_key, slot, n)
            stale_users.setdefault(record_key, set()).update(counts)

    # Users with the same label (a user seen from several addresses) are one user.
    by_label: dict[str, tuple[str, list[int]]] = {}
    group_rows: dict[str | None, list[int]] = {}
    group_clients: dict[str | None, set[str]] = {}
    for client_id, row in per_client.items():
        who = clients[client_id]
        entry = by_label.setdefault(who.label, (who.identity, [0] * 5))
        entry[1][:] = [a + b for a, b in zip(entry[1], row, strict=True)]
        if groups is not None and any(row[:4]):
            member_of: list[str | None] = [*groups.of(who)] or [None]
            for group in member_of:
                total = group_rows.setdefault(group, [0] * 5)
                total[:] = [a + b for a, b in zip(total, row, strict=True)]
                group_clients.setdefault(group, set()).add(who.label)

    acks = sorted(tally.acks, key=lambda a: str(a["time"]))
    refusals = Counter(a["reason"] for a in acks if not a["accepted"])
    firsts = [span[0] for span in tally.spans if span[1]] + [tally.first_ack]
    lasts = [span[1] for span in tally.spans if span[1]] + [tally.last_ack]
    first, last = min(firsts), max(lasts)
    used, usage_total = usage(tally, top)
    unlogged: list[str] = next(
        (c["unlogged_allow"] for c in reversed(tally.changes) if "unlogged_allow" in c), []
    )
    return {
        "report": {
            "version": VERSION,
            "files": list(tally.files),
            "since": reader.since,
            "until": reader.until,
            "first_event": first.decode() if last else None,
            "last_event": last.decode() if last else None,
            "filters": tally.filters.as_json(),
            "session": SESSION,
        },
        "lines": {
            "read": reader.read_lines,
            "decisions": tally.decision_lines,
            "sessions": tally.session_lines,
            "acks": len(acks) + tally.acks_filtered_out,
            "other": dict(sorted(tally.other.items())),
            "ignored": tally.ignored,
            "outside_window": reader.outside,
            "duplicates": reader.duplicates,
            "without_id": reader.without_id,
            "filtered_out": tally.filtered_out + tally.acks_filtered_out,
            "malformed": reader.malformed,
            "malformed_examples": list(reader.malformed_examples),
        },
        "decisions": {
            "total": sum(actions.values()),
            "actions": _actions(actions),
            "acknowledged": acknowledged,
            "suppressed": tally.suppressed,
        },
        "recorded": {
            "requests": recorded,
            "request_bytes": sum(tally.session_bytes.values()),
            "sessions": tally.session_lines,
            "unlogged_allow": unlogged,
        },
        "timeline": timeline(tally),
        "vendors": ranked(
            {
                "vendor": vendor,
                **_totals(row),
                "products": ranked(
                    {"product": product, **_totals(r)}
                    for (v, product), r in products.items()
                    if v == vendor
                ),
            }
            for vendor, row in vendors.items()
        ),
        "rules": ranked(
            {
                "rule": rule,
                "name": rule_names.get(rule) if rule else None,
                "decided_by": decided_by,
                **_totals(row),
            }
            for (rule, decided_by), row in rules.items()
        ),
        "users": ranked(
            {"user": label, "identity": identity, **_totals(row)}
            for label, (identity, row) in by_label.items()
        ),
        "groups": None
        if groups is None
        else ranked(
            {
                "group": group,
                "clients": len(group_clients[group]),
                "total": sum(row[:4]),
                "actions": dict(zip(ACTIONS, row, strict=False)),
            }
            for group, row in group_rows.items()
        ),
        "usage": used,
        "usage_rows": {"shown": len(used), "total": usage_total},
        "daily": daily(tally),
        "facts": {
            name: [
                {"value": value, "requests": n}
                for value, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
            ]
            for name, counter in facts.items()
        },
        "acknowledgements": {
            "total": len(acks),
            "accepted": sum(1 for a in acks if a["accepted"]),
            "refused": sum(1 for a in acks if not a["accepted"]),
            "refusals": dict(sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))),
            "items": acks,
        },
        "shadow": ranked(_shadow_entry(rule, by) for rule, by in shadow.items()),
        "stale": ranked(
            {
                "vendor": vendor,
                "product": product,
                "last_verified": last_verified,
                "confidence": confidence,
                "total": sum(row[:4]),
                "actions": dict(zip(ACTIONS, row, strict=False)),
                "users": len(stale_users[(vendor, product, last_verified, confidence)]),
            }
            for (vendor, product, last_verified, confidence), row in stale.items()
        ),
        "changes": changes(tally),
    }


def _shadow_entry(
    rule: str, by: dict[tuple[str, str, str | None, str, str], int]
) -> dict[str, Any]:
    would: Counter[str] = Counter()
    stricter = 0
    for (action, _vendor, _product, _user, enforced), n in by.items():
        would[action] += n
        if STRICTNESS[action] > STRICTNESS[enforced]:
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


def _add[K](table: dict[K, list[int]], key: K, slot: int, n: int) -> None:
    row = table.get(key)
    if row is None:
        row = table[key] = [0] * 5
    row[slot] += n


def _totals(row: list[int]) -> dict[str, Any]:
    """Decisions (total, by action) and recorded requests of a [block, warn, log, allow,
    recorded] row; `total` counts decisions only."""
    return {
        "total": sum(row[:4]),
        "actions": dict(zip(ACTIONS, row, strict=False)),
        "recorded": row[4],
    }


def _actions(counter: Counter[str]) -> dict[str, int]:
    return {action: counter.get(action, 0) for action in ACTIONS}


def ranked(entries: Iterable[dict[str, Any]], by: str = "total") -> list[dict[str, Any]]:
    """Largest `by` first, then by the entry's names in order (None after any name); entries
    with nothing to count (only recorded use) by their recorded requests."""

    def key(entry: dict[str, Any]) -> tuple[int, int, list[tuple[bool, str]]]:
        names = [
            (v is None, str(v or "")) for v in entry.values() if not isinstance(v, dict | list)
        ]
        return (-int(entry[by]), -int(entry.get("recorded", 0)), names)

    return sorted(entries, key=key)
