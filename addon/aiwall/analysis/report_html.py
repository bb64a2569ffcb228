"""`aiwall report --format html`: the report document as one self-contained page.

Built from the JSON document (`aiwall.analysis.report`) with the shared pieces of
`aiwall.analysis.render`: no script, no external resource, a strict CSP, every value escaped.
What a person sees first: the totals, the decisions over time, the top vendors and the share
of each action; then shadow-rule impact, acknowledgements with their justifications, stale
records, rules, users and groups.
"""

from datetime import datetime
from typing import Any

from aiwall.analysis.render import (
    ACTION_SERIES,
    Safe,
    Series,
    donut,
    escape,
    grid,
    hbars,
    number,
    page,
    pill,
    section,
    table,
    tiles,
    time_bars,
)

TOP_VENDORS = 10
ACKS_SHOWN = 200
ROWS_SHOWN = 50
SHADOW_ROWS_SHOWN = 15
_ACTION_HEADERS = ["Block", "Warn", "Log", "Allow"]
_NUMERIC_ACTIONS = range(4)


def render_html(doc: dict[str, Any]) -> str:
    meta, lines, decisions = doc["report"], doc["lines"], doc["decisions"]
    acts = decisions["actions"]
    acks = doc["acknowledgements"]
    stale_total = sum(s["total"] for s in doc["stale"])
    files = meta["files"]
    info = [f"{'Log' if len(files) == 1 else 'Logs'}: {', '.join(files)}"]
    if meta["since"] or meta["until"]:
        info.append(f"Window: from {meta['since'] or 'the start'} to {meta['until'] or 'the end'}")
    info.append(
        f"{number(lines['read'])} lines read: {number(lines['decisions'])} decisions,"
        f" {number(lines['acks'])} acknowledgements, {number(sum(lines['other'].values()))}"
        f" other events, {number(lines['malformed'])} malformed"
    )
    summary = tiles(
        [
            ("decisions", decisions["total"], "neutral", _across(doc["vendors"])),
            ("blocked", acts["block"], "bad", _share(acts["block"], decisions["total"])),
            (
                "warned",
                acts["warn"],
                "warn",
                f"{number(decisions['acknowledged'])} continued after acknowledging",
            ),
            ("logged", acts["log"], "info", _share(acts["log"], decisions["total"])),
            ("allowed", acts["allow"], "good", "logged because a shadow rule matched"),
            (
                "acknowledgements",
                acks["total"],
                "neutral",
                f"{number(acks['accepted'])} accepted · {number(acks['refused'])} refused",
            ),
            ("on stale records", stale_total, "warn" if stale_total else "neutral", "decisions"),
        ]
    )
    body: list[str] = [summary, _timeline(doc), grid(_vendors_chart(doc), _actions_chart(doc))]
    body += [_shadow(doc), _acknowledgements(doc), _stale(doc)]
    body += [_rules(doc), _users(doc)]
    if doc["groups"] is not None:
        body.append(_groups(doc))
    body += [_vendor_table(doc), _lines(doc)]
    return page(
        "AI use report",
        body,
        eyebrow="aiwall report",
        subtitle=_period(meta),
        meta=info,
        footer="Written by aiwall report from aiwall's event log. Times are UTC.",
    )


def _timeline(doc: dict[str, Any]) -> Safe:
    timeline = doc["timeline"]
    hourly = timeline["bucket"] == "hour"
    buckets = [(_bucket_label(b["start"], hourly), b["actions"]) for b in timeline["buckets"]]
    if not buckets:
        return section("Decisions over time", Safe('<p class="empty">No decisions.</p>'))
    return section(
        "Decisions over time",
        time_bars(
            buckets,
            ACTION_SERIES,
            name="timeline",
            label=f"Decisions per {timeline['bucket']}, stacked by action",
        ),
        note=f"Per {timeline['bucket']} (UTC), stacked by action. Hover a bar for its count.",
        anchor="timeline",
    )


def _vendors_chart(doc: dict[str, Any]) -> Safe:
    vendors = doc["vendors"]
    rows = [(v["vendor"], v["actions"]) for v in vendors[:TOP_VENDORS]]
    more = f"The {TOP_VENDORS} busiest of {len(vendors)}. " if len(vendors) > TOP_VENDORS else ""
    chart = (
        hbars(rows, ACTION_SERIES, name="vendors", label="Decisions per vendor, by action")
        if rows
        else Safe('<p class="empty">No decisions.</p>')
    )
    return section("Top vendors", chart, note=f"{more}Decisions per vendor, by action.")


