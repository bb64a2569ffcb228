"""`aiwall report --format html`: the report document as one self-contained page.

Built from the JSON document (`aiwall.analysis.report`) with `templates/report.html`: no
script, no external resource, a strict CSP, every value escaped. What a person sees first:
the totals, the decisions over time, the top vendors and the share of each action; then who
used what, per vendor and day, the facts, shadow-rule impact, acknowledgements with their
justifications, stale records, changes, rules, users, groups.
"""

from datetime import datetime
from typing import Any

from aiwall.analysis import charts, html
from aiwall.analysis.charts import ACTION_SERIES, Series
from aiwall.analysis.html import Empty, Quote, TwoLines, action_pill
from aiwall.analysis.logged import ACTIONS
from aiwall.analysis.report_text import change_lines, minute, rule_label
from aiwall.analysis.text import number

TOP_VENDORS = 10
ACKS_SHOWN = 200
ROWS_SHOWN = 50
SHADOW_ROWS_SHOWN = 15
_PAST = {"block": "blocked", "warn": "warned", "log": "logged", "allow": "allowed"}


def render_html(doc: dict[str, Any]) -> str:
    meta, lines, decisions = doc["report"], doc["lines"], doc["decisions"]
    acts, acks, recorded = decisions["actions"], doc["acknowledgements"], doc["recorded"]
    stale_total = sum(s["total"] for s in doc["stale"])
    files = meta["files"]
    info = [f"{'Log' if len(files) == 1 else 'Logs'}: {', '.join(files)}"]
    if meta["since"] or meta["until"]:
        info.append(f"Window: from {meta['since'] or 'the start'} to {meta['until'] or 'the end'}")
    chosen = {k: v for k, v in meta["filters"].items() if v}
    if chosen:
        info.append("Only " + "; ".join(f"{k} {', '.join(v)}" for k, v in chosen.items()))
    info.append(
        f"{number(lines['read'])} lines read: {number(lines['decisions'])} decisions,"
        f" {number(lines['sessions'])} session events, {number(lines['acks'])} acknowledgements,"
        f" {number(sum(lines['other'].values()))} other events,"
        f" {number(lines['duplicates'])} duplicates dropped, {number(lines['malformed'])} malformed"
    )
    total = decisions["total"]
    tiles = [
        ("decisions", total, "neutral", _across(doc["vendors"])),
        ("blocked", acts["block"], "bad", _share(acts["block"], total)),
        ("warned", acts["warn"], "warn",
         f"{number(decisions['acknowledged'])} continued after acknowledging"),
        ("logged", acts["log"], "info", _share(acts["log"], total)),
        ("allowed", acts["allow"], "good", "logged because a shadow rule matched"),
        ("recorded use", recorded["requests"], "good",
         f"allowed requests in {number(recorded['sessions'])} sessions"),
        ("acknowledgements", acks["total"], "neutral",
         f"{number(acks['accepted'])} accepted · {number(acks['refused'])} refused"),
        ("on stale records", stale_total, "warn" if stale_total else "neutral", "decisions"),
    ]  # fmt: skip
    return html.render(
        "report.html",
        title="AI use report",
        eyebrow="aiwall report",
        subtitle=_period(meta),
        meta=info,
        footer="Written by aiwall report from aiwall's event log. Times are UTC.",
        tiles=tiles,
        **_timeline(doc),
        **_vendors_chart(doc),
        actions_chart=charts.donut(
            [(s, acts[s.key]) for s in ACTION_SERIES], name="actions", label="Share of each action"
        ),
        **_usage(doc),
        **_daily(doc),
        facts=[
            [name, value["value"], value["requests"]]
            for name, values in doc["facts"].items()
            for value in values
        ],
        **_shadow(doc),
        **_acknowledgements(doc),
        stale=[
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
        ],
        changes=[_change(c) for c in doc["changes"]],
        rules=[
            [rule_label(r), r["name"], r["total"], *r["actions"].values(), r["recorded"]]
            for r in doc["rules"]
        ],
        **_users(doc),
        groups=None
        if doc["groups"] is None
        else [
            [g["group"] or "(no group)", g["clients"], g["total"], *g["actions"].values()]
            for g in doc["groups"]
        ],
        vendors=[
            [
                v["vendor"] if i == 0 else "",
                p["product"],
                p["total"],
                *p["actions"].values(),
                p["recorded"],
            ]
            for v in doc["vendors"]
            for i, p in enumerate(v["products"])
        ],
        lines=[
            ["decisions", lines["decisions"]],
            ["sessions (recorded allowed use)", lines["sessions"]],
            ["acknowledgements", lines["acks"]],
            *([f"{kind} events", n] for kind, n in lines["other"].items()),
            ["events of unknown kinds (ignored)", lines["ignored"]],
            ["outside the time window", lines["outside_window"]],
            ["duplicates (read before, dropped)", lines["duplicates"]],
            ["without an event id", lines["without_id"]],
            ["filtered out", lines["filtered_out"]],
            ["malformed", lines["malformed"]],
            ["total", lines["read"]],
        ],
        malformed=[[example] for example in lines["malformed_examples"]],
    )


