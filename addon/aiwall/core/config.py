"""A whole configuration: the rules file and the vendor registry, checked against each other."""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from aiwall.core.diff import vendor_changes
from aiwall.core.engine import Engine
from aiwall.core.hostindex import HostEntry
from aiwall.core.hosts import InvalidHost
from aiwall.core.policytests import run_policy_tests
from aiwall.core.registry import RecordFolders, Registry, load_registry, registry_warnings
from aiwall.core.rules import RulesFile
from aiwall.core.suggest import did_you_mean
from aiwall.core.yamlsource import ConfigError, Problem, YamlDocument, load_yaml


@dataclass(frozen=True)
class Config:
    registry: Registry
    rules: RulesFile
    rules_path: Path
    engine: Engine
    rules_document: YamlDocument
    warnings: list[Problem] = field(default_factory=list)

    @property
    def rules_hash(self) -> str:
        """`sha256:...` of the rules as aiwall reads them: comments and layout do not count."""
        return rules_hash(self.rules)


def rules_hash(rules: RulesFile) -> str:
    canonical = json.dumps(rules.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def load_config(
    rules_path: Path,
    policies_dir: Path | RecordFolders | None = None,
    today: Callable[[], date] = date.today,
    tests: bool = True,
) -> Config:
    """Load and cross-check both, and run the rules file's tests (unless `tests` is false);
    raise ConfigError listing every problem in every file and every failing test.

    Nothing else escapes: whatever goes wrong while loading is a problem of the files, so a
    hot reload rejects the change and `aiwall check` says so instead of a traceback."""
    try:
        config = _load_config(rules_path, policies_dir, today)
    except ConfigError:
        raise
    except Exception as error:
        message = f"could not be loaded ({type(error).__name__}: {error})"
        raise ConfigError([Problem(str(rules_path), 1, "(file)", message)]) from error
    if tests and (failures := run_policy_tests(config.engine, config.rules_document).failures):
        raise ConfigError(failures)
    return config


def load_rules_file(path: Path) -> RulesFile:
    """A rules file on its own, validated but not checked against any vendor records."""
    return _read_rules(path)[1]


def _read_rules(path: Path) -> tuple[YamlDocument, RulesFile]:
    document = load_yaml(path)
    if document.data is None:
        raise ConfigError([document.problem((), "the rules file is empty")])
    return document, document.validate(RulesFile)


def _load_config(
    rules_path: Path, policies_dir: Path | RecordFolders | None, today: Callable[[], date]
) -> Config:
    problems: list[Problem] = []
    registry: Registry | None = None
    read: tuple[YamlDocument, RulesFile] | None = None
    try:
        registry = load_registry(policies_dir)
    except ConfigError as error:
        problems.extend(error.problems)
    try:
        read = _read_rules(rules_path)
    except ConfigError as error:
        problems.extend(error.problems)
    if read is not None and registry is not None:
        problems.extend(_cross_check(*read, registry))
    if problems or read is None or registry is None:
        raise ConfigError(problems)
    document, rules = read
    engine = Engine(registry, rules, today)
    warnings = registry_warnings(registry, today(), rules.settings.stale_after)
    warnings += overlay_warnings(registry)
    return Config(registry, rules, rules_path, engine, document, warnings)


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
    """What the rules name must exist: vendors, products, groups, tenant headers, valid hosts,
    the rules tests expect; each unknown name with the nearest one that exists."""
    seen: set[str] = set()
    for i, rule in enumerate(rules.rules):
        at = ("rules", i)
        if rule.id in seen:
            yield document.problem((*at, "id"), f"rule id {rule.id!r} is used twice")
        seen.add(rule.id)
        match = rule.match
        for j, vendor in enumerate(match.vendor):
            if vendor not in registry.vendors:
                yield document.problem((*at, "match", "vendor", j), _no_vendor(vendor, registry))
        for j, product in enumerate(match.product):
            if registry.find_product(product) is None:
                yield document.problem((*at, "match", "product", j), _no_product(product, registry))
        for j, group in enumerate(match.group):
            if group not in rules.groups:
                known = ", ".join(sorted(rules.groups)) or "none defined"
                message = f"no group {group!r}{did_you_mean(group, rules.groups)} (groups: {known})"
                yield document.problem((*at, "match", "group", j), message)
        for j, host in enumerate(match.host):
            try:
                HostEntry.parse(host)
            except InvalidHost as error:
                yield document.problem((*at, "match", "host", j), str(error))
    ids = [rule.id for rule in rules.rules]
    for i, case in enumerate(rules.tests):
        if case.rule is not None and case.rule not in ids:
            message = f"no rule {case.rule!r}{did_you_mean(case.rule, ids)}"
            yield document.problem(("tests", i, "rule"), message)
    for group_name, members in rules.groups.items():
        if members.directory and rules.settings.directory is None:
            message = "a directory group needs settings.directory (where to read it)"
            yield document.problem(("groups", group_name, "directory"), message)
    for vendor_id, by_header in rules.tenants.items():
        record = registry.vendors.get(vendor_id)
        if record is None:
            yield document.problem(("tenants", vendor_id), _no_vendor(vendor_id, registry))
            continue
        headers = {r.header.lower(): r.header for r in record.tenant_restriction}
        for header in by_header:
            if header.lower() not in headers:
                offered = ", ".join(sorted(headers.values())) or "none"
                message = f"{record.name} documents no header {header!r} (it offers: {offered})"
                yield document.problem(("tenants", vendor_id, header), message)


def _no_vendor(vendor_id: str, registry: Registry) -> str:
    return f"no vendor {vendor_id!r}{did_you_mean(vendor_id, registry.vendors)}"


def _no_product(reference: str, registry: Registry) -> str:
    """No such product: the vendor's products when the vendor exists, else the nearest vendor."""
    vendor_id = reference.partition("/")[0]
    record = registry.vendors.get(vendor_id)
    if record is None:
        return f"no product {reference!r}: {_no_vendor(vendor_id, registry)}"
    products = [record.ref(p) for p in record.products]
    hint = did_you_mean(reference, products)
    return f"no product {reference!r}{hint} ({record.name} has: {', '.join(products)})"
