"""The last good configuration kept in the state directory (proxy/lastgood.py), on its own."""

import json
import shutil
from pathlib import Path

import pytest
from aiwall.core.config import load_config
from aiwall.core.yamlsource import ConfigError
from aiwall.proxy.lastgood import LastGood

from .conftest import FIXTURES, TODAY


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rules = tmp_path / "rules.yaml"
    shutil.copy(FIXTURES / "rules.yaml", rules)
    policies = tmp_path / "policies"
    shutil.copytree(FIXTURES / "policies", policies)
    return rules, policies


def test_nothing_is_kept_before_the_first_save(tmp_path: Path) -> None:
    kept = LastGood(tmp_path / "state")
    assert kept.saved() is None
    assert kept.load() is None
    assert kept.rules() is None


def test_a_saved_configuration_loads_again_exactly_as_it_was_read(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    rules, policies = files
    config = load_config(rules, policies, today=lambda: TODAY)
    kept = LastGood(tmp_path / "state")
    saved = kept.save(config, policies)
    assert saved.source_rules == str(rules)
    assert saved.source_policies == str(policies)
    assert saved.rules_hash == config.rules_hash
    assert saved.rules.read_text() == rules.read_text()  # comments and all
    assert sorted(p.name for p in saved.policies.iterdir()) == sorted(
        p.name for p in policies.iterdir()
    )
    rules.write_text("rules: [\n")  # the files break; what was kept does not
    loaded = kept.load()
    assert loaded is not None
    assert loaded[0].rules == config.rules
    assert loaded[0].registry.vendors == config.registry.vendors
    assert kept.rules() == config.rules


def test_the_same_files_are_not_written_twice_and_a_change_replaces_the_generation(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    rules, policies = files
    kept = LastGood(tmp_path / "state")
    first = kept.save(load_config(rules, policies, today=lambda: TODAY), policies)
    assert kept.save(load_config(rules, policies, today=lambda: TODAY), policies) == first
    rules.write_text(rules.read_text().replace("ack_ttl: 8h", "ack_ttl: 4h"))
    second = kept.save(load_config(rules, policies, today=lambda: TODAY), policies)
    assert second.rules.parent != first.rules.parent
    assert not first.rules.parent.exists()  # the old generation is gone
    generations = [p for p in (tmp_path / "state").iterdir() if p.name.startswith("generation")]
    assert generations == [second.rules.parent]
    assert json.loads((tmp_path / "state" / "current").read_text())["rules_hash"] == (
        second.rules_hash
    )


def test_a_damaged_current_file_counts_as_nothing_kept(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    rules, policies = files
    kept = LastGood(tmp_path / "state")
    kept.save(load_config(rules, policies, today=lambda: TODAY), policies)
    (tmp_path / "state" / "current").write_text("{not json")
    assert kept.saved() is None
    assert kept.load() is None


def test_a_damaged_kept_copy_is_a_config_error_naming_it(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    rules, policies = files
    kept = LastGood(tmp_path / "state")
    saved = kept.save(load_config(rules, policies, today=lambda: TODAY), policies)
    saved.rules.write_text("rules: [\n")
    with pytest.raises(ConfigError) as error:
        kept.load()
    assert str(saved.rules) in str(error.value)


def test_an_unwritable_state_directory_raises_oserror(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    rules, policies = files
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OSError):
        LastGood(blocker).save(load_config(rules, policies, today=lambda: TODAY), policies)


def test_the_records_in_force_and_their_review_marks_are_kept(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    """Where the organisation's own record replaces a shipped one, the one in force is kept;
    so are the facts under review."""
    rules, policies = files
    registry = tmp_path / "registry"
    (registry / "local").mkdir(parents=True)
    for record in policies.glob("*.yaml"):
        shutil.copy(record, registry / "local" / record.name)
    euapi = registry / "local" / "euapi.yaml"
    euapi.write_text(euapi.read_text().replace("confidence: high", "confidence: low", 1))
    (registry / "_review.yaml").write_text(
        "euapi:\n  - {url: https://euapi.test/terms, source: Terms, changed: 2026-11-01}\n"
    )
    config = load_config(rules, registry, today=lambda: TODAY)
    assert config.registry.vendors["euapi"].under_review
    kept = LastGood(tmp_path / "state")
    kept.save(config, registry)
    loaded = kept.load()
    assert loaded is not None
    again = loaded[0].registry.vendors
    assert again["euapi"].confidence == "low"
    assert again["euapi"].under_review == config.registry.vendors["euapi"].under_review
    assert again.keys() == config.registry.vendors.keys()
