"""Policy tests in the rules file (`tests:`): run by `aiwall check` and by every load."""

import textwrap
from pathlib import Path

import pytest
from aiwall.cli.main import main
from aiwall.core.config import load_config
from aiwall.core.policytests import run_policy_tests
from aiwall.core.yamlsource import ConfigError

from .conftest import FIXTURES, TODAY

RULES = """
settings: {upload_size: 1KiB}
groups:
  research: {users: [rita], networks: [10.99.0.0/16]}
rules:
  - {id: research-cn, description: Research., match: {vendor: cnchat, group: research}, action: log}
  - {id: block-cn, description: China., match: {residency: [CN]}, action: block}
  - id: block-uploads
    description: Uploads to trainers.
    match: {training: default, method: [POST, PUT], upload: true}
    action: block
  - {id: warn-usbot, description: US Bot., match: {vendor: usbot}, action: warn}
tests:
"""


def rules_with(tmp_path: Path, tests: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES + textwrap.indent(textwrap.dedent(tests).lstrip("\n"), "  "))
    return path


def failures(tmp_path: Path, tests: str) -> list[str]:
    config = load_config(
        rules_with(tmp_path, tests), FIXTURES / "policies", today=lambda: TODAY, tests=False
    )
    return [str(p) for p in run_policy_tests(config.engine, config.rules_document).failures]


@pytest.mark.parametrize(
    "case",
    [
        "- {url: https://cnchat.test/, expect: block, rule: block-cn}",
        "- {url: https://cnchat.test/, user: rita, expect: log, rule: research-cn}",
        "- {url: https://cnchat.test/, ip: 10.99.1.2, expect: log}",
        "- {url: https://usbot.test/, expect: warn}",
        "- {url: https://usbot.test/upload, method: POST, upload: true, expect: block}",
        "- {url: https://usbot.test/upload, method: POST, upload: 2KiB, expect: block}",
        "- {url: https://usbot.test/upload, method: POST, upload: 10, expect: warn}",
        "- {url: https://euapi.test/v1/x, expect: log}",  # the default action
        "- {url: https://intranet.example/, expect: none}",
        "- {url: chat.usbot.test/path, expect: warn, rule: warn-usbot}",  # no scheme: a host
        "- {url: 'https://bad_host.usbot.test/', expect: block}",  # invalid names are refused
    ],
)
def test_a_case_that_holds_passes(tmp_path: Path, case: str) -> None:
    assert failures(tmp_path, case) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "- {url: https://cnchat.test/, expect: allow}",
            "tests[0]: GET https://cnchat.test/: expected allow, got block by rule block-cn",
        ),
        (
            "- {url: https://cnchat.test/, user: rita, expect: block, rule: block-cn}",
            "tests[0]: GET https://cnchat.test/ as user rita: expected block by rule block-cn,"
            " got log by rule research-cn",
        ),
        (
            "- {url: https://euapi.test/, ip: 192.0.2.1, expect: warn, rule: warn-usbot}",
            "tests[0]: GET https://euapi.test/ from 192.0.2.1: expected warn by rule warn-usbot,"
            " got log (the default action)",
        ),
        (
            "- {url: https://intranet.example/, expect: log}",
            "tests[0]: GET https://intranet.example/: expected log, got none (not AI traffic)",
        ),
        (
            "- {url: https://usbot.test/, method: PUT, upload: true, expect: warn}",
            "tests[0]: PUT https://usbot.test/ with an upload: expected warn, got block by rule"
            " block-uploads",
        ),
    ],
)
def test_a_failing_case_says_its_url_what_was_expected_and_what_happened(
    tmp_path: Path, case: str, message: str
) -> None:
    assert failures(tmp_path, case) == [
        f"{tmp_path / 'rules.yaml'}:{RULES.count(chr(10)) + 1}: {message}"
    ]


def test_a_configuration_whose_tests_fail_is_not_loaded(tmp_path: Path) -> None:
    path = rules_with(tmp_path, "- {url: https://cnchat.test/, expect: allow}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, FIXTURES / "policies", today=lambda: TODAY)
    assert [p.field for p in error.value.problems] == ["tests[0]"]


def test_check_runs_the_tests_and_fails_on_one_that_does_not_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rules_with(
        tmp_path,
        """
        - {url: https://cnchat.test/, expect: block}
        - {url: https://usbot.test/, expect: allow}
        """,
    )
    code = main(["check", "--rules", str(path), "--policies", str(FIXTURES / "policies")])
    captured = capsys.readouterr()
    assert code == 1
    assert "tests: 1 passed, 1 failed" in captured.out.splitlines()
    assert captured.out.splitlines()[-1].startswith("FAILED (1 problems): ")
    assert (
        f"{path}:{RULES.count(chr(10)) + 2}: tests[1]: GET https://usbot.test/: expected allow,"
        " got warn by rule warn-usbot"
    ) in captured.err.splitlines()


def test_explain_still_works_while_a_test_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rules_with(tmp_path, "- {url: https://usbot.test/, expect: allow}\n")
    policies = str(FIXTURES / "policies")
    assert (
        main(["explain", "https://usbot.test/", "--rules", str(path), "--policies", policies]) == 0
    )
    assert "Decision: WARN (rule warn-usbot" in capsys.readouterr().out


def test_a_test_naming_a_rule_that_does_not_exist_is_a_problem_of_the_file(
    tmp_path: Path,
) -> None:
    path = rules_with(tmp_path, "- {url: https://usbot.test/, expect: warn, rule: warn-usbt}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, FIXTURES / "policies", today=lambda: TODAY, tests=False)
    assert [p.message for p in error.value.problems] == [
        "no rule 'warn-usbt'; did you mean 'warn-usbot'?"
    ]
