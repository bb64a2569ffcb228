"""Pages from Jinja2 templates and a stylesheet, both shipped in this package.

Autoescaping is on for every template: whatever a vendor record, a rule or a request says is
text on the page, never markup. The stylesheet is inserted whole into a nonce-bearing `<style>`
(the pages' Content-Security-Policy allows no other style and no script).
"""

import importlib.resources

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

_ENVIRONMENT = Environment(
    loader=PackageLoader("aiwall.pages", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Our own file, not input: inserted as it is (CSS quotes and `>` must not be escaped).
STYLESHEET = Markup(
    (importlib.resources.files("aiwall.pages") / "static" / "pages.css").read_text("utf-8")
)


def render(template: str, **context: object) -> str:
    """The template rendered with `context`; every value is escaped unless it is Markup."""
    return _ENVIRONMENT.get_template(template).render(css=STYLESHEET, **context)
