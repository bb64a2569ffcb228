"""Differences between two sets of vendor records, field by field (`aiwall diff`,
`policy.changed`), and between two rules files, rule by rule (`aiwall diff`, `config.loaded`)."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from aiwall.core.policy import VendorRecord
from aiwall.core.registry import Registry
from aiwall.core.rules import RulesFile

SHOWN = 240  # characters of a changed value shown on its line


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
    for field, was, now in field_changes(old, new):
        yield f"{before.id}: {field}: {shown_value(was)} → {shown_value(now)}"
    old_products = {p.id: p.model_dump(mode="json") for p in before.products}
    new_products = {p.id: p.model_dump(mode="json") for p in after.products}
    for product_id in [*old_products, *(p for p in new_products if p not in old_products)]:
        where = f"{before.id}/{product_id}"
        if product_id not in new_products:
            yield f"{where}: product removed"
        elif product_id not in old_products:
            yield f"{where}: product added"
        else:
            for field, was, now in field_changes(
                old_products[product_id], new_products[product_id]
            ):
                yield f"{where}: {field}: {shown_value(was)} → {shown_value(now)}"


def field_changes(
    old: dict[str, Any], new: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            yield from field_changes(was, now, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", was, now


def shown_value(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        text = "[" + ", ".join(shown_value(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {shown_value(v)}" for k, v in value.items()) + "}"
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


@dataclass(frozen=True)
class RuleChange:
    """One rule added, removed, or changed (with the fields that changed; `position` when it
    moved relative to the other rules: the first rule that matches decides)."""

    rule: str
    change: Literal["added", "removed", "changed"]
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        fields = f": {', '.join(self.fields)}" if self.fields else ""
        return f"rule {self.rule}: {self.change}{fields}"

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "change": self.change, "fields": list(self.fields)}


def diff_rules(old: RulesFile, new: RulesFile) -> list[RuleChange]:
    """Rules removed, then each rule of the new file that was added or changed, in its order."""
    before = {rule.id: rule.model_dump(mode="json") for rule in old.rules}
    after = {rule.id: rule.model_dump(mode="json") for rule in new.rules}
    kept = _kept_in_order(
        [r.id for r in old.rules if r.id in after], [r.id for r in new.rules if r.id in before]
    )
    changes = [RuleChange(rule_id, "removed") for rule_id in before if rule_id not in after]
    for rule_id, rule in after.items():
        if rule_id not in before:
            changes.append(RuleChange(rule_id, "added"))
            continue
        fields = [name for name, _, _ in field_changes(before[rule_id], rule)]
        if rule_id not in kept:
            fields.insert(0, "position")
        if fields:
            changes.append(RuleChange(rule_id, "changed", tuple(fields)))
    return changes


def _kept_in_order(old: list[str], new: list[str]) -> set[str]:
    """The rules whose order relative to each other stayed the same (a longest common
    subsequence); the others moved."""
    lengths = [[0] * (len(new) + 1) for _ in range(len(old) + 1)]
    for i in range(len(old) - 1, -1, -1):
        for j in range(len(new) - 1, -1, -1):
            lengths[i][j] = (
                lengths[i + 1][j + 1] + 1
                if old[i] == new[j]
                else max(lengths[i + 1][j], lengths[i][j + 1])
            )
    kept: set[str] = set()
    i = j = 0
    while i < len(old) and j < len(new):
        if old[i] == new[j]:
            kept.add(old[i])
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept
