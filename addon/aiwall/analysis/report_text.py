"""`aiwall report` for a terminal: aligned tables, most important first."""

from collections.abc import Sequence
from typing import Any

from aiwall.analysis.logged import ACTIONS
from aiwall.analysis.text import number, text_bar, text_table

ACKS_SHOWN_AS_TEXT = 50
ROWS_SHOWN_AS_TEXT = 25
_ACTION_HEADERS = [a.upper() for a in ACTIONS]


def render_text(doc: dict[str, Any]) -> str:
    out: list[str] = []
    for part in (
        _summary,
        _timeline,
        _vendors,
        _usage,
        _daily,
        _facts,
        _rules,
        _users,
        _groups,
        _acknowledgements,
        _shadow,
        _stale,
        _changes,
        _malformed,
    ):
        out += part(doc)
    return "\n".join(out) + "\n"


def _summary(doc: dict[str, Any]) -> list[str]:
    meta, lines, decisions = doc["report"], doc["lines"], doc["decisions"]
    out = [f"aiwall report: {_files(meta['files'])}, {_period(meta)}"]
    chosen = {k: v for k, v in meta["filters"].items() if v}
    if chosen:
        out.append("Only " + "; ".join(f"{k} {', '.join(v)}" for k, v in chosen.items()))
    other = sum(lines["other"].values())
    out.append(
        f"Read {number(lines['read'])} lines: {number(lines['decisions'])} decisions,"
        f" {number(lines['sessions'])} session events, {number(lines['acks'])} acknowledgements,"
        f" {number(other)} other events, {number(lines['ignored'])} of unknown kinds,"
        f" {number(lines['malformed'])} malformed, {number(lines['outside_window'])} outside"
        f" the time window, {number(lines['duplicates'])} duplicates dropped (read before),"
        f" {number(lines['filtered_out'])} filtered out"
    )
    acts = decisions["actions"]
    recorded = doc["recorded"]
    out += [
        "",
        f"Decisions: {number(decisions['total'])}   block {number(acts['block'])}"
        f"   warn {number(acts['warn'])} ({number(decisions['acknowledged'])} continued after"
        f" acknowledging)   log {number(acts['log'])}   allow {number(acts['allow'])}"
        + (
            f"; and {number(decisions['suppressed'])} repeated refusals counted by the proxy,"
            " not written one by one"
            if decisions["suppressed"]
            else ""
        ),
        f"Recorded allowed use: {number(recorded['requests'])} requests in"
        f" {number(recorded['sessions'])} session events,"
        f" {number(recorded['request_bytes'])} bytes sent",
        _unlogged(recorded["unlogged_allow"]),
    ]
    return out


def _unlogged(rules: list[str]) -> str:
    if not rules:
        return "Allowed traffic is in the log: no allow rule goes unrecorded."
    return (
        "Not in the log: requests allowed by " + ", ".join(rules) + " (allow without"
        " record: true) are counted by the proxy's metrics only."
    )


def _timeline(doc: dict[str, Any]) -> list[str]:
    timeline = doc["timeline"]
    if not timeline["buckets"]:
        return []
    hourly = timeline["bucket"] == "hour"
    peak = max(b["total"] for b in timeline["buckets"])
    return [
        "",
        f"Over time (per {timeline['bucket']}, UTC)",
        text_table(
            ["HOUR" if hourly else "DAY", "TOTAL", *_ACTION_HEADERS, ""],
            (
                [
                    f"{b['start'][:10]} {b['start'][11:13]}h" if hourly else b["start"][:10],
                    b["total"],
                    *b["actions"].values(),
                    text_bar(b["total"], peak),
                ]
                for b in timeline["buckets"]
            ),
            numeric=range(1, 6),
        ),
    ]


def _vendors(doc: dict[str, Any]) -> list[str]:
    rows = (
        [
            v["vendor"] if i == 0 else "",
            p["product"] or "-",
            p["total"],
            *p["actions"].values(),
            p["recorded"],
        ]
        for v in doc["vendors"]
        for i, p in enumerate(v["products"])
    )
    table = text_table(
        ["VENDOR", "PRODUCT", "TOTAL", *_ACTION_HEADERS, "RECORDED"], rows, numeric=range(2, 8)
    )
    return ["", "Vendors and products", table or "  none"]


def _usage(doc: dict[str, Any]) -> list[str]:
    usage = doc["usage"]
    rows = (
        [
            u["user"],
            u["vendor"],
            u["requests"],
            u["sessions"],
            u["days"],
            *u["actions"].values(),
            u["recorded"],
        ]
        for u in usage[:ROWS_SHOWN_AS_TEXT]
    )
    table = text_table(
        ["USER", "VENDOR", "REQUESTS", "SESSIONS", "DAYS", *_ACTION_HEADERS, "RECORDED"],
        rows,
        numeric=range(2, 10),
    )
    return ["", f"Who used what{_top(usage)}", table or "  none"]


def _daily(doc: dict[str, Any]) -> list[str]:
    daily = doc["daily"]
    rows = (
        [d["day"], d["vendor"], d["requests"], d["users"], d["sessions"]]
        for d in daily[-ROWS_SHOWN_AS_TEXT:]
    )
    table = text_table(["DAY", "VENDOR", "REQUESTS", "USERS", "SESSIONS"], rows, numeric=(2, 3, 4))
    more = (
        f" (the last {ROWS_SHOWN_AS_TEXT} of {len(daily)})"
        if len(daily) > ROWS_SHOWN_AS_TEXT
        else ""
    )
    return ["", f"Per vendor and day{more}", table or "  none"]


