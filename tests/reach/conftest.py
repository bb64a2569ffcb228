"""What the tests of `aiwall check`'s analysis share: rules analysed over the test registry
(fixtures/policies) or the shipped one, and what it found."""

import textwrap
from pathlib import Path

from aiwall.core.config import load_config
from aiwall.core.reach.analyser import analyse
from aiwall.core.reach.findings import Analysis

from ..conftest import FIXTURES, ROOT, TODAY

TEST_POLICIES = FIXTURES / "policies"
SHIPPED_POLICIES = ROOT / "policies"
CANNOT_JUDGE = "it cannot judge them (not matched; list unknown to match them)"


def analysis_of(tmp_path: Path, rules: str, policies: Path = TEST_POLICIES) -> Analysis:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(rules))
    return analyse(load_config(path, policies, today=lambda: TODAY, tests=False))


def findings(analysis: Analysis) -> dict[str, str]:
    """`rules[2] (id)` (or another field) → the message, for every problem found."""
    return {problem.field: problem.message for problem in analysis.problems}


def summary(analysis: Analysis, rule_id: str) -> str:
    return next(r.summary() for r in analysis.rules if r.rule.id == rule_id)


def edited_policies(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the test registry with `old` replaced by `new` in every record."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for record in TEST_POLICIES.glob("*.yaml"):
        (policies / record.name).write_text(record.read_text().replace(old, new))
    return policies