def _actions_chart(doc: dict[str, Any]) -> Safe:
    acts = doc["decisions"]["actions"]
    chart = donut(
        [(s, acts[s.key]) for s in ACTION_SERIES], name="actions", label="Share of each action"
    )
    return section("Actions", chart, note="What aiwall did with the requests it logged.")


def _shadow(doc: dict[str, Any]) -> Safe:
    shadows = doc["shadow"]
    if not shadows:
        return section(
            "Shadow rules",
            Safe('<p class="empty">No shadow rule matched.</p>'),
            note="Shadow rules record what they would have done and enforce nothing.",
        )
    enforced = [Series(s.key, f"actually {_past(s.key)}", s.tone) for s in ACTION_SERIES]
    bars: list[tuple[str, dict[str, int]]] = []
    for s in shadows:
        for would in ("block", "warn", "log", "allow"):
            if not s["would"][would]:
                continue
            done = {a: 0 for a in ("block", "warn", "log", "allow")}
            for row in s["by"]:
                if row["action"] == would:
                    done[row["enforced"]] += row["count"]
            bars.append((f"{s['rule']} → {would}", done))
    parts = [
        hbars(
            bars,
            enforced,
            name="shadow",
            label="What each shadow rule would have done, coloured by what was done",
            width=960,
            label_width=320,
        )
    ]
    for s in shadows:
        would = ", ".join(f"{_conditional(a)} {number(n)}" for a, n in s["would"].items() if n)
        more = len(s["by"]) - SHADOW_ROWS_SHOWN
        parts.append(
            Safe(
                f"<h3>{escape(s['rule'])}</h3>"
                f'<p class="note">Matched {escape(s["total"])} requests: {escape(would)};'
                f" {escape(s['stricter'])} of them stricter than what was done."
                + (
                    f" The {SHADOW_ROWS_SHOWN} largest groups of {escape(len(s['by']))}."
                    if more > 0
                    else ""
                )
                + "</p>"
            )
        )
        parts.append(
            table(
                ["Would", "Vendor", "Product", "User", "Actually", "Requests"],
                (
                    [
                        pill(b["action"], _tone(b["action"])),
                        b["vendor"],
                        b["product"],
                        b["user"],
                        b["enforced"],
                        b["count"],
                    ]
                    for b in s["by"][:SHADOW_ROWS_SHOWN]
                ),
                numeric=[5],
            )
        )
    return section(
        "Shadow rules",
        *parts,
        note="What each shadow rule would have done, and for whom; nothing was enforced. The"
        " colour of a bar is what aiwall actually did.",
        anchor="shadow",
    )


def _conditional(action: str) -> str:
    return {"block": "would block", "warn": "would warn", "log": "would log"}.get(
        action, "would allow"
    )


def _acknowledgements(doc: dict[str, Any]) -> Safe:
    acks = doc["acknowledgements"]
    items = acks["items"]
    note = (
        f"{number(acks['accepted'])} accepted, {number(acks['refused'])} refused."
        " The justification is what the employee typed, shown as text."
    )
    if len(items) > ACKS_SHOWN:
        note += f" The latest {ACKS_SHOWN} of {number(len(items))}; --format json lists all."
        items = items[-ACKS_SHOWN:]
    if acks["refusals"]:
        why = ", ".join(f"{reason} ({number(n)})" for reason, n in acks["refusals"].items())
        note += f" Refused because: {why}."
    rows = [
        [
            _minute(a["time"]),
            a["user"],
            a["product"] or a["vendor"],
            a["rule"] or "—",
            a["host"],
            Safe(f'<span class="quote">{escape(a["justification"])}</span>')
            if a["justification"]
            else Safe('<span class="empty">none</span>'),
            pill("accepted", "good") if a["accepted"] else pill(f"refused: {a['reason']}", "bad"),
        ]
        for a in reversed(items)
    ]
    return section(
        "Acknowledgements",
        table(
            ["Time", "User", "Vendor", "Rule", "Host", "Justification", "Outcome"],
            rows,
            wrap=[5],
            empty="No acknowledgements.",
        ),
        note=note + " Newest first.",
        anchor="acknowledgements",
    )


