"""Acknowledgements per person: a client known only by its address is told that its
acknowledgement counts for everyone at that address, the log says so, and a rules setting
(`ack_requires_user`) can refuse acknowledgements from such clients altogether."""

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import start_proxy
from ..proxy import Proxy
from ..upstream import Upstream

RULES = Path(__file__).parent / "rules.yaml"
WARNED = "https://chat.mistral.ai/"
ACK = "https://chat.mistral.ai/.well-known/aiwall/ack"
HTML = ("-H", "Accept: text/html", "-H", "Sec-Fetch-Mode: navigate")
ADDRESS_NOTE = "This proxy knows you only by your address, 127.0.0.1"


def token_of(body: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', body)
    assert match, body
    return html.unescape(match.group(1))


def post_ack(proxy: Proxy, token: str, user: str | None = None) -> int:
    args = ("--data-urlencode", f"token={token}", "-H", "Origin: https://chat.mistral.ai")
    status, _ = proxy.curl(ACK, *args, proxy_user=user)
    return status


@pytest.fixture(scope="module")
def by_address(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    with start_proxy(tmp_path_factory, upstream, RULES) as running:
        yield running


def test_the_warning_says_the_client_is_known_by_address(by_address: Proxy) -> None:
    status, body = by_address.curl(WARNED, *HTML)
    assert status == 403
    assert ADDRESS_NOTE in body
    assert "counts for everyone who uses it" in body
    assert 'action="/.well-known/aiwall/ack"' in body  # it may still continue


def test_the_ack_log_says_it_was_by_address(by_address: Proxy) -> None:
    _, body = by_address.curl(WARNED, *HTML)
    before = by_address.event_count()
    assert post_ack(by_address, token_of(body)) == 303
    [ack] = by_address.new_events(before)
    assert ack["aiwall"]["ack"]["identity"] == "ip:127.0.0.1"
    assert ack["aiwall"]["ack"]["identified_by"] == "address"
    assert "counts for everyone there" in ack["message"]


@pytest.fixture(scope="module")
def named_only(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[tuple[Proxy, Proxy]]:
    """The same rules with ack_requires_user, once without and once with proxy auth."""
    folder = tmp_path_factory.mktemp("named-only")
    rules = folder / "rules.yaml"
    rules.write_text(
        RULES.read_text().replace("settings:\n", "settings:\n  ack_requires_user: true\n", 1)
    )
    with (
        start_proxy(tmp_path_factory, upstream, rules) as anonymous,
        start_proxy(tmp_path_factory, upstream, rules, ("proxyauth=any",)) as signed_in,
    ):
        yield anonymous, signed_in


def test_a_client_known_by_address_cannot_acknowledge(named_only: tuple[Proxy, Proxy]) -> None:
    proxy, _ = named_only
    status, body = proxy.curl(WARNED, *HTML)
    assert status == 403
    assert "Sign in to continue" in body
    assert 'name="token"' not in body  # no form to continue with
    assert ADDRESS_NOTE in body
    assert not proxy.upstream.saw("mistral.ai")


def test_a_token_from_elsewhere_is_refused_for_a_client_known_by_address(
    named_only: tuple[Proxy, Proxy],
) -> None:
    """A token a signed-in user got cannot be redeemed by an address-only client."""
    anonymous, signed_in = named_only
    _, body = signed_in.curl(WARNED, *HTML, proxy_user="walter:pw")
    token = token_of(body)
    before = anonymous.event_count()
    assert post_ack(anonymous, token) == 403
    [ack] = anonymous.new_events(before)
    assert ack["aiwall"]["ack"]["accepted"] is False
    assert ack["aiwall"]["ack"]["reason"] == "acknowledgements need an authenticated user"


def test_a_signed_in_user_acknowledges_as_before(named_only: tuple[Proxy, Proxy]) -> None:
    _, proxy = named_only
    status, body = proxy.curl(WARNED, *HTML, proxy_user="walter:pw")
    assert status == 403 and ADDRESS_NOTE not in body
    before = proxy.event_count()
    assert post_ack(proxy, token_of(body), user="walter:pw") == 303
    [ack] = proxy.new_events(before)
    assert ack["aiwall"]["ack"]["identified_by"] == "user"
    assert proxy.curl(WARNED, *HTML, proxy_user="walter:pw")[0] == 200
    assert proxy.curl(WARNED, *HTML, proxy_user="wendy:pw")[0] == 403  # per person
