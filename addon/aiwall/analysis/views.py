"""The report's answers to "who used what" and "what changed": usage, daily, changes.

- `usage`: one row per user and vendor: requests (decisions and recorded allowed use), by
  action, sessions, days, products, first and last seen.
- `daily`: per day and vendor: requests beside distinct users and sessions (a session is one
  client's use of one vendor within one clock hour, so sessions count people's working
  stretches, not the hundreds of requests one chat makes).
- `changes`: every configuration event in time order, with the decisions whose outcome
  flipped after it.
"""

import heapq
from collections import Counter
from typing import Any

from aiwall.analysis.logged import ACTIONS
from aiwall.analysis.tally import USER_MASK, VENDOR_SHIFT, Tally

_SLOT = {action: i for i, action in enumerate(ACTIONS)}
_VENDOR_OF_KEY = VENDOR_SHIFT.__rrshift__  # an activity key → its vendor id, in C


def usage(tally: Tally, top: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The `top` user-vendor rows with the most requests (0: all), and how many there are."""
    infos, user_of = tally.infos, tally.user_of
    identities: dict[int, str] = {}
    for client, user in reversed(list(enumerate(user_of))):
        identities[user] = tally.clients[client].identity  # of the first client seen
    # Per vendor << 24 | user: [block, warn, log, allow, recorded, bytes sent], products.
    rows: dict[int, list[int]] = {}
    products: dict[int, set[str]] = {}
    for info, counts in enumerate(tally.counts):
        d = infos[info]
        slot = 4 if d.recorded else _SLOT[d.action]
        base = tally.vendor_of[info] << VENDOR_SHIFT
        for client, n in counts.items():
            key = base | user_of[client]
            row = rows.get(key)
            if row is None:
                row = rows[key] = [0] * 6
                products[key] = set()
            row[slot] += n
            if d.recorded:
                row[5] += tally.session_bytes.get((info, client), 0)
            if d.product:
                products[key].add(d.product)

    totals = {key: row[0] + row[1] + row[2] + row[3] + row[4] for key, row in rows.items()}
    if top and len(totals) > top:  # only the rows that can make the cut are sorted
        cut = heapq.nlargest(top, totals.values())[-1]
        candidates = [key for key, total in totals.items() if total >= cut]
    else:
        candidates = list(totals)

    def order(key: int) -> tuple[int, str, str]:
        return (-totals[key], tally.users[key & USER_MASK], _vendor(tally, key))

    ranked = sorted(candidates, key=order)
    shown = ranked[:top] if top else ranked
    # Sessions: the hours with any request; days: the days with any; first and last hour.
    wanted = set(shown)
    seen_in: dict[int, list[bytes]] = {key: [] for key in shown}
    for hour, (_, active) in sorted(tally.hours.items()):
        for key in active & wanted:
            seen_in[key].append(hour)
    entries = []
    for key in shown:
        row, hours = rows[key], seen_in[key]
        entries.append(
            {
                "user": tally.users[key & USER_MASK],
                "identity": identities[key & USER_MASK],
                "vendor": _vendor(tally, key),
                "requests": sum(row[:5]),
                "actions": dict(zip(ACTIONS, row, strict=False)),
                "recorded": row[4],
                "request_bytes": row[5],
                "sessions": len(hours),
                "days": len({hour[:10] for hour in hours}),
                "products": sorted(products[key]),
                "first_hour": _hour_text(hours[0]) if hours else None,
                "last_hour": _hour_text(hours[-1]) if hours else None,
            }
        )
    return entries, len(rows)


def daily(tally: Tally) -> list[dict[str, Any]]:
    requests: dict[tuple[str, str], list[int]] = {}
    active_on: dict[str, set[int]] = {}
    sessions: Counter[tuple[str, str]] = Counter()
    for hour, (per_info, active) in tally.hours.items():
        day = hour[:10].decode("ascii")
        for info, n in per_info.items():
            d = tally.infos[info]
            row = requests.setdefault((day, d.vendor), [0] * 5)
            row[4 if d.recorded else _SLOT[d.action]] += n
        active_on.setdefault(day, set()).update(active)
        for vendor, count in Counter(map(_VENDOR_OF_KEY, active)).items():
            sessions[(day, tally.vendors[vendor])] += count
    users: Counter[tuple[str, str]] = Counter()
    for day, active in active_on.items():
        for vendor, count in Counter(map(_VENDOR_OF_KEY, active)).items():
            users[(day, tally.vendors[vendor])] = count
    entries = [
        {
            "day": day,
            "vendor": vendor,
            "requests": sum(row),
            "actions": dict(zip(ACTIONS, row, strict=False)),
            "recorded": row[4],
            "users": users[(day, vendor)],
            "sessions": sessions[(day, vendor)],
        }
        for (day, vendor), row in requests.items()
    ]
    return sorted(entries, key=lambda e: (e["day"], -e["requests"], e["vendor"]))


def changes(tally: Tally) -> list[dict[str, Any]]:
    """The configuration events, oldest first, each with the flips it explains."""
    items = sorted(tally.changes, key=lambda c: (c["time"], c["file"]))
    flips = _flips(tally, [c["time"] for c in items if c["kind"] != "config.rejected"])
    for item in items:
        item["flips"] = flips.get(item["time"], []) if item["kind"] != "config.rejected" else []
    return items


def _flips(tally: Tally, times: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per change time: the products whose requests all had one action before it and all
    another after it, with how many requests took the new action."""
    spans: dict[str, dict[str, list[Any]]] = {}  # product → action → [first, last, n]
    for info, counts in enumerate(tally.counts):
        d = tally.infos[info]
        if not counts:
            continue
        first, last = (stamp.decode() for stamp in tally.spans[info])
        entry = spans.setdefault(d.product or d.vendor, {}).setdefault(d.action, [first, last, 0])
        entry[0], entry[1] = min(entry[0], first), max(entry[1], last)
        entry[2] += sum(counts.values())
    found: dict[str, list[dict[str, Any]]] = {}
    for product, by_action in sorted(spans.items()):
        for before, (_, last_before, _) in by_action.items():
            for after, (first_after, _, n) in by_action.items():
                if after == before or first_after <= last_before:
                    continue
                between = [t for t in times if last_before < t <= first_after]
                if not between:
                    continue
                found.setdefault(between[-1], []).append(
                    {
                        "product": product,
                        "before": before,
                        "after": after,
                        "since": first_after,
                        "requests_since": n,
                    }
                )
    return found


def _hour_text(hour: bytes) -> str:
    """b"2026-11-23T09" → `2026-11-23T09:00Z`: the hour, UTC."""
    return hour.decode("ascii") + ":00Z"


def _vendor(tally: Tally, key: int) -> str:
    return tally.vendors[key >> VENDOR_SHIFT]
