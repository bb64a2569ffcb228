"""Pages from Jinja2 templates and a stylesheet, both shipped in this package.

Autoescaping is on for every template: whatever a vendor record, a rule or a request says is
text on the page, never markup. The stylesheet is inserted whole into a nonce-bearing `<style>`
(the pages' Content-Security-Policy allows no other style and no script).

Rendering is done once per page content: see `slot` and `SkeletonCache`.
"""

import functools
import importlib.resources
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from aiwall.pages.language import translations


@functools.cache
def _environment(language: str) -> Environment:
    """The templates with `language`'s catalogue installed (`_`, `{% trans %}`)."""
    environment = Environment(
        loader=PackageLoader("aiwall.pages", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment


# Our own file, not input: inserted as it is (CSS quotes and `>` must not be escaped).
STYLESHEET = Markup(
    (importlib.resources.files("aiwall.pages") / "static" / "pages.css").read_text("utf-8")
)


def render(template: str, language: str, **context: object) -> str:
    """The template in `language` with `context`; every value is escaped unless it is Markup."""
    page = _environment(language).get_template(template)
    return page.render(css=STYLESHEET, lang=language, nonce=slot("nonce"), **context)


# What changes per request (nonce, token, host, ...) is rendered as a marker and filled in per
# request, so that a page is rendered once per what it is about and then only copied. The
# marker holds a random part, so no text a page shows can pass for one.
_MARK = "aiwall" + secrets.token_hex(8)
_SLOT = re.compile(f"{_MARK}([a-z_]+)-(text|query){_MARK}")
_ESCAPES: dict[str, Callable[[str], str]] = {
    "text": lambda value: str(escape(value)),  # HTML text or a quoted attribute value
    "query": lambda value: quote(value, safe=""),  # part of a URL's query, in an attribute
}
CACHED_PAGES = 512


def slot(name: str, mode: str = "text") -> str:
    """The marker for `name`, filled per request: escaped as HTML, or percent-encoded."""
    return f"{_MARK}{name}-{mode}{_MARK}"


@dataclass(frozen=True)
class Skeleton:
    """A rendered page with its per-request slots: static bytes around each slot."""

    parts: tuple[bytes, ...]
    slots: tuple[tuple[str, Callable[[str], str]], ...]

    @classmethod
    def of(cls, rendered: str) -> "Skeleton":
        pieces = _SLOT.split(rendered)
        parts = tuple(piece.encode("utf-8", "replace") for piece in pieces[::3])
        slots = tuple(
            (name, _ESCAPES[mode]) for name, mode in zip(pieces[1::3], pieces[2::3], strict=True)
        )
        return cls(parts, slots)

    def fill(self, values: Mapping[str, str]) -> bytes:
        out = [self.parts[0]]
        for (name, escaped), part in zip(self.slots, self.parts[1:], strict=True):
            out += (escaped(values[name]).encode("utf-8", "replace"), part)
        return b"".join(out)


class SkeletonCache:
    """The last `size` skeletons used, by key. A key may hold `id()`s of the objects a page
    shows: the entry keeps those objects alive, so their ids cannot be reused meanwhile."""

    def __init__(self, size: int = CACHED_PAGES) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Skeleton, object]] = OrderedDict()

    def get(self, key: Hashable, keep: object, make: Callable[[], str]) -> Skeleton:
        """The skeleton for `key`, rendered by `make` the first time; `keep` stays alive."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = (Skeleton.of(make()), keep)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return entry[0]
