"""Signed record bundles: keygen, pack, install, rollback and update on 127.0.0.1, and the
organisation's overlay. A bundle that is tampered, truncated, unsigned, signed by another key,
older, or holds invalid records is refused and the registry folder stays exactly as it was."""

import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aiwall.cli import main
from aiwall.cli.main import _parser
from aiwall.core.registry import INSTALLED_FILE, REVIEW_FILE, installed_bundle, load_registry
from aiwall.feed.bundle import HEADER, Manifest, _payload, private_key

from .conftest import FIXTURES, ROOT
from .eventcheck import validate_event_lines
from .feedserver import FeedServer, feed_server
from .proxy import running_proxy
from .test_reload_metrics import JSON, wait_for
from .upstream import Upstream

RULES = FIXTURES / "rules.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "keys" / "feed.key"
    path.parent.mkdir()
    assert run(capsys, "registry", "keygen", "--out", str(path))[0] == 0
    return path


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """The fictitious test vendors, in a folder the tests may edit."""
    folder = tmp_path / "records"
    shutil.copytree(FIXTURES / "policies", folder)
    return folder


def pack(
    capsys: pytest.CaptureFixture[str], records: Path, key: Path, out: Path, version: int
) -> Path:
    code, _, err = run(
        capsys,
        "registry",
        "pack",
        str(records),
        "--key",
        str(key),
        "--out",
        str(out),
        "--version",
        str(version),
    )
    assert code == 0, err
    return out


def install(
    capsys: pytest.CaptureFixture[str], bundle: Path, key: Path, into: Path, *extra: str
) -> tuple[int, str, str]:
    return run(
        capsys,
        "registry",
        "install",
        str(bundle),
        "--key",
        f"{key}.pub",
        "--into",
        str(into),
        *extra,
    )


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: to show that nothing at all changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def installed(tmp_path: Path, records: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A registry folder with version 100 of the test records installed."""
    into = tmp_path / "registry"
    code, _, err = install(capsys, pack(capsys, records, key, tmp_path / "v100", 100), key, into)
    assert code == 0, err
    return into


def set_training(records: Path, vendor: str, old: str, new: str) -> None:
    path = records / f"{vendor}.yaml"
    text = path.read_text()
    assert f"training: {old}" in text
    path.write_text(text.replace(f"training: {old}", f"training: {new}", 1))


# Keys.


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


def bundle_bytes(
    capsys: pytest.CaptureFixture[str], records: Path, key: Path, tmp_path: Path, version: int = 200
) -> bytes:
    return pack(capsys, records, key, tmp_path / f"v{version}", version).read_bytes()


def tampered(data: bytes) -> bytes:
    """One record's text changed inside the signed payload, re-compressed: hashes and all."""
    tar_bytes = gzip.decompress(data[len(HEADER) + 64 :])
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(tar_bytes)) as source,
        tarfile.open(fileobj=out, mode="w") as target,
    ):
        for member in source:
            content = source.extractfile(member).read()  # type: ignore[union-attr]
            content = content.replace(b"training: default", b"training: never")
            member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    return data[: len(HEADER) + 64] + gzip.compress(out.getvalue())


def flipped(data: bytes) -> bytes:
    middle = len(data) - 40
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


