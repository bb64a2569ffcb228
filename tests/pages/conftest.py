"""What the tests of the block and warn pages share: the test configuration's decisions, the
visit a page answers, every page to compare, and a parsed page."""

import dataclasses
import functools
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.core.rules import Action, Alternative, Rule, Settings
from aiwall.pages import answers as pages

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
