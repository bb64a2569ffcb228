"""`aiwall report --format html` in headless Chromium: what the page shows, that it runs and
loads nothing, and that its tables fit a 1280 px desktop whatever the log holds. The report is
the one tests/test_report.py reads; screenshots go to test-output/report/."""

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiwall.analysis.report import build
from aiwall.analysis.report_html import render_html
from aiwall.cli.main import main

from .chromium import overflowing
from .conftest import ROOT
from .report_log import IMG, SCRIPT, report_config, write_report_log

SCREENSHOTS = ROOT / "test-output" / "report"


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("html-log")
    return write_report_log(folder, report_config(folder))


@pytest.fixture(scope="module")
def doc(log: Path) -> dict[str, Any]:
    return build([str(log)])


def test_html_is_self_contained_and_escaped(doc: dict[str, Any]) -> None:
    html = render_html(doc)
    assert "<script" not in html
    assert "<img" not in html
    assert not re.search(r"<[a-z][^>]*\s(src|href|action)=", html)  # nothing to load or post
    assert re.search(
        r"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';", html
    )
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Personal accounts train &lt;unless&gt; you &#34;opt out&#34;." in html


@pytest.fixture(scope="module")
def html_page(
    tmp_path_factory: pytest.TempPathFactory, log: Path, browser: Any
) -> Iterator["Seen"]:
    out = tmp_path_factory.mktemp("html") / "report.html"
    assert main(["report", str(log), "--format", "html", "--output", str(out)]) == 0
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        seen = Seen(page)
        page.on("console", lambda m: seen.console.append(m.text))
        page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: seen.requests.append(r.url))
        page.goto(out.as_uri(), wait_until="load", timeout=15_000)
        yield seen
    finally:
        context.close()


@dataclass
class Seen:
    """The page, and what it did: console messages, dialogs, requests."""

    page: Any
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def test_html_shows_the_totals(html_page: "Seen") -> None:
    page = html_page.page
    tiles = {
        tile.locator(".label").inner_text(): tile.locator(".value").inner_text()
        for tile in page.locator(".tile").all()
    }
    assert tiles == {
        "decisions": "211",
        "blocked": "91",
        "warned": "30",
        "logged": "84",
        "allowed": "6",
        "recorded use": "0",
        "acknowledgements": "12",
        "on stale records": "42",
    }
    assert page.title() == "AI use report"
    assert page.locator("h1").inner_text() == "AI use report"


def test_html_charts_have_the_expected_bars(html_page: "Seen") -> None:
    page = html_page.page

    def marks(chart: str, series: str = "") -> int:
        selector = f'svg[data-chart="{chart}"] .mark'
        if series:
            selector += f'[data-series="{series}"]'
        return int(page.locator(selector).count())

    # Six days, each with every action.
    assert [marks("timeline", a) for a in ("block", "warn", "log", "allow")] == [6, 6, 6, 6]
    # cnchat: block, log; usbot: warn, log, allow; euapi: log; host: log; invalid: block.
    assert marks("vendors") == 8
    vendor_labels = page.locator('svg[data-chart="vendors"] text.strong').all_text_contents()
    assert vendor_labels == [
        "cnchat",
        "usbot",
        "euapi",
        "host:llm.corp.test",
        "(invalid host name)",
    ]
    assert marks("actions") == 4
    # would block: done block + log; would warn: done warn + log + allow.
    assert marks("shadow") == 5
    shadow_rows = page.locator('svg[data-chart="shadow"] text.strong').all_text_contents()
    assert shadow_rows == ["shadow-block-api-unknown → block", "shadow-warn-usbot → warn"]
    box = page.locator('svg[data-chart="timeline"]').bounding_box()
    assert box["width"] > 600 and box["height"] > 120  # fmt: skip


def test_html_shows_justifications_as_text_and_runs_nothing(html_page: "Seen") -> None:
    page = html_page.page
    section = page.locator("#acknowledgements")
    assert section.get_by_text(SCRIPT, exact=True).count() == 1
    assert section.get_by_text(IMG, exact=True).count() == 1
    assert section.get_by_text("'; DROP TABLE acks; --", exact=True).count() == 1
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    # The one style element is allowed by its hash: the page is styled.
    assert page.eval_on_selector(".tile", "e => getComputedStyle(e).borderTopWidth") == "4px"
    assert html_page.dialogs == []
    assert set(html_page.requests) <= {page.url}  # the page itself, nothing else
    assert not [m for m in html_page.console if "Content Security Policy" in m]
    rows = section.locator("tbody tr")
    assert rows.count() == 12
    newest = rows.first.inner_text()  # newest first
    assert "refused" in newest and "the token has expired" in newest


def test_html_tables_for_shadow_and_stale(html_page: "Seen") -> None:
    page = html_page.page
    shadow = page.locator("#shadow")
    assert shadow.locator("h3").all_inner_texts() == [
        "shadow-block-api-unknown",
        "shadow-warn-usbot",
    ]
    assert "Matched 66 requests: would block 66; 36 of them stricter" in shadow.inner_text()
    tables = [
        [" ".join(row.split()) for row in table.locator("tbody tr").all_inner_texts()]
        for table in shadow.locator("table").all()
    ]
    assert tables == [
        [
            "block cnchat cnchat/api bob block 30",
            "block cnchat cnchat/api 10.99.0.5 log 24",
            "block cnchat cnchat/api rita log 12",
        ],
        [
            "warn usbot usbot/personal sam warn 30",
            "warn usbot usbot/api dave log 6",
            "warn usbot usbot/enterprise carol allow 6",
        ],
    ]
    stale = page.locator("#stale tbody tr").all_inner_texts()
    assert [r.split("\t")[:5] for r in stale] == [
        ["usbot", "usbot/personal", "2020-01-01", "high", "30"],
        ["usbot", "usbot/api", "2020-01-01", "high", "6"],
        ["usbot", "usbot/enterprise", "2020-01-01", "high", "6"],
    ]


def test_html_screenshot(html_page: "Seen") -> None:
    page = html_page.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    assert (SCREENSHOTS / "report.png").stat().st_size > 10_000


def test_wide_tables_fit_a_desktop(browser: Any, doc: dict[str, Any], tmp_path: Path) -> None:
    """Long names, hosts, rules and justifications wrap inside their section at 1280 px."""
    wide = copy.deepcopy(doc)
    long_word = "x" * 120
    for ack in wide["acknowledgements"]["items"]:
        ack["host"] = f"{long_word}.example"
        ack["rule"] = "rule-" + "y" * 80
        ack["user"] = "someone-with-a-very-long-login-name@corp.example"
        ack["justification"] = " ".join(["justification"] * 40) + long_word
        ack["accepted"] = False
        ack["reason"] = "the form was posted from another site " + long_word
    for row in wide["usage"]:
        row["user"] = "u" * 90
        row["vendor"] = "host:" + long_word
    for rule in wide["rules"]:
        rule["name"] = "A description " * 20
    page_file = tmp_path / "wide.html"
    page_file.write_text(render_html(wide), encoding="utf-8")
    assert overflowing(browser, page_file) == []


def test_the_report_of_the_test_log_fits_a_desktop(browser: Any, log: Path, tmp_path: Path) -> None:
    page_file = tmp_path / "report.html"
    assert main(["report", str(log), "--format", "html", "--output", str(page_file)]) == 0
    assert overflowing(browser, page_file) == []
