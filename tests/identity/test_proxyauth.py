"""Standalone with proxy authentication: mitmproxy's own `proxyauth` with an htpasswd file and
with LDAP (a real slapd), the user in aiwall's rules and log, and groups read from the same
directory in the background (settings.directory)."""

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from ..conftest import start_proxy
from ..proxy import Proxy, free_port
from ..upstream import Upstream
from .services import (
    BASE_DN,
    PEOPLE,
    READER_DN,
    READER_PASSWORD,
    USERS,
    Slapd,
    curl,
    group_dn,
    running_slapd,
)

DEEPSEEK = "https://chat.deepseek.com/"
JSON = ("-H", "Accept: application/json")

RULES = """\
settings:
  default_action: log
  contact: "Identity test desk <desk@example.test>"
  directory:
    url: {url}
    bind_dn: "{reader}"
    bind_password_file: {password_file}
    base_dn: "{base}"
    refresh: PT1S
    timeout: PT2S
groups:
  engineering:
    directory: "{group}"
    users: [static-sam]
rules:
  - id: engineers-may-use-deepseek
    description: Engineers may use DeepSeek; it is logged.
    match: {{vendor: deepseek, group: engineering}}
    action: log
  - id: block-deepseek
    description: Everyone else is kept away from DeepSeek.
    match: {{vendor: deepseek}}
    action: block
"""


def directory_rules(folder: Path, slapd: Slapd) -> Path:
    password_file = folder / "ldap-password"
    password_file.write_text(READER_PASSWORD)
    rules = folder / "rules.yaml"
    rules.write_text(
        RULES.format(
            url=slapd.url,
            reader=READER_DN,
            password_file=password_file,
            base=BASE_DN,
            group=group_dn("ai-users"),
        )
    )
    return rules


def wait_for_event(proxy: Proxy, action: str, outcome: str, timeout: float = 15.0) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in proxy.events():
            if event["event"]["action"] == action and event["event"]["outcome"] == outcome:
                return event
        time.sleep(0.05)
    raise AssertionError(f"no {action} {outcome} event in {timeout} s")


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture(scope="module")
def ldap_proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, slapd: Slapd
) -> Iterator[Proxy]:
    rules = directory_rules(tmp_path_factory.mktemp("rules"), slapd)
    spec = (
        f"ldap:127.0.0.1:{slapd.port}:{READER_DN}:{READER_PASSWORD}:{PEOPLE}?search_filter_key=uid"
    )
    with start_proxy(tmp_path_factory, upstream, rules, (f"proxyauth={spec}",)) as running:
        wait_for_event(running, "directory.read", "success")
        yield running


def login(user: str) -> tuple[str, str]:
    return ("--proxy-user", f"{user}:{USERS[user]}")


@pytest.mark.parametrize(
    ("user", "status", "rule"),
    [
        pytest.param("alice", 200, "engineers-may-use-deepseek", id="nested-group-member"),
        pytest.param("carol", 200, "engineers-may-use-deepseek", id="direct-group-member"),
        pytest.param("erin", 403, "block-deepseek", id="in-no-group"),
    ],
)
def test_ldap_users_are_named_and_grouped_from_the_directory(
    ldap_proxy: Proxy, user: str, status: int, rule: str
) -> None:
    before = ldap_proxy.event_count()
    got, _, trace = curl(ldap_proxy.url, DEEPSEEK, *login(user), *JSON, ca=ldap_proxy.ca)
    assert got == status, trace
    [event] = ldap_proxy.new_events(before)
    assert event["user"]["name"] == user
    assert event["rule"]["id"] == rule


def test_the_first_directory_read_is_logged(ldap_proxy: Proxy) -> None:
    event = wait_for_event(ldap_proxy, "directory.read", "success")
    assert event["aiwall"]["directory"] == {
        "groups": 1,
        "users": 3,  # alice and bob through engineering, carol directly
        "milliseconds": event["aiwall"]["directory"]["milliseconds"],
        "stale": False,
    }


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(("--proxy-user", "alice:wrong"), id="wrong-password"),
        pytest.param(("--proxy-user", "nobody:x"), id="unknown-user"),
        pytest.param((), id="none"),
    ],
)
def test_ldap_refuses_a_wrong_login(ldap_proxy: Proxy, credential: tuple[str, ...]) -> None:
    status, _, trace = curl(ldap_proxy.url, DEEPSEEK, *credential, ca=ldap_proxy.ca)
    assert status == 407
    assert 'Proxy-Authenticate: Basic realm="mitmproxy"' in trace


@pytest.fixture(scope="module")
def htpasswd_proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("htpasswd")
    htpasswd = folder / "htpasswd"
    lines = [
        f"{user}:{bcrypt.hashpw(USERS[user].encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user in ("alice", "bob")
    ]
    htpasswd.write_text("\n".join(lines) + "\n")
    rules = Path(__file__).parent / "rules.yaml"
    with start_proxy(tmp_path_factory, upstream, rules, (f"proxyauth=@{htpasswd}",)) as running:
        yield running


@pytest.mark.parametrize(
    ("url", "user", "status"),
    [
        (DEEPSEEK, "alice", 200),
        (DEEPSEEK, "bob", 403),
        ("http://chat.deepseek.com/plain", "alice", 200),
        ("http://chat.deepseek.com/plain", "bob", 403),
    ],
)
def test_htpasswd_users_get_their_own_rules(
    htpasswd_proxy: Proxy, url: str, user: str, status: int
) -> None:
    before = htpasswd_proxy.event_count()
    got, _, trace = curl(htpasswd_proxy.url, url, *login(user), *JSON, ca=htpasswd_proxy.ca)
    assert got == status, trace
    [event] = htpasswd_proxy.new_events(before)
    assert event["user"]["name"] == user


def test_htpasswd_without_a_login_is_asked_for_one(htpasswd_proxy: Proxy) -> None:
    status, _, _ = curl(htpasswd_proxy.url, DEEPSEEK, ca=htpasswd_proxy.ca)
    assert status == 407


@pytest.mark.timeout(120)
def test_while_the_directory_is_down_the_last_membership_serves(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> None:
    folder = tmp_path_factory.mktemp("outage")
    metrics_port = free_port()
    with running_slapd(folder / "ldap") as slapd:
        rules = directory_rules(folder, slapd)
        options = ("proxyauth=any", f"aiwall_metrics=127.0.0.1:{metrics_port}")
        proxy_context = start_proxy(tmp_path_factory, upstream, rules, options)
        proxy = proxy_context.__enter__()
        wait_for_event(proxy, "directory.read", "success")
    try:  # slapd has stopped
        event = wait_for_event(proxy, "directory.read", "failure")
        assert event["aiwall"]["directory"]["stale"] is True
        assert event["aiwall"]["directory"]["users"] == 3
        assert f"127.0.0.1:{slapd.port}" in event["error"]["message"]
        assert event["log"]["level"] == "warning"
        status, _, _ = curl(proxy.url, DEEPSEEK, "--proxy-user", "carol:any", ca=proxy.ca)
        assert status == 200  # carol's membership, as last read
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert "aiwall_directory_up 0.0" in metrics
        assert "aiwall_directory_last_read_timestamp_seconds 1." in metrics
    finally:
        proxy_context.__exit__(None, None, None)
