"""The rules engine: rules compiled once against the registry, then a decision per request.

Each rule becomes a list of checks. Checks on vendor facts depend only on the product (and
on whether its record is stale or has facts under review), so for each product the rules that
could ever match it are worked out once and cached; per request only the checks on the
request itself run.
"""

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiwall.core.decision import (
    Decision,
    HostName,
    NameOutcome,
    RequestInfo,
    RuleTrial,
    ShadowOutcome,
    TenantHeader,
)
from aiwall.core.hostindex import HostEntry, HostIndex
from aiwall.core.hosts import InvalidHost, normalise_host, redacted
from aiwall.core.policy import UNKNOWN, Product, VendorRecord
from aiwall.core.registry import Registry, is_stale
from aiwall.core.rules import Action, Identity, Match, Mode, Rule, RulesFile, Settings


@dataclass(frozen=True)
class Subject:
    """One AI destination of a request, as the checks see it."""

    host: str
    vendor: VendorRecord | None
    product: Product | None
    stale: bool
    request: RequestInfo
    residency: tuple[str, ...] = ()  # the host's pin, else the product's
    under_review: tuple[str, ...] = ()  # the product's facts whose source changed


Check = tuple[str, Callable[[Subject], bool]]
# Where an AI host goes: vendor and product (None for a host only a rule names), tenant header,
# and where the host keeps data (a data-residency endpoint pins it; else the product's facts).
Route = tuple[VendorRecord | None, Product | None, "TenantHeader | None", tuple[str, ...]]

FACT_FIELDS = (
    "vendor",
    "product",
    "kind",
    "training",
    "residency",
    "residency_outside",
    "jurisdiction",
    "zero_retention",
    "dpa",
    "retention_over",
    "confidence",
    "stale",
    "under_review",
)


CandidateKey = tuple[str | None, str | None, bool, tuple[str, ...], bool]


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    fact_checks: tuple[Check, ...]
    request_checks: tuple[Check, ...]

    def first_failure(self, subject: Subject, checks: tuple[Check, ...]) -> str | None:
        for name, check in checks:
            if not check(subject):
                return name
        return None

    def facts_used(self, subject: Subject) -> dict[str, Any]:
        return {name: fact_value(subject, name) for name, _ in self.fact_checks}


@dataclass(frozen=True)
class TenantBinding:
    vendor_id: str
    header: TenantHeader
    product_id: str | None
    entry: HostEntry


def fact_value(subject: Subject, name: str) -> Any:
    """The value of one vendor fact as a rule saw it (for logs and explain)."""
    vendor, product = subject.vendor, subject.product
    if vendor is None or product is None:
        return None
    values: dict[str, Any] = {
        "vendor": vendor.id,
        "product": vendor.ref(product),
        "kind": str(vendor.kind_of(product)),
        "training": str(product.training),
        "residency": list(subject.residency),
        "residency_outside": list(subject.residency),
        "jurisdiction": list(vendor.jurisdiction_of(product)),
        "zero_retention": _known(product.zero_retention),
        "dpa": _known(product.dpa),
        "retention_over": product.retention,
        "confidence": str(vendor.confidence_of(product)),
        "stale": subject.stale,
        "under_review": list(subject.under_review),
    }
    return values[name]


def _known(value: bool | None) -> bool | str:
    return "unknown" if value is None else value


