"""The pages' message catalogues and country names are complete and match their sources.

When one of these fails after a change to a page: run the pybabel commands in
addon/aiwall/pages/language.py (extract, update, translate what is new, compile).
"""

import gettext
import io
import json
from pathlib import Path

import pytest
from aiwall.core.regions import REGION_CODES
from aiwall.core.rules import LANGUAGES
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from .conftest import ROOT

PAGES = ROOT / "addon" / "aiwall" / "pages"
TRANSLATED = [language for language in LANGUAGES if language != "en"]


def source_messages() -> set[object]:
    """Every message the pages' Python code and templates ask to translate."""
    method_map = [
        ("**.py", "python"),
        ("templates/**.html", "jinja2"),
    ]
    options = {
        "templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    }
    return {message[2] for message in extract_from_dir(str(PAGES), method_map, options_map=options)}


def catalogue(language: str) -> Path:
    return PAGES / "locale" / language / "LC_MESSAGES" / "aiwall.po"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_page_string_is_translated(language: str) -> None:
    with catalogue(language).open("rb") as po:
        translated = read_po(po)
    wanted = {m if isinstance(m, str) else m[0] for m in source_messages()}
    have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in translated if m.id}
    assert sorted(wanted - set(have)) == []
    for message_id, message in have.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and not message.fuzzy, message_id


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_is_up_to_date(language: str) -> None:
    with catalogue(language).open("rb") as po:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(po))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with catalogue(language).with_suffix(".mo").open("rb") as mo:
        shipped = gettext.GNUTranslations(mo)
    assert shipped._catalog == fresh._catalog  # type: ignore[attr-defined]


def test_country_names_are_cldrs() -> None:
    shipped = json.loads((PAGES / "regions.json").read_text("utf-8"))
    expected = {
        code: {language: Locale(language).territories[code] for language in LANGUAGES}
        for code in REGION_CODES
    }
    assert shipped == expected
