"""Writing `_review.yaml`: the pages that changed, per record, until a person re-verifies them.

The registry loader reads the file back (core/registry.py) and puts each mark on its record
for as long as the record gives that page a date before the change.
"""

from datetime import date
from pathlib import Path
from typing import Any

import yaml

from aiwall.core.policy import Review
from aiwall.core.registry import Registry, Reviews, still_doubted
from aiwall.core.yamlsource import load_yaml
from aiwall.feed.snapshots import write_atomically

HEADER = """\
# Written by `aiwall sources check`: pages cited by vendor records that changed since they
# were verified. The facts each page covers are "under review" until a person re-verifies the
# page and gives the record's source a `date` on or after `changed`; the mark then lapses.
"""


def record_changes(
    path: Path, registry: Registry, changed: dict[str, list[Review]], today: date
) -> None:
    """Add today's marks to those still standing, drop those that lapsed, and write the file.

    `changed` maps a vendor id to the reviews found today (one per page that changed).
    """
    marks: dict[str, dict[str, Review]] = {}
    if path.is_file():
        document = load_yaml(path)
        if document.data is not None:
            for vendor_id, reviews in document.validate(Reviews).root.items():
                record = registry.vendors.get(vendor_id)
                if record is not None:
                    standing = still_doubted(record, reviews)
                    marks[vendor_id] = {review.url: review for review in standing}
    for vendor_id, found in changed.items():
        marks.setdefault(vendor_id, {}).update({review.url: review for review in found})
    data: dict[str, Any] = {
        vendor_id: [review.model_dump(mode="json") for review in by_url.values()]
        for vendor_id, by_url in sorted(marks.items())
        if by_url
    }
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100) if data else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, HEADER + text)
