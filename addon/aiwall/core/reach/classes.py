"""The classes each dimension of a request is cut into, such that every rule holds for a whole
class or not at all: the user, the client address, the method, the upload, and the state of the
record; and cubes, sets of classes per dimension."""

import ipaddress
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiwall.core.decision import RequestInfo
from aiwall.core.engine import users_known
from aiwall.core.rules import HTTP_METHODS, IPAddress, RulesFile

Cube = tuple[frozenset[int], ...]  # per dimension, the classes it holds
USER, IP, METHOD, UPLOAD, STATE = range(5)
# Checks on the record's state, which time and review marks change without a change of rules.
STATE_CHECKS = ("stale", "under_review")
# The states: (stale, facts under review); any fact under review counts the same.
STATES = ((False, ()), (False, ("training",)), (True, ()), (True, ("training",)))


@dataclass(frozen=True)
class Body:
    """One class of request body, as the upload check sees it."""

    size: int | None
    multipart: bool


@dataclass(frozen=True)
class Classes:
    """The classes of each dimension; a cube holds indices into these."""

    users: tuple[tuple[str | None, frozenset[str]], ...]  # a user and its directory groups
    ips: tuple[IPAddress, ...]
    methods: tuple[str, ...]
    bodies: tuple[Body, ...]

    def full(self) -> Cube:
        sizes = (len(self.users), len(self.ips), len(self.methods), len(self.bodies), len(STATES))
        return tuple(frozenset(range(n)) for n in sizes)

    def probe(self, dimension: int, index: int) -> RequestInfo:
        """A request that differs from a plain GET in one dimension only."""
        if dimension == USER:
            user, groups = self.users[index]
            return RequestInfo((), user=user, groups=groups)
        if dimension == IP:
            return RequestInfo((), client_ip=self.ips[index])
        if dimension == METHOD:
            return RequestInfo((), method=self.methods[index])
        body = self.bodies[index]
        return RequestInfo((), body_size=body.size, multipart=body.multipart)


def classes_of(rules: RulesFile) -> Classes:
    """The classes each dimension is cut into for these rules."""
    names: list[str] = []
    directory: set[str] = set()  # rules-file groups read from the directory
    networks: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    sizes = {int(rules.settings.upload_size)}
    for rule in rules.rules:
        match = rule.match
        networks.update(match.network)
        names.extend(match.user)
        for name in match.group:
            group = rules.groups[name]
            networks.update(group.networks)
            names.extend(group.users)
            if group.directory:
                directory.add(name)
        if match.upload is not None and not isinstance(match.upload, bool):
            sizes.add(int(match.upload))
    bodies = [Body(None, False), Body(None, True)] + [
        Body(size + 1, False) for size in sorted(sizes)
    ]
    return Classes(
        tuple(_user_classes(rules, names, directory)),
        tuple(_address_classes(networks)),
        HTTP_METHODS,
        tuple(bodies),
    )


def _user_classes(
    rules: RulesFile, names: list[str], directory: set[str]
) -> Iterator[tuple[str | None, frozenset[str]]]:
    """No user (no proxy authentication), and each named user and one other, each in every
    combination of the directory groups the rules name (in each alone and in all, beyond four
    groups). Without proxy-auth in settings.identity, rules know no user at all."""
    yield None, frozenset()
    if not users_known(rules.settings):
        return
    other = "someone-else"
    while other in names:
        other += "-"
    groups = sorted(directory)
    if len(groups) <= 4:
        memberships = [
            frozenset(c) for n in range(len(groups) + 1) for c in itertools.combinations(groups, n)
        ]
    else:
        memberships = [frozenset(), *(frozenset({g}) for g in groups), frozenset(groups)]
    for user in dict.fromkeys([*names, other]):
        for membership in memberships:
            yield user, membership


def _address_classes(
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> Iterator[IPAddress]:
    """One address from each part of the address space the networks carve out."""
    every = {*networks, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}
    for network in sorted(every, key=lambda n: (n.version, n)):
        inner = [
            n
            for n in every
            if n != network and n.version == network.version and n.subnet_of(network)  # type: ignore[arg-type]
        ]
        rest = [network]
        for child in inner:
            rest = [piece for part in rest for piece in _exclude(part, child)]
        if rest:
            yield rest[0].network_address


def _exclude(
    part: ipaddress.IPv4Network | ipaddress.IPv6Network,
    child: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if not part.overlaps(child):
        return [part]
    if part.subnet_of(child):  # type: ignore[arg-type]
        return []
    return list(part.address_exclude(child))  # type: ignore[arg-type]
