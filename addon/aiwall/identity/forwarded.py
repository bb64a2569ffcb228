"""Identity a child proxy forwards: `X-Authenticated-User` and `X-Forwarded-For`.

A proxy in front of aiwall (Squid, a commercial gateway) has authenticated the user and knows
the client's address; it says so in these headers. They are believed only from the proxies
the operator lists (`aiwall_trusted_proxies`): from anyone else they are ignored, because any
client can write them.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_HEADER = "X-Authenticated-User"
FORWARDED_FOR_HEADER = "X-Forwarded-For"
# Longest user name believed; a longer header is not a name but an attack on the log.
MAX_USER = 256


def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """`10.0.0.5/32, 192.168.0.0/24`: comma-separated CIDRs (an address alone is one host).

    Raises ValueError naming the entry that is no network."""
    networks = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or CIDR network") from None
    return tuple(networks)


@dataclass(frozen=True)
class Forwarded:
    """What a trusted proxy said of its client."""

    user: str | None
    ip: IPAddress | None


def is_trusted(peer: IPAddress | None, trusted: tuple[Network, ...]) -> bool:
    return peer is not None and any(_contains(network, peer) for network in trusted)


def forwarded_identity(
    user_values: Iterable[str], forwarded_for: Iterable[str], trusted: tuple[Network, ...]
) -> Forwarded:
    """The user and client address in headers a trusted proxy sent.

    The user header must appear once with a plausible name (Squid writes `-` when it did not
    authenticate anyone). The client is the right-most address of X-Forwarded-For that is not
    itself a trusted proxy: the left part of the list is whatever the client wrote, only what
    trusted proxies appended is believed."""
    return Forwarded(_user(list(user_values)), client_address(forwarded_for, trusted))


def client_address(forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> IPAddress | None:
    hops: list[IPAddress] = []
    for value in forwarded_for:
        for item in value.split(","):
            address = _address(item)
            if address is None:
                # An entry that is no address ends what can be believed: what lies left of it
                # was not written by a proxy that knows addresses.
                hops.clear()
                continue
            hops.append(address)
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else None


def _user(values: list[str]) -> str | None:
    if len(values) != 1:
        return None  # none, or two that disagree on who it is
    user = values[0].strip()
    if not user or user == "-" or len(user) > MAX_USER or not user.isprintable():
        return None
    return user


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 10.0.0.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _contains(network: Network, address: IPAddress) -> bool:
    return address.version == network.version and address in network
