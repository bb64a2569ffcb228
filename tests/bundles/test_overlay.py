"""The organisation's overlay (local/ in the registry folder): its records win, survive updates
and are checked like any record, and an edit in it is a change the proxy notices."""

import shutil
from pathlib import Path

import pytest
from aiwall.core.registry import load_registry

from ..conftest import ROOT
from .conftest import RULES, install, pack, run, set_training


def test_local_records_win_survive_updates_and_check_names_what_they_override(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = installed / "local"
    shutil.copy(records / "cnchat.yaml", local / "cnchat.yaml")
    set_training(local, "cnchat", "default", "opt-in")
    addition = (records / "euapi.yaml").read_text().replace("euapi", "inhouse")
    (local / "inhouse.yaml").write_text(addition.replace("EU API", "In-house"))
    assert load_registry(installed).vendors["cnchat"].products[0].training == "opt-in"

    set_training(records, "cnchat", "default", "never")
    assert (
        install(capsys, pack(capsys, records, key, tmp_path / "v200", 200), key, installed)[0] == 0
    )
    registry = load_registry(installed)
    assert registry.vendors["cnchat"].products[0].training == "opt-in"  # local still wins
    assert "inhouse" in registry.vendors

    code, _, err = run(capsys, "check", "--rules", str(RULES), "--policies", str(installed))
    assert code == 0
    shipped = installed / "releases" / "200" / "cnchat.yaml"
    assert (
        f"{local / 'cnchat.yaml'}:2: warning: id: the local record overrides {shipped}:"
        " cnchat/consumer: training: never → opt-in"
    ) in err
    assert f"{local / 'inhouse.yaml'}:2: warning: id: a local record" in err


def test_a_local_record_older_than_the_shipped_one_is_pointed_out(
    installed: Path, records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = installed / "local" / "euapi.yaml"
    local.write_text(
        (records / "euapi.yaml")
        .read_text()
        .replace("last_verified: 2026-10-01", "last_verified: 2026-01-01")
    )
    code, _, err = run(capsys, "check", "--rules", str(RULES), "--policies", str(installed))
    assert code == 0
    assert "the shipped record was verified on 2026-10-01, after this local copy" in err


def test_a_broken_local_record_fails_check_like_any_record(
    installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (installed / "local" / "euapi.yaml").write_text("id: euapi\n")
    code, _, err = run(capsys, "check", "--rules", str(RULES), "--policies", str(installed))
    assert code == 1 and "local/euapi.yaml:1" in err


def test_a_registry_folder_without_a_bundle_serves_the_shipped_records_and_its_overlay(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "registry"
    (folder / "local").mkdir(parents=True)
    assert set(load_registry(folder).vendors) == set(load_registry(ROOT / "policies").vendors)


def test_an_edit_in_the_overlay_is_a_change_the_proxy_notices(tmp_path: Path) -> None:
    """The reload fingerprint covers the organisation's own records (local/) too."""
    from aiwall.proxy.reload import fingerprint

    registry = tmp_path / "registry"
    (registry / "local").mkdir(parents=True)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n")
    before = fingerprint(rules, registry)
    (registry / "local" / "acme.yaml").write_text("id: acme\n")
    assert fingerprint(rules, registry) != before
