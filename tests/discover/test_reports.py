"""`aiwall discover`'s reports: a generated day of traffic → exact counts; the HTML page in
headless Chromium (screenshots go to test-output/discover/, git-ignored); the text output;
aiwall's own log as input.
"""

import random
from collections import Counter
from pathlib import Path
from typing import Any

from aiwall.analysis.discover_html import render_html
from aiwall.analysis.discover_text import render_text
from aiwall.core.config import Config

from ..chromium import OVERFLOWING, overflowing
from ..conftest import ROOT
from .conftest import LOGS, discover, products

SCREENSHOTS = ROOT / "test-output" / "discover"


# Hosts of the fixture registry, what they resolve to, and the share of AI traffic they get.
AI_TRAFFIC = [
    ("usbot.test", "/c/{n}", "usbot/personal", 30),
    ("usbot.test", "/backend-anon/conversation", "usbot/anonymous", 5),
    ("usbotcdn.test", "/static/{n}.js", "usbot/personal", 10),
    ("api.usbot.test", "/v1/chat/completions", "usbot/api", 20),
    ("cnchat.test", "/chat/{n}", "cnchat/consumer", 8),
    ("api.cnchat.test", "/v1/models", "cnchat/api", 2),
    ("eu.euapi.test", "/v1/embed", "euapi/api", 10),
]
OTHER_HOSTS = [f"{name}.example" for name in ("intranet", "news", "cdn", "mail", "wiki", "crm")]
OTHER_HOSTS += ["fonts.gstatic.com", "ocsp.digicert.com", "update.corp.test"]


def generated_squid_log(
    path: Path, lines: int, seed: int = 11
) -> tuple[Counter[str], dict[str, set[str]], int]:
    """About a tenth AI; CONNECT for most HTTPS, absolute URLs for the rest; a malformed line
    now and then. Returns requests and clients per product, and the malformed count."""
    rng = random.Random(seed)
    clients = [f"10.{20 + i // 250}.{i % 250 // 10}.{i % 10 + 1}" for i in range(400)]
    requests: Counter[str] = Counter()
    users: dict[str, set[str]] = {}
    malformed = 0
    weights = [share for *_, share in AI_TRAFFIC]
    stamp = 1732870800.0
    with path.open("w") as out:
        for i in range(lines):
            stamp += rng.random() * 0.05
            client = rng.choice(clients)
            if i % 499 == 17:
                out.write(f"{stamp:.3f}    12 {client} TCP_MISS/200 1532 GET http://trunc\n")
                malformed += 1
                continue
            if rng.random() < 0.1:
                host, path_template, product, _ = rng.choices(AI_TRAFFIC, weights)[0]
                requests[product] += 1
                users.setdefault(product, set()).add(client)
            else:
                host, path_template = rng.choice(OTHER_HOSTS), "/p/{n}"
            url_path = path_template.format(n=rng.randrange(1000))
            if path_template.startswith("/backend-anon/") or rng.random() < 0.2:
                method, url, result = "GET", f"https://{host}{url_path}", "TCP_MISS/200"
            else:
                method, url, result = "CONNECT", f"{host}:443", "TCP_TUNNEL/200"
            elapsed = rng.randrange(2, 90000)
            out.write(
                f"{stamp:.3f} {elapsed:6} {client} {result} {rng.randrange(200, 90000)}"
                f" {method} {url} - HIER_DIRECT/192.0.2.{rng.randrange(1, 250)} -\n"
            )
    return requests, users, malformed


def generated_dnsmasq_log(path: Path, queries: int, seed: int = 12) -> Counter[str]:
    """Queries, each followed by the forwarded/reply lines dnsmasq writes for it."""
    rng = random.Random(seed)
    counted: Counter[str] = Counter()
    with path.open("w") as out:
        for i in range(queries):
            second = i // 20
            when = f"Nov 29 {9 + second // 3600:02}:{second // 60 % 60:02}:{second % 60:02}"
            client = f"192.168.7.{rng.randrange(2, 200)}"
            if rng.random() < 0.25:
                host, _, product, _ = rng.choice(AI_TRAFFIC)
                counted[product] += 1
            else:
                host = rng.choice(OTHER_HOSTS)
            kind = rng.choice(["A", "AAAA", "HTTPS"])
            out.write(f"{when} dnsmasq[812]: query[{kind}] {host} from {client}\n")
            out.write(f"{when} dnsmasq[812]: forwarded {host} to 192.0.2.53\n")
            out.write(f"{when} dnsmasq[812]: reply {host} is 198.51.100.{rng.randrange(1, 250)}\n")
    return counted


