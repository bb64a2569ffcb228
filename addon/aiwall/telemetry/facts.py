"""The facts of a vendor record as decision events carry them and `aiwall vendors --format csv`
lists them: one function, so a SIEM that joins the two at search time sees the same values.

Every value is a keyword or a list of keywords, never null, so each field keeps one type in an
index: tri-state facts read `yes`, `no` or `unknown`; residency and jurisdiction are lists of
region codes, empty when unknown; retention is the record's value (`P30D`, `open-ended`,
`unknown`) and `retention_class` the bucket it falls in; `under_review` lists the facts whose
cited page changed since it was verified (empty: none).
"""

from datetime import timedelta
from typing import Any

from aiwall.core.durations import parse_duration
from aiwall.core.policy import OPEN_ENDED, UNKNOWN, Product, VendorRecord

# The keys of `aiwall.record`, in the order they are written.
RECORD_FIELDS = (
    "last_verified",
    "confidence",
    "stale",
    "training",
    "opt_out",
    "zero_retention",
    "dpa",
    "residency",
    "jurisdiction",
    "retention",
    "retention_class",
    "under_review",
)
RETENTION_CLASSES = ("none", "up-to-30d", "up-to-1y", "over-1y", OPEN_ENDED, UNKNOWN)
_CACHE_LIMIT = 4096


def retention_class(retention: str) -> str:
    """`P0D` → none, up to P30D → up-to-30d, up to a year → up-to-1y, else over-1y."""
    if retention in (OPEN_ENDED, UNKNOWN):
        return retention
    period = parse_duration(retention)
    if period <= timedelta(0):
        return "none"
    if period <= timedelta(days=30):
        return "up-to-30d"
    return "up-to-1y" if period <= parse_duration("P1Y") else "over-1y"


def yes_no(value: bool | None) -> str:
    return UNKNOWN if value is None else ("yes" if value else "no")


def product_facts(vendor: VendorRecord, product: Product) -> dict[str, Any]:
    """The record's facts for one product, without `stale` (which depends on the rules)."""
    return {
        "last_verified": vendor.last_verified.isoformat(),
        "confidence": str(vendor.confidence_of(product)),
        "training": str(product.training),
        "opt_out": yes_no(product.opt_out.available),
        "zero_retention": yes_no(product.zero_retention),
        "dpa": yes_no(product.dpa),
        "residency": list(product.residency),
        "jurisdiction": list(vendor.jurisdiction_of(product)),
        "retention": product.retention,
        "retention_class": retention_class(product.retention),
        "under_review": list(vendor.facts_under_review(product)),
    }


class RecordFacts:
    """`aiwall.record` for each decision, worked out once per product and staleness.

    Records are frozen: the cache is keyed by the objects' identities, and holds the objects
    so that an identity is never reused while its entry lives.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, bool], tuple[object, object, dict[str, Any]]] = {}

    def __call__(self, vendor: VendorRecord, product: Product, stale: bool) -> dict[str, Any]:
        key = (id(vendor), id(product), stale)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[2]
        facts = product_facts(vendor, product)
        record = {name: stale if name == "stale" else facts[name] for name in RECORD_FIELDS}
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (vendor, product, record)
        return record
