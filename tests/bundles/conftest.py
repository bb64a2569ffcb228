"""What the tests of signed record bundles share: a feed key, the test records in a folder the
tests may edit, `aiwall registry` packing and installing them, and the bad bundles someone
might hand over (tampered, flipped, signed by another key, unsigned)."""

import gzip
import io
import shutil
import tarfile
from pathlib import Path

import pytest
from aiwall.cli import main
from aiwall.feed.bundle import HEADER, private_key

from ..conftest import FIXTURES

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
