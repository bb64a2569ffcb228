"""`aiwall sources check`: cited pages on a local server change, in markup or in substance, or
go away; changes reach the event log, an e-mail list, the card, `explain`, the pages and the
rules ("under review"). Everything runs against 127.0.0.1."""

import json
import socket
import threading
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiwall.cli import main
from aiwall.core.card import card_for, render_text
from aiwall.core.config import load_config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.registry import REVIEW_FILE, load_registry
from aiwall.feed.text import normalise, page_text, text_diff
from aiwall.pages.html import block_page
from aiwall.pages.page import Visit

from .eventcheck import validate_event_lines
from .feedserver import FeedServer, feed_server

PAGE = """<!doctype html>
<html><head><title>Acme Privacy Policy</title>
<script nonce="{nonce}">window.csrf = "{nonce}";</script>
<style>.x {{ color: red }}</style></head>
<body><nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
<main><h1>Privacy Policy</h1>
<p>We store the data you send in Germany and keep it for {kept}.</p>
<p>We never use your inputs to train our models.</p>
<p>Enterprise customers can sign our data-processing agreement.</p>
</main>
<footer>Build {nonce}</footer></body></html>
"""
ORIGINAL = PAGE.format(nonce="a1b2c3", kept="thirty days")
# The same words: new nonce, attributes, whitespace and scripts; no change in substance.
MARKUP_ONLY = (
    PAGE.format(nonce="zz9y8x", kept="thirty   days")
    .replace("<p>", '<p class="lead"\n   data-track="1">')
    .replace("</main>", "<script>track();</script></main>")
)
SUBSTANTIVE = PAGE.format(nonce="q7q7q7", kept="five years")

RECORD = """\
id: acme
name: Acme
kind: api-platform
homepage: https://acme.test/
headline: "No — Acme does not train on your data."
summary: An inference API.
hosts: [acme.test]
products:
  - id: api
    name: Acme API
    verdict: Does not train
    summary: Kept thirty days.
    training: never
    opt_out: {{available: false}}
    zero_retention: false
    dpa: true
    residency: [DE]
    retention: P30D
last_verified: 2026-10-01
confidence: high
sources:
  - url: {privacy}
    supports: residency and retention
    date: {dated}
    covers: [residency, api.retention]
  - url: {terms}
    supports: training, the DPA and the hosts
    date: {dated}
    covers: [hosts, training, opt_out, dpa, zero_retention]
"""

RULES = """\
rules:
  - id: warn-under-review
    description: Facts under review.
    match: {under_review: true}
    action: warn
  - id: log-the-rest
    description: Everything else.
    action: log
"""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        running.serve("/privacy", ORIGINAL)
        running.serve(
            "/terms", "<html><body><main><p>We never train on inputs.</p></main></body></html>"
        )
        yield running


def write_record(folder: Path, server: FeedServer, dated: str = "2026-10-01") -> Path:
    folder.mkdir(exist_ok=True)
    text = RECORD.format(privacy=server.url("/privacy"), terms=server.url("/terms"), dated=dated)
    (folder / "acme.yaml").write_text(text)
    return folder


@pytest.fixture
def policies(tmp_path: Path, server: FeedServer) -> Path:
    return write_record(tmp_path / "policies", server)


def check(policies: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["sources", "check", "--policies", str(policies), "--timeout", "5", *extra])
    return code, capsys.readouterr().out


# The extracted text.


@pytest.mark.parametrize(
    "variant",
    [
        MARKUP_ONLY,
        ORIGINAL.replace("a1b2c3", "ffffff"),  # a nonce
        ORIGINAL.replace("\n", "\r\n  "),  # line ends and indentation
        ORIGINAL.replace("<style>.x { color: red }</style>", "<style>.y{}</style>"),
        ORIGINAL.replace("<nav>", "<nav><a href='/new'>New</a>"),  # navigation
        ORIGINAL.replace("thirty days", "thirty\u00a0days"),  # a no-break space
    ],
)
def test_markup_and_boilerplate_leave_the_text_as_it_was(variant: str) -> None:
    original = page_text(ORIGINAL.encode(), "text/html")
    assert page_text(variant.encode(), "text/html") == original
    assert "keep it for thirty days" in original.text
    assert "csrf" not in original.text and "Build" not in original.text


def test_a_change_of_words_changes_the_text_and_the_diff_shows_it() -> None:
    old = page_text(ORIGINAL.encode(), "text/html").text
    new = page_text(SUBSTANTIVE.encode(), "text/html").text
    assert text_diff(old, new) == [
        "- We store the data you send in Germany and keep it for thirty days.",
        "+ We store the data you send in Germany and keep it for five years.",
    ]


def test_plain_text_pages_are_taken_as_they_are() -> None:
    assert page_text(b"  Terms\r\n\r\n of   use ", "text/plain").text == "Terms\nof use"
    assert normalise("ﬁne\u2003print") == "fine print"


def test_a_long_diff_is_cut_and_says_how_much_more() -> None:
    diff = text_diff("", "\n".join(f"line {n}" for n in range(40)), limit=3)
    assert diff == ["+ line 0", "+ line 1", "+ line 2", "… 37 more changed lines"]


