"""The vendor registry: every vendor record in a policies folder, and the host index over them."""

import importlib.resources
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from aiwall.core.hostindex import HostEntry, HostIndex
from aiwall.core.hosts import InvalidHost
from aiwall.core.policy import (
    UNKNOWN,
    HostSpec,
    PinnedHost,
    Product,
    Training,
    VendorRecord,
    host_text,
)
from aiwall.core.yamlsource import ConfigError, Location, Problem, YamlDocument, load_yaml


def default_policies_dir() -> Path:
    """The shipped records: `policies/` in a checkout, `aiwall/policies` in an installed wheel."""
    return Path(str(importlib.resources.files("aiwall") / "policies")).resolve()


@dataclass(frozen=True)
class Resolution:
    """What a host (and path) belongs to: one vendor and one of its products."""

    vendor: VendorRecord
    product: Product
    entry: HostEntry
    pinned: tuple[str, ...] = ()  # the region this host keeps data in, where it pins one

    @property
    def residency(self) -> tuple[str, ...]:
        """Where data sent to this host is stored: the host's pin, else the product's facts."""
        return self.pinned or self.product.residency


@dataclass
class Registry:
    vendors: dict[str, VendorRecord] = field(default_factory=dict)
    index: HostIndex[Resolution] = field(default_factory=HostIndex)
    documents: dict[str, YamlDocument] = field(default_factory=dict)

    def resolve(self, host: str, path: str = "/") -> Resolution | None:
        return self.index.resolve(host, path)

    def find_product(self, reference: str) -> tuple[VendorRecord, Product] | None:
        """`openai/chatgpt-enterprise` → that vendor and product, if both exist."""
        vendor_id, _, product_id = reference.partition("/")
        vendor = self.vendors.get(vendor_id)
        if vendor is None:
            return None
        product = next((p for p in vendor.products if p.id == product_id), None)
        return (vendor, product) if product else None

    def products(self) -> Iterator[tuple[VendorRecord, Product]]:
        for vendor in self.vendors.values():
            for product in vendor.products:
                yield vendor, product


def load_registry(directory: Path | None = None) -> Registry:
    """Load every `*.yaml` in `directory`; raise ConfigError listing every problem found."""
    directory = directory or default_policies_dir()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError([Problem(str(directory), 1, "(folder)", "holds no vendor records")])
    registry = Registry()
    problems: list[Problem] = []
    claims: dict[HostEntry, tuple[str, Location]] = {}
    for path in files:
        try:
            document = load_yaml(path)
            record = document.validate(VendorRecord)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        if record.id != path.stem:
            problems.append(document.problem(("id",), f"must match the file name {path.stem!r}"))
            continue
        registry.vendors[record.id] = record
        registry.documents[record.id] = document
        for location, spec, product in _host_entries(record):
            _index(registry, document, claims, problems, location, spec, record, product)
    if problems:
        raise ConfigError(problems)
    return registry


def _host_entries(record: VendorRecord) -> Iterator[tuple[Location, HostSpec, Product]]:
    """Vendor-level hosts first, so that a product's own entry for the same host wins."""
    for i, text in enumerate(record.hosts):
        yield ("hosts", i), text, record.main_product
    for p, product in enumerate(record.products):
        for i, spec in enumerate(product.hosts):
            yield ("products", p, "hosts", i), spec, product


def _index(
    registry: Registry,
    document: YamlDocument,
    claims: dict[HostEntry, tuple[str, Location]],
    problems: list[Problem],
    location: Location,
    spec: HostSpec,
    record: VendorRecord,
    product: Product,
) -> None:
    try:
        entry = HostEntry.parse(host_text(spec))
    except InvalidHost as error:
        problems.append(document.problem(location, str(error)))
        return
    if (claim := claims.get(entry)) is not None:
        owner, first = claim
        here = registry.documents[owner]
        if owner != record.id:
            where = f"{here.path}:{here.line_of(first)}"
            message = f"host {entry} is also claimed by vendor {owner!r} ({where})"
            problems.append(document.problem(location, message))
            return
        if first[0] == location[0]:
            where = "by two products" if first[0] == "products" else "twice"
            problems.append(document.problem(location, f"host {entry} is listed {where}"))
            return
    claims[entry] = (record.id, location)
    pinned = spec.residency if isinstance(spec, PinnedHost) else ()
    registry.index.add(entry, Resolution(record, product, entry, pinned))


def is_stale(record: VendorRecord, today: date, stale_after: timedelta) -> bool:
    """Whether any fact any product of the record states was last checked too long ago."""
    return any(stale_facts(record, p, today, stale_after) for p in record.products) or (
        record.last_verified + stale_after < today
    )


def stale_facts(
    record: VendorRecord, product: Product, today: date, stale_after: timedelta
) -> list[str]:
    """The known facts of a product last checked more than `stale_after` ago."""
    return [
        fact
        for fact in known_facts(product)
        if record.verified_on(product, fact) + stale_after < today
    ]


def known_facts(product: Product) -> Iterator[str]:
    """The facts of a product that claim something (an `unknown` needs no source)."""
    if product.training is not Training.UNKNOWN:
        yield "training"
    if product.opt_out.available is not None:
        yield "opt_out"
    if product.zero_retention is not None:
        yield "zero_retention"
    if product.dpa is not None:
        yield "dpa"
    if product.residency:
        yield "residency"
    if product.retention != UNKNOWN:
        yield "retention"


def registry_warnings(registry: Registry, today: date, stale_after: timedelta) -> list[Problem]:
    """Records older than `stale_after`, and facts or hosts that no source covers."""
    warnings: list[Problem] = []
    for record in registry.vendors.values():
        document = registry.documents[record.id]
        if record.last_verified + stale_after < today:
            age = (today - record.last_verified).days
            message = f"last verified {record.last_verified} ({age} days ago): the record is stale"
            warnings.append(document.problem(("last_verified",), message, "warning"))
        for p, product in enumerate(record.products):
            for fact in stale_facts(record, product, today, stale_after):
                if fact in product.verified:
                    checked = product.verified[fact]
                    message = f"last verified {checked} ({(today - checked).days} days ago): stale"
                    where = ("products", p, "verified", fact)
                    warnings.append(document.problem(where, message, "warning"))
        covered = {c for source in record.sources for c in source.covers}
        if "hosts" not in covered:
            warnings.append(document.problem(("hosts",), "no source covers the hosts", "warning"))
        if record.jurisdiction and "jurisdiction" not in covered:
            message = "no source covers the jurisdiction"
            warnings.append(document.problem(("jurisdiction",), message, "warning"))
        if record.tenant_restriction and "tenant_restriction" not in covered:
            message = "no source covers the tenant restriction"
            warnings.append(document.problem(("tenant_restriction",), message, "warning"))
        for p, product in enumerate(record.products):
            for fact in known_facts(product):
                if not {fact, f"{product.id}.{fact}"} & covered:
                    message = "no source covers this fact (cover it, or say unknown)"
                    warnings.append(document.problem(("products", p, fact), message, "warning"))
    return warnings
