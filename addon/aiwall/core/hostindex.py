"""Label-wise suffix index from host names (and path prefixes) to what they belong to.

A lookup walks the labels of the name, longest suffix first, so its cost depends on the
name's length, never on how many entries the index holds.

An entry's first label may hold `{region}`, for vendors that use one name per region:
`{region}-aiplatform.googleapis.com` matches `us-central1-aiplatform.googleapis.com` and
`europe-west4-aiplatform.googleapis.com` (and their subdomains), never `aiplatform.googleapis.com`
nor `x.y-aiplatform.googleapis.com`. `{region}` stands for one or more letters, digits and
hyphens within that one label.

A path prefix ends at a segment boundary: `huggingface.co/chat` covers `/chat`, `/chat/…` and
`/chat?…`, never `/chatty`; a prefix that ends in `/` covers only what lies below it.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiwall.core.hosts import InvalidHost, normalise_host

REGION = "{region}"
_REGION_LABEL = "region0"  # stands in for {region} while the rest of the name is checked


@dataclass(frozen=True)
class HostEntry:
    """`chatgpt.com/backend-anon/` → host `chatgpt.com`, path prefix `/backend-anon/`."""

    host: str
    path_prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> "HostEntry":
        """Raises InvalidHost for a host part that is no valid name (or misplaced {region}),
        and for a URL."""
        if "://" in text:
            parts = urlsplit(text)
            written = (parts.hostname or "") + (parts.path if parts.path != "/" else "")
            raise InvalidHost(text, f"write a host name, not a URL: {written or 'example.com'}")
        host, slash, path = text.partition("/")
        if REGION not in host:
            return cls(normalise_host(host), slash + path)
        first, dot, rest = host.partition(".")
        if REGION in rest or first.count(REGION) != 1 or not dot:
            raise InvalidHost(host, f"{REGION} may stand once in the first label of a name")
        checked = normalise_host(f"{first.replace(REGION, _REGION_LABEL)}.{rest}")
        return cls(checked.replace(_REGION_LABEL, REGION, 1), slash + path)

    @property
    def is_pattern(self) -> bool:
        return REGION in self.host

    def __str__(self) -> str:
        return self.host + self.path_prefix


def under(path: str, prefix: str) -> bool:
    """Whether `path` (with its query) lies under the path prefix, at a segment boundary."""
    if not path.startswith(prefix):
        return False
    return not prefix or prefix.endswith("/") or path[len(prefix) : len(prefix) + 1] in _BOUNDARY


_BOUNDARY = ("", "/", "?", "#", ";")


class HostIndex[T]:
    """Maps a normalised host name and path to the target of its most specific entry."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[tuple[str, T]]] = {}
        # parent domain → (first-label pattern, path prefix, target, the entry's text)
        self._patterns: dict[str, list[tuple[re.Pattern[str], str, T, str]]] = {}

    def __len__(self) -> int:
        return sum(len(e) for e in self._by_host.values()) + sum(
            len(p) for p in self._patterns.values()
        )

    def add(self, entry: HostEntry, target: T) -> None:
        """Store `target` for the entry, replacing what was stored for exactly this entry."""
        if entry.is_pattern:
            label, _, parent = entry.host.partition(".")
            regex = re.compile(re.escape(label).replace(re.escape(REGION), "[a-z0-9-]+"))
            patterns = [p for p in self._patterns.get(parent, []) if p[3] != str(entry)]
            patterns.append((regex, entry.path_prefix, target, str(entry)))
            patterns.sort(key=lambda p: len(p[1]), reverse=True)
            self._patterns[parent] = patterns
            return
        entries = [e for e in self._by_host.get(entry.host, []) if e[0] != entry.path_prefix]
        entries.append((entry.path_prefix, target))
        entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._by_host[entry.host] = entries

    def resolve(self, host: str, path: str = "/") -> T | None:
        """The most specific host entry wins, then the longest path prefix under it; at the
        same name, a listed name wins over a `{region}` pattern."""
        name = host
        while True:
            for prefix, target in self._by_host.get(name, ()):
                if under(path, prefix):
                    return target
            label, dot, parent = name.partition(".")
            if self._patterns and dot:
                for regex, prefix, target, _ in self._patterns.get(parent, ()):
                    if regex.fullmatch(label) and under(path, prefix):
                        return target
            if not dot:
                return None
            name = parent

    def has_paths(self, host: str) -> bool:
        """Whether an entry with a path prefix applies to the host (`github.com/copilot` to
        github.com and www.github.com): only its requests' paths tell what they are."""
        name = host
        while True:
            if any(prefix for prefix, _ in self._by_host.get(name, ())):
                return True
            label, dot, parent = name.partition(".")
            if self._patterns and dot:
                for regex, prefix, *_ in self._patterns.get(parent, ()):
                    if prefix and regex.fullmatch(label):
                        return True
            if not dot:
                return False
            name = parent

    def hosts(self) -> list[str]:
        """The listed names (patterns are in `patterns()`)."""
        return list(self._by_host)

    def patterns(self) -> dict[str, list[str]]:
        """Parent domain → the regular expressions its first labels are matched against."""
        return {
            parent: sorted({regex.pattern for regex, *_ in entries})
            for parent, entries in self._patterns.items()
        }
