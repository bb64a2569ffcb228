"""Group membership from an LDAP directory, read in the background and kept between reads.

Rules match `group:` on every request, so membership must cost a dictionary look-up there:
`GroupCache.groups_of(user)` reads a snapshot, and `GroupCache.refresh()` (run off the event
loop, every `settings.directory.refresh`) reads the directory and swaps in a new snapshot.
When the directory cannot be read, the last snapshot that was read in full keeps serving and
`up` turns false, for a gauge and an event.

Two ways to read a group, as directories differ:
- `member`: the group entry lists its members (`member`, `uniqueMember`: DNs; `memberUid`:
  names). A member that is itself a group is read in turn (nested groups).
- `memberOf`: the directory keeps `memberOf` on each member (Active Directory, OpenLDAP's
  memberof overlay); entries whose `memberOf` names the group are its members, and member
  groups are followed the same way.
"""

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPNoSuchObjectResult
from ldap3.utils.conv import escape_filter_chars

from aiwall.core.rules import Directory, RulesFile

_GROUP_CLASSES = frozenset(("groupofnames", "groupofuniquenames", "group", "posixgroup"))
_MEMBER_DN_ATTRIBUTES = ("member", "uniqueMember")
# A group nested deeper than this is a loop the visited set missed, or a mistake.
MAX_DEPTH = 32


class DirectoryError(Exception):
    """The directory could not be read: unreachable, refused the bind, or a search failed."""


