"""Shared fixtures: the fictitious test registry and rules, and the shipped files."""

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.hosts import _cached_outcome
from aiwall.telemetry.events import EventLog

from . import chromium
from .eventcheck import validate_event_lines
from .proxy import Proxy, running_proxy
from .upstream import Upstream, start_upstream

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent
TODAY = date(2026, 11, 29)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the upstream goes through a real mitmdump: it is end-to-end whether or
    not its module says so, so `pytest -m "not e2e"` stays the fast set."""
    for item in items:
        if "upstream" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _no_host_normalised_before() -> None:
    """Every test normalises its host names itself: nothing it passes depends on what an earlier
    test left in the cache, and mutation testing sees which tests run the normaliser."""
    _cached_outcome.cache_clear()


@pytest.fixture(scope="session")
def test_config() -> Config:
    return load_config(FIXTURES / "rules.yaml", FIXTURES / "policies", today=lambda: TODAY)


@pytest.fixture(scope="session")
def shipped_config() -> Config:
    return load_config(ROOT / "rules.example.yaml", ROOT / "policies", today=lambda: TODAY)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where a test's event log is written."""
    return tmp_path / "events.log"


@pytest.fixture
def events(log_path: Path) -> EventLog:
    return EventLog(str(log_path))


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    folder = tmp_path_factory.mktemp("upstream")
    server, servers = start_upstream(folder)
    yield server
    for s in servers:
        s.shutdown()


def start_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: Upstream,
    rules: Path = FIXTURES / "proxy" / "rules.yaml",
    options: tuple[str, ...] = (),
    scripts: tuple[Path, ...] = (),
    env: Mapping[str, str] | None = None,
    redirect: bool = True,
    deployed: bool = False,
) -> AbstractContextManager[Proxy]:
    """A real mitmdump with aiwall (`deployed`: aiwall run); every event it writes must validate
    against the schema."""

    @contextmanager
    def proxy() -> Iterator[Proxy]:
        folder = tmp_path_factory.mktemp("proxy")
        with running_proxy(
            folder, upstream, rules, ROOT / "policies", options, scripts, env, redirect, deployed
        ) as running:
            yield running
        validate_event_lines(running.events_path.read_text().splitlines())

    return proxy()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    """aiwall as deployed (`aiwall run`); tests that need `mitmdump -s` start their own."""
    with start_proxy(tmp_path_factory, upstream, deployed=True) as running:
        yield running


@pytest.fixture(scope="session")
def chromium_endpoint() -> Iterator[str]:
    """The suite's one Chromium (tests/chromium.py), started when a test first needs it."""
    if not chromium.available():
        pytest.skip(f"needs {chromium.CHROMIUM}")
    pytest.importorskip("playwright.sync_api")
    with chromium.chromium_process() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def browser(chromium_endpoint: str) -> Iterator[Any]:
    """A Playwright Browser for the shared Chromium, connected for one test module."""
    with chromium.connect(chromium_endpoint) as connected:
        yield connected
