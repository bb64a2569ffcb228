"""`aiwall resolve` (a day of logs against the registry) and `aiwall diff` (vendor changes)."""

import io
import json
import shutil
from pathlib import Path

import pytest
from aiwall.cli.main import main
from aiwall.core.config import load_rules_file
from aiwall.core.diff import diff_registries, diff_rules
from aiwall.core.registry import load_registry

from .conftest import FIXTURES


def resolve(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, text: str, *args: str
) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["resolve", "--policies", str(FIXTURES / "policies"), *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("cnchat.test", "cnchat.test\tcnchat/consumer\tTrains unless you opt out"),
        ("API.CNCHAT.TEST.", "API.CNCHAT.TEST.\tcnchat/api\tUnknown"),
        (
            "https://user@usbot.test:443/backend-anon/x?q=1",
            "https://user@usbot.test:443/backend-anon/x?q=1\tusbot/anonymous\tTrains by default",
        ),
        ("usbot.test/c/1", "usbot.test/c/1\tusbot/personal\tTrains unless you opt out"),
        ("example.org", "example.org\t-"),
        ("evil-cnchat.test", "evil-cnchat.test\t-"),
        ("bad..name", "bad..name\tinvalid: empty label"),
    ],
)
def test_resolve_prints_vendor_product_and_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, line: str, expected: str
) -> None:
    assert resolve(capsys, monkeypatch, line + "\n") == expected + "\n"


def test_resolve_skips_blank_lines_and_comments_and_keeps_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = resolve(capsys, monkeypatch, "# a day of DNS\n\ncnchat.test\nexample.org\ncnchat.test\n")
    assert [line.split("\t")[1] for line in out.splitlines()] == [
        "cnchat/consumer",
        "-",
        "cnchat/consumer",
    ]


def test_resolve_json_carries_the_key_facts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        json.loads(line)
        for line in resolve(
            capsys, monkeypatch, "cnchat.test\nexample.org\n", "--json"
        ).splitlines()
    ]
    assert rows[0] == {
        "input": "cnchat.test",
        "host": "cnchat.test",
        "vendor": "cnchat",
        "product": "cnchat/consumer",
        "verdict": "Trains unless you opt out",
        "training": "default",
        "residency": ["CN"],
        "retention": "open-ended",
        "last_verified": "2026-06-01",
        "confidence": "medium",
    }
    assert rows[1] == {"input": "example.org", "host": "example.org", "vendor": None}


def test_resolve_reads_files_and_prints_its_throughput(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "names.txt"
    log.write_text("cnchat.test\n" * 1000)
    assert main(["resolve", "--stats", "--policies", str(FIXTURES / "policies"), str(log)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1000
    assert "resolved 1,000 names in" in captured.err and "names/s" in captured.err


@pytest.fixture
def changed_policies(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(FIXTURES / "policies", old)
    shutil.copytree(FIXTURES / "policies", new)
    cnchat = (new / "cnchat.yaml").read_text()
    cnchat = cnchat.replace(
        "residency: [CN]\n    residency_note", "residency: [CN, SG]\n    residency_note"
    )
    cnchat = cnchat.replace("    zero_retention: false\n", "    zero_retention: true\n", 1)
    cnchat = cnchat.replace("last_verified: 2026-06-01", "last_verified: 2026-11-01")
    (new / "cnchat.yaml").write_text(cnchat)
    (new / "euapi.yaml").unlink()
    return old, new


def test_diff_lists_each_changed_field(changed_policies: tuple[Path, Path]) -> None:
    old, new = changed_policies
    assert diff_registries(load_registry(old), load_registry(new)) == [
        "cnchat: last_verified: 2026-06-01 → 2026-11-01",
        "cnchat/consumer: zero_retention: false → true",
        "cnchat/consumer: residency: [CN] → [CN, SG]",
        "euapi: vendor removed",
    ]


def test_diff_command_exits_1_on_changes_and_0_without(
    changed_policies: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = changed_policies
    assert main(["diff", str(old), str(new)]) == 1
    assert "cnchat/consumer: residency: [CN] → [CN, SG]" in capsys.readouterr().out
    assert main(["diff", str(old), str(old)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["diff", str(new), str(old)]) == 1
    assert "euapi: vendor added" in capsys.readouterr().out


RULES_BEFORE = """
rules:
  - {id: gateway, description: Gateway., match: {host: [llm.corp.test]}, action: allow}
  - {id: block-cn, description: China., match: {residency: [CN]}, action: block}
  - {id: warn-usbot, description: US Bot., match: {vendor: usbot}, action: warn}
  - {id: old, description: Gone soon., match: {vendor: euapi}, action: log}
"""
RULES_AFTER = """
rules:
  - id: warn-usbot
    description: US Bot.
    match: {vendor: usbot}
    action: warn
    require_justification: true
  - {id: gateway, description: Gateway., match: {host: [llm.corp.test]}, action: allow}
  - id: block-cn
    description: China.
    match: {residency: [CN, unknown], jurisdiction: [CN]}
    action: block
  - {id: new, description: New., match: {vendor: euapi}, action: allow}
"""


@pytest.fixture
def rules_files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(RULES_BEFORE)
    new.write_text(RULES_AFTER)
    return old, new


def test_rule_diff_names_each_rule_added_removed_moved_or_changed_with_its_fields(
    rules_files: tuple[Path, Path],
) -> None:
    old, new = (load_rules_file(path) for path in rules_files)
    assert [str(change) for change in diff_rules(old, new)] == [
        "rule warn-usbot: changed: require_justification, position",
        "rule block-cn: changed: match.residency, match.jurisdiction",
        "rule new: added",
        "rule old: removed",
    ]
    assert diff_rules(old, old) == []
    assert diff_rules(old, new)[0].as_json() == {
        "rule": "warn-usbot",
        "change": "changed",
        "fields": ["require_justification", "position"],
    }


def test_a_rule_that_only_moved_is_moved(tmp_path: Path) -> None:
    path = tmp_path / "swapped.yaml"
    lines = RULES_BEFORE.strip().splitlines()
    path.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    before = tmp_path / "before.yaml"
    before.write_text(RULES_BEFORE)
    changes = diff_rules(load_rules_file(before), load_rules_file(path))
    # Two rules swapped: one of them moved, as the other sees it.
    assert [(c.change, c.fields) for c in changes] == [("moved", ("position",))]
    assert changes[0].rule in ("gateway", "block-cn")


def test_diff_command_compares_two_rules_files(
    rules_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = rules_files
    assert main(["diff", str(old), str(new)]) == 1
    assert "rule block-cn: changed: match.residency, match.jurisdiction" in capsys.readouterr().out
    assert main(["diff", str(old), str(old)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["diff", str(old), str(old.parent)]) == 2