# The command.


def test_the_first_run_records_a_baseline(
    policies: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(policies, capsys)
    assert code == 0
    assert f"BASELINE     {server.url('/privacy')}" in out
    assert out.endswith(
        "2 sources checked: 0 changed, 0 unchanged, 0 unreachable, 2 recorded for the first time\n"
    )
    assert len(list((policies / "sources").glob("*.json"))) == 2


def test_a_markup_only_change_is_no_change(
    policies: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    check(policies, capsys)
    server.serve("/privacy", MARKUP_ONLY)
    code, out = check(policies, capsys)
    assert code == 0
    assert "CHANGED" not in out
    assert "2 sources checked: 0 changed, 2 unchanged" in out
    assert "acme" not in (policies / REVIEW_FILE).read_text()  # no marks
    assert not load_registry(policies).vendors["acme"].under_review


def test_a_substantive_change_names_the_record_its_facts_and_the_diff(
    policies: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    check(policies, capsys)
    server.serve("/privacy", SUBSTANTIVE)
    code, out = check(policies, capsys)
    assert code == 1
    assert out.splitlines()[:4] == [
        f"CHANGED      {server.url('/privacy')} (Privacy Policy)",
        "  acme: residency, api.retention (verified 2026-10-01): now under review",
        "    - We store the data you send in Germany and keep it for thirty days.",
        "    + We store the data you send in Germany and keep it for five years.",
    ]
    # The new text is the new snapshot: the same page again is no change.
    code, out = check(policies, capsys)
    assert code == 0 and "CHANGED" not in out


def test_the_json_report_has_the_same_facts(
    policies: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    check(policies, capsys)
    server.serve("/privacy", SUBSTANTIVE)
    server.serve("/terms", "gone", status=410)
    code, out = check(policies, capsys, "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert report["checked"] == 2 and report["unchanged"] == 0 and report["baseline"] == []
    [changed] = report["changed"]
    assert changed["url"] == server.url("/privacy")
    assert changed["records"] == [
        {"vendor": "acme", "facts": ["residency", "api.retention"], "verified": "2026-10-01"}
    ]
    assert changed["diff"][1].startswith("+ ")
    [unreachable] = report["unreachable"]
    assert unreachable["url"] == server.url("/terms")
    assert unreachable["error"] == "HTTP 410 Gone"


def test_unreachable_sources_are_listed_apart_and_are_no_change(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    folder = tmp_path / "policies"
    folder.mkdir()
    text = RECORD.format(
        privacy=server.url("/missing"), terms=f"http://127.0.0.1:{port}/terms", dated="2026-10-01"
    )
    (folder / "acme.yaml").write_text(text)
    code, out = check(folder, capsys)
    assert code == 0
    assert f"UNREACHABLE  {server.url('/missing')}: HTTP 404 Not Found (cited by acme)" in out
    assert f"UNREACHABLE  http://127.0.0.1:{port}/terms: ConnectError" in out
    assert "0 changed, 0 unchanged, 2 unreachable" in out
    # A page that shows no text (a script-only shell) is unreachable too, not a change.
    server.serve("/missing", "<html><body><script>render()</script></body></html>")
    code, out = check(folder, capsys)
    assert code == 0 and "the page shows no main text" in out


def test_requests_are_conditional_and_say_who_asks(
    policies: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve("/privacy", ORIGINAL, etag='"v1"')
    check(policies, capsys)
    server.requests.clear()
    code, out = check(policies, capsys)
    assert code == 0 and "2 unchanged" in out
    asked = dict(server.requests)
    assert asked["/privacy"]["if-none-match"] == '"v1"'
    assert "if-none-match" not in asked["/terms"]
    assert asked["/privacy"]["user-agent"].startswith("aiwall/")
    assert "vendor policy pages" in asked["/privacy"]["user-agent"]


class _RecordingProxy(BaseHTTPRequestHandler):
    """Answers every request itself and keeps its request line: proves the proxy was used."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        body = b"<html><body><main><p>Served by the proxy.</p></main></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self) -> None:
        self.seen.append(f"CONNECT {self.path}")
        self.send_response(403)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_pages_are_fetched_through_the_proxy_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    _RecordingProxy.seen = []
    address = f"http://127.0.0.1:{proxy.server_address[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    folder = tmp_path / "policies"
    folder.mkdir()
    text = RECORD.format(
        privacy="http://acme.test/privacy", terms="https://acme.test/terms", dated="2026-10-01"
    )
    (folder / "acme.yaml").write_text(text)
    try:
        code, out = check(folder, capsys)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert code == 0
    assert "BASELINE     http://acme.test/privacy" in out
    assert "UNREACHABLE  https://acme.test/terms" in out  # the proxy refused the tunnel
    assert sorted(_RecordingProxy.seen) == ["CONNECT acme.test:443", "GET http://acme.test/privacy"]


def test_a_folder_that_cannot_be_loaded_or_no_state_dir_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "acme.yaml").write_text("id: acme\n")
    assert main(["sources", "check", "--policies", str(broken)]) == 2
    assert "acme.yaml" in capsys.readouterr().err
    assert main(["sources", "check"]) == 2
    assert "--state-dir" in capsys.readouterr().err


# Reaching people: events, e-mail, the card, explain, the pages, the rules.


def changed_once(
    policies: Path, server: FeedServer, capsys: pytest.CaptureFixture[str], *extra: str
) -> str:
    check(policies, capsys)
    server.serve("/privacy", SUBSTANTIVE)
    code, out = check(policies, capsys, *extra)
    assert code == 1
    return out


def test_each_change_writes_a_source_changed_event(
    policies: Path, server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.log"
    changed_once(policies, server, capsys, "--log", str(log))
    [event] = validate_event_lines(log.read_text().splitlines())
    assert event["event"]["action"] == "source.changed"
    assert event["event"]["dataset"] == "aiwall.source"
    assert event["log"]["level"] == "warning"
    assert event["aiwall"]["source"] == {
        "vendor": "acme",
        "url": server.url("/privacy"),
        "title": "Privacy Policy",
        "facts": ["residency", "api.retention"],
        "verified": "2026-10-01",
        "diff": [
            "- We store the data you send in Germany and keep it for thirty days.",
            "+ We store the data you send in Germany and keep it for five years.",
        ],
    }


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_one_email_per_changed_page(
    policies: Path,
    server: FeedServer,
    smtp: tuple[int, _Inbox],
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, inbox = smtp
    mail = ("--smtp", f"127.0.0.1:{port}", "--mail-from", "aiwall@corp.test")
    recipients = ("--mail-to", "sec@corp.test", "--mail-to", "it@corp.test")
    check(policies, capsys, *mail, *recipients)
    assert inbox.messages == []  # a baseline is no change
    server.serve("/privacy", SUBSTANTIVE)
    server.serve("/terms", "<html><body><main><p>We now train on inputs.</p></main></body></html>")
    code, _ = check(policies, capsys, *mail, *recipients)
    assert code == 1
    assert len(inbox.messages) == 2
    to, message = inbox.messages[0]
    assert to == ["sec@corp.test", "it@corp.test"]
    assert message["Subject"] == "aiwall: Acme: a cited page changed: Privacy Policy"
    body = message.get_payload()
    assert isinstance(body, str)
    assert "Acme (acme): residency, api.retention; verified 2026-10-01" in body
    assert "+ We store the data you send in Germany and keep it for five years." in body
    # Nothing changed: nothing sent.
    check(policies, capsys, *mail, *recipients)
    assert len(inbox.messages) == 2


def test_a_change_puts_the_facts_under_review_on_the_card_explain_and_pages(
    policies: Path, server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed_once(policies, server, capsys)
    today = date.today()
    record = load_registry(policies).vendors["acme"]
    [review] = record.under_review
    assert (review.url, review.changed) == (server.url("/privacy"), today)
    notice = (
        f"Acme's Privacy Policy changed on {today}; these facts are under review:"
        " where data is stored, retention."
    )
    card = card_for(record)
    assert card.reviews() == [notice]
    assert notice in render_text(card)
    assert ("Retention", "P30D (under review)") in card.facts()
    assert ("Trains on your data", "no") in card.facts()  # /terms did not change

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    assert (
        main(["explain", "https://acme.test/", "--rules", str(rules), "--policies", str(policies)])
        == 0
    )
    explained = capsys.readouterr().out
    assert f"Review:   {notice}" in explained
    assert "Retention: P30D (under review)" in explained
    assert "Decision: WARN (rule warn-under-review" in explained
    assert "under_review=['residency', 'retention']" in explained

    config = load_config(rules, policies)
    decision = config.engine.decide(RequestInfo((HostName("host", "acme.test"),)))
    page = block_page(decision, config.rules.settings, Visit(host="acme.test")).body.decode()
    assert notice.replace("'", "&#39;") in page


def test_rules_see_no_review_before_a_change_and_none_after_re_verification(
    policies: Path, server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    request = RequestInfo((HostName("host", "acme.test"),))

    def deciding_rule() -> str | None:
        rule = load_config(rules, policies).engine.decide(request).rule
        return rule.id if rule else None

    check(policies, capsys)
    assert deciding_rule() == "log-the-rest"
    server.serve("/privacy", SUBSTANTIVE)
    check(policies, capsys)
    assert deciding_rule() == "warn-under-review"
    assert "acme:" in (policies / REVIEW_FILE).read_text()
    # A person re-reads the page and dates the source today: the mark lapses...
    write_record(policies, server, dated=date.today().isoformat())
    assert deciding_rule() == "log-the-rest"
    assert card_for(load_registry(policies).vendors["acme"]).reviews() == []
    # ...and the next run drops it from the file.
    check(policies, capsys)
    assert "acme:" not in (policies / REVIEW_FILE).read_text()


def test_a_broken_review_file_is_a_config_error_with_its_line(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policies / REVIEW_FILE).write_text("acme:\n  - url: https://acme.test/privacy\n")
    assert main(["check", "--policies", str(policies)]) == 1
    err = capsys.readouterr().err
    assert f"{policies / REVIEW_FILE}:2: acme[0].source: required field is missing" in err
