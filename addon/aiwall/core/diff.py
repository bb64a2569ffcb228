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
    """One rule added, removed, changed (with the dotted fields that changed, and `position`
    when it also moved) or moved: the first rule that matches decides, so order is part of a
    rule."""

    rule: str
    change: Literal["added", "removed", "changed", "moved"]
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        fields = f": {', '.join(self.fields)}" if self.fields else ""
        return f"rule {self.rule}: {self.change}{fields}"

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "change": self.change, "fields": list(self.fields)}


def diff_rules(old: RulesFile, new: RulesFile) -> list[RuleChange]:
    """Each rule of the new file that was added, changed or moved, in its order; then the
    rules removed."""
    before = {rule.id: rule.model_dump(mode="json") for rule in old.rules}
    after = {rule.id: rule.model_dump(mode="json") for rule in new.rules}
    moved = _moved([r for r in before if r in after], [r for r in after if r in before])
    changes: list[RuleChange] = []
    for rule_id in [*after, *(r for r in before if r not in after)]:
        if rule_id not in before:
            changes.append(RuleChange(rule_id, "added"))
        elif rule_id not in after:
            changes.append(RuleChange(rule_id, "removed"))
        else:
            fields = [field for field, _, _ in field_changes(before[rule_id], after[rule_id])]
            if fields:
                position = ["position"] if rule_id in moved else []
                changes.append(RuleChange(rule_id, "changed", (*fields, *position)))
            elif rule_id in moved:
                changes.append(RuleChange(rule_id, "moved", ("position",)))
    return changes


def _moved(before: list[str], after: list[str]) -> set[str]:
    """The rules whose place among the rules kept changed: those off a longest common order."""
    place = {rule_id: i for i, rule_id in enumerate(before)}
    sequence = [place[rule_id] for rule_id in after]
    # Longest increasing subsequence (patience sorting): the rules that kept their order.
    tails: list[int] = []
    tail_at: list[int] = []
    previous = [-1] * len(sequence)
    for i, value in enumerate(sequence):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if tails[mid] < value:
                lo = mid + 1
            else:
                hi = mid
        previous[i] = tail_at[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[lo], tail_at[lo] = value, i
    stayed = set()
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        stayed.add(after[i])
        i = previous[i]
    return set(after) - stayed