def _facts(doc: dict[str, Any]) -> list[str]:
    rows = (
        [name, ", ".join(f"{v['value']} {number(v['requests'])}" for v in values)]
        for name, values in doc["facts"].items()
        if values
    )
    table = text_table(["FACT", "REQUESTS BY VALUE"], rows, max_width=100)
    return ["", "Requests by the facts of the vendor record", table or "  none"]


def _rules(doc: dict[str, Any]) -> list[str]:
    rows = (
        [rule_label(r), r["name"] or "", r["total"], *r["actions"].values(), r["recorded"]]
        for r in doc["rules"]
    )
    table = text_table(
        ["RULE", "NAME", "TOTAL", *_ACTION_HEADERS, "RECORDED"], rows, numeric=range(2, 8)
    )
    return ["", "Rules", table or "  none"]


def _users(doc: dict[str, Any]) -> list[str]:
    users = doc["users"]
    rows = (
        [u["user"], u["total"], *u["actions"].values(), u["recorded"]]
        for u in users[:ROWS_SHOWN_AS_TEXT]
    )
    table = text_table(["USER", "TOTAL", *_ACTION_HEADERS, "RECORDED"], rows, numeric=range(1, 7))
    return ["", f"Users{_top(users)}", table or "  none"]


def _groups(doc: dict[str, Any]) -> list[str]:
    if doc["groups"] is None:
        return []
    rows = (
        [g["group"] or "(no group)", g["clients"], g["total"], *g["actions"].values()]
        for g in doc["groups"]
    )
    table = text_table(["GROUP", "CLIENTS", "TOTAL", *_ACTION_HEADERS], rows, numeric=range(1, 7))
    return ["", "Groups (a client in two groups counts in both)", table or "  none"]


def _acknowledgements(doc: dict[str, Any]) -> list[str]:
    acks = doc["acknowledgements"]
    out = [
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
                        minute(a["time"]),
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
    return out


def _shadow(doc: dict[str, Any]) -> list[str]:
    out = ["", "Shadow rules (what they would have done; nothing was enforced)"]
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
    return out


def _stale(doc: dict[str, Any]) -> list[str]:
    rows = (
        [s["vendor"], s["product"] or "-", s["last_verified"], s["confidence"], s["total"],
         s["users"]]
        for s in doc["stale"]
    )  # fmt: skip
    table = text_table(
        ["VENDOR", "PRODUCT", "LAST VERIFIED", "CONFIDENCE", "DECISIONS", "USERS"],
        rows,
        numeric=[4, 5],
    )
    return [
        "",
        "Stale vendor records (older than stale_after when they decided)",
        table or "  none",
    ]


def _changes(doc: dict[str, Any]) -> list[str]:
    out = ["", "Changes (configuration loaded, rejected; vendor facts changed)"]
    if not doc["changes"]:
        out.append("  none")
    for c in doc["changes"]:
        out.append(f"  {minute(c['time'])}  {c['kind']}  {c['instance']}  {c['file']}")
        out += [f"    {line}" for line in change_lines(c)]
    return out


def change_lines(change: dict[str, Any]) -> list[str]:
    """What one change did, a line each: shared with the HTML report."""
    lines = []
    if change["rules_hash"]:
        reload = " (reload)" if change.get("reload") else " (start)"
        lines.append(f"rules hash {change['rules_hash']}{reload}")
    for rule in change["rules"]:
        fields = f": {', '.join(rule['fields'])}" if rule["fields"] else ""
        lines.append(f"rule {rule['rule']} {rule['change']}{fields}")
    if change["settings"]:
        lines.append(f"settings changed: {', '.join(change['settings'])}")
    for fact in change["facts"]:
        lines.append(fact_line(fact))
    lines += [f"problem: {p}" for p in change["problems"]]
    for flip in change["flips"]:
        lines.append(
            f"outcome flipped: {flip['product']}: {flip['before']} → {flip['after']},"
            f" {number(flip['requests_since'])} requests since {minute(flip['since'])}"
        )
    return lines


def fact_line(fact: dict[str, Any]) -> str:
    if "text" in fact:
        return f"fact changed: {fact['text']}"
    where = fact.get("product") or fact.get("vendor")
    if fact.get("change") != "changed":
        return f"{where}: {fact.get('change')}"
    return f"fact changed: {where}: {fact['field']}: {fact['old']} → {fact['new']}"


def _malformed(doc: dict[str, Any]) -> list[str]:
    lines = doc["lines"]
    if not lines["malformed"]:
        return []
    return [
        "",
        f"Malformed lines: {number(lines['malformed'])}",
        *(f"  {example}" for example in lines["malformed_examples"]),
    ]


def _top(rows: Sequence[Any]) -> str:
    if len(rows) > ROWS_SHOWN_AS_TEXT:
        return f" (top {ROWS_SHOWN_AS_TEXT} of {number(len(rows))})"
    return ""


def _files(files: Sequence[str]) -> str:
    return files[0] if len(files) == 1 else f"{len(files)} files"


def _period(meta: dict[str, Any]) -> str:
    if meta["first_event"] is None:
        return "no events"
    return f"{minute(meta['first_event'])} to {minute(meta['last_event'])} UTC"


def minute(ts: str) -> str:
    return f"{ts[:10]} {ts[11:16]}"


def rule_label(rule: dict[str, Any]) -> str:
    if rule["rule"]:
        return str(rule["rule"])
    return "(invalid host name)" if rule["decided_by"] == "invalid-host" else "(default action)"
