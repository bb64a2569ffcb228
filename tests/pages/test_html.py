"""The block and warn pages: security headers and nonces, status, content, escaping, the warn
form and its justification, the alternative."""

import dataclasses
import html
import re

import pytest
from aiwall.core.decision import Decision
from aiwall.pages import answers as pages

from .conftest import (
    ALTERNATIVE,
    REFERENCE,
    SETTINGS,
    TOKEN,
    Document,
    all_pages,
    headers,
    host_only,
    visit,
    with_rule,
)


def test_every_html_page_has_the_security_headers_and_a_nonce_style_only(
    blocked: Decision, warned: Decision
) -> None:
    for name, page in all_pages(blocked, warned).items():
        fields = headers(page)
        assert fields["Content-Type"] == "text/html; charset=utf-8", name
        assert fields["Cache-Control"] == "no-store"
        assert fields["X-Content-Type-Options"] == "nosniff"
        assert fields["Referrer-Policy"] == "same-origin"
        csp = fields["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and "script-src" not in csp
        nonce = re.fullmatch(
            r"default-src 'none'; style-src 'nonce-([A-Za-z0-9_-]{16,})'; img-src data:; "
            r"form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            csp,
        )
        assert nonce is not None, csp
        document = Document(page.body)
        assert [attrs.get("nonce") for attrs in document.all("style")] == [nonce.group(1)]
        assert not document.all("script")
        assert all("style" not in attrs for _, attrs in document.tags)


def test_each_page_gets_its_own_nonce(blocked: Decision) -> None:
    first, second = (
        headers(pages.block_page(blocked, SETTINGS, visit()))["Content-Security-Policy"]
        for _ in range(2)
    )
    assert first != second


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("block", 403),
        ("block-host-only", 403),
        ("warn", 403),
        ("warn-justification", 403),
        ("warn-too-short", 403),
        ("invalid-host", 400),
        ("error", 503),
        ("ack-refused", 403),
    ],
)
def test_status(blocked: Decision, warned: Decision, name: str, status: int) -> None:
    assert all_pages(blocked, warned)[name].status == status


def test_block_page_puts_the_action_first_then_a_compact_card(blocked: Decision) -> None:
    assert blocked.vendor is not None and blocked.product is not None
    body = pages.block_page(blocked, SETTINGS, visit()).body.decode()
    document = Document(body.encode())
    text = " ".join(" ".join(document.text).split())
    order = [
        "CN Chat app is blocked by company policy",
        "Not to China.",
        "What you can do",
        "Use Corp Chat instead",
        REFERENCE,
        "2026-12-04 16:02:44 UTC",
        "What CN Chat app does with your data",
        blocked.product.verdict,
        "Trains on what you type",
        "Data stored in",
        "China (CN)",
        "Sources (1)",
        "Details for IT",
        "block-cn: No data to China.",
    ]
    positions = [text.find(part) for part in order]
    assert -1 not in positions, [part for part, at in zip(order, positions, strict=True) if at < 0]
    assert positions == sorted(positions), text
    assert ALTERNATIVE.url.replace("&", "&amp;") in body
    # Each fact once; no researchers' notes, no opt-out on a block page.
    assert text.count(blocked.product.verdict) == 1
    assert "How to opt out" not in text and "Opt-out" not in text
    for note in (blocked.product.residency_note, blocked.vendor.notes, blocked.vendor.summary):
        assert not note or html.escape(note) not in body, note
    assert "This record is stale" not in body


def test_block_page_links_leak_no_referrer(blocked: Decision) -> None:
    links = Document(pages.block_page(blocked, SETTINGS, visit()).body).all("a")
    assert [link["href"] for link in links] == [
        "#actions",
        ALTERNATIVE.url,
        "https://cnchat.test/privacy",
    ]
    assert all(link["rel"] == "noreferrer noopener" for link in links[1:])


