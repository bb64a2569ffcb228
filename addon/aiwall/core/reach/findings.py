"""What the analysis finds: per rule, what it can match and decide; and the summary
`aiwall check` prints."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from aiwall.core.rules import Action, Mode, Rule
from aiwall.core.yamlsource import Problem


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


def _count(targets: set[str]) -> str:
    hosts = sum(t.startswith("host:") for t in targets)
    products = len(targets) - hosts
    parts = [count_products(products)] if products or not hosts else []
    if hosts:
        parts.append(f"{hosts} host{'s' if hosts != 1 else ''} named by rules")
    return " and ".join(parts)


def joined(items: Iterable[str]) -> str:
    """`a, b and c`."""
    listed = list(items)
    return ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else "".join(listed)


def count_products(n: int) -> str:
    return f"{n} product{'s' if n != 1 else ''}"
