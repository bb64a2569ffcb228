"""`aiwall vendors`: every vendor product with its facts, as a table, JSON lines or CSV, narrowed
by the same fact fields a rule's `match` has (`--jurisdiction CN --training default`).

The filters are judged exactly as a rule judges them: values are the rules file's (`unknown`
matches only the products whose record does not say), and a list means any of its values.

JSON uses the rules' values too: booleans or `unknown` for opt-out, zero retention and DPA;
lists of codes for residency and jurisdiction (empty: unknown). CSV uses the values decision
events carry in `aiwall.record` (`aiwall.telemetry.facts`: `yes`/`no`/`unknown`, lists joined
with `;`), so it serves as a lookup table for a SIEM that enriches events at search time (join
on `product` = `aiwall.product`).
"""

import argparse
import csv
import json
import sys
from typing import Any

from pydantic import ValidationError

from aiwall.core.engine import product_filter
from aiwall.core.policy import UNKNOWN, Product, VendorRecord
from aiwall.core.registry import load_registry
from aiwall.core.rules import Match
from aiwall.telemetry.facts import RECORD_FIELDS, product_facts

COLUMNS = (
    "product",
    "vendor",
    "name",
    "kind",
    "verdict",
    *(name for name in RECORD_FIELDS if name != "stale"),  # staleness depends on the rules
)
# The filters: a rule's match fields that depend on the vendor record alone.
FILTERS = ("vendor", "kind", "training", "residency", "jurisdiction", "zero_retention", "dpa")
# Tri-state facts: `yes`/`no` in events and CSV, booleans in the rules and in JSON.
_TRI_STATE = ("opt_out", "zero_retention", "dpa")
# The terminal table: the facts people compare first, in short.
TABLE = {
    "product": "product",
    "verdict": "verdict",
    "residency": "residency",
    "jurisdiction": "jurisdiction",
    "retention": "retention",
    "zero_retention": "zdr",
    "dpa": "dpa",
    "last_verified": "last_verified",
    "confidence": "confidence",
}
WIDEST = 44


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json", "csv"], default="text")
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    for name in FILTERS:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            action="append",
            default=[],
            metavar="VALUE[,VALUE]",
            help=f"only products whose {name} is one of these, as match.{name} in rules"
            " (unknown: the record does not say)",
        )


def run(args: argparse.Namespace) -> int:
    fields = _match_fields(args)
    try:
        wanted = product_filter(Match.model_validate(fields))
    except ValidationError as error:
        for problem in error.errors():
            option = "--" + str(problem["loc"][0]).replace("_", "-")
            print(f"aiwall: {option}: {problem['msg']}", file=sys.stderr)
        return 2
    registry = load_registry(args.policies)
    every = [(v, p) for v in registry.vendors.values() for p in v.products]
    rows = [vendor_row(v, p) for v, p in every if wanted(v, p)]
    if fields:
        print(f"aiwall: {len(rows)} of {len(every)} products match", file=sys.stderr)
    shape = "json" if args.json else args.format
    if shape == "json":
        for row in rows:
            print(json.dumps(as_rule_values(row), ensure_ascii=False))
    elif shape == "csv":
        writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
    else:
        table = [list(TABLE.values())] + [[_short(row[c]) for c in TABLE] for row in rows]
        widths = [min(max(len(r[i]) for r in table), WIDEST) for i in range(len(TABLE))]
        for line in table:
            cells = (cell[:WIDEST].ljust(width) for cell, width in zip(line, widths, strict=True))
            print("  ".join(cells).rstrip())
    return 0


def vendor_row(vendor: VendorRecord, product: Product) -> dict[str, Any]:
    """One product, with the facts as decision events carry them."""
    facts = product_facts(vendor, product)
    row = {
        "product": vendor.ref(product),
        "vendor": vendor.id,
        "name": product.name,
        "kind": str(vendor.kind_of(product)),
        "verdict": product.verdict,
        **facts,
    }
    return {column: row[column] for column in COLUMNS}


def as_rule_values(row: dict[str, Any]) -> dict[str, Any]:
    """A row with the values a rules file uses: `true`/`false`/`unknown` for tri-state facts."""
    known = {"yes": True, "no": False, UNKNOWN: UNKNOWN}
    return {k: known[v] if k in _TRI_STATE else v for k, v in row.items()}


def _match_fields(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The filters given, as match fields: `--dpa false,unknown` → dpa: [false, unknown]."""
    words = {"true": True, "false": False}
    fields = {}
    for name in FILTERS:
        values = [v.strip() for given in getattr(args, name) for v in given.split(",")]
        if values:
            fields[name] = [words.get(v.lower(), v) if name in _TRI_STATE else v for v in values]
    return fields


def _short(value: object) -> str:
    if isinstance(value, list):
        return ",".join(value) or "unknown"
    return str(value)