def test_script_in_the_record_appears_only_escaped(blocked: Decision) -> None:
    assert blocked.product is not None
    product = blocked.product.model_copy(update={"summary": "<script>alert(1)</script> & co"})
    body = pages.block_page(dataclasses.replace(blocked, product=product), SETTINGS, visit())
    assert b"<script" not in body.body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in body.body


def test_stale_record_says_so(warned: Decision) -> None:
    body = pages.warn_page(warned, SETTINGS, visit("usbotcdn.test"), token=TOKEN).body.decode()
    assert "This record is stale: it was last verified on 2020-01-01" in body


def test_host_only_decision_shows_host_and_rule_without_a_card() -> None:
    page = pages.block_page(host_only(), SETTINGS, visit("llm.shadow.test"))
    document = Document(page.body)
    text = "".join(document.text)
    assert "llm.shadow.test is blocked by company policy" in text
    assert "no-shadow-llm" in text and "Unapproved model host." in text
    assert not [attrs for attrs in document.all("section") if "card" in (attrs["class"] or "")]
    assert "Trains on what you type" not in text


def test_warn_form_posts_the_token_to_the_ack_path(warned: Decision) -> None:
    token = 'a"b<c>&d'
    page = pages.warn_page(warned, SETTINGS, visit("usbotcdn.test"), token=token)
    document = Document(page.body)
    assert document.all("form") == [{"method": "post", "action": "/.well-known/aiwall/ack"}]
    assert document.all("input") == [{"type": "hidden", "name": "token", "value": token}]
    assert document.all("button") == [{"class": "button primary", "type": "submit"}]
    text = " ".join(" ".join(document.text).split())
    assert "Before you continue to US Bot personal" in text
    assert "Continue to usbotcdn.test" in text
    assert "Your acknowledgement lasts 1 hour for US Bot." in text


def test_justification_is_asked_for_with_its_minimum_stated(warned: Decision) -> None:
    document = Document(pages.warn_page(warned, SETTINGS, visit("h.test"), token=TOKEN).body)
    assert document.all("textarea") == [
        {
            "id": "justification",
            "name": "justification",
            "required": None,
            "minlength": "10",
            "maxlength": "1000",
            "rows": "4",
            "aria-describedby": "justification-hint",
        }
    ]
    text = " ".join(" ".join(document.text).split())
    assert "Why do you need US Bot personal for this?" in text
    assert "At least 10 characters." in text
    assert "read by your organisation's security team" in text


def test_a_refused_justification_is_shown_again_with_the_error_and_the_text(
    warned: Decision,
) -> None:
    typed = 'a b <c> "d"'
    page = pages.warn_page(
        warned,
        SETTINGS,
        visit("h.test"),
        token=TOKEN,
        error=pages.FormError.TOO_SHORT,
        justification=typed,
    )
    document = Document(page.body)
    (textarea,) = document.all("textarea")
    assert textarea["aria-invalid"] == "true" and "autofocus" in textarea
    assert textarea["aria-describedby"] == "justification-hint form-error"
    assert typed in document.text
    assert [attrs for attrs in document.all("p") if attrs.get("role") == "alert"]
    assert "at least 10 characters, not counting spaces" in "".join(document.text)


def test_justification_is_not_asked_for_otherwise(warned: Decision) -> None:
    decision = with_rule(warned, require_justification=False)
    document = Document(pages.warn_page(decision, SETTINGS, visit("h.test"), token=TOKEN).body)
    assert not document.all("textarea")
    assert "Why do you need" not in "".join(document.text)


def test_warn_page_offers_the_alternative_first(warned: Decision) -> None:
    decision = with_rule(warned, alternative=ALTERNATIVE)
    page = pages.warn_page(decision, SETTINGS, visit("h.test"), token=TOKEN)
    links = Document(page.body).all("a")
    assert links[1] == {
        "class": "button primary",
        "href": ALTERNATIVE.url,
        "rel": "noreferrer noopener",
    }
    assert Document(page.body).all("button") == [{"class": "button", "type": "submit"}]
