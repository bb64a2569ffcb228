"""The vendor registry: every vendor record in a policies folder, and the host index over them.

A policies folder is either a plain folder of records or a registry folder, which
`aiwall registry install` manages: its records are those of the installed bundle (the shipped
ones before the first install) with the organisation's own records in `local/` winning over
them. Either may hold `_review.yaml`, the facts `aiwall sources check` put under review.
"""

import importlib.resources
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pydantic import RootModel

from aiwall.core.hostindex import HostEntry, HostIndex
from aiwall.core.hosts import InvalidHost
from aiwall.core.policy import (
    UNKNOWN,
    HostSpec,
    Identifier,
    PinnedHost,
    Product,
    Review,
    Strict,
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
    # Shipped (or bundled) records that the organisation's own records replace, by vendor id.
    shipped: dict[str, tuple[VendorRecord, YamlDocument]] = field(default_factory=dict)
    local: set[str] = field(default_factory=set)  # vendor ids whose record is the organisation's
    reviews: YamlDocument | None = None  # the review marks read with the records, if any

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


# A registry folder, the one `aiwall registry install` manages, holds no records of its own:
INSTALLED_FILE = "_installed.yaml"  # which installed bundle is in use
RELEASES = "releases"  # the installed bundles, one folder per version
OVERLAY = "local"  # the organisation's own records: they win over the bundle's
# In a registry folder or a plain folder of records, beside the records:
REVIEW_FILE = "_review.yaml"  # facts under review, written by `aiwall sources check`


class Installed(Strict):
    """`_installed.yaml`: the bundle version in use, the one before it, the newest ever."""

    current: int
    previous: int | None = None
    newest: int


class Reviews(RootModel[dict[Identifier, tuple[Review, ...]]]):
    """`_review.yaml`: per vendor id, the cited pages that changed since they were verified."""


@dataclass(frozen=True)
class RecordFolders:
    """Where a registry's records come from."""

    base: Path  # the installed bundle's records, the shipped ones, or a plain folder
    overlay: Path | None  # the organisation's own records, in a registry folder
    review: Path


def is_registry_folder(directory: Path) -> bool:
    return (directory / INSTALLED_FILE).is_file() or (directory / OVERLAY).is_dir()


def installed_bundle(directory: Path) -> Installed | None:
    """What `_installed.yaml` says, or None before the first install."""
    if not (directory / INSTALLED_FILE).is_file():
        return None
    return load_yaml(directory / INSTALLED_FILE).validate(Installed)


def record_folders(directory: Path) -> RecordFolders:
    """A plain folder is its own records; a registry folder has its installed bundle's (the
    shipped records before the first install) and the organisation's overlay."""
    if not is_registry_folder(directory):
        return RecordFolders(directory, None, directory / REVIEW_FILE)
    state = installed_bundle(directory)
    base = directory / RELEASES / str(state.current) if state else default_policies_dir()
    return RecordFolders(base, directory / OVERLAY, directory / REVIEW_FILE)


def record_files(directory: Path) -> list[Path]:
    """The vendor records in a folder; `_*.yaml` are aiwall's own files, not records."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("_"))


def load_registry(directory: Path | RecordFolders | None = None) -> Registry:
    """Load a folder of records or a registry folder (bundle, overlay and review marks), or
    the folders given; raise ConfigError listing every problem found."""
    if isinstance(directory, RecordFolders):
        folders = directory
    else:
        folders = record_folders(directory or default_policies_dir())
    files = record_files(folders.base)
    if not files:
        raise ConfigError([Problem(str(folders.base), 1, "(folder)", "holds no vendor records")])
    registry = Registry()
    problems: list[Problem] = []
    for path in files:
        _read_record(path, registry, problems)
    if folders.overlay is not None:
        for path in record_files(folders.overlay):
            shipped = registry.vendors.get(path.stem), registry.documents.get(path.stem)
            if _read_record(path, registry, problems):
                registry.local.add(path.stem)
                if shipped[0] is not None and shipped[1] is not None:
                    registry.shipped[path.stem] = (shipped[0], shipped[1])
    if folders.review.is_file():
        _mark_under_review(registry, folders.review, problems)
    claims: dict[HostEntry, tuple[str, Location]] = {}
    for record in registry.vendors.values():
        document = registry.documents[record.id]
        for location, spec, product in _host_entries(record):
            _index(registry, document, claims, problems, location, spec, record, product)
    if problems:
        raise ConfigError(problems)
    return registry


def _read_record(path: Path, registry: Registry, problems: list[Problem]) -> bool:
    try:
        document = load_yaml(path)
        record = document.validate(VendorRecord)
    except ConfigError as error:
        problems.extend(error.problems)
        return False
    if record.id != path.stem:
        problems.append(document.problem(("id",), f"must match the file name {path.stem!r}"))
        return False
    registry.vendors[record.id] = record
    registry.documents[record.id] = document
    return True


def still_doubted(record: VendorRecord, reviews: Iterable[Review]) -> tuple[Review, ...]:
    """The reviews that still hold: the record cites the page, with a date before the change."""
    dated = {source.url: source.date for source in record.sources}
    return tuple(r for r in reviews if r.url in dated and dated[r.url] < r.changed)


def _mark_under_review(registry: Registry, path: Path, problems: list[Problem]) -> None:
    """Add each review to its record while the record cites the page with an older date."""
    try:
        document = load_yaml(path)
        reviews = document.validate(Reviews).root if document.data is not None else {}
    except ConfigError as error:
        problems.extend(error.problems)
        return
    registry.reviews = document
    for vendor_id, marks in reviews.items():
        record = registry.vendors.get(vendor_id)
        if record is None:
            continue
        if doubted := still_doubted(record, marks):
            update = {"under_review": record.under_review + doubted}
            registry.vendors[vendor_id] = record.model_copy(update=update)


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


UNCOVERED = "no source covers"  # how each fact, host list or jurisdiction without a source begins


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
    return warnings + uncovered(registry)


def uncovered(registry: Registry, severity: str = "warning") -> list[Problem]:
    """Hosts, jurisdictions and stated facts that no source's `covers` names: each fact a
    record states must say which page states it (`aiwall check --strict` makes these errors)."""
    problems: list[Problem] = []
    for record in registry.vendors.values():
        document = registry.documents[record.id]
        covered = {c for source in record.sources for c in source.covers}

        missing: list[tuple[tuple[str | int, ...], str]] = []
        if "hosts" not in covered:
            missing.append((("hosts",), "the hosts"))
        if record.jurisdiction and "jurisdiction" not in covered:
            missing.append((("jurisdiction",), "the jurisdiction"))
        if record.tenant_restriction and "tenant_restriction" not in covered:
            missing.append((("tenant_restriction",), "the tenant restriction"))
        for p, product in enumerate(record.products):
            for fact in known_facts(product):
                if not {fact, f"{product.id}.{fact}"} & covered:
                    missing.append((("products", p, fact), "this fact (cover it, or say unknown)"))
            # A product's own jurisdiction names another entity than the vendor's: the vendor's
            # `jurisdiction` sources do not speak for it.
            if product.jurisdiction and f"{product.id}.jurisdiction" not in covered:
                what = f"this product's jurisdiction (cover it as {product.id}.jurisdiction)"
                missing.append((("products", p, "jurisdiction"), what))
        for where, what in missing:
            problems.append(document.problem(where, f"{UNCOVERED} {what}", severity))
    return problems
