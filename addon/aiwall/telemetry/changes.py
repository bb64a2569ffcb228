"""What a reload changed, as fields a SIEM can query: `config.loaded` and `policy.changed`.

- `fact_changes(old, new)`: one `{vendor, product, change, field, old, new}` per vendor or
  product added or removed and per field of a record that changed (`old` and `new` as text,
  so every change has the same shape whatever the field's type).
- `rule_changes(old, new)`: one `{rule, change, fields}` per rule added, removed, changed
  (the dotted fields that differ) or moved (the first rule that matches decides, so order is
  part of a rule), as `aiwall diff` shows them for two rules files (core/diff.py).
- `settings_changes(old, new)`: the dotted fields of `settings`, `groups` and `tenants` that
  differ.
- `rules_hash`, `policies_hash`: digests of what was loaded (not of the files' bytes: a comment
  or a reordered key is no change); the rules' is core/config.py's, which the last good
  configuration kept on disk carries too.
"""

import hashlib
import json
from typing import Any

from aiwall.core import config
from aiwall.core.diff import diff_rules, field_changes, shown_value
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
    return [change.as_json() for change in diff_rules(old, new)]


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
