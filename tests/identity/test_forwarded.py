"""Trusted-proxy headers (identity/forwarded.py) and `aiwall squid-acl` (cli/squid.py)."""

import ipaddress

import pytest
from aiwall.cli.main import main
from aiwall.cli.squid import squid_acl
from aiwall.identity.forwarded import (
    client_address,
    forwarded_identity,
    is_trusted,
    parse_trusted_proxies,
)
from hypothesis import given
from hypothesis import strategies as st

TRUSTED = parse_trusted_proxies("10.0.0.5/32, 192.168.7.0/24,2001:db8::/32")


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("text", "count"), [("", 0), ("10.0.0.5", 1), (" 10.0.0.0/8 , ::1 ", 2), ("10.0.0.1/24", 1)]
)
def test_trusted_proxies_are_cidrs(text: str, count: int) -> None:
    assert len(parse_trusted_proxies(text)) == count


@pytest.mark.parametrize("text", ["squid.corp", "10.0.0.0/33", "10.0.0.5,nope"])
def test_a_bad_trusted_proxy_names_the_entry(text: str) -> None:
    with pytest.raises(ValueError, match="is not an address or CIDR network"):
        parse_trusted_proxies(text)


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("10.0.0.5", True),
        ("10.0.0.6", False),
        ("192.168.7.200", True),
        ("2001:db8::9", True),
        ("::ffff:10.0.0.5", False),  # flows.py hands IPv4-mapped addresses over as IPv4
    ],
)
def test_is_trusted(peer: str, trusted: bool) -> None:
    assert is_trusted(ip(peer), TRUSTED) is trusted


@pytest.mark.parametrize(
    ("values", "client"),
    [
        pytest.param(["172.16.0.9"], "172.16.0.9", id="one-hop"),
        pytest.param(["1.2.3.4, 172.16.0.9"], "172.16.0.9", id="client-wrote-the-left"),
        pytest.param(["172.16.0.9, 192.168.7.3"], "172.16.0.9", id="through-two-trusted"),
        pytest.param(["172.16.0.9", "192.168.7.3"], "172.16.0.9", id="two-header-lines"),
        pytest.param(["192.168.7.3, 10.0.0.5"], "192.168.7.3", id="all-trusted-the-leftmost"),
        pytest.param(["[2001:db9::1]:443"], "2001:db9::1", id="ipv6-with-port"),
        pytest.param(["172.16.0.9:51234"], "172.16.0.9", id="ipv4-with-port"),
        pytest.param(["unknown"], None, id="squid-unknown"),
        pytest.param(["1.2.3.4, garbage, 172.16.0.9"], "172.16.0.9", id="garbage-in-between"),
        pytest.param([], None, id="none"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(values: list[str], client: str | None) -> None:
    found = client_address(values, TRUSTED)
    assert found == (ip(client) if client else None)


@pytest.mark.parametrize(
    ("values", "user"),
    [
        (["alice"], "alice"),
        ([" alice@CORP "], "alice@CORP"),
        (["-"], None),
        ([""], None),
        (["alice", "bob"], None),
        (["x" * 300], None),
        (["al\x07ice"], None),
        ([], None),
    ],
)
def test_the_user_header_must_name_one_user(values: list[str], user: str | None) -> None:
    assert forwarded_identity(values, [], TRUSTED).user == user


@given(st.lists(st.text(max_size=60), max_size=5))
def test_any_forwarded_for_gives_an_address_or_none(values: list[str]) -> None:
    found = client_address(values, TRUSTED)
    assert found is None or isinstance(found, ipaddress.IPv4Address | ipaddress.IPv6Address)


def test_squid_acl_lists_each_domain_once_with_a_leading_dot() -> None:
    text = squid_acl(
        ["deepseek.com", "chat.deepseek.com", "chatgpt.com/backend-anon/", "Claude.AI", "10.1.2.3"],
        source="test",
    )
    entries = [line for line in text.splitlines() if not line.startswith("#")]
    assert entries == [".chatgpt.com", ".claude.ai", ".deepseek.com"]
    assert "# IP addresses (for a dst ACL): 10.1.2.3" in text


def test_aiwall_squid_acl_lists_the_shipped_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["squid-acl"]) == 0
    entries = [line for line in capsys.readouterr().out.splitlines() if line[:1] == "."]
    assert ".deepseek.com" in entries and ".claude.ai" in entries
    assert len(entries) == len(set(entries)) > 100
    domains = set(entries)
    for entry in entries:  # no entry under another: squid warns about (or refuses) overlaps
        labels = entry[1:].split(".")
        assert not any("." + ".".join(labels[i:]) in domains for i in range(1, len(labels)))
