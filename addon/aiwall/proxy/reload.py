"""Reading the configuration, and noticing that the rules file or a vendor record changed.

Every load is validated in full; whatever goes wrong in it (a ConfigError with file and line,
or anything unexpected) becomes a list of problems that rejects the new configuration, so the
last good one keeps serving and the watcher keeps watching.
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from aiwall.core.config import Config, load_config
from aiwall.core.registry import record_files, record_folders
from aiwall.core.yamlsource import ConfigError

logger = logging.getLogger("aiwall")

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(rules: Path, policies: Path) -> Fingerprint:
    """Name, modification time and size of the rules file and every record; missing ones count.

    Editors often replace a file (write a new one, rename it over the old), so the time and
    size of whatever is at the path now are what matter, not an open file's.
    """
    folders = record_folders(policies)
    overlay = record_files(folders.overlay) if folders.overlay else []
    # A registry folder's own files (_installed.yaml, _review.yaml) count: installing,
    # rolling back and review marks are changes; so are the records of the overlay.
    paths = [rules, *sorted(policies.glob("*.yaml")), *record_files(folders.base), *overlay]
    marks = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            marks.append((str(path), -1, -1))
            continue
        marks.append((str(path), status.st_mtime_ns, status.st_size))
    return tuple(marks)


@dataclass
class ConfigFiles:
    """The rules file and the records folder, and what they held when last read."""

    rules: Path
    policies: Path
    read_fingerprint: Fingerprint = field(default=())

    def changed(self) -> bool:
        return fingerprint(self.rules, self.policies) != self.read_fingerprint

    def read(self) -> tuple[Config | None, list[str]]:
        """A new configuration validated in full, or the problems that reject it."""
        # Taken before reading: a change made while (or just after) reading is a change.
        self.read_fingerprint = fingerprint(self.rules, self.policies)
        try:
            return load_config(self.rules, self.policies), []
        except ConfigError as error:
            return None, [str(p) for p in error.problems]
        except Exception as error:  # a bug must reject the change, never stop the watcher
            logger.exception("aiwall: loading %s failed", self.rules)
            return None, [f"{self.rules}: the configuration could not be loaded: {error!r}"]
