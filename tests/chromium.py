"""One headless Chromium for the whole test suite (Debian's /usr/bin/chromium).

The browser process is started once, on first use, and reached over the DevTools protocol:
each test module connects its own Playwright to it (`connect`), which costs milliseconds
instead of a browser start. Playwright's sync API keeps an event loop running while it is
connected, which would stop `asyncio.run` in later tests; connecting per module and
disconnecting at its end keeps that inside the modules that use the browser.
"""

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT = 30.0
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def available() -> bool:
    return Path(CHROMIUM).exists()


@contextlib.contextmanager
def chromium_process() -> Iterator[str]:
    """Start Chromium; yield its DevTools endpoint (ws://127.0.0.1:PORT/...); stop it."""
    profile = Path(tempfile.mkdtemp(prefix="aiwall-chromium-"))
    log = profile / "chromium.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CHROMIUM, *ARGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            found = re.search(r"DevTools listening on (ws://\S+)", log.read_text(errors="replace"))
            if found:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield found.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def connect(endpoint: str) -> Iterator[Any]:
    """A Playwright `Browser` for the shared Chromium, for the time of one module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(endpoint, timeout=30_000)
        try:
            yield browser
        finally:
            for context in browser.contexts[1:]:  # the first is the browser's own
                context.close()
            browser.close()  # disconnects; the shared browser goes on


DESKTOP = {"width": 1280, "height": 900}
# Tables wider than their section: each table's right edge against its section's content box.
OVERFLOWING = """() => [...document.querySelectorAll("section table")].filter(table => {
  const section = table.closest("section");
  const style = getComputedStyle(section);
  const right = section.getBoundingClientRect().right - parseFloat(style.paddingRight);
  return table.getBoundingClientRect().right > right + 0.5
    || table.scrollWidth > table.parentElement.clientWidth + 0.5;
}).map(table => table.closest("section").querySelector("h2").textContent)"""


def overflowing(browser: Any, page_file: Path) -> list[str]:
    """The sections whose table is wider than the section, at 1280 px."""
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(page_file.as_uri(), wait_until="load", timeout=15_000)
        return list(page.evaluate(OVERFLOWING))
    finally:
        context.close()