@dataclass(frozen=True)
class Snapshot:
    """Membership as last read in full: rules-file group name → user names, and inverted."""

    members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_user: Mapping[str, frozenset[str]] = field(default_factory=dict)
    read_at: float | None = None  # time.time() of the read; None: never read

    @classmethod
    def of(cls, members: Mapping[str, frozenset[str]], read_at: float) -> "Snapshot":
        by_user: dict[str, set[str]] = {}
        for group, users in members.items():
            for user in users:
                by_user.setdefault(user.casefold(), set()).add(group)
        return cls(dict(members), {user: frozenset(gs) for user, gs in by_user.items()}, read_at)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did, for the log and the gauge."""

    ok: bool
    groups: int  # directory groups configured
    users: int  # distinct users in them (as last known when the read failed)
    error: str | None = None
    seconds: float = 0.0


class GroupCache:
    """The directory groups of one rules file, read by `refresh()`, looked up by user."""

    def __init__(self, rules: RulesFile | None = None) -> None:
        self.settings: Directory | None = None
        self.sources: dict[str, str] = {}  # rules-file group name → group DN
        self.snapshot = Snapshot()
        self.up = True  # the last refresh read the directory (true while nothing is configured)
        if rules is not None:
            self.configure(rules)

    def configure(self, rules: RulesFile) -> bool:
        """Take the directory settings of a (re)loaded rules file; True when they changed, so
        a refresh is due. Membership already read is kept for the groups still named."""
        settings = rules.settings.directory
        sources = {name: group.directory for name, group in rules.groups.items() if group.directory}
        changed = settings != self.settings or sources != self.sources
        self.settings, self.sources = settings, sources
        if changed:
            kept = {name: users for name, users in self.snapshot.members.items() if name in sources}
            self.snapshot = Snapshot.of(kept, self.snapshot.read_at or 0.0)
            if not sources:
                self.up = True
        return changed

    @property
    def enabled(self) -> bool:
        return self.settings is not None and bool(self.sources)

    def groups_of(self, user: str | None) -> frozenset[str]:
        """The rules-file groups the directory puts this user in (case-insensitive name)."""
        if user is None:
            return frozenset()
        return self.snapshot.by_user.get(user.casefold(), frozenset())

    def refresh(self) -> RefreshResult:
        """Read every directory group; blocking, so the proxy runs it in a worker thread."""
        settings, sources = self.settings, dict(self.sources)
        start = time.monotonic()
        if settings is None or not sources:
            return RefreshResult(True, 0, 0)
        try:
            members = read_groups(settings, sources)
        except DirectoryError as error:
            self.up = False
            users = len(self.snapshot.by_user)
            return RefreshResult(False, len(sources), users, str(error), time.monotonic() - start)
        if sources == self.sources:  # not reconfigured while reading
            self.snapshot = Snapshot.of(members, time.time())
            self.up = True
        users = len({user for names in members.values() for user in names})
        return RefreshResult(True, len(sources), users, None, time.monotonic() - start)


def read_groups(settings: Directory, sources: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """User names of each group, nested groups included. Raises DirectoryError."""
    try:
        connection = _connect(settings)
        try:
            reader = _Reader(connection, settings)
            return {name: frozenset(reader.users(dn)) for name, dn in sources.items()}
        finally:
            connection.unbind()
    except LDAPException as error:
        raise DirectoryError(f"{settings.url}: {type(error).__name__}: {error}") from None
    except OSError as error:
        raise DirectoryError(f"{settings.url}: {error}") from None


def _connect(settings: Directory) -> ldap3.Connection:
    # ldap3 packs the receive timeout into a socket option: whole seconds.
    timeout = max(1, math.ceil(settings.timeout.total_seconds()))
    server = ldap3.Server(settings.url, connect_timeout=timeout, get_info=ldap3.NONE)
    password = _password(settings.bind_password_file)
    connection = ldap3.Connection(
        server,
        user=settings.bind_dn or None,
        password=password,
        read_only=True,
        receive_timeout=timeout,
        raise_exceptions=True,
    )
    if settings.start_tls:
        connection.open()
        connection.start_tls()
    connection.bind()
    return connection


def _password(path: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise DirectoryError(f"cannot read bind_password_file {path}: {error}") from None


class _Reader:
    """Reads one group's users over one connection, each entry at most once per refresh."""

    def __init__(self, connection: ldap3.Connection, settings: Directory) -> None:
        self.connection = connection
        self.settings = settings
        self.name_attribute = settings.user_attribute
        self._users_of: dict[str, frozenset[str]] = {}

    def users(self, group_dn: str) -> set[str]:
        found: set[str] = set()
        self._collect(group_dn, found, (), 0)
        return found

    def _collect(self, group_dn: str, found: set[str], path: tuple[str, ...], depth: int) -> None:
        key = group_dn.lower()
        if key in path or depth > MAX_DEPTH:  # a group that contains itself
            return
        cached = self._users_of.get(key)
        if cached is not None:
            found.update(cached)
            return
        mine: set[str] = set()
        entries = (
            self._members_by_member_of(group_dn)
            if self.settings.membership == "memberOf"
            else self._members_listed(group_dn)
        )
        for entry in entries:
            if isinstance(entry, str):
                mine.add(entry)
            elif _is_group(entry):
                self._collect(entry["dn"], mine, (*path, key), depth + 1)
            else:
                mine.update(self._names(entry))
        self._users_of[key] = frozenset(mine)
        found.update(mine)

    def _members_listed(self, group_dn: str) -> Iterator[dict[str, Any] | str]:
        """The group entry's own member attributes: DNs are read in turn, memberUid is a name."""
        group = self._read(group_dn, [*_MEMBER_DN_ATTRIBUTES, "memberUid"])
        if group is None:
            raise DirectoryError(f"no group {group_dn!r} in the directory")
        attributes = group["attributes"]
        yield from (str(uid) for uid in _values(attributes, "memberUid"))
        for name in _MEMBER_DN_ATTRIBUTES:
            for member_dn in _values(attributes, name):
                member = self._read(str(member_dn), ["objectClass", self.name_attribute])
                if member is not None:  # a member that was deleted since
                    yield member

    def _members_by_member_of(self, group_dn: str) -> Iterator[dict[str, Any]]:
        if self._read(group_dn, ["objectClass"]) is None:
            raise DirectoryError(f"no group {group_dn!r} in the directory")
        query = f"(memberOf={escape_filter_chars(group_dn)})"
        yield from self._search(
            self.settings.base_dn, query, ldap3.SUBTREE, ["objectClass", self.name_attribute]
        )

    def _read(self, dn: str, attributes: list[str]) -> dict[str, Any] | None:
        found = list(self._search(dn, "(objectClass=*)", ldap3.BASE, attributes, missing_ok=True))
        return found[0] if found else None

    def _search(
        self, base: str, query: str, scope: str, attributes: list[str], missing_ok: bool = False
    ) -> Iterator[dict[str, Any]]:
        try:
            results = self.connection.extend.standard.paged_search(
                base, query, scope, attributes=attributes, paged_size=500, generator=False
            )
        except LDAPNoSuchObjectResult:
            if missing_ok:
                return
            raise
        for result in results:
            if result.get("type") == "searchResEntry":
                yield result

    def _names(self, entry: Mapping[str, Any]) -> list[str]:
        return [str(name) for name in _values(entry["attributes"], self.name_attribute)]


def _values(attributes: Mapping[str, Any], name: str) -> list[Any]:
    for key, value in attributes.items():  # attribute names are case-insensitive
        if key.lower() == name.lower():
            return list(value) if isinstance(value, list | tuple) else [value]
    return []


def _is_group(entry: Mapping[str, Any]) -> bool:
    classes = {str(c).lower() for c in _values(entry["attributes"], "objectClass")}
    return bool(classes & _GROUP_CLASSES)
