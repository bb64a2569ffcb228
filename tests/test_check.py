"""`aiwall check`: one golden fixture per kind of broken configuration, like Squid's parser tests.

Each folder under fixtures/broken holds a rules.yaml (and, for policy problems, its own
policies/) and expected.txt: exactly what `aiwall check` must print.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiwall.cli.main import main
from aiwall.core.config import load_config

from .conftest import FIXTURES, ROOT

BROKEN = sorted(p for p in (FIXTURES / "broken").iterdir() if p.is_dir())


def check(case: Path) -> list[str]:
    return ["check", "--rules", "rules.yaml", "--policies", policies_of(case)]


def policies_of(case: Path) -> str:
    return "policies" if (case / "policies").is_dir() else str(Path("..", "..", "policies"))


def problems(case: Path, stderr: str) -> str:
    """What check printed after saying which files it uses."""
    announced, _, rest = stderr.partition("\n")
    assert announced == (f"aiwall: rules rules.yaml (--rules); vendor records {policies_of(case)}")
    return rest


@pytest.mark.parametrize("case", BROKEN, ids=[p.name for p in BROKEN])
def test_broken_configuration_fails_with_the_expected_message(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(case)
    assert main(check(case)) == 1
    captured = capsys.readouterr()
    assert problems(case, captured.err) == (case / "expected.txt").read_text()
    assert captured.out == ""


def test_every_problem_line_names_file_line_and_field() -> None:
    for case in BROKEN:
        for line in (case / "expected.txt").read_text().splitlines():
            file, number, field, message = line.split(":", 3)
            assert file.endswith(".yaml") and number.isdigit() and field.strip() and message.strip()


def test_the_command_line_exits_non_zero_on_a_broken_file() -> None:
    case = FIXTURES / "broken" / "rules-unknown-action"
    result = subprocess.run(
        [sys.executable, "-m", "aiwall", *check(case)], cwd=case, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert problems(case, result.stderr) == (case / "expected.txt").read_text()


def test_shipped_rules_and_policies_pass_with_no_dead_rule_and_their_tests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = ROOT / "rules.example.yaml"
    assert main(["check", "--rules", str(rules), "--policies", str(ROOT / "policies")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[-1].startswith(f"OK: {rules}:")
    assert re.fullmatch(r"tests: (\d+) passed, 0 failed", lines[-2])
    assert int(lines[-2].split()[1]) >= 10
    summaries = [line for line in lines if line.startswith("rules[")]
    assert len(summaries) == len(load_config(rules, ROOT / "policies").rules.rules)
    assert all("decides none" not in s and "records none" not in s for s in summaries)
    assert "never" not in captured.err
    assert "error" not in captured.err


def test_check_warns_on_a_stale_record(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "check",
        "--rules",
        str(FIXTURES / "rules.yaml"),
        "--policies",
        str(FIXTURES / "policies"),
    ]
    assert main(args) == 0
    assert (
        "usbot.yaml:59: warning: last_verified: last verified 2020-01-01" in capsys.readouterr().err
    )


def test_check_warns_on_a_fact_without_a_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    record = (FIXTURES / "policies" / "euapi.yaml").read_text()
    (policies / "euapi.yaml").write_text(record.replace("dpa, residency", "dpa"))
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    assert (
        main(["check", "--rules", str(tmp_path / "rules.yaml"), "--policies", str(policies)]) == 0
    )
    err = capsys.readouterr().err
    assert "products[0].residency: no source covers this fact" in err
    strict = ["check", "--strict", "--rules", str(tmp_path / "rules.yaml")]
    assert main([*strict, "--policies", str(policies)]) == 1  # make lint runs this
    err = capsys.readouterr().err
    assert "euapi.yaml" in err and "residency: no source covers this fact" in err
    assert "warning: products[0].residency" not in err  # said once, as an error


def test_a_products_own_jurisdiction_needs_its_own_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The vendor's `jurisdiction` source names the vendor's entity; a product run by another
    entity (its own `jurisdiction`) must cite a page for that one: `<product>.jurisdiction`."""
    policies = tmp_path / "policies"
    policies.mkdir()
    record = (FIXTURES / "policies" / "euapi.yaml").read_text()
    record = record.replace("    retention: P1D\n", "    retention: P1D\n    jurisdiction: [SG]\n")
    record = record.replace("retention]", "retention, jurisdiction]")
    record = record.replace("last_verified:", "jurisdiction: [DE]\nlast_verified:")
    (policies / "euapi.yaml").write_text(record)
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    strict = ["check", "--strict", "--rules", str(tmp_path / "rules.yaml")]
    assert main([*strict, "--policies", str(policies)]) == 1
    assert "products[0].jurisdiction: no source covers this product's" in capsys.readouterr().err
    (policies / "euapi.yaml").write_text(record.replace("jurisdiction]", "api.jurisdiction]"))
    assert main([*strict, "--policies", str(policies)]) == 1  # now the vendor's is uncovered
    (policies / "euapi.yaml").write_text(
        record.replace("jurisdiction]", "jurisdiction, api.jurisdiction]")
    )
    assert main([*strict, "--policies", str(policies)]) == 0


def test_the_example_rules_use_every_match_field_action_and_a_shadow_rule() -> None:
    from aiwall.core.rules import Action, Match, Mode

    rules = load_config(ROOT / "rules.example.yaml", ROOT / "policies").rules
    used = {name for rule in rules.rules for name in rule.match.model_fields_set}
    assert used == set(Match.model_fields)
    assert {rule.action for rule in rules.rules} == set(Action)
    assert any(rule.mode is Mode.SHADOW for rule in rules.rules)
    assert any(rule.match.group for rule in rules.rules if rule.action is Action.LOG)
    assert rules.tenants
