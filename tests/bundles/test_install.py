"""Signed record bundles: keygen, pack, install and rollback. A bundle that is tampered,
truncated, unsigned, signed by another key, older, or holds invalid records is refused and the
registry folder stays exactly as it was."""

import hashlib
import stat
from pathlib import Path

import pytest
from aiwall.cli import main
from aiwall.core.registry import installed_bundle, load_registry
from aiwall.feed.bundle import HEADER, Manifest, _payload, private_key

from ..conftest import FIXTURES
from .conftest import (
    RULES,
    bundle_bytes,
    flipped,
    install,
    pack,
    run,
    set_training,
    signed_by_another_key,
    tampered,
    tree,
    unsigned,
)


def test_keygen_writes_a_secret_key_and_its_public_key_and_never_overwrites(
    key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert Path(f"{key}.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = key.read_bytes()
    code, _, err = run(capsys, "registry", "keygen", "--out", str(key))
    assert code == 2 and "refusing to overwrite" in err
    assert key.read_bytes() == before


def test_pack_refuses_invalid_records_with_file_and_line(
    records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_training(records, "euapi", "never", "sometimes")
    code, _, err = run(
        capsys, "registry", "pack", str(records), "--key", str(key), "--out", str(tmp_path / "b")
    )
    assert code == 1
    assert "euapi.yaml:" in err and "training" in err
    assert not (tmp_path / "b").exists()


def test_the_default_version_is_the_creation_time(
    records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "registry", "pack", str(records), "--key", str(key), "--out", str(tmp_path / "b")
    )
    assert code == 0
    version = out.split("version ")[1].split(",")[0]
    assert len(version) == 14 and version.startswith("20")


# Install.


def test_a_good_bundle_is_installed_and_served(
    installed: Path, records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = installed_bundle(installed)
    assert state is not None and (state.current, state.previous, state.newest) == (100, None, 100)
    registry = load_registry(installed)
    assert set(registry.vendors) == {"cnchat", "euapi", "usbot"}
    assert (installed / "local").is_dir()
    assert main(["check", "--rules", str(RULES), "--policies", str(installed)]) == 0
    assert "3 vendors" in capsys.readouterr().out


def test_install_shows_the_diff_of_what_changes(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_training(records, "cnchat", "default", "never")
    bundle = pack(capsys, records, key, tmp_path / "v200", 200)
    code, out, _ = install(capsys, bundle, key, installed, "--rules", str(RULES))
    assert code == 0
    assert "now serves version 200 (before: 100)" in out
    assert "  cnchat/consumer: training: default → never" in out
    assert load_registry(installed).vendors["cnchat"].products[0].training == "never"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("tampered", "the signature does not verify"),
        ("flipped bit", "the signature does not verify"),
        ("truncated", "the signature does not verify"),
        ("cut in the signature", "truncated"),
        ("unsigned", "not a signed aiwall bundle"),
        ("header only", "truncated"),
        ("another key", "the signature does not verify"),
        ("empty", "not a signed aiwall bundle"),
    ],
)
def test_a_bad_bundle_is_refused_and_nothing_changes(
    kind: str,
    reason: str,
    installed: Path,
    records: Path,
    key: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_training(records, "cnchat", "default", "never")
    good = bundle_bytes(capsys, records, key, tmp_path)
    bad = {
        "tampered": lambda: tampered(good),
        "flipped bit": lambda: flipped(good),
        "truncated": lambda: good[: len(good) // 2],
        "cut in the signature": lambda: good[: len(HEADER) + 30],
        "unsigned": lambda: unsigned(records),
        "header only": lambda: HEADER,
        "another key": lambda: signed_by_another_key(good, tmp_path, capsys),
        "empty": lambda: b"",
    }[kind]()
    before = tree(installed)
    path = tmp_path / "bad.bundle"
    path.write_bytes(bad)
    code, out, err = install(capsys, path, key, installed)
    assert code == 1
    assert reason in err and f"{installed} is unchanged" in err
    assert out == ""
    assert tree(installed) == before
    assert load_registry(installed).vendors["cnchat"].products[0].training == "default"


@pytest.mark.parametrize("version", [100, 99, 1])
def test_an_older_or_equal_version_is_refused(
    version: int,
    installed: Path,
    records: Path,
    key: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = tree(installed)
    code, _, err = install(
        capsys, pack(capsys, records, key, tmp_path / "old", version), key, installed
    )
    assert code == 1
    assert f"version {version} is not newer than 100" in err
    assert tree(installed) == before


def test_validly_signed_but_invalid_records_are_refused_as_check_would(
    installed: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = (
        (FIXTURES / "policies" / "euapi.yaml")
        .read_bytes()
        .replace(b"training: never", b"training: sometimes")
    )
    records = {"euapi.yaml": broken}
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in records.items()}
    payload = _payload(Manifest(300, "2026-12-01T00:00:00+00:00", hashes), records)
    path = tmp_path / "signed-but-broken"
    path.write_bytes(HEADER + private_key(key).sign(HEADER + payload) + payload)
    before = tree(installed)
    code, _, err = install(capsys, path, key, installed)
    assert code == 1
    assert "euapi.yaml:" in err and "training" in err
    assert tree(installed) == before


def test_records_that_break_the_rules_are_refused_when_rules_are_given(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (records / "usbot.yaml").unlink()  # the test rules name vendor usbot
    bundle = pack(capsys, records, key, tmp_path / "v200", 200)
    before = tree(installed)
    code, _, err = install(capsys, bundle, key, installed, "--rules", str(RULES))
    assert code == 1 and "no vendor 'usbot'" in err
    assert tree(installed) == before


def test_install_never_writes_into_a_plain_folder_of_records(
    records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = pack(capsys, records, key, tmp_path / "v1", 1)
    before = tree(records)
    code, _, err = install(capsys, bundle, key, records)
    assert code == 1 and "holds vendor records of its own" in err
    assert tree(records) == before


# Rollback.


def test_rollback_returns_to_the_previous_release_and_blocks_its_replay(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_training(records, "cnchat", "default", "never")
    v200 = pack(capsys, records, key, tmp_path / "v200", 200)
    assert install(capsys, v200, key, installed)[0] == 0
    code, out, _ = run(capsys, "registry", "rollback", "--into", str(installed))
    assert code == 0
    assert "now serves version 100 (before: 200)" in out
    assert "cnchat/consumer: training: never → default" in out
    assert load_registry(installed).vendors["cnchat"].products[0].training == "default"
    # The release rolled back from cannot come back; a newer one can.
    code, _, err = install(capsys, v200, key, installed)
    assert code == 1 and "not newer than 200" in err
    assert (
        install(capsys, pack(capsys, records, key, tmp_path / "v201", 201), key, installed)[0] == 0
    )
    # One step back only.
    assert run(capsys, "registry", "rollback", "--into", str(installed))[0] == 0
    code, _, err = run(capsys, "registry", "rollback", "--into", str(installed))
    assert code == 1 and "no previous release" in err


def test_only_the_current_and_previous_releases_are_kept(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for version in (200, 300):
        install(
            capsys, pack(capsys, records, key, tmp_path / f"v{version}", version), key, installed
        )
    assert sorted(p.name for p in (installed / "releases").iterdir()) == ["200", "300"]
