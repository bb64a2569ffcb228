"""Signed record bundles: Ed25519 keys, packing a folder of records, and opening a bundle.

A bundle is one file: a header line, a 64-byte Ed25519 signature, and the payload, a gzipped
tar of `manifest.json` (version, creation time, the SHA-256 of every record) and
`records/<vendor>.yaml`. The signature covers the header and the payload, and is checked
before a single byte of the payload is decompressed or parsed: a tampered, truncated or
unsigned file is refused whole. Only then are the tar's members read, in memory, and only
regular files with the expected names and hashes are accepted.
"""

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aiwall.core.policy import IDENTIFIER
from aiwall.core.registry import is_registry_folder, load_registry, record_files
from aiwall.feed.snapshots import write_atomically

HEADER = b"aiwall-bundle 1\n"
SIGNATURE_BYTES = 64
MAX_BUNDLE_BYTES = 64 << 20
MAX_UNPACKED_BYTES = 256 << 20
MANIFEST = "manifest.json"
_RECORD_NAME = re.compile(r"^records/(" + IDENTIFIER.strip("^$") + r")\.yaml$")


class BundleError(Exception):
    """A bundle or key that cannot be used; the message says why, for people."""


@dataclass(frozen=True)
class Manifest:
    version: int
    created: str
    records: dict[str, str]  # file name → SHA-256 of its bytes

    def to_json(self) -> bytes:
        data = {"format": 1, "version": self.version, "created": self.created}
        return json.dumps(data | {"records": self.records}, indent=1, sort_keys=True).encode()


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    records: dict[str, bytes]  # file name (`deepseek.yaml`) → contents

    @property
    def version(self) -> int:
        return self.manifest.version


def keygen(out: Path) -> Path:
    """Write a new private key to `out` (readable by its owner only) and its public key to
    `out.pub`; never overwrite either. Returns the public key's path."""
    public_path = out.with_name(out.name + ".pub")
    for path in (out, public_path):
        if path.exists():
            raise BundleError(f"{path} exists: refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path.write_bytes(public)
    return public_path


def private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_key(path), password=None)
    except (ValueError, TypeError) as error:
        raise BundleError(f"{path}: not a usable private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path}: not an Ed25519 private key")
    return key


def public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read_key(path))
    except (ValueError, TypeError) as error:
        raise BundleError(f"{path}: not a usable public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path}: not an Ed25519 public key")
    return key


def _read_key(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BundleError(f"cannot read the key {path}: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise BundleError(f"{path}: not a PEM key (aiwall registry keygen writes them)")
    return data


def version_now(now: datetime | None = None) -> int:
    """The default version: the creation time in UTC as YYYYMMDDHHMMSS, so it only grows."""
    return int((now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S"))


def pack(directory: Path, key: Ed25519PrivateKey, out: Path, version: int | None = None) -> Bundle:
    """Validate the records in `directory` as `aiwall check` does, then sign and write them."""
    if is_registry_folder(directory):
        raise BundleError(f"{directory} is a registry folder: pack a plain folder of records")
    load_registry(directory)  # ConfigError with file:line for anything wrong
    now = datetime.now(UTC)
    records = {path.name: path.read_bytes() for path in record_files(directory)}
    manifest = Manifest(
        version if version is not None else version_now(now),
        now.isoformat(timespec="seconds"),
        {name: hashlib.sha256(data).hexdigest() for name, data in records.items()},
    )
    payload = _payload(manifest, records)
    signature = key.sign(HEADER + payload)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, HEADER + signature + payload)
    return Bundle(manifest, records)


def _payload(manifest: Manifest, records: dict[str, bytes]) -> bytes:
    """A reproducible gzipped tar: fixed order, times and owners."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [(MANIFEST, manifest.to_json())] + [
            (f"records/{name}", data) for name, data in sorted(records.items())
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def open_bundle(data: bytes, key: Ed25519PublicKey) -> Bundle:
    """Check the signature, then read the records; BundleError says what is wrong."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"larger than {MAX_BUNDLE_BYTES} bytes: not a record bundle")
    if not data.startswith(HEADER):
        raise BundleError("not a signed aiwall bundle (no `aiwall-bundle 1` header): unsigned?")
    signature = data[len(HEADER) : len(HEADER) + SIGNATURE_BYTES]
    payload = data[len(HEADER) + SIGNATURE_BYTES :]
    if len(signature) < SIGNATURE_BYTES or not payload:
        raise BundleError("truncated: the signature or the records are missing")
    try:
        key.verify(signature, HEADER + payload)
    except InvalidSignature:
        raise BundleError(
            "the signature does not verify: the bundle was altered or truncated, or it was"
            " signed with another key"
        ) from None
    return _unpack(payload)


def _unpack(payload: bytes) -> Bundle:
    """The members of a payload whose signature holds (still checked: a signer can err)."""
    try:
        tar_bytes = _gunzip(payload)
        members: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or (name != MANIFEST and not _RECORD_NAME.match(name)):
                    raise BundleError(f"unexpected member {name!r}")
                if name in members:
                    raise BundleError(f"member {name!r} appears twice")
                extracted = tar.extractfile(member)
                members[name] = extracted.read() if extracted else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise BundleError(f"the records cannot be read: {error}") from None
    if MANIFEST not in members:
        raise BundleError("no manifest.json")
    manifest = _manifest(members.pop(MANIFEST))
    records = {name.removeprefix("records/"): data for name, data in members.items()}
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in records.items()}
    if hashes != manifest.records:
        raise BundleError("the records do not match the manifest's list and hashes")
    if not records:
        raise BundleError("holds no vendor records")
    return Bundle(manifest, records)


def _gunzip(payload: bytes) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    data = inflater.decompress(payload, MAX_UNPACKED_BYTES)
    if inflater.unconsumed_tail:
        raise BundleError(f"unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    if not inflater.eof:
        raise BundleError("the records are truncated")
    return data


def _manifest(data: bytes) -> Manifest:
    try:
        fields = json.loads(data)
        manifest = Manifest(int(fields["version"]), str(fields["created"]), dict(fields["records"]))
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(f"manifest.json is not valid: {error}") from None
    if fields.get("format") != 1:
        raise BundleError(f"manifest format {fields.get('format')!r}: this aiwall reads format 1")
    if manifest.version <= 0:
        raise BundleError(f"manifest version {manifest.version} is not a positive integer")
    return manifest
