"""The last good configuration, kept on disk: a restart that finds broken files serves it.

Every accepted configuration is written to the state directory exactly as it was read (the
rules file, every vendor record in force and the review marks), as a new generation; a small
`current` file, replaced atomically, names the generation in force, so a crash while writing
leaves the previous one.

    <state dir>/current                   {"generation": "...", "saved": ..., ...}
    <state dir>/<generation>/rules.yaml
    <state dir>/<generation>/policies/*.yaml
"""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiwall.core.config import Config, load_config, load_rules_file
from aiwall.core.rules import RulesFile
from aiwall.core.yamlsource import ConfigError

CURRENT = "current"
RULES = "rules.yaml"
POLICIES = "policies"


@dataclass(frozen=True)
class Saved:
    """What the state directory holds: where it came from, when it was accepted."""

    rules: Path  # the kept copy
    policies: Path
    source_rules: str  # the files it was read from
    source_policies: str
    saved: str  # ISO 8601, UTC
    rules_hash: str
    digest: str  # of every file kept: the same files are not written twice


class LastGood:
    def __init__(self, directory: Path) -> None:
        self.directory = directory.expanduser().absolute()

    def save(self, config: Config, policies: Path) -> Saved:
        """Keep the files of an accepted configuration; raises OSError when it cannot."""
        files = {RULES: config.rules_document.text}
        # The records in force (the organisation's own where they replace the shipped ones)
        # and the review marks read with them, as one plain folder of records.
        registry = config.registry
        for document in [*registry.documents.values(), *filter(None, [registry.reviews])]:
            files[f"{POLICIES}/{document.path.name}"] = document.text
        digest = _digest(files)
        if (saved := self.saved()) is not None and saved.digest == digest:
            return saved
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        generation = Path(tempfile.mkdtemp(prefix="generation-", dir=self.directory))
        for name, text in files.items():
            path = generation / name
            path.parent.mkdir(exist_ok=True)
            _write(path, text)
        meta = {
            "generation": generation.name,
            "source_rules": str(config.rules_path.absolute()),
            "source_policies": str(policies.absolute()),
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "rules_hash": config.rules_hash,
            "digest": digest,
        }
        _replace(self.directory / CURRENT, json.dumps(meta, indent=2) + "\n")
        for old in self.directory.glob("generation-*"):
            if old.name != generation.name:
                shutil.rmtree(old, ignore_errors=True)
        return self._saved(meta)

    def saved(self) -> Saved | None:
        """The configuration kept, or None when there is none (or it cannot be read)."""
        try:
            meta = json.loads((self.directory / CURRENT).read_text(encoding="utf-8"))
            return self._saved(meta)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self) -> tuple[Config, Saved] | None:
        """The kept configuration, loaded again; None when there is none, ConfigError when
        what is kept cannot be loaded (someone edited or damaged it).

        Its tests are not run again: they passed when it was accepted, and a test that fails
        only because a record has aged since is no reason to serve nothing."""
        saved = self.saved()
        if saved is None:
            return None
        return load_config(saved.rules, saved.policies, tests=False), saved

    def rules(self) -> RulesFile | None:
        """The kept rules alone (what a start's rule changes are counted against), if any."""
        saved = self.saved()
        if saved is None:
            return None
        try:
            return load_rules_file(saved.rules)
        except ConfigError:
            return None

    def _saved(self, meta: dict[str, str]) -> Saved:
        generation = self.directory / meta["generation"]
        return Saved(
            generation / RULES,
            generation / POLICIES,
            meta["source_rules"],
            meta["source_policies"],
            meta["saved"],
            meta["rules_hash"],
            meta["digest"],
        )


def _digest(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def _replace(path: Path, text: str) -> None:
    """Write `path` so that a reader sees the old content or the new, never a part."""
    temporary = path.with_name(f".{path.name}.tmp")
    _write(temporary, text)
    os.replace(temporary, path)


def _write(path: Path, text: str) -> None:
    """Write and flush to the disk: `current` must never name files a power cut emptied."""
    with path.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
