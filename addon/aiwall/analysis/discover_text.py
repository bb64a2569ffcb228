"""`aiwall discover` for a terminal: what the logs show, as aligned tables; and the pieces of the
report that the HTML page shares (products in order, notes, rows of examples)."""

from collections.abc import Iterator
from typing import Any

from aiwall.analysis.text import text_bar, text_table


def render_text(report: dict[str, Any]) -> str:
    totals = report["totals"]
    out = [
        "AI services in use (aiwall discover)",
        f"{len(report['files'])} log(s), {totals['lines']:,} lines: {totals['requests']:,}"
        f" requests from {totals['clients']:,} clients",
        f"AI: {totals['ai_requests']:,} requests from {totals['ai_clients']:,} clients to"
        f" {totals['products']} products of {totals['vendors']} vendors",
        f"Not AI: {totals['not_ai_requests']:,} requests to {totals['not_ai_names']:,} names;"
        f" invalid names: {totals['invalid_names']:,}; malformed lines: {totals['malformed']:,};"
        f" duplicate events dropped: {totals['duplicates']:,}",
        f"Rules: {report['rules']}",
    ]
    vendors = report["vendors"]
    if not vendors:
        out += ["", "No AI vendor of the registry appears in the logs."]
    else:
        most = vendors[0]["requests"]
        out += ["", "Vendors"]
        out.append(
            text_table(
                ["vendor", "requests", "clients", "first seen", "last seen", ""],
                [
                    [
                        f"{v['name']} ({v['vendor']})",
                        v["requests"],
                        v["clients"],
                        v["first_seen"],
                        v["last_seen"],
                        text_bar(v["requests"], most, 20),
                    ]
                    for v in vendors
                ],
                numeric=(1, 2),
            )
        )
        out += ["", "Products, and what the rules would decide"]
        out.append(
            text_table(
                ["product", "requests", "clients", "verdict", "residency", "retention", "rules"],
                [
                    [
                        p["product"],
                        p["requests"],
                        p["clients"],
                        p["verdict"],
                        ", ".join(p["residency"]) or "unknown",
                        p["retention"],
                        decision_text(p["decision"], p["decision_varies_by_host"]),
                    ]
                    for p in products(report)
                ],
                numeric=(1, 2),
                max_width=60,
            )
        )
        out += ["", "Hosts"]
        out.append(
            text_table(
                ["host", "product", "requests", "clients", "rules"],
                [
                    [
                        h["host"],
                        p["product"],
                        h["requests"],
                        h["clients"],
                        decision_text(h["decision"]),
                    ]
                    for p in products(report)
                    for h in p["hosts"]
                ],
                numeric=(2, 3),
                max_width=60,
            )
        )
    out += ["", "Logs"]
    out.append(
        text_table(
            ["log", "format", "lines", "requests", "AI", "not AI", "invalid", "other", "malformed"],
            [
                [
                    f["path"],
                    f["format"] + ("" if f["detected"] else " (given)"),
                    f["lines"],
                    f["requests"],
                    f["ai_requests"],
                    f["not_ai_requests"],
                    f["invalid_names"],
                    f["skipped"] + f["blank"],
                    f["malformed"],
                ]
                for f in report["files"]
            ],
            numeric=range(2, 9),
        )
    )
    for f in report["files"]:
        if f["first_seen"]:
            out.append(f"  {f['path']}: from {f['first_seen']} to {f['last_seen']}")
        if f["warning"]:
            out.append(f"  {f['path']}: {f['warning']}")
    examples = malformed_rows(report)
    if examples:
        out += ["", "Malformed lines (first few of each log)"]
        out.append(text_table(["log", "line", "text"], examples, numeric=(1,), max_width=100))
    if report["invalid_examples"]:
        out += ["", "Invalid names (most frequent)"]
        out.append(text_table(["name", "count", "why"], invalid_rows(report), numeric=(1,)))
    out += ["", "Notes"]
    out += [f"  - {note}" for note in all_notes(report)]
    return "\n".join(out) + "\n"


def products(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for vendor in report["vendors"]:
        yield from vendor["products"]


def malformed_rows(report: dict[str, Any]) -> list[list[object]]:
    return [
        [f["path"], example["line"], example["text"]]
        for f in report["files"]
        for example in f["malformed_examples"]
    ]


def invalid_rows(report: dict[str, Any]) -> list[list[object]]:
    return [[i["name"], i["count"], i["reason"]] for i in report["invalid_examples"]]


def all_notes(report: dict[str, Any]) -> list[str]:
    notes = list(report["notes"])
    unjudged = report["assumed_request"]["rules_not_judged"]
    if unjudged:
        notes.append(f"Rules not judged here (they need an identity): {', '.join(unjudged)}.")
    return notes


def decision_text(decision: dict[str, Any], varies: bool = False) -> str:
    why = decision["rule"] or "default action"
    if decision["as_product"]:
        why += f", as {decision['as_product']}"
    text = f"{decision['action']} ({why})"
    if decision["shadow"]:
        text += f"; shadow: {', '.join(decision['shadow'])}"
    return text + ("; varies by host" if varies else "")
