"""Installing a signed bundle into a registry folder, rolling it back, and updating from a URL.

A registry folder (core/registry.py) keeps each installed bundle in `releases/<version>/`;
`_installed.yaml` names the one in use, the one before it and the newest ever installed.
Installing writes and validates the new release beside the others, then switches by renaming
a new `_installed.yaml` over the old one: one atomic step, which the proxy's reload notices.
Anything refused before that step leaves the folder serving what it served. A bundle must be
newer than the newest ever installed, so neither an old bundle nor one rolled back from can
come back by replay; `rollback` steps back to the previous release.
"""

import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aiwall.core.config import load_config, overlay_warnings
from aiwall.core.diff import diff_registries
from aiwall.core.registry import (
    INSTALLED_FILE,
    OVERLAY,
    RELEASES,
    REVIEW_FILE,
    Installed,
    RecordFolders,
    Registry,
    installed_bundle,
    is_registry_folder,
    load_registry,
    record_files,
    registry_warnings,
)
from aiwall.core.rules import Settings
from aiwall.core.yamlsource import ConfigError, Problem
from aiwall.feed.bundle import Bundle, BundleError, open_bundle
from aiwall.feed.fetch import Validators, fetch_all
from aiwall.feed.snapshots import write_atomically

UPDATE_STATE = ".update.json"  # where `update` keeps the bundle URL's validators


@dataclass(frozen=True)
class Installation:
    """What an install or rollback did: versions, `aiwall diff` of the records, warnings."""

    version: int
    previous: int | None
    changes: list[str]
    warnings: list[Problem] = field(default_factory=list)


def install_bundle(
    data: bytes,
    key: Ed25519PublicKey,
    into: Path,
    rules: Path | None = None,
    today: Callable[[], date] = date.today,
) -> Installation:
    """Verify, validate and switch to a bundle; BundleError or ConfigError when refused."""
    bundle = open_bundle(data, key)
    _check_folder(into)
    state = installed_bundle(into)
    if state is not None and bundle.version <= state.newest:
        raise BundleError(
            f"version {bundle.version} is not newer than {state.newest}, the newest installed"
            " here (an older bundle, or one installed before)"
        )
    # Newer than any release ever installed, so no `_installed.yaml` names this folder yet:
    # it can be written in place, and whatever is there was left by an install that stopped.
    release = into / RELEASES / str(bundle.version)
    if release.exists():
        shutil.rmtree(release)
    release.mkdir(parents=True)
    (into / OVERLAY).mkdir(exist_ok=True)
    try:
        for name, contents in bundle.records.items():
            (release / name).write_bytes(contents)
        after, warnings = _validate(into, release, rules, today)
        before = _current(into)
    except BaseException:
        shutil.rmtree(release, ignore_errors=True)
        raise
    previous = state.current if state else None
    _switch(into, Installed(current=bundle.version, previous=previous, newest=bundle.version))
    return Installation(bundle.version, previous, diff_registries(before, after), warnings)


def rollback(into: Path, today: Callable[[], date] = date.today) -> Installation:
    """Go back to the release installed before the current one."""
    state = installed_bundle(into)
    if state is None or state.previous is None:
        raise BundleError(f"{into}: no previous release to roll back to")
    release = into / RELEASES / str(state.previous)
    if not release.is_dir():
        raise BundleError(f"{release} is missing: cannot roll back")
    after, warnings = _validate(into, release, None, today)
    before = _current(into)
    _switch(into, Installed(current=state.previous, previous=None, newest=state.newest))
    return Installation(state.previous, state.current, diff_registries(before, after), warnings)


def update(
    url: str,
    key: Ed25519PublicKey,
    into: Path,
    rules: Path | None = None,
    today: Callable[[], date] = date.today,
    timeout: float = 60.0,
) -> Installation | None:
    """Fetch the bundle at `url` (conditionally) and install it; None when there is nothing
    new. An answer that is the installed bundle again counts as nothing new."""
    saved = _update_state(into, url)
    [answer] = fetch_all([(url, saved)], concurrency=1, timeout=timeout)
    if answer.status == "not-modified":
        return None
    if answer.status == "unreachable":
        raise OSError(f"cannot fetch {url}: {answer.error}")
    state = installed_bundle(into) if is_registry_folder(into) else None
    try:
        installation = install_bundle(answer.body, key, into, rules, today)
    except BundleError:
        # The bundle in use, or the one rolled back from, served again: nothing new.
        if state is not None and _signed_version(answer.body, key) in (state.current, state.newest):
            _save_update_state(into, url, answer.validators)
            return None
        raise
    _save_update_state(into, url, answer.validators)
    return installation


def _check_folder(into: Path) -> None:
    if into.exists() and not into.is_dir():
        raise BundleError(f"{into} is not a folder")
    if into.is_dir() and not is_registry_folder(into) and record_files(into):
        raise BundleError(
            f"{into} holds vendor records of its own: install into a registry folder (a new"
            f" one, or one made by install) and keep the organisation's records in {OVERLAY}/"
        )


def _validate(
    into: Path, release: Path, rules: Path | None, today: Callable[[], date]
) -> tuple[Registry, list[Problem]]:
    """The registry the proxy would load with `release` in use, checked as `check` does:
    against the rules file when one is given, with the overlay and the review marks."""
    folders = RecordFolders(release, into / OVERLAY, into / REVIEW_FILE)
    if rules is not None:
        config = load_config(rules, folders, today)
        return config.registry, config.warnings
    registry = load_registry(folders)
    stale_after = Settings().stale_after
    return registry, registry_warnings(registry, today(), stale_after) + overlay_warnings(registry)


def _current(into: Path) -> Registry:
    """What the folder serves now; the shipped records for a folder not yet installed into."""
    if not is_registry_folder(into):
        return load_registry()
    try:
        return load_registry(into)
    except ConfigError:
        return Registry()  # broken before: every record counts as added


def _switch(into: Path, state: Installed) -> None:
    """The one step that changes what the folder serves; then drop releases nobody needs."""
    header = "# Written by `aiwall registry install` and `rollback`: which release is in use.\n"
    text = yaml.safe_dump(state.model_dump(), sort_keys=False)
    write_atomically(into / INSTALLED_FILE, header + text)
    keep = {str(state.current), str(state.previous)}
    for release in (into / RELEASES).iterdir():
        if release.name not in keep:
            shutil.rmtree(release, ignore_errors=True)


def _signed_version(data: bytes, key: Ed25519PublicKey) -> int | None:
    bundle: Bundle | None = None
    with contextlib.suppress(BundleError):
        bundle = open_bundle(data, key)
    return bundle.version if bundle else None


def _update_state(into: Path, url: str) -> Validators:
    try:
        saved = json.loads((into / UPDATE_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Validators()
    if not isinstance(saved, dict) or saved.get("url") != url:
        return Validators()
    return Validators(saved.get("etag"), saved.get("last_modified"))


def _save_update_state(into: Path, url: str, validators: Validators) -> None:
    data = {"url": url, "etag": validators.etag, "last_modified": validators.last_modified}
    write_atomically(into / UPDATE_STATE, json.dumps(data) + "\n")
