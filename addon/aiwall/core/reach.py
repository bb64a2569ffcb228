"""What each rule can ever decide: the rules analysed against the registry, before any request.

`aiwall check` reports a rule that can never decide (a shadow rule: never be recorded), naming
the earlier rule or the setting that stops it; how many products each rule can match and
decide; how many it cannot judge because a fact is unknown; approved alternatives that the
same rules block or warn; and tenant bindings that take a product some rule names out of reach.

How. A request is its destination (host and path) plus five things rules look at besides: the
user, the client address, the method, the upload, and the state of the record: stale or not,
facts under review or not (both change while the rules stay as they are). Each of the
five is cut into finitely many classes (every user a rule names and one other, the address
ranges the networks carve out, ...) such that every rule holds for a whole class or not at all.
Destinations are every host the registry, the tenants and the rules name, each with paths that
fall inside every combination of the path patterns there. Per destination, the rules are walked
in order over sets of classes ("cubes"): what an enforcing rule matches is taken away from what
is left for the rules after it. Routing and every check are the engine's own, run on examples.
"""

import fnmatch
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property

from aiwall.core.config import Config
from aiwall.core.decision import RequestInfo
from aiwall.core.engine import CompiledRule, Engine, Subject, users_known
from aiwall.core.hostindex import REGION, HostEntry
from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.policy import UNKNOWN, Product, Training, VendorRecord, host_text
from aiwall.core.rules import HTTP_METHODS, Action, IPAddress, Mode, Rule, RulesFile
from aiwall.core.urls import url_names
from aiwall.core.yamlsource import Problem, YamlDocument

Cube = tuple[frozenset[int], ...]  # per dimension, the classes it holds
USER, IP, METHOD, UPLOAD, STATE = range(5)
# Checks on the record's state, which time and review marks change without a change of rules.
_STATE_CHECKS = ("stale", "under_review")
# The states: (stale, facts under review); any fact under review counts the same.
_STATES = ((False, ()), (False, ("training",)), (True, ()), (True, ("training",)))
_SINGLE_DIMENSION = {"user": USER, "network": IP, "method": METHOD, "upload": UPLOAD}
_AT_DESTINATION = ("host", "path")  # request checks that depend on the destination only

# Facts a record may leave unknown, and how to tell at one destination (a regional host may
# pin the residency its product leaves unknown).
_UNKNOWN_FACTS: dict[str, Callable[[VendorRecord, Product, "Destination"], bool]] = {
    "training": lambda v, p, d: p.training is Training.UNKNOWN,
    "residency": lambda v, p, d: not d.residency,
    "residency_outside": lambda v, p, d: not d.residency,
    "jurisdiction": lambda v, p, d: not v.jurisdiction_of(p),
    "zero_retention": lambda v, p, d: p.zero_retention is None,
    "dpa": lambda v, p, d: p.dpa is None,
    "retention_over": lambda v, p, d: p.retention == UNKNOWN,
}


@dataclass(frozen=True)
class Body:
    """One class of request body, as the upload check sees it."""

    size: int | None
    multipart: bool


@dataclass(frozen=True)
class Classes:
    """The classes of each dimension; a cube holds indices into these."""

    users: tuple[tuple[str | None, frozenset[str]], ...]  # a user and its directory groups
    ips: tuple[IPAddress, ...]
    methods: tuple[str, ...]
    bodies: tuple[Body, ...]

    def full(self) -> Cube:
        sizes = (len(self.users), len(self.ips), len(self.methods), len(self.bodies), len(_STATES))
        return tuple(frozenset(range(n)) for n in sizes)

    def probe(self, dimension: int, index: int) -> RequestInfo:
        """A request that differs from a plain GET in one dimension only."""
        if dimension == USER:
            user, groups = self.users[index]
            return RequestInfo((), user=user, groups=groups)
        if dimension == IP:
            return RequestInfo((), client_ip=self.ips[index])
        if dimension == METHOD:
            return RequestInfo((), method=self.methods[index])
        body = self.bodies[index]
        return RequestInfo((), body_size=body.size, multipart=body.multipart)


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


