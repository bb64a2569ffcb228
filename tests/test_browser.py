"""In a real browser: headless Chromium through the proxy sees the block and warn pages,
acknowledges a warning and lands on the page it asked for.

Chromium trusts the proxy's CA through `--ignore-certificate-errors-spki-list` only (no
`ignore_https_errors`), as a managed browser would trust a pushed CA. The proxy identifies the
browser by its address (127.0.0.1), so once the warn-acknowledge test has acknowledged xAI,
grok.com passes for the rest of the module: that test comes last, and the module has a proxy
of its own so acknowledgements from other modules do not leak in.

Screenshots go to test-output/browser/ (git-ignored).
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from .conftest import ROOT, start_proxy
from .proxy import Proxy
from .upstream import Upstream

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-output" / "browser"
LAUNCH_TIMEOUT_MS = 30_000  # a cold headless start on a busy 2-core machine
NAVIGATION_TIMEOUT_MS = 15_000
ACTION_TIMEOUT_MS = 5_000
EVENT_TIMEOUT_S = 5.0

WARNED = "https://grok.com/some/page?x=1"
BLOCKED = "https://chat.deepseek.com/"
WARNED_NO_REASON = "https://chat.mistral.ai/"
ACK_URL = "https://grok.com/.well-known/aiwall/ack"
JUSTIFICATION = "Comparing Grok's answers for the vendor review, no customer data."

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    with start_proxy(tmp_path_factory, upstream) as running:
        yield running


@pytest.fixture(scope="module")
def browser(proxy: Proxy) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
            proxy={"server": proxy.url},
            args=[
                f"--ignore-certificate-errors-spki-list={proxy.spki_hash()}",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--proxy-bypass-list=<-loopback>",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def console() -> list[ConsoleMessage]:
    """Every console message of the test's page (CSP violations are reported there)."""
    return []


