"""The destinations the analysis tries, every host the configuration names with paths there,
and the checks of a rule that hold or fail at one of them."""

from collections.abc import Iterator
from dataclasses import dataclass

from aiwall.core.decision import RequestInfo
from aiwall.core.engine import CompiledRule, Engine, Subject
from aiwall.core.hostindex import REGION, HostEntry
from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.policy import Product, VendorRecord, host_text
from aiwall.core.reach.classes import STATE_CHECKS, STATES
from aiwall.core.reach.globs import paths
from aiwall.core.rules import RulesFile
from aiwall.core.urls import url_names

_AT_DESTINATION = ("host", "path")  # request checks that depend on the destination only


@dataclass(frozen=True)
class Destination:
    """One host and path, and where the engine routes it."""

    host: str
    path: str
    vendor: VendorRecord | None
    product: Product | None
    residency: tuple[str, ...] = ()  # the host's pin, else the product's

    @property
    def target(self) -> str:
        """`vendor/product`, or `host:name` for a host only the rules name."""
        if self.vendor is None or self.product is None:
            return f"host:{self.host}"
        return self.vendor.ref(self.product)


def destinations(engine: Engine, rules: RulesFile) -> Iterator[Destination]:
    """Every host the configuration names, with a path inside each combination of its patterns."""
    entries = list(_host_entries(engine, rules))
    by_host: dict[str, set[str]] = {}
    for entry in entries:
        # A `{region}` pattern stands for every regional name: one example name stands for it.
        host = entry.host.replace(REGION, "region0")
        by_host.setdefault(host, set()).add(entry.path_prefix)
    globs = sorted({glob for rule in rules.rules for glob in rule.match.path})
    for host in sorted(by_host):
        prefixes = {
            prefix for name in _self_and_parents(host) for prefix in by_host.get(name, ()) if prefix
        }
        for path in paths(frozenset(p + "*" for p in prefixes) | frozenset(globs)):
            route = engine.route(host, path)
            if route is not None:
                yield Destination(host, path, route[0], route[1], route[3])


def _host_entries(engine: Engine, rules: RulesFile) -> Iterator[HostEntry]:
    texts: list[str] = []
    for vendor in engine.registry.vendors.values():
        texts.extend(vendor.hosts)
        for product in vendor.products:
            texts.extend(host_text(spec) for spec in product.hosts)
        for restriction in vendor.tenant_restriction:
            texts.extend(restriction.hosts)
    for rule in rules.rules:
        texts.extend(rule.match.host)
    for text in texts:
        try:
            yield HostEntry.parse(text)
        except InvalidHost:
            continue  # reported by the load


def _self_and_parents(host: str) -> Iterator[str]:
    while True:
        yield host
        dot = host.find(".")
        if dot < 0:
            return
        host = host[dot + 1 :]


def destination_of(engine: Engine, url: str) -> Destination | None:
    """Where a link leads: its host and path, and where the engine routes them."""
    names, path = url_names(url)
    try:
        host = normalise_host(names[0].raw)
    except InvalidHost:
        return None
    route = engine.route(host, path)
    if route is None:
        return None
    return Destination(host, path, route[0], route[1], route[3])


# --- checks at a destination ---------------------------------------------------------------------


def subject_at(
    destination: Destination, state: tuple[bool, tuple[str, ...]] | None = None
) -> Subject:
    """The subject the engine would make of a request to `destination` (facts and place), in
    the record's state today or in the one given."""
    vendor, product = destination.vendor, destination.product
    if state is None:
        doubted = vendor.facts_under_review(product) if vendor and product else ()
        state = (False, doubted)
    request = RequestInfo((), path=destination.path)
    stale, doubted = state
    return Subject(
        destination.host, vendor, product, stale, request, destination.residency, doubted
    )


def holds_at(
    compiled: CompiledRule,
    destination: Destination,
    skip: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
) -> bool:
    """The rule's vendor-fact checks and its host and path checks, at one destination."""
    subject = subject_at(destination)
    checks = [
        *compiled.fact_checks,
        *(c for c in compiled.request_checks if c[0] in _AT_DESTINATION),
    ]
    return all(
        check(subject)
        for name, check in checks
        if name not in skip and (only is None or name in only)
    )


def state_classes(compiled: CompiledRule, destination: Destination) -> frozenset[int]:
    """The record states in which the rule's checks on the state hold."""
    checks = [check for name, check in compiled.fact_checks if name in STATE_CHECKS]
    return frozenset(
        i
        for i, state in enumerate(STATES)
        if all(check(subject_at(destination, state)) for check in checks)
    )
