"""The state of `aiwall sources check`: the last text seen of each cited page, one JSON file
per URL, written atomically so that an interrupted run leaves the previous snapshot."""

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from aiwall.feed.fetch import Validators


@dataclass(frozen=True)
class Snapshot:
    url: str
    title: str
    text: str  # normalised main text
    fetched: str  # ISO 8601 time of the fetch the text comes from
    etag: str | None = None
    last_modified: str | None = None

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)


class SnapshotStore:
    """`<state dir>/sources/<hash of the URL>.json`."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "sources"

    def get(self, url: str) -> Snapshot | None:
        """The snapshot of `url`; None when there is none or it cannot be read (a new baseline)."""
        try:
            data = json.loads(self._path(url).read_text(encoding="utf-8"))
            snapshot = Snapshot(**data)
        except (OSError, ValueError, TypeError):
            return None
        return snapshot if snapshot.url == url else None

    def put(self, snapshot: Snapshot) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self._path(snapshot.url), json.dumps(asdict(snapshot), indent=1) + "\n")

    def _path(self, url: str) -> Path:
        return self.directory / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write a sibling temporary file and rename it over `path`: readers see old or new."""
    data = content.encode() if isinstance(content, str) else content
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
