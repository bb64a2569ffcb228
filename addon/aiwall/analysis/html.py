"""The HTML documents of `aiwall report` and `aiwall discover`: Jinja2 templates.

Templates live in `analysis/templates/`, the style sheet in `analysis/static/report.css`; both
ship with the package. Autoescaping is on for every template, so any value from a log or a
vendor record is text; markup comes only from the templates. A page has no script and loads
nothing: the style sheet is inlined in one `<style>` element allowed by its hash in a
Content-Security-Policy meta tag (`default-src 'none'`), and charts are inline SVG coloured
through tone classes (`style` attributes are forbidden by that policy). The same document
always renders to the same bytes.

Table cells are values (text, numbers, None) or one of the cell kinds below, which the
`table` macro of `templates/macros.html` draws: a `Pill` (a coloured label), `Quote`
(free text, its line breaks kept), `Strong` (bold), `TwoLines` (a value and a muted line under
it), `Empty` (a muted placeholder).
"""

import base64
import functools
import hashlib
import importlib.resources
from dataclasses import dataclass
from typing import Any

import jinja2

from aiwall.analysis.charts import TONES
from aiwall.analysis.text import number


@dataclass(frozen=True)
class Pill:
    text: str
    tone: str = "neutral"


@dataclass(frozen=True)
class Quote:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class TwoLines:
    text: object
    below: object


@dataclass(frozen=True)
class Empty:
    text: str


ACTION_TONES = {"block": "bad", "warn": "warn", "log": "info", "allow": "good"}


def action_pill(action: str, text: str | None = None) -> Pill:
    return Pill(text or action, ACTION_TONES.get(action, "neutral"))


@functools.cache
def stylesheet() -> str:
    return (importlib.resources.files("aiwall.analysis") / "static" / "report.css").read_text(
        encoding="utf-8"
    )


@functools.cache
def content_security_policy() -> str:
    digest = hashlib.sha256(stylesheet().encode("utf-8")).digest()
    style = base64.b64encode(digest).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{style}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aiwall.analysis", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = number
    env.filters["tone"] = lambda tone: tone if tone in TONES else "neutral"
    env.filters["action_tone"] = lambda action: ACTION_TONES.get(action, "neutral")
    env.tests["pill"] = lambda value: isinstance(value, Pill)
    env.tests["quote"] = lambda value: isinstance(value, Quote)
    env.tests["strong"] = lambda value: isinstance(value, Strong)
    env.tests["two_lines"] = lambda value: isinstance(value, TwoLines)
    env.tests["empty_cell"] = lambda value: isinstance(value, Empty)
    return env


def render(template: str, **context: Any) -> str:
    """A whole page: `template` with the style sheet and its policy."""
    return (
        environment()
        .get_template(template)
        .render(css=stylesheet(), csp=content_security_policy(), **context)
    )
