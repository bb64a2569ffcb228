"""In a real browser: headless Chromium through the proxy sees the block and warn pages,
acknowledges a warning and lands on the page it asked for; the pages put the action on the
first screen at desktop and phone sizes, speak German to a German browser, carry the
organisation's branding, keep a refused justification, and start the Tab order at an action.

Chromium trusts the proxy's CA through `--ignore-certificate-errors-spki-list` only (no
`ignore_https_errors`), as a managed browser would trust a pushed CA. The proxy identifies the
browser by its address (127.0.0.1), so once the warn-acknowledge test has acknowledged xAI,
grok.com passes for the rest of the module: that test comes last, and the module has a proxy
of its own so acknowledgements from other modules do not leak in.

A second proxy (same CA) runs the branded rules (tests/fixtures/proxy/branded-rules.yaml);
pages reach it through a browser context of their own. Screenshots (light and dark) and the
measured positions of the action box go to test-output/browser/ (git-ignored).
"""

import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from .conftest import FIXTURES, ROOT, start_proxy
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
BLOCK_TITLE = "DeepSeek consumer app / web is blocked by company policy"
WARN_TITLE = "Before you continue to Grok (grok.com and Grok apps, consumer)"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    """aiwall as deployed (`aiwall run`); the branded one below is the `mitmdump -s` form."""
    with start_proxy(tmp_path_factory, upstream, deployed=True) as running:
        yield running


@pytest.fixture(scope="module")
def branded(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, proxy: Proxy
) -> Iterator[Proxy]:
    """The branded rules (tests/fixtures/proxy/branded-rules.yaml)."""
    rules = FIXTURES / "proxy" / "branded-rules.yaml"
    with start_proxy(tmp_path_factory, upstream, rules) as running:
        yield running