def _stale(doc: dict[str, Any]) -> Safe:
    rows = [
        [
            s["vendor"],
            s["product"],
            s["last_verified"],
            s["confidence"],
            s["total"],
            *s["actions"].values(),
            s["users"],
        ]
        for s in doc["stale"]
    ]
    return section(
        "Stale vendor records",
        table(
            [
                "Vendor",
                "Product",
                "Last verified",
                "Confidence",
                "Decisions",
                *_ACTION_HEADERS,
                "Users",
            ],
            rows,
            numeric=range(4, 10),
            empty="No decision rested on a stale record.",
        ),
        note="Decisions taken on facts older than the rules' stale_after: re-check these records.",
        anchor="stale",
    )


def _rules(doc: dict[str, Any]) -> Safe:
    rows = [
        [
            r["rule"]
            or ("(invalid host name)" if r["decided_by"] == "invalid-host" else "(default action)"),
            r["name"],
            r["total"],
            *r["actions"].values(),
        ]
        for r in doc["rules"]
    ]
    return section(
        "Rules",
        table(
            ["Rule", "Description", "Total", *_ACTION_HEADERS],
            rows,
            numeric=range(2, 7),
            wrap=[1],
        ),
        note="Which rule decided.",
    )


def _users(doc: dict[str, Any]) -> Safe:
    users = doc["users"]
    note = "Proxy-auth user, else client address."
    if len(users) > ROWS_SHOWN:
        note += f" The {ROWS_SHOWN} busiest of {number(len(users))}."
    rows = [[u["user"], u["total"], *u["actions"].values()] for u in users[:ROWS_SHOWN]]
    return section(
        "Users",
        table(["User", "Total", *_ACTION_HEADERS], rows, numeric=range(1, 6)),
        note=note,
    )


def _groups(doc: dict[str, Any]) -> Safe:
    rows = [
        [g["group"] or "(no group)", g["clients"], g["total"], *g["actions"].values()]
        for g in doc["groups"]
    ]
    return section(
        "Groups",
        table(["Group", "Clients", "Total", *_ACTION_HEADERS], rows, numeric=range(1, 7)),
        note="Groups of the rules file; a client in two groups counts in both.",
    )


def _vendor_table(doc: dict[str, Any]) -> Safe:
    rows = [
        [
            Safe(f"<strong>{escape(v['vendor'])}</strong>") if i == 0 else "",
            p["product"],
            p["total"],
            *p["actions"].values(),
        ]
        for v in doc["vendors"]
        for i, p in enumerate(v["products"])
    ]
    return section(
        "Vendors and products",
        table(["Vendor", "Product", "Total", *_ACTION_HEADERS], rows, numeric=range(2, 7)),
        anchor="vendors",
    )


def _lines(doc: dict[str, Any]) -> Safe:
    lines = doc["lines"]
    rows: list[list[object]] = [
        ["decisions", lines["decisions"]],
        ["acknowledgements", lines["acks"]],
        *([f"{kind} events", n] for kind, n in lines["other"].items()),
        ["events of unknown kinds (ignored)", lines["ignored"]],
        ["outside the time window", lines["outside_window"]],
        ["malformed", lines["malformed"]],
        ["total", lines["read"]],
    ]
    parts = [table(["Lines", "Count"], rows, numeric=[1])]
    if lines["malformed_examples"]:
        parts.append(
            table(
                ["Malformed line"],
                ([example] for example in lines["malformed_examples"]),
                wrap=[0],
                caption="The first malformed lines, file:line: why",
            )
        )
    return section("Log lines", *parts, note="Malformed lines are counted and skipped.")


def _tone(action: str) -> str:
    return {"block": "bad", "warn": "warn", "log": "neutral", "allow": "good"}.get(
        action, "neutral"
    )


def _past(action: str) -> str:
    return {"block": "blocked", "warn": "warned", "log": "logged", "allow": "allowed"}[action]


def _period(meta: dict[str, Any]) -> str:
    first, last = meta["first_event"], meta["last_event"]
    if not first:
        return "No events"
    start, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    if start.date() == end.date():
        return f"{start:%d %b %Y}, {start:%H:%M}\N{EN DASH}{end:%H:%M} UTC"
    return f"{start:%d %b %Y %H:%M} \N{EN DASH} {end:%d %b %Y %H:%M} UTC"


def _minute(ts: str) -> str:
    return f"{ts[:10]} {ts[11:16]}"


def _bucket_label(start: str, hourly: bool) -> str:
    moment = datetime.fromisoformat(start)
    return f"{moment:%d %b %H}h" if hourly else f"{moment:%a %d %b}"


def _across(vendors: list[dict[str, Any]]) -> str:
    return f"across {len(vendors)} vendor{'' if len(vendors) == 1 else 's'}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole * 100:.0f}% of decisions" if whole else ""
