"""Directory groups read from a real slapd: nested groups, loops, posixGroup, both ways of
reading membership, and what happens when the directory goes away."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiwall.core.config import load_config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.rules import Directory, Group, RulesFile, Settings
from aiwall.core.yamlsource import ConfigError
from aiwall.identity.directory import GroupCache

from ..conftest import ROOT
from .services import (
    BASE_DN,
    READER_DN,
    READER_PASSWORD,
    Slapd,
    group_dn,
    running_slapd,
    user_dn,
)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "ldap-password"
    path.write_text(READER_PASSWORD + "\n")
    return path


def rules_for(
    url: str, password_file: Path, membership: str = "member", **groups: str
) -> RulesFile:
    directory = Directory(
        url=url,
        bind_dn=READER_DN,
        bind_password_file=str(password_file),
        base_dn=BASE_DN,
        membership=membership,  # type: ignore[arg-type]
        timeout=timedelta(seconds=2),
    )
    return RulesFile(
        settings=Settings(directory=directory),
        groups={name: Group(directory=group_dn(dn)) for name, dn in groups.items()},
    )


GROUPS = {"ai": "ai-users", "eng": "engineering", "loop": "loop-b", "posix": "contractors"}


@pytest.mark.parametrize("membership", ["member", "memberOf"])
@pytest.mark.parametrize(
    ("user", "groups"),
    [
        pytest.param("alice", {"ai", "eng"}, id="nested-member-of-both"),
        pytest.param("bob", {"ai", "eng"}, id="second-engineer"),
        pytest.param("carol", {"ai"}, id="direct-member-of-the-outer-group"),
        pytest.param("erin", set(), id="in-no-group"),
        pytest.param("ALICE", {"ai", "eng"}, id="names-are-case-insensitive"),
        pytest.param("nobody", set(), id="unknown-user"),
    ],
)
def test_users_are_in_their_groups_and_the_groups_around_them(
    slapd: Slapd, password_file: Path, membership: str, user: str, groups: set[str]
) -> None:
    named = {k: v for k, v in GROUPS.items() if k != "posix"}  # posixGroup has no memberOf
    cache = GroupCache(rules_for(slapd.url, password_file, membership, **named))
    result = cache.refresh()
    assert result.ok, result.error
    assert cache.groups_of(user) == groups


@pytest.mark.parametrize("membership", ["member", "memberOf"])
def test_a_loop_of_groups_ends(slapd: Slapd, password_file: Path, membership: str) -> None:
    cache = GroupCache(rules_for(slapd.url, password_file, membership, loop="loop-b"))
    assert cache.refresh().ok
    assert cache.groups_of("dave") == {"loop"}


def test_a_posix_group_names_members_by_uid(slapd: Slapd, password_file: Path) -> None:
    cache = GroupCache(rules_for(slapd.url, password_file, posix="contractors"))
    assert cache.refresh().ok
    assert cache.groups_of("dave") == {"posix"}


def test_a_group_missing_from_the_directory_fails_the_read(
    slapd: Slapd, password_file: Path
) -> None:
    cache = GroupCache(rules_for(slapd.url, password_file, gone="no-such-group"))
    result = cache.refresh()
    assert not result.ok and "no-such-group" in (result.error or "")
    assert not cache.up


def test_a_wrong_password_fails_the_read(slapd: Slapd, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    cache = GroupCache(rules_for(slapd.url, wrong, eng="engineering"))
    result = cache.refresh()
    assert not result.ok and "invalidCredentials" in (result.error or "")


def test_the_last_membership_serves_while_the_directory_is_down(
    tmp_path: Path, password_file: Path
) -> None:
    with running_slapd(tmp_path / "ldap") as server:
        cache = GroupCache(rules_for(server.url, password_file, eng="engineering"))
        assert cache.refresh().ok and cache.up
    result = cache.refresh()  # slapd has stopped
    assert not result.ok and not cache.up
    assert "127.0.0.1" in (result.error or "")
    assert result.users == 2  # what keeps serving
    assert cache.groups_of("alice") == {"eng"}


def test_reconfiguring_keeps_the_groups_still_named(slapd: Slapd, password_file: Path) -> None:
    cache = GroupCache(rules_for(slapd.url, password_file, eng="engineering", ai="ai-users"))
    assert cache.refresh().ok
    assert cache.configure(rules_for(slapd.url, password_file, eng="engineering"))
    assert cache.groups_of("alice") == {"eng"}  # ai is gone at once, eng stays until reread
    assert not cache.configure(rules_for(slapd.url, password_file, eng="engineering"))


def test_the_engine_matches_a_directory_group_through_the_request(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "settings:\n"
        "  directory: {url: 'ldap://127.0.0.1:1', base_dn: 'dc=x'}\n"
        "groups:\n"
        "  eng: {directory: 'cn=engineering,dc=x', users: [static-sam]}\n"
        "rules:\n"
        "  - {id: allow-eng, description: engineers, match: {group: eng}, action: allow}\n"
        "  - {id: block-rest, description: everyone else, action: block}\n"
    )
    engine = load_config(rules, ROOT / "policies").engine

    def action(user: str, groups: frozenset[str] = frozenset()) -> str:
        request = RequestInfo((HostName("host", "chat.deepseek.com"),), user=user, groups=groups)
        return str(engine.decide(request).action)

    assert action("alice", frozenset({"eng"})) == "allow"
    assert action("alice") == "block"
    assert action("static-sam") == "allow"  # static members keep working beside the directory


def test_a_directory_group_without_a_directory_is_a_config_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n  eng:\n    directory: cn=engineering,dc=x\n")
    with pytest.raises(ConfigError) as raised:
        load_config(rules, ROOT / "policies")
    [problem] = raised.value.problems
    assert "settings.directory" in str(problem) and "rules.yaml:3" in str(problem)


def test_user_dn_helper_matches_the_directory(slapd: Slapd) -> None:
    connection = slapd.admin()
    assert connection.search(user_dn("alice"), "(objectClass=*)")
    connection.unbind()
