"""The block and warn pages and their JSON form: content, escaping, headers, content negotiation."""

import dataclasses
import functools
import html
import json
import os
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.core.rules import Action, Alternative, Localized, PageSettings, Rule, Settings
from aiwall.pages import answers as pages
from aiwall.pages import html as html_pages
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, ROOT, TODAY

CONTACT = "Test desk <desk@example.test>"
TOKEN = "tok.en-1_2"
ALTERNATIVE = Alternative(name="Corp Chat", url="https://chat.corp.test/?a=1&b=2")
EXAMPLES = ROOT / "test-output" / "pages"
SETTINGS = Settings(contact=CONTACT)
REFERENCE = "3f1c9a52-0d7e-4b8a-9c1e-5a2f6b7d8e90"
WHEN = datetime(2026, 12, 4, 16, 2, 44, tzinfo=UTC)


def visit(host: str = "cnchat.test", **fields: object) -> pages.Visit:
    defaults: dict[str, object] = {
        "url": f"https://{host}/c/1?q=2",
        "user": "sam",
        "reference": REFERENCE,
        "time": WHEN,
    }
    return pages.Visit(host=host, **(defaults | fields))  # type: ignore[arg-type]


class Document(HTMLParser):
    """A parsed page: its start tags with attributes, and its text."""

    def __init__(self, body: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(body.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def shape(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(name, tuple(sorted(attrs))) for name, attrs in self.tags]


@functools.cache
def fixture_config() -> Config:
    return load_config(FIXTURES / "rules.yaml", FIXTURES / "policies", today=lambda: TODAY)


@pytest.fixture
def config() -> Config:
    return fixture_config()


def decide(config: Config, host: str, **fields: object) -> Decision:
    request = RequestInfo(names=(HostName("host", host),), **fields)  # type: ignore[arg-type]
    return config.engine.decide(request)


@pytest.fixture
def blocked(config: Config) -> Decision:
    decision = decide(config, "cnchat.test")
    assert decision.action is Action.BLOCK and decision.rule is not None
    return with_rule(decision, alternative=ALTERNATIVE)


@pytest.fixture
def warned(config: Config) -> Decision:
    decision = decide(config, "usbotcdn.test", user="sam")
    assert decision.action is Action.WARN and decision.rule is not None
    assert decision.rule.require_justification and decision.stale
    return decision


def with_rule(decision: Decision, **changes: object) -> Decision:
    assert decision.rule is not None
    return dataclasses.replace(decision, rule=decision.rule.model_copy(update=changes))


def host_only(action: Action = Action.BLOCK) -> Decision:
    rule = Rule(id="no-shadow-llm", description="Unapproved model host.", action=action)
    return Decision(
        action, True, f"rule {rule.id}: {rule.description}", "llm.shadow.test", rule=rule
    )


def headers(page: pages.Page) -> dict[str, str]:
    assert len({name.lower() for name, _ in page.headers}) == len(page.headers)
    return dict(page.headers)


def all_pages(blocked: Decision, warned: Decision) -> dict[str, pages.Page]:
    return {
        "block": pages.block_page(blocked, SETTINGS, visit()),
        "block-host-only": pages.block_page(host_only(), SETTINGS, visit("llm.shadow.test")),
        "warn-justification": pages.warn_page(
            warned, SETTINGS, visit("usbotcdn.test"), token=TOKEN
        ),
        "warn": pages.warn_page(
            with_rule(blocked, require_justification=False), SETTINGS, visit(), token=TOKEN
        ),
        "warn-too-short": pages.warn_page(
            warned,
            SETTINGS,
            visit("usbotcdn.test"),
            token=TOKEN,
            error=pages.FormError.TOO_SHORT,
            justification="a b <c>",
        ),
        "invalid-host": pages.invalid_host_page(
            "empty label in 'chat..cnchat.test'", html=True, settings=SETTINGS, visit=visit()
        ),
        "error": pages.error_page(html=True, settings=SETTINGS, visit=visit()),
        "ack-refused": pages.ack_refused_page(
            "the token has expired", html=True, settings=SETTINGS, visit=visit()
        ),
    }


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


@pytest.mark.parametrize(
    ("request_headers", "expected"),
    [
        ({"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}, True),
        ({"sec-fetch-mode": "navigate", "accept": "*/*"}, True),
        ({"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, False),
        ({"Sec-Fetch-Mode": "no-cors", "Accept": "text/html"}, False),
        ({"Sec-Fetch-Mode": "same-origin", "Accept": "text/html"}, False),
        ({"Sec-Fetch-Mode": "websocket"}, False),
        ({"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, True),
        ({"ACCEPT": "Text/HTML"}, True),
        ({"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, False),
        ({"Accept": "application/json, text/html"}, False),
        ({"Accept": "application/json"}, False),
        ({"Accept": "*/*"}, False),
        ({"Accept": "text/event-stream"}, False),
        ({"Accept": ""}, False),
        ({}, False),
    ],
)
def test_wants_html(request_headers: dict[str, str], expected: bool) -> None:
    assert pages.wants_html(request_headers) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("*/*", True), ("", True), ("application/json", False), ("text/html", True)],
)
def test_a_client_without_preference_gets_the_default(accept: str, expected: bool) -> None:
    headers = {"Accept": accept} if accept else {}
    assert pages.wants_html(headers, default=True) is expected
    assert pages.wants_html(headers, default=False) is (accept == "text/html")


def test_wants_html_reads_mitmproxy_headers() -> None:
    from mitmproxy.http import Headers

    assert pages.wants_html(Headers(sec_fetch_mode="navigate"))
    assert not pages.wants_html(Headers(accept="application/json"))


def error_of(page: pages.Page) -> dict[str, object]:
    assert headers(page)["Content-Type"] == "application/json; charset=utf-8"
    assert headers(page)["Cache-Control"] == "no-store"
    assert headers(page)["X-Content-Type-Options"] == "nosniff"
    document = json.loads(page.body)
    assert list(document) == ["type", "error"] and document["type"] == "error"
    assert list(document["error"]) == [
        "type",
        "code",
        "message",
        "vendor",
        "product",
        "host",
        "rule",
        "verdict",
        "alternative",
        "contact",
        "acknowledge_url",
    ]
    error: dict[str, object] = document["error"]
    return error


def test_denial_json_for_a_block(blocked: Decision) -> None:
    page = pages.denial_json(blocked, SETTINGS)
    assert page.status == 403
    assert error_of(page) == {
        "type": "permission_error",
        "code": "aiwall_blocked",
        "message": "Company policy blocks CN Chat (cnchat.test), rule block-cn. Not to China."
        " Use Corp Chat instead (https://chat.corp.test/?a=1&b=2).",
        "vendor": "cnchat",
        "product": "cnchat/consumer",
        "host": "cnchat.test",
        "rule": "block-cn",
        "verdict": "Trains unless you opt out",
        "alternative": {"name": "Corp Chat", "url": "https://chat.corp.test/?a=1&b=2"},
        "contact": CONTACT,
        "acknowledge_url": None,
    }


def test_denial_json_for_a_warning_says_where_to_acknowledge(warned: Decision) -> None:
    url = "https://usbotcdn.test/.well-known/aiwall/ack"
    error = error_of(pages.denial_json(warned, SETTINGS, acknowledge_url=url))
    assert error["code"] == "aiwall_warning"
    assert error["type"] == "permission_error"
    assert error["acknowledge_url"] == url
    assert error["alternative"] is None
    assert error["product"] == "usbot/personal"
    assert "acknowledge the warning" in str(error["message"])


def test_denial_json_for_a_host_only_rule() -> None:
    error = error_of(pages.denial_json(host_only(), SETTINGS))
    assert error["host"] == "llm.shadow.test" and error["rule"] == "no-shadow-llm"
    assert error["vendor"] is error["product"] is error["verdict"] is None


@pytest.mark.parametrize(
    ("page", "status", "error_type", "code"),
    [
        (
            pages.invalid_host_page("bad", html=False),
            400,
            "invalid_request_error",
            "aiwall_invalid_host",
        ),
        (pages.error_page(html=False, settings=SETTINGS), 503, "api_error", "aiwall_error"),
        (
            pages.ack_refused_page("expired", html=False, settings=SETTINGS),
            403,
            "permission_error",
            "aiwall_ack_refused",
        ),
    ],
)
def test_other_json_errors_share_the_shape(
    page: pages.Page, status: int, error_type: str, code: str
) -> None:
    error = error_of(page)
    assert page.status == status
    assert (error["type"], error["code"]) == (error_type, code)


def test_error_page_says_nothing_was_sent() -> None:
    text = "".join(Document(pages.error_page(html=True, settings=SETTINGS).body).text)
    assert "nothing was sent" in text and CONTACT in text


def test_redirect_is_a_303_without_a_body() -> None:
    page = pages.redirect("https://cnchat.test/c/1?x=1")
    assert (page.status, page.body) == (303, b"")
    assert headers(page)["Location"] == "https://cnchat.test/c/1?x=1"
    assert headers(page)["Cache-Control"] == "no-store"


@pytest.mark.parametrize("location", ["https://a.test/\r\nSet-Cookie: x=1", "/\n", "/\x00"])
def test_redirect_refuses_header_injection(location: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        pages.redirect(location)


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
    them with `AIWALL_UPDATE_GOLDEN=1 pytest tests/test_pages.py` and read the diff."""
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
