"""The analyser: the walk over the rules at every destination, why a rule never decides, the
facts it cannot judge, and what else the rules get in the way of (approved alternatives, tenant
bindings, user names no one knows)."""

from collections.abc import Callable, Iterable, Iterator
from functools import cached_property

from aiwall.core.config import Config
from aiwall.core.engine import CompiledRule, Engine, Subject, users_known
from aiwall.core.policy import UNKNOWN, Product, Training, VendorRecord
from aiwall.core.reach.classes import (
    IP,
    METHOD,
    STATE,
    STATE_CHECKS,
    UPLOAD,
    USER,
    Body,
    Cube,
    classes_of,
)
from aiwall.core.reach.destinations import (
    Destination,
    destination_of,
    destinations,
    holds_at,
    state_classes,
    subject_at,
)
from aiwall.core.reach.findings import Analysis, RuleReach, count_products, joined
from aiwall.core.reach.sweep import Sweep
from aiwall.core.rules import Action, Mode, Rule, RulesFile
from aiwall.core.yamlsource import Problem, YamlDocument

_SINGLE_DIMENSION = {"user": USER, "network": IP, "method": METHOD, "upload": UPLOAD}

# Facts a record may leave unknown, and how to tell at one destination (a regional host may
# pin the residency its product leaves unknown).
_UNKNOWN_FACTS: dict[str, Callable[[VendorRecord, Product, Destination], bool]] = {
    "training": lambda v, p, d: p.training is Training.UNKNOWN,
    "residency": lambda v, p, d: not d.residency,
    "residency_outside": lambda v, p, d: not d.residency,
    "jurisdiction": lambda v, p, d: not v.jurisdiction_of(p),
    "zero_retention": lambda v, p, d: p.zero_retention is None,
    "dpa": lambda v, p, d: p.dpa is None,
    "retention_over": lambda v, p, d: p.retention == UNKNOWN,
}


def analyse(config: Config) -> Analysis:
    """Every rule of the configuration, analysed; findings as problems of the rules file."""
    return _Analyser(config.engine, config.rules_document).run()


class _Analyser:
    def __init__(self, engine: Engine, document: YamlDocument) -> None:
        self.engine = engine
        self.rules: RulesFile = engine.rules
        self.document = document
        self.compiled = engine.compiled
        self.classes = classes_of(self.rules)
        self.request_cubes = [self._request_cubes(c) for c in self.compiled]
        self.destinations = list(destinations(engine, self.rules))
        self._sweeps: dict[tuple[object, ...], Sweep] = {}

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
            states = state_classes(compiled, destination)
            if not states or not holds_at(compiled, destination, skip=STATE_CHECKS):
                cubes.append(())
                continue
            cubes.append(tuple((*c[:STATE], states) for c in request_cubes))
        return tuple(cubes)

    def _sweep(self, destination: Destination, start: Cube) -> "Sweep":
        rule_cubes = self._rule_cubes(destination)
        key = (rule_cubes, start)
        if (sweep := self._sweeps.get(key)) is None:
            enforcing = [c.rule.mode is Mode.ENFORCE for c in self.compiled]
            sweep = self._sweeps[key] = Sweep.walk(rule_cubes, enforcing, start)
        return sweep

    # --- why a rule never decides --------------------------------------------------------------

    def _why_never(self, reach: RuleReach) -> str:
        if reach.matches:
            earlier = [min(reach.covers)] if reach.covers else sorted(reach.blockers)
            names = joined(f"rules[{j}] ({self.compiled[j].rule.id})" for j in earlier)
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
            d for d in self.destinations if holds_at(compiled, d, skip=STATE_CHECKS, only=("host",))
        ]
        for name, check in compiled.fact_checks:
            if name not in STATE_CHECKS and not any(
                d.vendor is not None and check(subject_at(d)) for d in self.destinations
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
                if holds_at(compiled, d, skip=(*STATE_CHECKS, "path"))
            }
            places = sorted(p for p in seen if not any(p != q and p.startswith(q) for q in seen))
            shown = joined(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
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
            others = [c for n, c in compiled.fact_checks if n != name and n not in STATE_CHECKS]
            unknown = [
                d
                for v, p, d in self._products
                if _UNKNOWN_FACTS[name](v, p, d) and all(c(subject_at(d)) for c in others)
            ]
            if not unknown:
                continue
            matched = check(subject_at(unknown[0]))
            counted = f"{name} unknown for {count_products(len({d.target for d in unknown}))}"
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
            destination = destination_of(self.engine, alternative.url)
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

    @cached_property
    def _without_tenants(self) -> list[Destination]:
        """The destinations as they would be without any tenant binding."""
        bare = Engine(self.engine.registry, self.rules.model_copy(update={"tenants": {}}))
        return list(destinations(bare, self.rules))

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


# --- words -------------------------------------------------------------------------------------


def _fields(checks: Iterable[tuple[str, object]]) -> str:
    return "conditions together: " + ", ".join(f"match.{name}" for name, _ in checks)


def _past(action: Action) -> str:
    return "blocked" if action is Action.BLOCK else "warned"
