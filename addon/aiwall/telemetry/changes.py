"""What a reload changed, as fields a SIEM can query: `config.loaded` and `policy.changed`.

- `fact_changes(old, new)`: one `{vendor, product, change, field, old, new}` per vendor or
  product added or removed and per field of a record that changed (`old` and `new` as text,
  so every change has the same shape whatever the field's type).
- `rule_changes(old, new)`: one `{rule, change, fields}` per rule added, removed, changed
  (the dotted fields that differ) or moved (the first rule that matches decides, so order is
  part of a rule).
- `settings_changes(old, new)`: the dotted fields of `settings`, `groups` and `tenants` that
  differ.
- `rules_hash`, `policies_hash`: short digests of what was loaded (not of the files' bytes:
  a comment or a reordered key is no change).
"""

import hashlib
import json
from typing import Any

from aiwall.core import config
from aiwall.core.diff import field_changes, shown_value
from aiwall.core.policy import product_ref
from aiwall.core.registry import Registry
from aiwall.core.rules import Action, Mode, RulesFile

DEFAULT_ACTION = "(default action)"


def fact_changes(old: Registry, new: Registry) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for vendor_id in sorted(old.vendors.keys() | new.vendors.keys()):
        before, after = old.vendors.get(vendor_id), new.vendors.get(vendor_id)
        if before is None or after is None:
            changes.append(_change(vendor_id, None, "added" if before is None else "removed"))
            continue
        exclude = {"products"}
        for field, was, now in field_changes(
            before.model_dump(mode="json", exclude=exclude),
            after.model_dump(mode="json", exclude=exclude),
        ):
            changes.append(_change(vendor_id, None, "changed", field, was, now))
        old_products = {p.id: p.model_dump(mode="json") for p in before.products}
        new_products = {p.id: p.model_dump(mode="json") for p in after.products}
        for product_id in [*old_products, *(p for p in new_products if p not in old_products)]:
            ref = product_ref(vendor_id, product_id)
            if product_id not in new_products or product_id not in old_products:
                added = product_id not in old_products
                changes.append(_change(vendor_id, ref, "added" if added else "removed"))
                continue
            for field, was, now in field_changes(
                old_products[product_id], new_products[product_id]
            ):
                changes.append(_change(vendor_id, ref, "changed", field, was, now))
    return changes


def fact_change_text(change: dict[str, Any]) -> str:
    """`mistral/le-chat: training: default → never`, as people read a change."""
    where = change["product"] or change["vendor"]
    if change["change"] != "changed":
        return f"{where}: {'product' if change['product'] else 'vendor'} {change['change']}"
    return f"{where}: {change['field']}: {change['old']} → {change['new']}"


def rule_changes(old: RulesFile, new: RulesFile) -> list[dict[str, Any]]:
    before = {rule.id: rule.model_dump(mode="json") for rule in old.rules}
    after = {rule.id: rule.model_dump(mode="json") for rule in new.rules}
    kept_before = [rule_id for rule_id in before if rule_id in after]
    kept_after = [rule_id for rule_id in after if rule_id in before]
    moved = _moved(kept_before, kept_after)
    changes: list[dict[str, Any]] = []
    for rule_id in [*after, *(r for r in before if r not in after)]:
        if rule_id not in before:
            changes.append({"rule": rule_id, "change": "added", "fields": []})
        elif rule_id not in after:
            changes.append({"rule": rule_id, "change": "removed", "fields": []})
        else:
            fields = [field for field, _, _ in field_changes(before[rule_id], after[rule_id])]
            if fields:
                position = ["position"] if rule_id in moved else []
                changes.append({"rule": rule_id, "change": "changed", "fields": fields + position})
            elif rule_id in moved:
                changes.append({"rule": rule_id, "change": "moved", "fields": ["position"]})
    return changes


def settings_changes(old: RulesFile, new: RulesFile) -> list[str]:
    parts = {"settings", "groups", "tenants"}
    return [
        field
        for field, _, _ in field_changes(
            old.model_dump(mode="json", include=parts), new.model_dump(mode="json", include=parts)
        )
    ]


def unlogged_allow(rules: RulesFile) -> list[str]:
    """The rules whose allowed requests leave no trace in the log (and the default action, when
    it allows): allow without `record: true`. A shadow rule that matches still logs them."""
    silent = [
        rule.id
        for rule in rules.rules
        if rule.action is Action.ALLOW and rule.mode is Mode.ENFORCE and not rule.record
    ]
    if rules.settings.default_action is Action.ALLOW:
        silent.append(DEFAULT_ACTION)
    return silent


def rules_hash(rules: RulesFile) -> str:
    """The rules' digest, as the last good configuration kept on disk names it too."""
    return config.rules_hash(rules)


def policies_hash(registry: Registry) -> str:
    return _digest({v.id: v.model_dump(mode="json") for v in registry.vendors.values()})


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


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


def _change(
    vendor: str,
    product: str | None,
    change: str,
    field: str | None = None,
    was: Any = None,
    now: Any = None,
) -> dict[str, Any]:
    return {
        "vendor": vendor,
        "product": product,
        "change": change,
        "field": field,
        "old": None if field is None else shown_value(was),
        "new": None if field is None else shown_value(now),
    }