@dataclass
class RuleReach:
    """What one rule can match (ignoring the rules before it) and decide (given them)."""

    index: int
    rule: Rule
    matches: set[str] = field(default_factory=set)  # targets: vendor/product or host:name
    decides: set[str] = field(default_factory=set)
    blockers: set[int] = field(default_factory=set)  # earlier rules that take its requests
    covers: set[int] | None = None  # earlier rules that each take all of them (None: none seen)
    never: str | None = None  # why it never decides
    unknown: list[str] = field(default_factory=list)  # `residency unknown for 12 products: ...`

    @property
    def label(self) -> str:
        return f"rules[{self.index}] ({self.rule.id})"

    @property
    def verb(self) -> str:
        return "records" if self.rule.mode is Mode.SHADOW else "decides"

    def summary(self) -> str:
        shown = f"{self.label} {self.rule.action}"
        if self.rule.mode is Mode.SHADOW:
            shown += " (shadow)"
        if self.never:
            return f"{shown}: can match {_count(self.matches)}; {self.verb} none"
        return f"{shown}: can match {_count(self.matches)}; {self.verb} {_count(self.decides)}"


@dataclass
class Analysis:
    rules: list[RuleReach]
    products: set[str]  # every product some request reaches
    default: set[str]  # targets some request falls through to settings.default_action
    default_action: Action
    problems: list[Problem]

    def lines(self) -> Iterator[str]:
        """The summary `aiwall check` prints: a line per rule, then the default action."""
        for reach in self.rules:
            yield reach.summary()
            for note in reach.unknown:
                yield f"  {note}"
        yield f"settings.default_action {self.default_action}: {_count(self.default)} can reach it"


def analyse(config: Config) -> Analysis:
    """Every rule of the configuration, analysed; findings as problems of the rules file."""
    return _Analyser(config.engine, config.rules_document).run()