def signed_by_another_key(data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> bytes:
    other = tmp_path / "other.key"
    run(capsys, "registry", "keygen", "--out", str(other))
    payload = data[len(HEADER) + 64 :]
    return HEADER + private_key(other).sign(HEADER + payload) + payload


def unsigned(records: Path) -> bytes:
    """What someone might hand over instead: a plain tar.gz of the records."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path in sorted(records.glob("*.yaml")):
            tar.add(path, arcname=f"records/{path.name}")
    return out.getvalue()


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


# The organisation's overlay.


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


# Update over HTTP.


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def update(
    capsys: pytest.CaptureFixture[str], server: FeedServer, key: Path, into: Path
) -> tuple[int, str, str]:
    return run(
        capsys,
        "registry",
        "update",
        "--from",
        server.url("/aiwall.bundle"),
        "--key",
        f"{key}.pub",
        "--into",
        str(into),
    )


def test_update_installs_a_good_bundle_then_asks_conditionally(
    tmp_path: Path, records: Path, key: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    into = tmp_path / "registry"
    bundle = bundle_bytes(capsys, records, key, tmp_path, 100)
    server.serve("/aiwall.bundle", bundle, content_type="application/octet-stream", etag='"100"')
    code, out, _ = update(capsys, server, key, into)
    assert code == 0 and "now serves version 100" in out
    server.requests.clear()
    code, out, _ = update(capsys, server, key, into)
    assert code == 0 and "up to date" in out
    assert server.requests[0][1]["if-none-match"] == '"100"'
    # A server without validators serving the installed bundle again: still up to date.
    server.serve("/aiwall.bundle", bundle, content_type="application/octet-stream")
    code, out, _ = update(capsys, server, key, into)
    assert code == 0 and "up to date" in out


@pytest.mark.parametrize("served", ["tampered", "older", "truncated", "unsigned"])
def test_update_refuses_a_bad_bundle_and_keeps_what_is_installed(
    served: str,
    tmp_path: Path,
    records: Path,
    key: Path,
    server: FeedServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    into = tmp_path / "registry"
    server.serve("/aiwall.bundle", bundle_bytes(capsys, records, key, tmp_path, 100))
    assert update(capsys, server, key, into)[0] == 0
    before = tree(into)
    set_training(records, "cnchat", "default", "never")
    newer = bundle_bytes(capsys, records, key, tmp_path, 200)
    data = {
        "tampered": lambda: tampered(newer),
        "older": lambda: bundle_bytes(capsys, records, key, tmp_path, 50),
        "truncated": lambda: newer[:-100],
        "unsigned": lambda: unsigned(records),
    }[served]()
    server.serve("/aiwall.bundle", data)
    code, _, err = update(capsys, server, key, into)
    assert code == 1
    assert f"refused {server.url('/aiwall.bundle')}" in err and f"{into} is unchanged" in err
    assert tree(into) == before


def test_update_from_an_unreachable_url_exits_2(
    tmp_path: Path, key: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = update(capsys, server, key, tmp_path / "registry")
    assert code == 2 and "HTTP 404" in err
    assert not (tmp_path / "registry" / INSTALLED_FILE).exists()


def test_a_missing_or_wrong_key_exits_2(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = pack(capsys, records, key, tmp_path / "v200", 200)
    code, _, err = run(
        capsys,
        "registry",
        "install",
        str(bundle),
        "--key",
        str(tmp_path / "none"),
        "--into",
        str(installed),
    )
    assert code == 2 and "cannot read the key" in err
    code, _, err = run(
        capsys, "registry", "install", str(bundle), "--key", str(key), "--into", str(installed)
    )
    assert code == 2 and "not a usable public key" in err  # the private key given instead
    assert os.path.exists(installed / INSTALLED_FILE)


# The proxy.


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_running_proxy_picks_up_an_installed_bundle_and_its_rollback(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str], upstream: Upstream
) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(ROOT / "policies", shipped, ignore=shutil.ignore_patterns("*.tsv"))
    into = tmp_path / "registry"
    assert install(capsys, pack(capsys, shipped, key, tmp_path / "v100", 100), key, into)[0] == 0
    rules = FIXTURES / "proxy" / "rules.yaml"
    options = ("aiwall_reload_interval=1",)
    with running_proxy(tmp_path / "proxy", upstream, rules, into, options) as proxy:
        assert proxy.curl("https://chat.mistral.ai/", *JSON)[0] == 403  # warned
        before = proxy.event_count()
        mistral = shipped / "mistral.yaml"
        mistral.write_text(mistral.read_text().replace("confidence: medium", "confidence: low", 1))
        bundle = pack(capsys, shipped, key, tmp_path / "v200", 200)
        assert install(capsys, bundle, key, into)[0] == 0
        changed = wait_for(proxy, before, "policy.changed")
        assert changed["aiwall"]["policy"]["changes"] == [confidence_change("medium", "low")]
        before = proxy.event_count()
        assert run(capsys, "registry", "rollback", "--into", str(into))[0] == 0
        changed = wait_for(proxy, before, "policy.changed")
        assert changed["aiwall"]["policy"]["changes"] == [confidence_change("low", "medium")]
        # `aiwall sources check` marks a page as changed: the warn page says so.
        url = load_registry(into).vendors["mistral"].sources[0].url
        before = proxy.event_count()
        (into / REVIEW_FILE).write_text(
            f"mistral:\n  - url: {url}\n    source: Data use FAQ\n    changed: 2099-01-01\n"
        )
        wait_for(proxy, before, "config.loaded")
        status, page = proxy.curl("https://chat.mistral.ai/", "-H", "Accept: text/html")
        assert status == 403
        assert "s Data use FAQ changed on 2099-01-01; these facts are under review" in page
    validate_event_lines(proxy.events_path.read_text().splitlines())


# deploy/: the timer's and the CronJob's commands are ones aiwall accepts.


REGISTRY_FEED = ROOT / "deploy" / "kubernetes" / "registry-feed"


def test_the_cronjob_and_its_claim_are_valid_kubernetes_objects() -> None:
    kustomization = yaml.safe_load((REGISTRY_FEED / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        document = yaml.safe_load((REGISTRY_FEED / name).read_text())
        assert kubernetes_validate.validate(document, "1.35", strict=True) == "1.35"


def test_the_cronjob_runs_registry_update_into_its_claim() -> None:
    cronjob = yaml.safe_load((REGISTRY_FEED / "cronjob.yaml").read_text())
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = _parser().parse_args(container["command"][1:] + container["args"])
    assert args.command.__name__ == "_update"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(args.into)] == "registry"
    assert mounts[str(args.key.parent)] == "feed-key"
    claims = {v["name"]: v.get("persistentVolumeClaim") for v in pod["volumes"]}
    assert claims["registry"] == {"claimName": "aiwall-registry"}


@pytest.mark.parametrize(
    ("unit", "handler"),
    [
        ("aiwall-registry-update.service", "_update"),
        ("aiwall-sources-check.service", "_sources_check"),
    ],
)
def test_the_systemd_units_run_commands_aiwall_accepts(unit: str, handler: str) -> None:
    text = (ROOT / "deploy" / "systemd" / unit).read_text().replace("\\\n", " ")
    [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    argv = exec_start.removeprefix("ExecStart=").split()
    assert argv[0] == "/opt/aiwall/.venv/bin/aiwall"
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "systemd" / "aiwall.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    words = [env.get(w[2:-1], w) if w.startswith("${") else w for w in argv[1:]]
    assert _parser().parse_args(words).command.__name__ == handler


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


def confidence_change(old: str, new: str) -> dict[str, Any]:
    """A `policy.changed` entry: Mistral's confidence from `old` to `new`."""
    return {
        "vendor": "mistral",
        "product": None,
        "change": "changed",
        "field": "confidence",
        "old": old,
        "new": new,
    }