@pytest.fixture
def page(browser: Browser, console: list[ConsoleMessage]) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.on("console", lambda message: console.append(message))
        yield page
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def wait_for_event(
    proxy: Proxy, since: int, matches: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """The first event after the first `since` that `matches`, waiting a few seconds at most."""
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while True:
        found = [event for event in proxy.events()[since:] if matches(event)]
        if found or time.monotonic() > deadline:
            return found[0] if found else None
        time.sleep(0.05)


def is_ack(event: dict[str, Any]) -> bool:
    return bool(event["event"]["action"] == "ack")


def ack_requests(page: Page) -> list[str]:
    """Records every POST the page sends to the acknowledgement path."""
    posted: list[str] = []
    page.on(
        "request",
        lambda request: (
            posted.append(request.url)
            if request.method == "POST" and "/.well-known/aiwall/ack" in request.url
            else None
        ),
    )
    return posted


def csp_violations(console: list[ConsoleMessage]) -> list[str]:
    return [m.text for m in console if "content security policy" in m.text.lower()]


def open_warning(page: Page) -> None:
    response = page.goto(WARNED)
    assert response is not None
    assert response.status == 403, "xAI is already acknowledged: the continue test must run last"
    expect(page.get_by_label("Why do you need xAI Grok for this?")).to_be_visible()


def test_blocked_vendor_shows_the_block_page_and_nothing_reaches_it(
    proxy: Proxy, page: Page
) -> None:
    proxy.upstream.clear()
    response = page.goto(BLOCKED)
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("DeepSeek is blocked by company policy")
    expect(page.locator(".card h2")).to_have_text("Does DeepSeek train on your data?")
    stored_in = page.locator(".facts div", has=page.locator("dt", has_text="Data stored in"))
    expect(stored_in.locator("dd")).to_contain_text("CN")
    expect(stored_in.locator("dd")).to_contain_text("China")
    # The rule's message is text: its markup is shown, not rendered.
    expect(page.locator(".lead")).to_have_text(
        "Company data must not be stored in China <b>really</b>."
    )
    expect(page.get_by_text("<b>really</b>")).to_be_visible()
    assert page.locator("b", has_text="really").count() == 0
    alternative = page.get_by_role("link", name="Use Company ChatGPT instead")
    expect(alternative).to_be_visible()
    expect(alternative).to_have_attribute("href", "https://chatgpt.com/")
    expect(page.get_by_text("The approved alternative is Company ChatGPT.")).to_be_visible()
    assert page.locator("form").count() == 0
    assert page.locator("textarea, input, button").count() == 0
    screenshot(page, "block-page.png")
    assert not proxy.upstream.saw("deepseek.com")


def test_the_pages_csp_allows_their_style_and_nothing_else(
    page: Page, console: list[ConsoleMessage]
) -> None:
    for url in (BLOCKED, WARNED_NO_REASON):
        response = page.goto(url)
        assert response is not None and response.status == 403
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert page.locator("script").count() == 0
        # The nonce-bearing <style> applied: the page is not unstyled.
        max_width = page.locator("main").evaluate("main => getComputedStyle(main).maxWidth")
        assert max_width != "none"
    assert not csp_violations(console)


def test_too_short_justification_is_stopped_by_the_browser(proxy: Proxy, page: Page) -> None:
    open_warning(page)
    posted = ack_requests(page)
    before = proxy.event_count()
    textarea = page.get_by_label("Why do you need xAI Grok for this?")
    textarea.fill("too short")  # 9 characters; the field asks for 10
    page.get_by_role("button", name="Continue to grok.com").click()
    assert textarea.evaluate("field => field.validity.tooShort") is True
    assert "10" in textarea.evaluate("field => field.validationMessage")
    page.wait_for_timeout(1_000)  # time for a submission that must not happen
    assert posted == []
    assert page.url == WARNED
    expect(page.locator("h1")).to_have_text("Before you continue to xAI Grok")
    assert not [event for event in proxy.events()[before:] if is_ack(event)]


def test_justification_padded_with_spaces_is_refused_by_the_proxy(proxy: Proxy, page: Page) -> None:
    """`minlength` counts spaces; the proxy counts visible characters, so it has the last word."""
    open_warning(page)
    posted = ack_requests(page)
    before = proxy.event_count()
    page.get_by_label("Why do you need xAI Grok for this?").fill("a b c d e f")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to grok.com").click()
    assert posted == [ACK_URL]
    expect(page.locator("h1")).to_have_text("Your acknowledgement was not accepted")
    ack = wait_for_event(proxy, before, is_ack)
    assert ack is not None
    assert ack["aiwall"]["ack"]["accepted"] is False
    assert "justification" in ack["aiwall"]["ack"]["reason"], ack["aiwall"]["ack"]["reason"]
    assert not proxy.upstream.saw("grok.com")


def test_warned_vendor_continues_to_the_original_page_after_a_justification(
    proxy: Proxy, page: Page, console: list[ConsoleMessage]
) -> None:
    proxy.upstream.clear()
    open_warning(page)
    expect(page.locator("h1")).to_have_text("Before you continue to xAI Grok")
    expect(page.locator(".lead")).to_have_text("Grok trains on your input unless you opt out.")
    expect(page.locator(".card h2")).to_have_text("Does xAI Grok train on your data?")
    expect(page.locator(".verdict")).to_have_text(
        "Grok (grok.com and Grok apps, consumer): Trains unless you opt out"
    )
    trains = page.locator(".facts div", has=page.locator("dt", has_text="Trains on your data"))
    expect(trains.locator("dd")).to_have_text("yes, by default: you have to opt out")
    expect(page.get_by_role("link", name="Use Company ChatGPT instead")).to_be_visible()
    page.get_by_label("Why do you need xAI Grok for this?").fill(JUSTIFICATION)
    screenshot(page, "warn-page.png")
    assert not csp_violations(console)
    assert not proxy.upstream.saw("grok.com")

    before = proxy.event_count()
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Continue to grok.com").click()
    ack = wait_for_event(proxy, before, is_ack)
    assert ack is not None, "no ack event was logged"
    assert ack["aiwall"]["ack"]["accepted"] is True, ack["aiwall"]["ack"].get("reason")
    assert ack["aiwall"]["ack"]["justification"] == JUSTIFICATION
    assert ack["aiwall"]["ack"]["vendor"] == "xai"

    response = navigation.value
    assert response is not None and response.status == 200
    posted = response.request.redirected_from
    assert posted is not None and posted.method == "POST" and posted.url == ACK_URL
    redirect = posted.response()
    assert redirect is not None and redirect.status == 303
    assert page.url == WARNED
    expect(page.locator("h1")).to_have_text("Upstream page for grok.com")
    screenshot(page, "after-continue.png")
    assert proxy.upstream.saw("grok.com")
    with proxy.upstream.lock:
        reached = [(r.method, r.path) for r in proxy.upstream.requests if r.host == "grok.com"]
    assert ("GET", "/some/page?x=1") in reached