def _timeline(doc: dict[str, Any]) -> dict[str, Any]:
    timeline = doc["timeline"]
    hourly = timeline["bucket"] == "hour"
    buckets = [(_bucket_label(b["start"], hourly), b["actions"]) for b in timeline["buckets"]]
    chart = (
        charts.time_bars(
            buckets,
            ACTION_SERIES,
            name="timeline",
            label=f"Decisions per {timeline['bucket']}, stacked by action",
        )
        if buckets
        else None
    )
    note = f"Per {timeline['bucket']} (UTC), stacked by action. Hover a bar for its count."
    return {"timeline": chart, "timeline_note": note}


def _vendors_chart(doc: dict[str, Any]) -> dict[str, Any]:
    vendors = doc["vendors"]
    rows = [(v["vendor"], v["actions"]) for v in vendors[:TOP_VENDORS]]
    more = f"The {TOP_VENDORS} busiest of {len(vendors)}. " if len(vendors) > TOP_VENDORS else ""
    chart = (
        charts.hbars(rows, ACTION_SERIES, name="vendors", label="Decisions per vendor, by action")
        if rows
        else None
    )
    return {"vendors_chart": chart, "vendors_note": f"{more}Decisions per vendor, by action."}


def _usage(doc: dict[str, Any]) -> dict[str, Any]:
    shown, total = doc["usage_rows"]["shown"], doc["usage_rows"]["total"]
    note = (
        "Requests per user and vendor: decisions, and allowed use recorded in sessions. A"
        f" session is {doc['report']['session']}."
    )
    if shown < total:
        note += f" The {number(shown)} largest of {number(total)}; --top 0 lists all."
    unlogged = doc["recorded"]["unlogged_allow"]
    if unlogged:
        note += (
            f" Not in the log: requests allowed by {', '.join(unlogged)} (allow without"
            " record: true), counted only by the proxy's metrics."
        )
    rows = [
        [u["user"], u["vendor"], u["requests"], u["sessions"], u["days"],
         *u["actions"].values(), u["recorded"]]
        for u in doc["usage"]
    ]  # fmt: skip
    return {"usage": rows, "usage_note": note}


def _daily(doc: dict[str, Any]) -> dict[str, Any]:
    daily = doc["daily"]
    note = "Requests beside distinct users and sessions, per vendor and day (UTC)."
    if len(daily) > ROWS_SHOWN:
        note += f" The last {ROWS_SHOWN} of {number(len(daily))}; --format json lists all."
    rows = [
        [d["day"], d["vendor"], d["requests"], d["users"], d["sessions"]]
        for d in daily[-ROWS_SHOWN:]
    ]
    return {"daily": rows, "daily_note": note}


