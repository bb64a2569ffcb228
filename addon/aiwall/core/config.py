"""A whole configuration: the rules file and the vendor registry, checked against each other."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from aiwall.core.diff import vendor_changes
from aiwall.core.engine import Engine
from aiwall.core.hostindex import HostEntry
from aiwall.core.hosts import InvalidHost
from aiwall.core.registry import RecordFolders, Registry, load_registry, registry_warnings
from aiwall.core.rules import RulesFile
from aiwall.core.yamlsource import ConfigError, Problem, YamlDocument, load_yaml


@dataclass(frozen=True)
class Config:
    registry: Registry
    rules: RulesFile
    rules_path: Path
    engine: Engine
    warnings: list[Problem] = field(default_factory=list)


def load_config(
    rules_path: Path,
    policies_dir: Path | RecordFolders | None = None,
    today: Callable[[], date] = date.today,
) -> Config:
    """Load and cross-check both; raise ConfigError listing every problem in every file.

    Nothing else escapes: whatever goes wrong while loading is a problem of the files, so a
    hot reload rejects the change and `aiwall check` says so instead of a traceback."""
    try:
        return _load_config(rules_path, policies_dir, today)
    except ConfigError:
        raise
    except Exception as error:
        message = f"could not be loaded ({type(error).__name__}: {error})"
        raise ConfigError([Problem(str(rules_path), 1, "(file)", message)]) from error


def _load_config(
    rules_path: Path, policies_dir: Path | RecordFolders | None, today: Callable[[], date]
) -> Config:
    problems: list[Problem] = []
    registry: Registry | None = None
    rules: RulesFile | None = None
    try:
        registry = load_registry(policies_dir)
    except ConfigError as error:
        problems.extend(error.problems)
    try:
        document = load_yaml(rules_path)
        if document.data is None:
            raise ConfigError([document.problem((), "the rules file is empty")])
        rules = document.validate(RulesFile)
    except ConfigError as error:
        problems.extend(error.problems)
    if rules is not None and registry is not None:
        problems.extend(_cross_check(document, rules, registry))
    if problems or rules is None or registry is None:
        raise ConfigError(problems)
    engine = Engine(registry, rules, today)
    warnings = registry_warnings(registry, today(), rules.settings.stale_after)
    return Config(registry, rules, rules_path, engine, warnings + overlay_warnings(registry))


def overlay_warnings(registry: Registry) -> list[Problem]:
    """What the organisation's own records change: each fact that overrides a shipped one,
    records the bundle lacks, and shipped records verified since the local copy was made."""
    warnings: list[Problem] = []
    for vendor_id in sorted(registry.local):
        document = registry.documents[vendor_id]
        local = registry.vendors[vendor_id].model_copy(update={"under_review": ()})
        if vendor_id not in registry.shipped:
            message = "a local record: the shipped records have no such vendor"
            warnings.append(document.problem(("id",), message, "warning"))
            continue
        shipped, shipped_document = registry.shipped[vendor_id]
        for change in vendor_changes(shipped.model_copy(update={"under_review": ()}), local):
            message = f"the local record overrides {shipped_document.path}: {change}"
            warnings.append(document.problem(("id",), message, "warning"))
        if shipped.last_verified > local.last_verified:
            message = (
                f"the shipped record was verified on {shipped.last_verified}, after this local"
                f" copy ({local.last_verified}): review what changed"
            )
            warnings.append(document.problem(("last_verified",), message, "warning"))
    return warnings


def _cross_check(document: YamlDocument, rules: RulesFile, registry: Registry) -> Iterator[Problem]:
    """What the rules name must exist: vendors, products, groups, tenant headers, valid hosts."""
    seen: set[str] = set()
    for i, rule in enumerate(rules.rules):
        at = ("rules", i)
        if rule.id in seen:
            yield document.problem((*at, "id"), f"rule id {rule.id!r} is used twice")
        seen.add(rule.id)
        match = rule.match
        for j, vendor in enumerate(match.vendor):
            if vendor not in registry.vendors:
                yield document.problem((*at, "match", "vendor", j), f"no vendor {vendor!r}")
        for j, product in enumerate(match.product):
            if registry.find_product(product) is None:
                yield document.problem((*at, "match", "product", j), f"no product {product!r}")
        for j, group in enumerate(match.group):
            if group not in rules.groups:
                yield document.problem((*at, "match", "group", j), f"no group {group!r}")
        for j, host in enumerate(match.host):
            try:
                HostEntry.parse(host)
            except InvalidHost as error:
                yield document.problem((*at, "match", "host", j), str(error))
    for group_name, members in rules.groups.items():
        if members.directory and rules.settings.directory is None:
            message = "a directory group needs settings.directory (where to read it)"
            yield document.problem(("groups", group_name, "directory"), message)
    for vendor_id, by_header in rules.tenants.items():
        record = registry.vendors.get(vendor_id)
        if record is None:
            yield document.problem(("tenants", vendor_id), f"no vendor {vendor_id!r}")
            continue
        known = {r.header.lower(): r.header for r in record.tenant_restriction}
        for header in by_header:
            if header.lower() not in known:
                offered = ", ".join(sorted(known.values())) or "none"
                message = f"{record.name} documents no header {header!r} (it offers: {offered})"
                yield document.problem(("tenants", vendor_id, header), message)
