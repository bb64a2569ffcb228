"""Policy tests: the requests a rules file lists under `tests:`, and whether the rules give each
the outcome the file expects. `aiwall check` runs them, and so does every load and reload: a
configuration whose tests fail is rejected like any other broken one.
"""

from dataclasses import dataclass

from aiwall.core.decision import Decision, RequestInfo
from aiwall.core.engine import Engine
from aiwall.core.rules import PolicyTest
from aiwall.core.urls import url_names
from aiwall.core.yamlsource import Problem, YamlDocument

NOT_AI = "none"


@dataclass(frozen=True)
class CaseOutcome:
    index: int
    case: PolicyTest
    action: str  # the action taken, or `none` for traffic that is not AI
    rule: str | None  # the rule that decided; None for the default action

    @property
    def passed(self) -> bool:
        expected_rule = self.case.rule is None or self.case.rule == self.rule
        return self.action == self.case.expect and expected_rule

    def failure(self) -> str:
        """`tests[3]: GET https://... as user alice: expected block by rule x, got log by ...`."""
        case = self.case
        client = "".join(
            f" {label} {value}"
            for label, value in (("as user", case.user), ("from", case.ip))
            if value
        )
        upload = " with an upload" if case.upload is not False else ""
        expected = _outcome(case.expect, case.rule, rule_known=case.rule is not None)
        actual = _outcome(self.action, self.rule, rule_known=True)
        return f"{case.method} {case.url}{client}{upload}: expected {expected}, got {actual}"


@dataclass(frozen=True)
class PolicyTestRun:
    outcomes: tuple[CaseOutcome, ...]
    failures: tuple[Problem, ...]

    @property
    def passed(self) -> int:
        return sum(outcome.passed for outcome in self.outcomes)


def run_policy_tests(engine: Engine, document: YamlDocument) -> PolicyTestRun:
    """Decide every test request with `engine` (its rules file is `document`)."""
    outcomes = []
    failures = []
    for index, case in enumerate(engine.rules.tests):
        decision = engine.decide(case_request(case))
        outcome = CaseOutcome(index, case, outcome_action(decision), _rule_id(decision))
        outcomes.append(outcome)
        if not outcome.passed:
            failures.append(document.problem(("tests", index), outcome.failure()))
    return PolicyTestRun(tuple(outcomes), tuple(failures))


def case_request(case: PolicyTest) -> RequestInfo:
    """The request a test case describes, as the proxy would describe it to the engine."""
    names, path = url_names(case.url)
    upload = case.upload
    return RequestInfo(
        names=names,
        method=case.method,
        path=path,
        user=case.user,
        client_ip=case.ip,
        body_size=None if isinstance(upload, bool) else int(upload),
        multipart=upload is True,
    )


def outcome_action(decision: Decision) -> str:
    return str(decision.action) if decision.ai else NOT_AI


def _rule_id(decision: Decision) -> str | None:
    return decision.rule.id if decision.rule else None


def _outcome(action: str, rule: str | None, rule_known: bool) -> str:
    if action == NOT_AI:
        return "none (not AI traffic)"
    if not rule_known:
        return action
    return f"{action} by rule {rule}" if rule else f"{action} (the default action)"
