"""End to end: two aiwall instances sharing one Redis and one token secret, and Redis going away.

Both proxies run with proxy authentication (any user name), so acknowledgements are bound to
the proxy-auth user, as in tests/test_proxy_ack.py.
"""

import secrets
import time
from collections.abc import Iterator

import pytest

from .conftest import start_proxy
from .proxy import Proxy
from .test_proxy_ack import BLOCKED_URL, HTML, WARNED, acknowledge, warning
from .test_redis_store import RedisServer, running_redis
from .upstream import Upstream

pytestmark = pytest.mark.e2e  # a real mitmdump: `pytest -m 'not e2e'` skips it

ALLOWED_URL = "https://api.anthropic.com/v1/models"
OUTAGE = "acknowledgement store redis://127.0.0.1"
RECOVERY_WAIT = 10.0  # the store retries Redis 2 s after a failure


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def instances(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, redis_server: RedisServer
) -> Iterator[tuple[Proxy, Proxy]]:
    secret = tmp_path_factory.mktemp("secret") / "aiwall.key"
    secret.write_bytes(secrets.token_bytes(48))
    options = (
        "proxyauth=any",
        f"aiwall_ack_store={redis_server.url}",
        f"aiwall_secret={secret}",
    )
    with (
        start_proxy(tmp_path_factory, upstream, options=options) as first,
        start_proxy(tmp_path_factory, upstream, options=options) as second,
    ):
        yield first, second


def ack_event(proxy: Proxy, before: int) -> dict[str, object]:
    events = [e for e in proxy.new_events(before) if e["event"]["action"] == "ack"]
    assert len(events) == 1
    ack: dict[str, object] = events[0]["aiwall"]["ack"]
    return ack


def passes(proxy: Proxy, user: str) -> bool:
    status, body = proxy.curl(WARNED, *HTML, proxy_user=f"{user}:pw")
    return status == 200 and "Upstream page for grok.com" in body


def test_an_acknowledgement_on_one_instance_lets_the_user_through_both(
    instances: tuple[Proxy, Proxy],
) -> None:
    first, second = instances
    token = warning(first, "wanda")
    assert not passes(second, "wanda")
    before = second.event_count()
    assert acknowledge(second, "wanda", token)[:2] == (303, WARNED)  # signed by the other one
    assert ack_event(second, before)["accepted"] is True
    assert passes(first, "wanda") and passes(second, "wanda")
    assert not passes(first, "otto") and not passes(second, "otto")


def test_a_token_spent_on_one_instance_is_refused_on_the_other(
    instances: tuple[Proxy, Proxy],
) -> None:
    first, second = instances
    token = warning(first, "rita")
    assert acknowledge(second, "rita", token)[0] == 303
    before = first.event_count()
    assert acknowledge(first, "rita", token)[0] == 403
    refused = ack_event(first, before)
    assert refused["accepted"] is False and refused["reason"] == "replayed"


def test_without_redis_both_instances_keep_serving_and_fail_closed(
    instances: tuple[Proxy, Proxy], redis_server: RedisServer
) -> None:
    first, second = instances
    token = warning(first, "olga")
    assert acknowledge(first, "olga", token)[0] == 303
    assert passes(second, "olga")
    fresh = warning(second, "petra")

    redis_server.stop()
    try:
        for proxy in (first, second):
            started = time.monotonic()
            assert proxy.curl(BLOCKED_URL, *HTML, proxy_user="olga:pw")[0] == 403
            assert proxy.curl(ALLOWED_URL, proxy_user="olga:pw")[0] == 200
            warning(proxy, "olga")  # acknowledged before, but unknown now: warned again
            assert time.monotonic() - started < 5
            before = proxy.event_count()
            status, _, body = acknowledge(proxy, "petra", fresh)
            assert status == 403 and "acknowledgement store unavailable" in body
            refused = ack_event(proxy, before)
            assert refused["accepted"] is False
            assert refused["reason"] == "acknowledgement store unavailable"
            assert not passes(proxy, "petra")
            assert proxy.process.poll() is None
    finally:
        redis_server.start()

    # Back on the same port, empty: the unspent token is good now, on either instance.
    deadline = time.monotonic() + RECOVERY_WAIT
    while acknowledge(second, "petra", fresh)[0] != 303:
        assert time.monotonic() < deadline, "the acknowledgement store did not recover"
        time.sleep(0.25)
    assert passes(first, "petra") and passes(second, "petra")
    for proxy in (first, second):
        # one error line for the whole outage (mitmdump -q hides the info line on recovery)
        lines = [line for line in proxy.stderr_path.read_text().splitlines() if OUTAGE in line]
        assert len(lines) == 1 and "unavailable" in lines[0], lines
