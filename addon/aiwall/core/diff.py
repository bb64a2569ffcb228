"""Field-level differences between two sets of vendor records (`aiwall diff`, `policy.changed`)."""

from collections.abc import Iterator
from typing import Any

from aiwall.core.policy import VendorRecord
from aiwall.core.registry import Registry

_SHOWN = 240  # characters of a changed value shown on its line


def diff_registries(old: Registry, new: Registry) -> list[str]:
    """`vendor/product: field: old → new` per change; vendors and products added or removed."""
    changes: list[str] = []
    for vendor_id in sorted(old.vendors.keys() | new.vendors.keys()):
        before, after = old.vendors.get(vendor_id), new.vendors.get(vendor_id)
        if before is None:
            changes.append(f"{vendor_id}: vendor added")
        elif after is None:
            changes.append(f"{vendor_id}: vendor removed")
        else:
            changes.extend(vendor_changes(before, after))
    return changes


def vendor_changes(before: VendorRecord, after: VendorRecord) -> Iterator[str]:
    """`vendor/product: field: old → new` for each field of one record that differs."""
    old = before.model_dump(mode="json", exclude={"products"})
    new = after.model_dump(mode="json", exclude={"products"})
    for field, was, now in _field_changes(old, new):
        yield f"{before.id}: {field}: {_shown(was)} → {_shown(now)}"
    old_products = {p.id: p.model_dump(mode="json") for p in before.products}
    new_products = {p.id: p.model_dump(mode="json") for p in after.products}
    for product_id in [*old_products, *(p for p in new_products if p not in old_products)]:
        where = f"{before.id}/{product_id}"
        if product_id not in new_products:
            yield f"{where}: product removed"
        elif product_id not in old_products:
            yield f"{where}: product added"
        else:
            for field, was, now in _field_changes(
                old_products[product_id], new_products[product_id]
            ):
                yield f"{where}: {field}: {_shown(was)} → {_shown(now)}"


def _field_changes(
    old: dict[str, Any], new: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            yield from _field_changes(was, now, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", was, now


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        text = "[" + ", ".join(_shown(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
