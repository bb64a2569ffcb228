"""Label-wise suffix index from host names (and path prefixes) to what they belong to.

A lookup walks the labels of the name, longest suffix first, so its cost depends on the
name's length, never on how many entries the index holds.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from aiwall.core.hosts import InvalidHost, normalise_host


@dataclass(frozen=True)
class HostEntry:
    """`chatgpt.com/backend-anon/` → host `chatgpt.com`, path prefix `/backend-anon/`."""

    host: str
    path_prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> "HostEntry":
        """Raises InvalidHost for a host part that is no valid name, and for a URL."""
        if "://" in text:
            parts = urlsplit(text)
            written = (parts.hostname or "") + (parts.path if parts.path != "/" else "")
            raise InvalidHost(text, f"write a host name, not a URL: {written or 'example.com'}")
        host, slash, path = text.partition("/")
        return cls(normalise_host(host), slash + path)

    def __str__(self) -> str:
        return self.host + self.path_prefix


class HostIndex[T]:
    """Maps a normalised host name and path to the target of its most specific entry."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[tuple[str, T]]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_host.values())

    def get(self, entry: HostEntry) -> T | None:
        """The target stored for exactly this entry."""
        for prefix, target in self._by_host.get(entry.host, ()):
            if prefix == entry.path_prefix:
                return target
        return None

    def add(self, entry: HostEntry, target: T) -> None:
        """Store `target` for the entry, replacing what was stored for exactly this entry."""
        entries = [e for e in self._by_host.get(entry.host, []) if e[0] != entry.path_prefix]
        entries.append((entry.path_prefix, target))
        entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._by_host[entry.host] = entries

    def resolve(self, host: str, path: str = "/") -> T | None:
        """The most specific host entry wins, then the longest path prefix under it."""
        name = host
        while True:
            for prefix, target in self._by_host.get(name, ()):
                if path.startswith(prefix):
                    return target
            dot = name.find(".")
            if dot < 0:
                return None
            name = name[dot + 1 :]

    def hosts(self) -> list[str]:
        return list(self._by_host)
