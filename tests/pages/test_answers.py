"""The answers besides the HTML pages: content negotiation, the JSON form of a denial and of
every other error, redirects."""

import json

import pytest
from aiwall.core.decision import Decision
from aiwall.pages import answers as pages

from .conftest import CONTACT, SETTINGS, Document, headers, host_only


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
