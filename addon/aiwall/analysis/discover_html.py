"""`aiwall discover --format html`: the discovery report as one self-contained page
(`templates/discover.html`): every value from a log or a record is escaped."""

from collections.abc import Iterable
from typing import Any

from aiwall.analysis import charts, html
from aiwall.analysis.discover_text import (
    all_notes,
    decision_text,
    invalid_rows,
    malformed_rows,
    products,
)
from aiwall.analysis.html import Strong, TwoLines, action_pill

_ACTIONS = [series.key for series in charts.ACTION_SERIES]


def render_html(report: dict[str, Any]) -> str:
    totals = report["totals"]
    shown = list(products(report))
    by_vendor = [
        (v["name"], _by_action(h for p in v["products"] for h in p["hosts"]))
        for v in report["vendors"]
    ]
    every_host = _by_action(h for p in shown for h in p["hosts"])
    warnings = [f"{f['path']}: {f['warning']}" for f in report["files"] if f["warning"]]
    return html.render(
        "discover.html",
        title="AI services in use",
        eyebrow="aiwall discover",
        subtitle=f"{totals['ai_requests']:,} AI requests from {totals['ai_clients']:,} clients"
        f" to {totals['vendors']} vendors, in {len(report['files'])} log(s)",
        meta=[f"Rules: {report['rules']}"],
        footer="",
        tiles=[
            ("AI requests", totals["ai_requests"], "info", f"of {totals['requests']:,} requests"),
            ("clients using AI", totals["ai_clients"], "info", f"of {totals['clients']:,}"),
            ("vendors", totals["vendors"], "neutral", f"{totals['products']} products"),
            (
                "not AI",
                totals["not_ai_requests"],
                "neutral",
                f"{totals['not_ai_names']:,} names, {totals['invalid_names']:,} invalid",
            ),
            ("malformed lines", totals["malformed"], "warn" if totals["malformed"] else "good", ""),
            ("duplicates dropped", totals["duplicates"], "neutral", "events read before"),
        ],
        vendors_chart=charts.hbars(
            by_vendor,
            charts.ACTION_SERIES,
            name="vendors",
            label="AI requests per vendor, by what the rules would decide",
        ),
        actions_chart=charts.donut(
            [(series, every_host[series.key]) for series in charts.ACTION_SERIES],
            name="actions",
            label="AI requests by what the rules would decide",
        ),
        products=[
            [
                TwoLines(Strong(p["name"]), p["product"]),
                _decision(p["decision"], p["decision_varies_by_host"]),
                p["verdict"],
                ", ".join(p["residency"]) or "unknown",
                p["retention"],
                p["requests"],
                p["clients"],
                TwoLines(p["first_seen"], p["last_seen"]),
            ]
            for p in shown
        ],
        hosts=[
            [h["host"], p["product"], _decision(h["decision"]), h["requests"], h["clients"]]
            for p in shown
            for h in p["hosts"]
        ],
        logs=[
            [
                TwoLines(f["path"], f["format"] + ("" if f["detected"] else " (given)")),
                f["lines"],
                f["requests"],
                f["ai_requests"],
                f["not_ai_requests"],
                f["invalid_names"],
                f["malformed"],
                f["duplicates"],
                TwoLines(f["first_seen"], f["last_seen"]),
            ]
            for f in report["files"]
        ],
        logs_note="; ".join(warnings),
        malformed=malformed_rows(report),
        invalid=invalid_rows(report),
        notes=all_notes(report),
    )


def _by_action(hosts: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(_ACTIONS, 0)
    for host in hosts:
        counts[host["decision"]["action"]] += host["requests"]
    return counts


def _decision(decision: dict[str, Any], varies: bool = False) -> TwoLines:
    action = decision["action"]
    detail = decision_text(decision, varies).removeprefix(action).strip()
    return TwoLines(action_pill(action), detail)