class _Analyser:
    def __init__(self, engine: Engine, document: YamlDocument) -> None:
        self.engine = engine
        self.rules: RulesFile = engine.rules
        self.document = document
        self.compiled = engine.compiled
        self.classes = _classes(self.rules)
        self.request_cubes = [self._request_cubes(c) for c in self.compiled]
        self.destinations = list(_destinations(engine, self.rules))
        self._sweeps: dict[tuple[object, ...], _Sweep] = {}

    def run(self) -> Analysis:
        reaches = [RuleReach(i, c.rule) for i, c in enumerate(self.compiled)]
        default: set[str] = set()
        full = self.classes.full()
        for destination in self.destinations:
            sweep = self._sweep(destination, full)
            for i, reach in enumerate(reaches):
                if sweep.matches[i]:
                    reach.matches.add(destination.target)
                    reach.blockers |= sweep.blockers[i]
                    covers = set(sweep.covers[i])
                    reach.covers = covers if reach.covers is None else reach.covers & covers
                if sweep.decides[i]:
                    reach.decides.add(destination.target)
            if sweep.default:
                default.add(destination.target)
        products = {d.target for d in self.destinations if d.vendor is not None}
        problems: list[Problem] = []
        for reach in reaches:
            if not reach.decides:
                reach.never = self._why_never(reach)
                message = f"never {reach.verb}: {reach.never}"
                problems.append(self._problem(("rules", reach.index), reach.label, message))
            reach.unknown = list(self._unknown_notes(reach.index))
        problems.extend(self._alternatives())
        problems.extend(self._tenants())
        problems.extend(self._ignored_users())
        default_action = self.rules.settings.default_action
        return Analysis(reaches, products, default, default_action, problems)

    def _problem(
        self, location: tuple[str | int, ...], label: str, message: str, severity: str = "error"
    ) -> Problem:
        line = self.document.line_of(location)
        return Problem(str(self.document.path), line, label, message, severity)

    # --- the walk over the rules -------------------------------------------------------------

    def _request_cubes(self, compiled: CompiledRule) -> list[Cube]:
        """The classes of user, address, method and body the rule's request checks admit (any
        state); a group (users or networks) makes two cubes."""
        cube = list(self.classes.full())
        group: Callable[[Subject], bool] | None = None
        for name, check in compiled.request_checks:
            if name in _SINGLE_DIMENSION:
                dim = _SINGLE_DIMENSION[name]
                cube[dim] = frozenset(i for i in cube[dim] if check(self._probe(dim, i)))
            elif name == "group":
                group = check
        if group is None:
            return [tuple(cube)] if all(cube) else []
        cubes = []
        for dim in (USER, IP):
            alternative = list(cube)
            alternative[dim] = frozenset(i for i in cube[dim] if group(self._probe(dim, i)))
            if all(alternative):
                cubes.append(tuple(alternative))
        return cubes

    def _probe(self, dimension: int, index: int) -> Subject:
        return Subject("probe.invalid", None, None, False, self.classes.probe(dimension, index))

    def _rule_cubes(self, destination: Destination) -> tuple[tuple[Cube, ...], ...]:
        """Each rule's cubes at one destination: none where its fixed checks fail there."""
        cubes: list[tuple[Cube, ...]] = []
        for compiled, request_cubes in zip(self.compiled, self.request_cubes, strict=True):
            states = _state_classes(compiled, destination)
            if not states or not _holds_at(compiled, destination, skip=_STATE_CHECKS):
                cubes.append(())
                continue
            cubes.append(tuple((*c[:STATE], states) for c in request_cubes))
        return tuple(cubes)

    def _sweep(self, destination: Destination, start: Cube) -> "_Sweep":
        rule_cubes = self._rule_cubes(destination)
        key = (rule_cubes, start)
        if (sweep := self._sweeps.get(key)) is None:
            enforcing = [c.rule.mode is Mode.ENFORCE for c in self.compiled]
            sweep = self._sweeps[key] = _Sweep.walk(rule_cubes, enforcing, start)
        return sweep

    # --- why a rule never decides --------------------------------------------------------------

    def _why_never(self, reach: RuleReach) -> str:
        if reach.matches:
            earlier = [min(reach.covers)] if reach.covers else sorted(reach.blockers)
            names = _and(f"rules[{j}] ({self.compiled[j].rule.id})" for j in earlier)
            verb = "decides" if len(earlier) == 1 else "decide between them"
            return f"{names} {verb} every request it matches first"
        return self._why_no_match(self.compiled[reach.index])

    def _why_no_match(self, compiled: CompiledRule) -> str:
        match = compiled.rule.match
        settings = self.rules.settings
        identity = "[" + ", ".join(settings.identity) + "]"
        if match.user and not users_known(settings):
            return f"match.user: settings.identity is {identity}, so user names are never known"
        cubes = self._request_cubes(compiled)
        if not cubes:
            if match.group and not users_known(settings):
                names = ", ".join(match.group)
                return (
                    f"match.group {names}: its members are named by user, and settings.identity"
                    f" is {identity}, so user names are never known"
                )
            return "no request has all of its " + _fields(compiled.request_checks)
        reached = [
            d
            for d in self.destinations
            if _holds_at(compiled, d, skip=_STATE_CHECKS, only=("host",))
        ]
        for name, check in compiled.fact_checks:
            if name not in _STATE_CHECKS and not any(
                d.vendor is not None and check(_subject(d)) for d in self.destinations
            ):
                return self._no_product_has(compiled.rule, name)
        if match.host and compiled.fact_checks and all(d.vendor is None for d in reached):
            facts = ", ".join(f"match.{name}" for name, _ in compiled.fact_checks)
            return (
                f"match.host names hosts no vendor record covers, where vendor facts ({facts})"
                " never hold"
            )
        if match.path:
            seen = {
                f"{d.host}{d.path}"
                for d in self.destinations
                if _holds_at(compiled, d, skip=(*_STATE_CHECKS, "path"))
            }
            places = sorted(p for p in seen if not any(p != q and p.startswith(q) for q in seen))
            shown = _and(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
            return (
                f"match.path {', '.join(match.path)}: what else it matches is only reached"
                f" at {shown or 'no host'}, and not under that path"
            )
        checks = [*compiled.fact_checks, *compiled.request_checks]
        return "no product and request meet all of its " + _fields(checks)

    def _no_product_has(self, rule: Rule, name: str) -> str:
        match = rule.match
        if name == "product":
            return "; ".join(self._unreached_product(p) for p in match.product)
        values = getattr(match, name)
        shown = (
            ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            if isinstance(values, tuple)
            else str(values)
        )
        message = f"match.{name} [{shown}]: no product reached has it"
        if name in _UNKNOWN_FACTS:
            unknown = len({d.target for v, p, d in self._products if _UNKNOWN_FACTS[name](v, p, d)})
            if unknown:
                message += f" ({unknown} products do not say: list unknown to match them)"
        return message

    def _unreached_product(self, reference: str) -> str:
        found = self.engine.registry.find_product(reference)
        if found is None:
            return f"no product {reference}"
        vendor = found[0]
        bound = [d for d in self._without_tenants if d.target == reference]
        if bound and vendor.id in self.rules.tenants:
            hosts = ", ".join(sorted({d.host for d in bound}))
            return (
                f"match.product {reference} is never reached: tenants.{vendor.id} binds its"
                f" hosts ({hosts}) to the tenant's product"
            )
        return f"match.product {reference} is never reached: no host leads to it"

    @cached_property
    def _products(self) -> list[tuple[VendorRecord, Product, Destination]]:
        """Every product some request reaches, once per residency its hosts give it."""
        found = {
            (d.target, d.residency): (d.vendor, d.product, d)
            for d in self.destinations
            if d.vendor is not None and d.product is not None
        }
        return list(found.values())

    # --- unknown facts ---------------------------------------------------------------------------

    def _unknown_notes(self, index: int) -> Iterator[str]:
        """Per fact the rule judges: how many products it selects otherwise do not say."""
        compiled = self.compiled[index]
        for name, check in compiled.fact_checks:
            if name not in _UNKNOWN_FACTS:
                continue
            others = [c for n, c in compiled.fact_checks if n != name and n not in _STATE_CHECKS]
            unknown = [
                d
                for v, p, d in self._products
                if _UNKNOWN_FACTS[name](v, p, d) and all(c(_subject(d)) for c in others)
            ]
            if not unknown:
                continue
            matched = check(_subject(unknown[0]))
            counted = f"{name} unknown for {_count_products(len({d.target for d in unknown}))}"
            if name in ("residency_outside", "retention_over"):
                counts_as = "outside" if name == "residency_outside" else "over"
                yield f"{counted}: matched (unknown counts as {counts_as})"
            elif matched:
                yield f"{counted}: matched (the rule lists unknown)"
            else:
                yield f"{counted}: it cannot judge them (not matched; list unknown to match them)"

    # --- alternatives, tenants, identity ------------------------------------------------------

    def _alternatives(self) -> Iterator[Problem]:
        """An approved alternative the same rules block or warn, for someone the rule covers."""
        for i, compiled in enumerate(self.compiled):
            alternative = compiled.rule.alternative
            if alternative is None:
                continue
            destination = self._destination_of(alternative.url)
            if destination is None:
                continue
            outcomes: dict[str, set[int]] = {}
            for cube in self.request_cubes[i]:
                # Following the link: a GET without a body, by the people the rule applies to.
                get = frozenset({self.classes.methods.index("GET")})
                plain = frozenset({self.classes.bodies.index(Body(None, False))})
                start = (cube[USER], cube[IP], get, plain, self.classes.full()[STATE])
                sweep = self._sweep(destination, start)
                for j, decided in enumerate(sweep.decides):
                    rule = self.compiled[j].rule
                    if decided and rule.mode is Mode.ENFORCE:
                        outcomes.setdefault(str(rule.action), set()).add(j)
                if sweep.default:
                    outcomes.setdefault(str(self.rules.settings.default_action), set()).add(-1)
            for action in (Action.BLOCK, Action.WARN):
                if action in outcomes:
                    by = ", ".join(
                        f"rules[{j}] ({self.compiled[j].rule.id})" if j >= 0 else "the default"
                        for j in sorted(outcomes[action])
                    )
                    message = (
                        f"{alternative.url} is itself {_past(action)} by {by} for people this"
                        " rule applies to: the page would send them to another refusal"
                    )
                    location = ("rules", i, "alternative", "url")
                    yield self._problem(
                        location, f"rules[{i}] ({compiled.rule.id}).alternative", message
                    )
                    break

    def _destination_of(self, url: str) -> Destination | None:
        names, path = url_names(url)
        try:
            host = normalise_host(names[0].raw)
        except InvalidHost:
            return None
        route = self.engine.route(host, path)
        if route is None:
            return None
        return Destination(host, path, route[0], route[1], route[3])

    @cached_property
    def _without_tenants(self) -> list[Destination]:
        """The destinations as they would be without any tenant binding."""
        bare = Engine(self.engine.registry, self.rules.model_copy(update={"tenants": {}}))
        return list(_destinations(bare, self.rules))

    def _tenants(self) -> Iterator[Problem]:
        """A tenant binding that takes a product some rule names away from some of its hosts."""
        if not self.rules.tenants:
            return
        now = {(d.host, d.path): d.target for d in self.destinations}
        named = {ref: i for i, c in enumerate(self.compiled) for ref in c.rule.match.product}
        lost: dict[tuple[str, str], set[str]] = {}
        bound_to: dict[tuple[str, str], set[str]] = {}
        for before in self._without_tenants:
            after = now.get((before.host, before.path))
            if before.target in named and after != before.target and before.vendor is not None:
                lost.setdefault((before.vendor.id, before.target), set()).add(before.host)
                bound_to.setdefault((before.vendor.id, before.target), set()).add(str(after))
        for (vendor_id, reference), hosts in sorted(lost.items()):
            products = ", ".join(sorted(bound_to[(vendor_id, reference)]))
            i = named[reference]
            still = sorted({d.host for d in self.destinations if d.target == reference})
            more = f" and {len(still) - 3} more" if len(still) > 3 else ""
            where = (
                f"still reached on {', '.join(still[:3])}{more}" if still else "reached nowhere now"
            )
            message = (
                f"binds {', '.join(sorted(hosts))} to {products}: rules[{i}]"
                f" ({self.compiled[i].rule.id}) names {reference}, which is not reached there"
                f" any more ({where}); see the tenants section of rules.example.yaml"
            )
            yield self._problem(("tenants", vendor_id), f"tenants.{vendor_id}", message, "warning")

    def _ignored_users(self) -> Iterator[Problem]:
        settings = self.rules.settings
        if users_known(settings):
            return
        identity = "[" + ", ".join(settings.identity) + "]"
        for name, group in self.rules.groups.items():
            if group.users:
                also = "only its networks count" if group.networks else "it never matches"
                message = f"settings.identity is {identity}, so user names are never known: {also}"
                yield self._problem(
                    ("groups", name, "users"), f"groups.{name}.users", message, "warning"
                )


@dataclass(frozen=True)
class _Sweep:
    """The walk over the rules at one destination, from one starting cube."""

    matches: tuple[bool, ...]
    decides: tuple[bool, ...]
    # Per rule, the earlier enforcing rules that take some of its requests, and those that take
    # all of them on their own.
    blockers: tuple[frozenset[int], ...]
    covers: tuple[frozenset[int], ...]
    default: bool

    @classmethod
    def walk(
        cls, rule_cubes: tuple[tuple[Cube, ...], ...], enforcing: list[bool], start: Cube
    ) -> "_Sweep":
        left = [start]
        matches, decides, blockers, covers = [], [], [], []
        taken: list[tuple[int, list[Cube]]] = []  # earlier enforcing rules and their cubes
        for i, cubes in enumerate(rule_cubes):
            mine = [c for cube in cubes if (c := _intersect(cube, start)) is not None]
            matches.append(bool(mine))
            decides.append(any(_intersect(a, b) is not None for a in left for b in mine))
            blockers.append(
                frozenset(
                    j
                    for j, theirs in taken
                    if any(_intersect(a, b) is not None for a in mine for b in theirs)
                )
            )
            covers.append(frozenset(j for j, theirs in taken if not _subtract_all(mine, theirs)))
            if enforcing[i] and mine:
                left = _subtract_all(left, mine)
                taken.append((i, mine))
        return cls(tuple(matches), tuple(decides), tuple(blockers), tuple(covers), bool(left))


def _intersect(a: Cube, b: Cube) -> Cube | None:
    cube = tuple(x & y for x, y in zip(a, b, strict=True))
    return cube if all(cube) else None


def _subtract(a: Cube, b: Cube) -> list[Cube]:
    """a without b, as disjoint cubes."""
    if _intersect(a, b) is None:
        return [a]
    pieces = []
    rest = list(a)
    for dim, (mine, theirs) in enumerate(zip(a, b, strict=True)):
        if outside := mine - theirs:
            pieces.append((*rest[:dim], outside, *rest[dim + 1 :]))
        rest[dim] = mine & theirs
    return pieces


def _subtract_all(cubes: list[Cube], taken: list[Cube]) -> list[Cube]:
    for cut in taken:
        cubes = [piece for cube in cubes for piece in _subtract(cube, cut)]
    return list(dict.fromkeys(cubes))


# --- classes of each dimension -----------------------------------------------------------------


def _classes(rules: RulesFile) -> Classes:
    names: list[str] = []
    directory: set[str] = set()  # rules-file groups read from the directory
    networks: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    sizes = {int(rules.settings.upload_size)}
    for rule in rules.rules:
        match = rule.match
        networks.update(match.network)
        names.extend(match.user)
        for name in match.group:
            group = rules.groups[name]
            networks.update(group.networks)
            names.extend(group.users)
            if group.directory:
                directory.add(name)
        if match.upload is not None and not isinstance(match.upload, bool):
            sizes.add(int(match.upload))
    bodies = [Body(None, False), Body(None, True)] + [
        Body(size + 1, False) for size in sorted(sizes)
    ]
    return Classes(
        tuple(_user_classes(rules, names, directory)),
        tuple(_address_classes(networks)),
        HTTP_METHODS,
        tuple(bodies),
    )


def _user_classes(
    rules: RulesFile, names: list[str], directory: set[str]
) -> Iterator[tuple[str | None, frozenset[str]]]:
    """No user (no proxy authentication), and each named user and one other, each in every
    combination of the directory groups the rules name (in each alone and in all, beyond four
    groups). Without proxy-auth in settings.identity, rules know no user at all."""
    yield None, frozenset()
    if not users_known(rules.settings):
        return
    other = "someone-else"
    while other in names:
        other += "-"
    groups = sorted(directory)
    if len(groups) <= 4:
        memberships = [
            frozenset(c) for n in range(len(groups) + 1) for c in itertools.combinations(groups, n)
        ]
    else:
        memberships = [frozenset(), *(frozenset({g}) for g in groups), frozenset(groups)]
    for user in dict.fromkeys([*names, other]):
        for membership in memberships:
            yield user, membership


def _address_classes(
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> Iterator[IPAddress]:
    """One address from each part of the address space the networks carve out."""
    every = {*networks, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}
    for network in sorted(every, key=lambda n: (n.version, n)):
        inner = [
            n
            for n in every
            if n != network and n.version == network.version and n.subnet_of(network)  # type: ignore[arg-type]
        ]
        rest = [network]
        for child in inner:
            rest = [piece for part in rest for piece in _exclude(part, child)]
        if rest:
            yield rest[0].network_address


def _exclude(
    part: ipaddress.IPv4Network | ipaddress.IPv6Network,
    child: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if not part.overlaps(child):
        return [part]
    if part.subnet_of(child):  # type: ignore[arg-type]
        return []
    return list(part.address_exclude(child))  # type: ignore[arg-type]


# --- destinations ------------------------------------------------------------------------------


def _destinations(engine: Engine, rules: RulesFile) -> Iterator[Destination]:
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
        for path in _paths(frozenset(p + "*" for p in prefixes) | frozenset(globs)):
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


def _paths(patterns: frozenset[str]) -> list[str]:
    """`/` and a path matching each combination (of up to three) of the patterns."""
    found = {"/"}
    ordered = sorted(patterns)
    for size in range(1, min(3, len(ordered)) + 1):
        for combination in itertools.combinations(ordered, size):
            if (path := _witness(frozenset(combination))) is not None:
                found.add(path)
    return sorted(found)


@cache
def _witness(patterns: frozenset[str]) -> str | None:
    """The shortest path starting with / that every glob matches, or None (breadth first over
    the globs' positions, trying the characters they name)."""
    automata = [_tokens(p) for p in ("/*", *sorted(patterns))]
    start = tuple(_closure(tokens, {0}) for tokens in automata)
    seen = {start}
    frontier: list[tuple[tuple[frozenset[int], ...], str]] = [(start, "")]
    for _ in range(2 + sum(len(t) for t in automata)):
        following = []
        for state, text in frontier:
            if all(len(t) in s for t, s in zip(automata, state, strict=True)):
                return text
            for char in _candidates(automata, state):
                step = tuple(
                    _step(tokens, positions, char)
                    for tokens, positions in zip(automata, state, strict=True)
                )
                if all(step) and step not in seen:
                    seen.add(step)
                    following.append((step, text + char))
        frontier = following
    return None


Token = tuple[str, str]  # ("*", ""), ("?", ""), ("=", char), ("[", regex)


def _tokens(glob: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            tokens.append(("*", ""))
        elif char == "?":
            tokens.append(("?", ""))
        elif char == "[" and (end := glob.find("]", i + 2)) > 0:
            tokens.append(("[", fnmatch.translate(glob[i : end + 1])))
            i = end
        else:
            tokens.append(("=", char))
        i += 1
    return tokens


def _closure(tokens: list[Token], positions: Iterable[int]) -> frozenset[int]:
    result = set(positions)
    stack = list(result)
    while stack:
        position = stack.pop()
        if position < len(tokens) and tokens[position][0] == "*" and position + 1 not in result:
            result.add(position + 1)
            stack.append(position + 1)
    return frozenset(result)


def _accepts(token: Token, char: str) -> bool:
    kind, value = token
    if kind in "*?":
        return True
    if kind == "=":
        return value == char
    return re.match(value, char) is not None


def _step(tokens: list[Token], positions: frozenset[int], char: str) -> frozenset[int]:
    following = set()
    for position in positions:
        if position < len(tokens) and _accepts(tokens[position], char):
            following.add(position if tokens[position][0] == "*" else position + 1)
    return _closure(tokens, following)


def _candidates(automata: list[list[Token]], state: tuple[frozenset[int], ...]) -> list[str]:
    chars = {"x", "/"}
    for tokens, positions in zip(automata, state, strict=True):
        for position in positions:
            if position < len(tokens) and tokens[position][0] == "=":
                chars.add(tokens[position][1])
            elif position < len(tokens) and tokens[position][0] == "[":
                chars.update(c for c in "ax0-_." if _accepts(tokens[position], c))
    return sorted(chars)


# --- checks at a destination ---------------------------------------------------------------------


def _subject(
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


def _holds_at(
    compiled: CompiledRule,
    destination: Destination,
    skip: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
) -> bool:
    """The rule's vendor-fact checks and its host and path checks, at one destination."""
    subject = _subject(destination)
    checks = [
        *compiled.fact_checks,
        *(c for c in compiled.request_checks if c[0] in _AT_DESTINATION),
    ]
    return all(
        check(subject)
        for name, check in checks
        if name not in skip and (only is None or name in only)
    )


def _state_classes(compiled: CompiledRule, destination: Destination) -> frozenset[int]:
    """The record states in which the rule's checks on the state hold."""
    checks = [check for name, check in compiled.fact_checks if name in _STATE_CHECKS]
    return frozenset(
        i
        for i, state in enumerate(_STATES)
        if all(check(_subject(destination, state)) for check in checks)
    )


# --- words -------------------------------------------------------------------------------------


def _fields(checks: Iterable[tuple[str, object]]) -> str:
    return "conditions together: " + ", ".join(f"match.{name}" for name, _ in checks)


def _count(targets: set[str]) -> str:
    hosts = sum(t.startswith("host:") for t in targets)
    products = len(targets) - hosts
    parts = [_count_products(products)] if products or not hosts else []
    if hosts:
        parts.append(f"{hosts} host{'s' if hosts != 1 else ''} named by rules")
    return " and ".join(parts)


def _and(items: Iterable[str]) -> str:
    listed = list(items)
    return ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else "".join(listed)


def _count_products(n: int) -> str:
    return f"{n} product{'s' if n != 1 else ''}"


def _past(action: Action) -> str:
    return "blocked" if action is Action.BLOCK else "warned"