def test_generated_day_of_squid_and_dns_logs(test_config: Config, tmp_path: Path) -> None:
    squid, dns = tmp_path / "access.log", tmp_path / "dnsmasq.log"
    requests, users, malformed = generated_squid_log(squid, 6000)
    dns_requests = generated_dnsmasq_log(dns, 2000)
    report = discover(test_config, squid, dns)
    # DNS only shows host names, so anonymous (a path under usbot.test) counts as personal there.
    dns_requests["usbot/personal"] += dns_requests.pop("usbot/anonymous", 0)
    expected = requests + dns_requests
    assert {p: row[0] for p, row in products(report).items()} == dict(expected)
    squid_only = discover(test_config, squid)
    assert {p: row[1] for p, row in products(squid_only).items()} == {
        product: len(clients) for product, clients in users.items()
    }
    squid_file, dns_file = report["files"]
    assert (squid_file["lines"], squid_file["malformed"]) == (6000, malformed)
    assert squid_file["ai_requests"] == sum(requests.values())
    assert squid_file["not_ai_requests"] == 6000 - malformed - sum(requests.values())
    assert (dns_file["lines"], dns_file["requests"], dns_file["skipped"]) == (6000, 2000, 4000)
    assert report["totals"]["not_ai_names"] == len(OTHER_HOSTS)


# --- The HTML page, in a real browser. --------------------------------------------------------


def test_html_report_in_chromium(browser: Any, test_config: Config, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.txt"
    hostile.write_text("usbot.test\n<img src=x onerror=alert(1)> <b>bold</b> x\n")
    report = discover(
        test_config, *(LOGS / name for name in ("squid-access.log", "bind-queries.log")), hostile
    )
    page_file = tmp_path / "discover.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.goto(page_file.as_uri())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "discover.png", full_page=True)
    assert problems == []
    body = page.inner_text("body")
    for name in ("US Bot", "CN Chat", "EU API", "usbot/personal", "block-cn"):
        assert name in body
    rows = page.locator("section", has_text="Products, and what").locator("tbody tr")
    cells = {
        rows.nth(i).locator("td").nth(0).inner_text().split("\n")[-1]: rows.nth(i)
        .locator("td")
        .nth(5)
        .inner_text()
        for i in range(rows.count())
    }
    assert cells == {
        product: str(row[0]) for product, row in products(report).items()
    }  # one row per product, with its request count
    vendors_chart = page.locator('svg[data-chart="vendors"]')
    # usbot: warn (logged-out path) + log; cnchat; euapi — and allow for the tenant's own
    assert vendors_chart.locator(".mark").count() == 5
    assert page.locator("img").count() == 0
    assert page.locator("main b").count() == 0
    assert page.evaluate(OVERFLOWING) == []  # every table fits a 1280 px desktop
    assert "<img src=x onerror=alert(1)> <b>bold</b> x" in body


def test_wide_product_rows_fit_a_desktop(browser: Any, test_config: Config, tmp_path: Path) -> None:
    report = discover(test_config, LOGS / "squid-access.log")
    for vendor in report["vendors"]:
        for product in vendor["products"]:
            product["verdict"] = "Trains on what you type unless you opt out " * 4
            product["residency"] = ["CN", "US", "EU", "DE", "FR", "GB", "JP", "SG"]
            product["retention"] = "open-ended"
            product["name"] = "A product with a name that goes on and on " * 2
            for host in product["hosts"]:
                host["host"] = "a-very-long-host-name-" * 6 + "example.com"
    page_file = tmp_path / "wide.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    assert overflowing(browser, page_file) == []


def test_text_output_has_the_tables_and_notes(test_config: Config) -> None:
    text = render_text(discover(test_config, LOGS / "bind-queries.log"))
    assert "Products, and what the rules would decide" in text
    assert "cnchat/api" in text
    assert "Rules not judged here (they need an identity): research-cn" in text
    assert "\x00" not in text


def test_aiwall_logs_are_read_each_event_once(test_config: Config, tmp_path: Path) -> None:
    """aiwall's own log as discover's input: decisions are requests; overlapping rotated files
    (copytruncate) count each event once, and the report says how many it dropped."""
    from aiwall.telemetry.events import EventLog

    from ..eventcheck import context, decide

    path = tmp_path / "events.jsonl"
    events = EventLog(str(path))
    for number in range(30):
        host = ("cnchat.test", "api.usbot.test", "euapi.test")[number % 3]
        events.decision(decide(test_config, host), context(user=f"u{number % 4}"))
    events.internal_error(error="x", where="y", host=None, client_ip=None)
    events.close()
    lines = path.read_text().splitlines(keepends=True)
    rotated, live = tmp_path / "events.jsonl.1", tmp_path / "live.jsonl"
    rotated.write_text("".join(lines[:20]))
    live.write_text("".join(lines[12:]))
    one = discover(test_config, path)
    both = discover(test_config, rotated, live)
    assert [f["format"] for f in both["files"]] == ["aiwall", "aiwall"]
    assert both["totals"]["duplicates"] == 8 and one["totals"]["duplicates"] == 0
    assert both["totals"]["ai_requests"] == one["totals"]["ai_requests"] == 30
    assert both["vendors"] == one["vendors"]
    assert products(both) == products(one)
    assert "duplicate events dropped: 8" in render_text(both)
