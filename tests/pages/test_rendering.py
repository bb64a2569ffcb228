"""How the pages are rendered: no input adds markup, examples written for people, the same bytes
apart from the nonce (golden files), rendered once and filled in per request, and the
language chosen from Accept-Language."""

import dataclasses
import json
import os
import re

import pytest
from aiwall.core.decision import Decision
from aiwall.core.rules import Alternative, Localized, PageSettings, Settings
from aiwall.pages import answers as pages
from aiwall.pages import html as html_pages
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT

from .conftest import (
    ALTERNATIVE,
    EXAMPLES,
    SETTINGS,
    TOKEN,
    Document,
    all_pages,
    decide,
    fixture_config,
    headers,
    visit,
    with_rule,
)


def every_page(decision: Decision, text: str, host: str) -> list[pages.Page]:
    settings = Settings(
        contact=text, pages=PageSettings(organisation=f"Org {text}", justification_readers=text)
    )
    seen = visit(host, url=text, user=text, reference=text)
    return [
        pages.block_page(decision, settings, seen),
        pages.warn_page(decision, settings, seen, token=text),
        pages.warn_page(
            decision, settings, seen, token=text, error=pages.FormError.EXPIRED, justification=text
        ),
        pages.invalid_host_page(text, html=True, settings=settings, visit=seen),
        pages.ack_refused_page(text, html=True, settings=settings, visit=seen),
        pages.error_page(html=True, settings=settings, visit=seen),
    ]


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1), host=st.text(min_size=1))
def test_no_input_adds_markup(text: str, host: str) -> None:
    """Whatever the record, rule, host or token say, the pages' tags stay the same."""
    base = with_rule(decide(fixture_config(), "cnchat.test"), alternative=ALTERNATIVE)
    assert base.vendor is not None and base.rule is not None
    hostile = dataclasses.replace(
        base,
        host=host,
        reason=text,
        vendor=base.vendor.model_copy(update={"name": text, "summary": text}),
        rule=base.rule.model_copy(
            update={
                "message": text,
                "alternative": Alternative(name=text, url=ALTERNATIVE.url),
                "require_justification": True,
            }
        ),
    )
    plain = dataclasses.replace(hostile, host="x.test", reason="x", vendor=base.vendor)
    plain = with_rule(plain, message="x", alternative=ALTERNATIVE)
    pairs = zip(every_page(hostile, text, host), every_page(plain, "x", "x.test"), strict=True)
    for page, baseline in pairs:
        document = Document(page.body)
        assert document.shape == Document(baseline.body).shape
        assert text in "".join(document.text)
        assert "<script" not in page.body.decode().lower()
    contact = json.loads(pages.denial_json(hostile, Settings(contact=text)).body)["error"][
        "contact"
    ]
    assert contact == text


def test_examples_are_written_for_people(blocked: Decision, warned: Decision) -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name, page in all_pages(blocked, warned).items():
        (EXAMPLES / f"{name}.html").write_bytes(page.body)
    (EXAMPLES / "block.json").write_bytes(pages.denial_json(blocked, SETTINGS).body)
    assert (EXAMPLES / "block.html").stat().st_size > 0


GOLDEN = ROOT / "tests" / "golden" / "pages"


def pinned(page: pages.Page) -> bytes:
    """The page with its nonce and token replaced: what must never vary."""
    nonce = re.search(r"'nonce-([^']+)'", headers(page)["Content-Security-Policy"])
    assert nonce is not None
    return page.body.replace(nonce.group(1).encode(), b"NONCE").replace(TOKEN.encode(), b"TOKEN")


def test_pages_are_the_same_bytes_apart_from_the_nonce(blocked: Decision, warned: Decision) -> None:
    """Golden files: a change to a page shows in review. After a deliberate change, rewrite
    them with `AIWALL_UPDATE_GOLDEN=1 pytest tests/pages/test_rendering.py` and read the diff."""
    first, second = all_pages(blocked, warned), all_pages(blocked, warned)
    if os.environ.get("AIWALL_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, page in first.items():
            (GOLDEN / f"{name}.html").write_bytes(pinned(page))
    assert sorted(path.stem for path in GOLDEN.glob("*.html")) == sorted(first)
    for name, page in first.items():
        assert page.body != second[name].body, f"{name}: the nonce did not change"
        assert pinned(page) == pinned(second[name]), name
        assert pinned(page) == (GOLDEN / f"{name}.html").read_bytes(), name


def test_a_page_is_rendered_once_and_filled_in_per_request(
    blocked: Decision, warned: Decision, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refusing costs less than forwarding: a page is rendered once per what it shows; per
    request only the nonce, the token and the host are filled in (escaped)."""
    rendered: list[str] = []
    original = html_pages.render

    def counting(template: str, language: str, **context: object) -> str:
        rendered.append(template)
        return original(template, language, **context)

    monkeypatch.setattr(html_pages, "render", counting)
    changed = with_rule(blocked, message="A message no other test uses.")
    first = pages.block_page(changed, SETTINGS, visit())
    again = pages.block_page(changed, SETTINGS, visit('x.cnchat.test"<b>'))
    assert rendered == ["denial.html"]
    assert b"A message no other test uses." in again.body
    assert b"x.cnchat.test&#34;&lt;b&gt;" in again.body and b"x.cnchat.test" not in first.body
    pages.warn_page(changed, SETTINGS, visit("h.test"), token="a")
    second = pages.warn_page(changed, SETTINGS, visit("h.test"), token='b"<')
    assert rendered == ["denial.html", "denial.html"]
    assert Document(second.body).all("input")[0]["value"] == 'b"<'
    # Another rule (as after a reload) is another page, never the cached one.
    pages.block_page(with_rule(changed, message="Changed."), SETTINGS, visit())
    assert rendered == ["denial.html"] * 3


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        ("en-GB,de;q=0.5", "en"),
        ("it-IT,it;q=0.9,de;q=0.4", "de"),
        ("it-IT", "en"),
        ("de;q=0, fr;q=0.1", "fr"),
        ("DE-at", "de"),
        ("de;q=bad, fr", "fr"),
        ("", "en"),
        ("*", "en"),
    ],
)
def test_the_language_is_chosen_from_accept_language(accept_language: str, language: str) -> None:
    from aiwall.pages.language import negotiate

    assert negotiate(accept_language) == language


def test_a_german_browser_gets_the_german_page_and_the_rules_german_message(
    blocked: Decision,
) -> None:
    localized = with_rule(
        blocked,
        message=Localized(en="Not to China.", de="Nicht nach China."),
        alternative=Alternative(
            name=Localized(en="Corp Chat", de="Firmen-Chat"), url=ALTERNATIVE.url
        ),
    )
    page = pages.block_page(localized, SETTINGS, visit(accept_language="de-DE,de;q=0.9"))
    document = Document(page.body)
    assert document.all("html") == [{"lang": "de"}]
    text = " ".join(" ".join(document.text).split())
    assert "CN Chat app ist durch eine Unternehmensrichtlinie gesperrt" in text
    assert "Nicht nach China." in text and "Stattdessen Firmen-Chat nutzen" in text
    assert "China (CN)" in text and "Referenz" in text
    english = Document(pages.block_page(localized, SETTINGS, visit()).body)
    assert english.all("html") == [{"lang": "en"}] and "Not to China." in english.text
    error = json.loads(pages.denial_json(localized, SETTINGS, visit(accept_language="de")).body)[
        "error"
    ]
    assert error["message"].startswith("Company policy blocks CN Chat (cnchat.test)")
    assert "Nicht nach China." in error["message"]
    assert error["alternative"]["name"] == "Firmen-Chat"