class Engine:
    """Decides requests against one registry and one rules file."""

    def __init__(
        self,
        registry: Registry,
        rules: RulesFile,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.registry = registry
        self.rules = rules
        self.settings: Settings = rules.settings
        self._today = today
        self.compiled = tuple(_compile(rule, rules) for rule in rules.rules)
        self._org_hosts: HostIndex[bool] = HostIndex()
        for rule in rules.rules:
            for host in rule.match.host:
                self._org_hosts.add(HostEntry.parse(host), True)
        self._tenants = _tenant_index(registry, rules)
        self._candidates: dict[CandidateKey, tuple[CompiledRule, ...]] = {}
        self._stale: dict[str, tuple[date, bool]] = {}

    def concerns(self, names: tuple[HostName, ...], path: str) -> bool:
        """Whether any name is invalid or AI traffic: only such a request needs deciding."""
        for name in names:
            try:
                host = normalise_host(name.raw)
            except InvalidHost:
                return True
            if self.route(host, path) is not None:
                return True
        return False

    def must_look_inside(self, names: tuple[HostName, ...]) -> bool:
        """Whether a TLS connection known only by these names (CONNECT target, SNI) must be
        decrypted for its requests to be judged: a name is AI or invalid, or an AI product
        lives on a path of its host (`github.com/copilot`), which only the requests show."""
        decision = self.decide(RequestInfo(names, "CONNECT"))
        if decision.ai or decision.invalid:
            return True
        for name in names:
            try:
                host = normalise_host(name.raw)
            except InvalidHost:
                continue
            if self.registry.index.has_paths(host) or self._org_hosts.has_paths(host):
                return True
        return False

    def decide(self, request: RequestInfo, explain: bool = False) -> Decision:
        """The strictest outcome over every name the request carries."""
        names, subjects, headers = self._subjects(request)
        invalid = next((n for n in names if n.invalid), None)
        if invalid is not None:
            reason = f"invalid host name in {invalid.seen_in}: {invalid.invalid}"
            return Decision(Action.BLOCK, True, reason, names=names, invalid=invalid.invalid)
        if not subjects:
            return Decision(Action.ALLOW, False, "not AI traffic", names=names)
        decisions = [self._decide_subject(s, explain) for s in subjects]
        strictest = max(decisions, key=lambda d: d.action.strictness)
        shadow = tuple(s for d in decisions for s in d.shadow)
        warned = tuple(d for d in decisions if d.action is Action.WARN)
        return Decision(
            strictest.action,
            True,
            strictest.reason,
            host=strictest.host,
            vendor=strictest.vendor,
            product=strictest.product,
            rule=strictest.rule,
            facts=strictest.facts,
            shadow=shadow,
            stale=strictest.stale,
            names=names,
            tenant_headers=headers,
            trace=strictest.trace,
            warned=warned if strictest.action is Action.WARN else (),
            residency=strictest.residency,
        )

    def _subjects(
        self, request: RequestInfo
    ) -> tuple[tuple[NameOutcome, ...], list[Subject], tuple[TenantHeader, ...]]:
        names: list[NameOutcome] = []
        subjects: dict[str, Subject] = {}
        headers: dict[str, TenantHeader] = {}
        routed: dict[str, Route | None] = {}  # CONNECT, SNI and Host mostly agree: route once
        for name in request.names:
            try:
                host = normalise_host(name.raw)
            except InvalidHost as error:
                raw = redacted(name.raw)
                names.append(NameOutcome(name.seen_in, raw, None, invalid=error.reason))
                continue
            if host in routed:
                destination = routed[host]
            else:
                destination = routed[host] = self.route(host, request.path)
            if destination is None:
                names.append(NameOutcome(name.seen_in, name.raw, host))
                continue
            vendor, product, header, residency = destination
            if header is not None:
                headers[header.name.lower()] = header
            vendor_id = vendor.id if vendor else None
            product_id = product.id if product else None
            names.append(NameOutcome(name.seen_in, name.raw, host, True, vendor_id, product_id))
            if host not in subjects:
                stale = vendor is not None and self._is_stale(vendor)
                doubted = vendor.facts_under_review(product) if vendor and product else ()
                subjects[host] = Subject(host, vendor, product, stale, request, residency, doubted)
        return tuple(names), list(subjects.values()), tuple(headers.values())

    def _is_stale(self, vendor: VendorRecord) -> bool:
        """Whether a record is stale today (worked out once a day per record)."""
        today = self._today()
        cached = self._stale.get(vendor.id)
        if cached is None or cached[0] != today:
            cached = self._stale[vendor.id] = (
                today,
                is_stale(vendor, today, self.settings.stale_after),
            )
        return cached[1]

    def route(self, host: str, path: str) -> Route | None:
        """Vendor, product and tenant header for an AI host; None for other traffic."""
        resolution = self.registry.resolve(host, path)
        if resolution is None:
            org_host = self._org_hosts.resolve(host) is not None
            return (None, None, None, ()) if org_host else None
        vendor, product = resolution.vendor, resolution.product
        binding = self._tenants.resolve(host)
        if binding is None or binding.vendor_id != vendor.id:
            return vendor, product, None, resolution.residency
        # A product with its own, more specific host (the API) or its own path on the host
        # (logged-out ChatGPT under chatgpt.com/backend-anon/) stays what it is.
        entry = resolution.entry
        if (
            binding.product_id
            and not entry.path_prefix
            and len(binding.entry.host) >= len(entry.host)
        ):
            product = vendor.product(binding.product_id)
            return vendor, product, binding.header, resolution.pinned or product.residency
        return vendor, product, binding.header, resolution.residency

    def _decide_subject(self, subject: Subject, explain: bool) -> Decision:
        shadow: list[ShadowOutcome] = []
        trace: list[RuleTrial] = []
        deciding: CompiledRule | None = None
        for compiled in self._rules_for(subject, explain):
            checks = compiled.fact_checks + compiled.request_checks if explain else ()
            failed = compiled.first_failure(subject, checks or compiled.request_checks)
            if explain:
                trace.append(RuleTrial(compiled.rule, failed is None, failed))
            if failed is not None:
                continue
            if compiled.rule.mode is Mode.SHADOW:
                shadow.append(ShadowOutcome(compiled.rule, compiled.rule.action))
                continue
            deciding = compiled
            break
        if deciding is None:
            action = self.settings.default_action
            reason = f"no rule matched: the default action is {action}"
            rule, facts = None, {}
        else:
            action, rule = deciding.rule.action, deciding.rule
            reason = f"rule {rule.id}: {rule.description}"
            facts = deciding.facts_used(subject)
        return Decision(
            action,
            True,
            reason,
            host=subject.host,
            vendor=subject.vendor,
            product=subject.product,
            rule=rule,
            facts=facts,
            shadow=tuple(shadow),
            stale=subject.stale,
            trace=tuple(trace),
            residency=subject.residency,
        )

    def _rules_for(self, subject: Subject, explain: bool) -> tuple[CompiledRule, ...]:
        """The rules whose fact checks hold for this product (all of them when explaining)."""
        if explain:
            return self.compiled
        vendor_id = subject.vendor.id if subject.vendor else None
        product_id = subject.product.id if subject.product else None
        key = (vendor_id, product_id, subject.stale, subject.residency, bool(subject.under_review))
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = tuple(
                c for c in self.compiled if c.first_failure(subject, c.fact_checks) is None
            )
            self._candidates[key] = candidates
        return candidates


def _tenant_index(registry: Registry, rules: RulesFile) -> HostIndex[TenantBinding]:
    """Hosts on which the organisation's tenant header goes, per configured vendor."""
    index: HostIndex[TenantBinding] = HostIndex()
    for vendor_id, by_header in rules.tenants.items():
        vendor = registry.vendors[vendor_id]
        configured = {header.lower(): ids for header, ids in by_header.items()}
        for restriction in vendor.tenant_restriction:
            ids = configured.get(restriction.header.lower())
            if not ids:
                continue
            header = TenantHeader(restriction.header, restriction.separator.join(ids))
            for host in restriction.hosts:
                entry = HostEntry.parse(host)
                index.add(entry, TenantBinding(vendor_id, header, restriction.product, entry))
    return index


def _compile(rule: Rule, rules: RulesFile) -> CompiledRule:
    match = rule.match
    return CompiledRule(rule, tuple(_fact_checks(match)), tuple(_request_checks(match, rules)))


def _has_facts(
    check: Callable[[VendorRecord, Product, Subject], bool],
) -> Callable[[Subject], bool]:
    """A fact check never holds for a host that only the organisation's rules name."""

    def checked(subject: Subject) -> bool:
        if subject.vendor is None or subject.product is None:
            return False
        return check(subject.vendor, subject.product, subject)

    return checked


def _fact_checks(match: Match) -> Iterator[Check]:
    if match.vendor:
        vendors = frozenset(match.vendor)
        yield "vendor", _has_facts(lambda v, p, s: v.id in vendors)
    if match.product:
        products = frozenset(match.product)
        yield "product", _has_facts(lambda v, p, s: v.ref(p) in products)
    if match.kind:
        kinds = frozenset(match.kind)
        yield "kind", _has_facts(lambda v, p, s: v.kind_of(p) in kinds)
    if match.training:
        training = frozenset(match.training)
        yield "training", _has_facts(lambda v, p, s: p.training in training)
    if match.residency:
        inside = frozenset(match.residency)
        yield "residency", _has_facts(lambda v, p, s: _any_of(s.residency, inside))
    if match.residency_outside:
        allowed = frozenset(match.residency_outside)
        yield (
            "residency_outside",
            _has_facts(
                lambda v, p, s: not s.residency or any(c not in allowed for c in s.residency)
            ),
        )
    if match.jurisdiction:
        law = frozenset(match.jurisdiction)
        yield "jurisdiction", _has_facts(lambda v, p, s: _any_of(v.jurisdiction_of(p), law))
    if match.zero_retention:
        zdr = frozenset(match.zero_retention)
        yield "zero_retention", _has_facts(lambda v, p, s: _known(p.zero_retention) in zdr)
    if match.dpa:
        dpa = frozenset(match.dpa)
        yield "dpa", _has_facts(lambda v, p, s: _known(p.dpa) in dpa)
    if (limit := match.retention_over) is not None:
        yield "retention_over", _has_facts(lambda v, p, s: p.retention_exceeds(limit))
    if match.confidence:
        confidence = frozenset(match.confidence)
        yield "confidence", _has_facts(lambda v, p, s: v.confidence_of(p) in confidence)
    if (stale := match.stale) is not None:
        yield "stale", _has_facts(lambda v, p, s: s.stale == stale)
    if (doubted := match.under_review) is not None:
        yield "under_review", _has_facts(lambda v, p, s: bool(s.under_review) == doubted)


def product_filter(match: Match) -> Callable[[VendorRecord, Product], bool]:
    """Whether a product's own facts hold for a match's vendor-fact fields, judged as a rule
    judges them (`aiwall vendors` filters with it): `unknown` matches only where listed, and a
    record is never stale here (staleness depends on the rules' settings)."""
    checks = tuple(check for _, check in _fact_checks(match))

    def holds(vendor: VendorRecord, product: Product) -> bool:
        subject = Subject(
            "", vendor, product, False, RequestInfo(()), product.residency,
            vendor.facts_under_review(product),
        )  # fmt: skip
        return all(check(subject) for check in checks)

    return holds


def _any_of(codes: tuple[str, ...], wanted: frozenset[str]) -> bool:
    """Any of the record's region codes is wanted; a record with none is `unknown`."""
    return any(c in wanted for c in codes) if codes else UNKNOWN in wanted


def users_known(settings: Settings) -> bool:
    """Rules see proxy-auth user names only when settings.identity uses them."""
    return Identity.PROXY_AUTH in settings.identity


def _request_checks(match: Match, rules: RulesFile) -> Iterator[Check]:
    known = users_known(rules.settings)
    if match.host:
        hosts: HostIndex[bool] = HostIndex()
        for host in match.host:
            hosts.add(HostEntry.parse(host), True)
        yield "host", lambda s: hosts.resolve(s.host, s.request.path) is not None
    if match.group:
        groups = tuple((name, rules.groups[name]) for name in match.group)
        yield (
            "group",
            lambda s: any(
                (known and name in s.request.groups)
                or g.has(s.request.user if known else None, s.request.client_ip)
                for name, g in groups
            ),
        )
    if match.user:
        named = frozenset(match.user)
        yield "user", lambda s: known and s.request.user in named
    if match.network:
        listed = tuple(match.network)
        yield "network", lambda s: _in_networks(s, listed)
    if match.method:
        methods = frozenset(match.method)
        yield "method", lambda s: s.request.method.upper() in methods
    if match.path:
        pattern = re.compile("|".join(fnmatch.translate(p) for p in match.path))
        yield "path", lambda s: pattern.match(s.request.path) is not None
    if match.upload is not None:
        wanted = match.upload
        # `false` is the opposite of `true` (settings.upload_size), not "no body at all".
        threshold = rules.settings.upload_size if isinstance(wanted, bool) else int(wanted)
        expected = wanted is not False
        yield "upload", lambda s: _is_upload(s.request, threshold) == expected


def _in_networks(subject: Subject, networks: tuple[Any, ...]) -> bool:
    ip = subject.request.client_ip
    return ip is not None and any(ip in network for network in networks)


def _is_upload(request: RequestInfo, threshold: int) -> bool:
    """Multipart, a body above the threshold, or a body of unknown (chunked) length."""
    if request.multipart or request.chunked:
        return True
    return request.body_size is not None and request.body_size > threshold
