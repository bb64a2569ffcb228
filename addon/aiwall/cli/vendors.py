"""`aiwall vendors`: every vendor product with its facts, as a table, JSON lines or CSV.

The facts are the ones decision events carry in `aiwall.record` (`aiwall.telemetry.facts`), with
the same values, so the CSV serves as a lookup table for a SIEM that enriches events at search
time (join on `product` = `aiwall.product`). In CSV, lists (residency, jurisdiction) are
written with `;` between the codes; an empty list is unknown.
"""

import argparse
import csv
import json
import sys
from typing import Any

from aiwall.core.policy import Product, VendorRecord
from aiwall.core.registry import load_registry
from aiwall.telemetry.facts import product_facts

COLUMNS = (
    "product",
    "vendor",
    "name",
    "kind",
    "verdict",
    "training",
    "opt_out",
    "zero_retention",
    "dpa",
    "residency",
    "jurisdiction",
    "retention",
    "retention_class",
    "under_review",
    "last_verified",
    "confidence",
)
# The terminal table: the facts people compare first, in short.
TABLE = {
    "product": "product",
    "verdict": "verdict",
    "residency": "residency",
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


def run(args: argparse.Namespace) -> int:
    registry = load_registry(args.policies)
    rows = [vendor_row(v, p) for v in registry.vendors.values() for p in v.products]
    shape = "json" if args.json else args.format
    if shape == "json":
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
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


def _short(value: object) -> str:
    if isinstance(value, list):
        return ",".join(value) or "unknown"
    return str(value)