@pytest.fixture(scope="module")
def browser(proxy: Proxy, branded: Proxy) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
            proxy={"server": proxy.url},
            args=[
                f"--ignore-certificate-errors-spki-list={proxy.spki_hash()},{branded.spki_hash()}",
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


def screenshot(page: Page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=full_page)


@contextlib.contextmanager
def context_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a browser context of its own (viewport, locale, colour scheme, proxy)."""
    context = browser.new_context(**options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


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
    expect(page.locator("#justification")).to_be_visible()


def test_blocked_vendor_shows_the_block_page_and_nothing_reaches_it(
    proxy: Proxy, page: Page
) -> None:
    proxy.upstream.clear()
    response = page.goto(BLOCKED)
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text(BLOCK_TITLE)
    expect(page.locator(".card h2")).to_have_text(
        "What DeepSeek consumer app / web does with your data"
    )
    stored_in = page.locator(".facts div", has=page.locator("dt", has_text="Data stored in"))
    expect(stored_in.locator("dd")).to_contain_text("China (CN)")
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
    expect(page.get_by_text("Reference", exact=True)).to_be_visible()
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
    textarea = page.locator("#justification")
    textarea.fill("too short")  # 9 characters; the field asks for 10
    page.get_by_role("button", name="Continue to grok.com").click()
    assert textarea.evaluate("field => field.validity.tooShort") is True
    assert "10" in textarea.evaluate("field => field.validationMessage")
    page.wait_for_timeout(1_000)  # time for a submission that must not happen
    assert posted == []
    assert page.url == WARNED
    expect(page.locator("h1")).to_have_text(WARN_TITLE)
    assert not [event for event in proxy.events()[before:] if is_ack(event)]


def test_justification_padded_with_spaces_comes_back_with_the_error_and_the_text(
    proxy: Proxy, page: Page
) -> None:
    """`minlength` counts spaces; the proxy counts visible characters, so it has the last word:
    the warning comes back with the error next to the field and the text as typed."""
    open_warning(page)
    posted = ack_requests(page)
    before = proxy.event_count()
    page.locator("#justification").fill("a b c d e f")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to grok.com").click()
    assert posted == [ACK_URL]
    expect(page.locator("h1")).to_have_text(WARN_TITLE)
    expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")
    textarea = page.locator("#justification")
    expect(textarea).to_have_value("a b c d e f")
    expect(textarea).to_have_attribute("aria-invalid", "true")
    expect(textarea).to_be_focused()
    screenshot(page, "warn-inline-error.png")
    ack = wait_for_event(proxy, before, is_ack)
    assert ack is not None
    assert ack["aiwall"]["ack"]["accepted"] is False
    assert "justification" in ack["aiwall"]["ack"]["reason"], ack["aiwall"]["ack"]["reason"]
    assert not proxy.upstream.saw("grok.com")


def action_positions(page: Page) -> dict[str, list[int] | None]:
    """Top and bottom (px from the top of the page) of the action box and what is in it."""
    found: dict[str, list[int] | None] = {}
    for name, selector in {
        "action box": "#actions",
        "primary button": "#actions .primary",
        "justification": "#justification",
        "continue": "#actions button",
    }.items():
        box = (
            page.locator(selector).first.bounding_box() if page.locator(selector).count() else None
        )
        found[name] = [round(box["y"]), round(box["y"] + box["height"])] if box else None
    return found


def test_the_action_is_on_the_first_screen_at_desktop_and_phone_sizes(browser: Browser) -> None:
    measured: dict[str, dict[str, list[int] | None]] = {}
    for size, (width, height) in SIZES.items():
        for scheme in ("light", "dark"):
            viewport = {"width": width, "height": height}
            with context_page(browser, viewport=viewport, color_scheme=scheme) as page:
                for name, url in (("block", BLOCKED), ("warn", WARNED)):
                    response = page.goto(url)
                    assert response is not None and response.status == 403
                    positions = action_positions(page)
                    if scheme == "light":
                        measured[f"{name} {width}x{height}"] = positions
                    # The box starts on the first screen and what it holds to act on is on it.
                    box = positions.pop("action box")
                    assert box is not None and box[0] < height, (name, size, box)
                    for part, where in positions.items():
                        assert where is None or where[1] <= height, (name, size, part, where)
                    positions["action box"] = box
                    assert positions["primary button"] is not None
                    if name == "warn":
                        assert positions["justification"] and positions["continue"]
                    screenshot(page, f"{name}-{size}-{scheme}.png", full_page=False)
                    screenshot(page, f"{name}-{size}-{scheme}-full.png")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "action-positions.json").write_text(json.dumps(measured, indent=1) + "\n")


def test_the_first_tab_stops_are_the_actions(page: Page) -> None:
    open_warning(page)
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("href", "#actions")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Use Company ChatGPT instead")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_id("justification")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Continue to grok.com")
    levels = page.locator("h1, h2, h3").evaluate_all("hs => hs.map(h => Number(h.tagName[1]))")
    assert levels[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(levels))


def test_a_german_browser_gets_the_german_page(browser: Browser, branded: Proxy) -> None:
    with context_page(browser, locale="de-DE", proxy={"server": branded.url}) as page:
        response = page.goto(BLOCKED)
        assert response is not None and response.status == 403
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.locator("h1")).to_have_text(
            "DeepSeek consumer app / web ist durch eine Unternehmensrichtlinie gesperrt"
        )
        expect(page.locator(".lead")).to_have_text(
            "Firmendaten dürfen nicht in China gespeichert werden."
        )
        expect(page.get_by_role("link", name="Stattdessen Company ChatGPT nutzen")).to_be_visible()
        expect(page.get_by_role("heading", name="Was Sie tun können")).to_be_visible()
        screenshot(page, "block-de.png")
        page.goto(WARNED)
        expect(page.get_by_role("link", name="Stattdessen Firmen-ChatGPT nutzen")).to_be_visible()
        expect(page.locator("#justification-hint")).to_contain_text("Mindestens 10 Zeichen")
        expect(page.locator("#actions")).to_contain_text("Ihre Bestätigung gilt 1 Stunde lang")
        screenshot(page, "warn-de.png")


def test_the_branded_page_shows_the_organisation_and_links_the_helpdesk(
    browser: Browser, branded: Proxy
) -> None:
    with context_page(browser, proxy={"server": branded.url}) as page:
        response = page.goto(BLOCKED)
        assert response is not None and response.status == 403
        expect(page.locator(".brand")).to_contain_text("Northwind Traders")
        logo = page.locator(".brand img")
        assert (logo.get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
        assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
        primary = page.locator("#actions .primary")
        colour = primary.evaluate("a => getComputedStyle(a).backgroundColor")
        assert colour == "rgb(11, 92, 173)", colour
        reference = page.locator(".reference code").inner_text()
        assert re.fullmatch(r"[0-9a-z]+-[0-9]+", reference)  # the decision event's id
        contact = page.get_by_role("link", name="Test desk <desk@example.test>")
        href = contact.get_attribute("href") or ""
        assert href.startswith("mailto:it-help@northwind.test?subject=")
        assert "block-cn" in href and "chat.deepseek.com" in href and reference in href
        exception = page.get_by_role("link", name="Ask for an exception")
        assert exception.get_attribute("href") == (
            "https://help.northwind.test/ai-exception?site=chat.deepseek.com&rule=block-cn"
            f"&ref={reference}"
        )
        expect(page.get_by_role("link", name="Acceptable use policy")).to_have_attribute(
            "href", "https://intranet.northwind.test/ai-policy"
        )
        expect(page.locator("footer")).to_contain_text("web proxy of Northwind Traders")
        screenshot(page, "block-branded.png")
    with context_page(browser, proxy={"server": branded.url}, color_scheme="dark") as page:
        page.goto(BLOCKED)
        screenshot(page, "block-branded-dark.png")


def test_warned_vendor_continues_to_the_original_page_after_a_justification(
    proxy: Proxy, page: Page, console: list[ConsoleMessage]
) -> None:
    proxy.upstream.clear()
    open_warning(page)
    expect(page.locator("h1")).to_have_text(WARN_TITLE)
    expect(page.locator(".lead")).to_have_text("Grok trains on your input unless you opt out.")
    expect(page.locator(".verdict")).to_have_text("Trains unless you opt out")
    trains = page.locator(".facts div", has=page.locator("dt", has_text="Trains on what you type"))
    expect(trains.locator("dd")).to_have_text("Yes, unless you opt out")
    expect(page.get_by_role("link", name="Use Company ChatGPT instead")).to_be_visible()
    page.locator("#justification").fill(JUSTIFICATION)
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
