"""Noticing that the rules file or a vendor record changed on disk."""

import os
from pathlib import Path

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(rules: Path, policies: Path) -> Fingerprint:
    """Name, modification time and size of the rules file and every record; missing ones count.

    Editors often replace a file (write a new one, rename it over the old), so the time and
    size of whatever is at the path now are what matter, not an open file's.
    """
    paths = [rules, *sorted(policies.glob("*.yaml"))]
    marks = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            marks.append((str(path), -1, -1))
            continue
        marks.append((str(path), status.st_mtime_ns, status.st_size))
    return tuple(marks)
