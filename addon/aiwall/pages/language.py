"""The reader's language: chosen from `Accept-Language` among the shipped catalogues.

UI strings live in gettext catalogues (`locale/<lang>/LC_MESSAGES/aiwall.po`, compiled to
`.mo`), kept with Babel:

    pybabel extract -F pyproject.toml -o addon/aiwall/pages/locale/aiwall.pot addon/aiwall/pages
    pybabel update -i addon/aiwall/pages/locale/aiwall.pot -d addon/aiwall/pages/locale -D aiwall
    pybabel compile -d addon/aiwall/pages/locale -D aiwall

(tests/test_catalogues.py fails when a string is missing or a `.mo` is stale). Country names
come from `regions.json`, made from Babel's CLDR data by the same test.
"""

import functools
import gettext
import importlib.resources
import json
from datetime import timedelta

from aiwall.core.rules import LANGUAGES

FALLBACK = "en"
DOMAIN = "aiwall"
_PACKAGE = importlib.resources.files("aiwall.pages")


@functools.lru_cache(maxsize=512)
def negotiate(accept_language: str) -> str:
    """The shipped language the reader prefers most (`de-CH;q=0.9` counts as `de`); English
    when none is acceptable. Equal weights: the first listed wins."""
    best, best_weight = FALLBACK, 0.0
    for item in accept_language.split(","):
        tag, *parameters = item.strip().split(";")
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = tag.strip().lower().partition("-")[0]
        if language in LANGUAGES and weight > best_weight:
            best, best_weight = language, weight
    return best


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of `language`; English is the source text itself."""
    return gettext.translation(
        DOMAIN, str(_PACKAGE / "locale"), [language], fallback=language == FALLBACK
    )


@functools.cache
def _regions() -> dict[str, dict[str, str]]:
    names: dict[str, dict[str, str]] = json.loads((_PACKAGE / "regions.json").read_text("utf-8"))
    return names


def region_name(code: str, language: str) -> str:
    """`CN` → `China` (en), `Chine` (fr); the code itself if it has no name."""
    return _regions().get(code, {}).get(language, code)


def duration(span: timedelta, language: str) -> str:
    """How long an acknowledgement lasts, in words: `8 hours`, `1 day`, `90 minutes`."""
    t = translations(language)
    minutes = int(span.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return t.ngettext("%(num)d day", "%(num)d days", days) % {"num": days}
    if minutes % 60 == 0:
        hours = minutes // 60
        return t.ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours}
    return t.ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}