def _shadow(doc: dict[str, Any]) -> dict[str, Any]:
    shadows = doc["shadow"]
    note = (
        "What each shadow rule would have done, and for whom; nothing was enforced. The colour"
        " of a bar is what aiwall actually did."
    )
    if not shadows:
        return {"shadow": [], "shadow_chart": None, "shadow_note": note}
    enforced = [Series(s.key, f"actually {_PAST[s.key]}", s.tone) for s in ACTION_SERIES]
    bars: list[tuple[str, dict[str, int]]] = []
    for s in shadows:
        for would in ACTIONS:
            if not s["would"][would]:
                continue
            done = dict.fromkeys(ACTIONS, 0)
            for row in s["by"]:
                if row["action"] == would:
                    done[row["enforced"]] += row["count"]
            bars.append((f"{s['rule']} → {would}", done))
    chart = charts.hbars(
        bars,
        enforced,
        name="shadow",
        label="What each shadow rule would have done, coloured by what was done",
        width=960,
        label_width=320,
    )
    rules = []
    for s in shadows:
        would = ", ".join(f"would {a} {number(n)}" for a, n in s["would"].items() if n)
        more = len(s["by"]) - SHADOW_ROWS_SHOWN
        text = (
            f"Matched {number(s['total'])} requests: {would};"
            f" {number(s['stricter'])} of them stricter than what was done."
        )
        if more > 0:
            text += f" The {SHADOW_ROWS_SHOWN} largest groups of {number(len(s['by']))}."
        rows = [
            [action_pill(b["action"]), b["vendor"], b["product"], b["user"], b["enforced"],
             b["count"]]
            for b in s["by"][:SHADOW_ROWS_SHOWN]
        ]  # fmt: skip
        rules.append({"title": s["rule"], "note": text, "rows": rows})
    return {"shadow": rules, "shadow_chart": chart, "shadow_note": note}


def _acknowledgements(doc: dict[str, Any]) -> dict[str, Any]:
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
            minute(a["time"]),
            a["user"],
            html.Pill("accepted", "good") if a["accepted"] else html.Pill("refused", "bad"),
            a["product"] or a["vendor"],
            a["rule"] or None,
            Quote(a["justification"]) if a["justification"] else Empty("none"),
            a["host"] if a["accepted"] else TwoLines(a["host"], a["reason"]),
        ]
        for a in reversed(items)
    ]
    return {"acks": rows, "acks_note": note + " Newest first."}


def _change(change: dict[str, Any]) -> list[object]:
    what = change_lines(change)
    return [
        TwoLines(minute(change["time"]), change["file"]),
        change["kind"],
        change["instance"],
        Quote("\n".join(what)) if what else Empty("nothing"),
    ]


def _users(doc: dict[str, Any]) -> dict[str, Any]:
    users = doc["users"]
    note = "Proxy-auth user, else client address."
    if len(users) > ROWS_SHOWN:
        note += f" The {ROWS_SHOWN} busiest of {number(len(users))}."
    rows = [
        [u["user"], u["total"], *u["actions"].values(), u["recorded"]] for u in users[:ROWS_SHOWN]
    ]
    return {"users": rows, "users_note": note}


def _period(meta: dict[str, Any]) -> str:
    first, last = meta["first_event"], meta["last_event"]
    if not first:
        return "No events"
    start, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    if start.date() == end.date():
        return f"{start:%d %b %Y}, {start:%H:%M}\N{EN DASH}{end:%H:%M} UTC"
    return f"{start:%d %b %Y %H:%M} \N{EN DASH} {end:%d %b %Y %H:%M} UTC"


def _bucket_label(start: str, hourly: bool) -> str:
    moment = datetime.fromisoformat(start)
    return f"{moment:%d %b %H}h" if hourly else f"{moment:%a %d %b}"


def _across(vendors: list[dict[str, Any]]) -> str:
    return f"across {len(vendors)} vendor{'' if len(vendors) == 1 else 's'}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole * 100:.0f}% of decisions" if whole else ""
