"""`aiwall check`'s analysis: a rule that never decides because earlier rules take its requests
(shadow rules take none), or because the identity never knows the users it names.

The cases of issue 11, each as an IT engineer would write them.
"""

from pathlib import Path

import pytest
from aiwall.core.config import load_config
from aiwall.core.decision import HostName, RequestInfo

from ..conftest import TODAY
from .conftest import TEST_POLICIES, analysis_of, findings, summary


def test_a_rule_without_match_first_makes_every_later_rule_dead(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: log-everything, description: All AI traffic is logged., action: log}
          - {id: block-cn, description: China., match: {residency: [CN]}, action: block}
          - {id: warn-trains, description: Trains., match: {training: default}, action: warn}
        """,
    )
    found = findings(analysis)
    first = "never decides: rules[0] (log-everything) decides every request it matches first"
    assert found["rules[1] (block-cn)"] == first
    assert found["rules[2] (warn-trains)"] == first
    assert "rules[0] (log-everything)" not in found
    assert summary(analysis, "block-cn") == (
        "rules[1] (block-cn) block: can match 2 products; decides none"
    )


def test_a_narrow_exception_after_the_general_block_never_decides(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        groups:
          research: {networks: [10.99.0.0/16]}
        rules:
          - {id: block-cn, description: China., match: {residency: [CN]}, action: block}
          - id: research-cn
            description: Research may use CN Chat from the lab.
            match: {vendor: cnchat, group: research}
            action: log
        """,
    )
    assert findings(analysis) == {
        "rules[1] (research-cn)": "never decides: rules[0] (block-cn) decides every request"
        " it matches first"
    }


def test_the_exception_first_decides(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        groups:
          research: {networks: [10.99.0.0/16]}
        rules:
          - id: research-cn
            description: Research may use CN Chat from the lab.
            match: {vendor: cnchat, group: research}
            action: log
          - {id: block-cn, description: China., match: {residency: [CN]}, action: block}
        """,
    )
    assert findings(analysis) == {}
    assert summary(analysis, "block-cn").endswith("can match 2 products; decides 2 products")


def test_a_warning_before_the_groups_allow_rule_takes_all_its_requests(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        groups:
          research: {users: [rita], networks: [10.99.0.0/16]}
        rules:
          - {id: warn-trains, description: Trains., match: {training: default}, action: warn}
          - id: research-may-use-usbot
            description: Research uses US Bot freely.
            match: {vendor: usbot, group: research, training: default}
            action: allow
        """,
    )
    message = findings(analysis)["rules[1] (research-may-use-usbot)"]
    assert message == "never decides: rules[0] (warn-trains) decides every request it matches first"


def test_several_earlier_rules_that_take_a_rules_requests_between_them_are_named(
    tmp_path: Path,
) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: get-usbot, description: GET., match: {vendor: usbot, method: GET}, action: log}
          - id: other-usbot
            description: The rest.
            match:
              vendor: usbot
              method: [HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH]
            action: warn
          - {id: usbot, description: Never reached., match: {vendor: usbot}, action: block}
        """,
    )
    assert findings(analysis)["rules[2] (usbot)"] == (
        "never decides: rules[0] (get-usbot) and rules[1] (other-usbot) decide between them"
        " every request it matches first"
    )


def test_a_rule_on_one_method_after_a_rule_on_another_still_decides(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: get-usbot, description: GET., match: {vendor: usbot, method: GET}, action: log}
          - {id: usbot, description: The rest., match: {vendor: usbot}, action: block}
        """,
    )
    assert findings(analysis) == {}


def test_a_shadow_rule_behind_a_catch_all_is_never_recorded(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: all, description: All., action: log}
          - id: candidate
            description: Shadow.
            mode: shadow
            match: {vendor: usbot}
            action: block
        """,
    )
    assert findings(analysis)["rules[1] (candidate)"] == (
        "never records: rules[0] (all) decides every request it matches first"
    )
    assert summary(analysis, "candidate").endswith("records none")


def test_shadow_rules_take_nothing_from_the_rules_after_them(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: candidate, description: Shadow., mode: shadow, action: block}
          - {id: usbot, description: US Bot., match: {vendor: usbot}, action: warn}
        """,
    )
    assert findings(analysis) == {}


@pytest.mark.parametrize(
    ("identity", "dead"),
    [
        ("[client-ip]", True),
        ("[proxy-auth]", False),
        ("[proxy-auth, client-ip]", False),
    ],
)
def test_users_never_match_when_the_identity_is_the_client_address(
    tmp_path: Path, identity: str, dead: bool
) -> None:
    analysis = analysis_of(
        tmp_path,
        f"""
        settings: {{identity: {identity}}}
        groups:
          legal: {{users: [apatel]}}
        rules:
          - {{id: legal, description: Legal., match: {{group: legal}}, action: warn}}
          - {{id: alice, description: Alice., match: {{user: [alice]}}, action: allow}}
        """,
    )
    found = findings(analysis)
    if not dead:
        assert found == {}
        return
    assert found["rules[0] (legal)"] == (
        "never decides: match.group legal: its members are named by user, and"
        " settings.identity is [client-ip], so user names are never known"
    )
    assert found["rules[1] (alice)"] == (
        "never decides: match.user: settings.identity is [client-ip], so user names are never known"
    )
    assert found["groups.legal.users"] == (
        "settings.identity is [client-ip], so user names are never known: it never matches"
    )


def test_a_group_with_users_and_networks_keeps_its_networks_under_client_ip_identity(
    tmp_path: Path,
) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        settings: {identity: [client-ip]}
        groups:
          research: {users: [rita], networks: [10.99.0.0/16]}
        rules:
          - {id: research, description: Research., match: {group: research}, action: allow}
        """,
    )
    problems = {p.field: p for p in analysis.problems}
    assert list(problems) == ["groups.research.users"]
    assert problems["groups.research.users"].severity == "warning"
    assert problems["groups.research.users"].message.endswith("only its networks count")


@pytest.mark.parametrize(("identity", "dead"), [("[proxy-auth]", False), ("[client-ip]", True)])
def test_a_directory_group_decides_for_its_members_only_when_users_are_known(
    tmp_path: Path, identity: str, dead: bool
) -> None:
    analysis = analysis_of(
        tmp_path,
        f"""
        settings:
          identity: {identity}
          directory: {{url: "ldap://dc.corp.test", base_dn: "dc=corp,dc=test"}}
        groups:
          ai-users: {{directory: "cn=ai-users,ou=groups,dc=corp,dc=test"}}
          research: {{directory: "cn=research,ou=groups,dc=corp,dc=test"}}
        rules:
          - {{id: ai-users, description: Members., match: {{group: ai-users}}, action: allow}}
          - id: research-also
            description: Members of both.
            match: {{group: research, vendor: usbot}}
            action: log
          - {{id: everyone, description: The rest., action: warn}}
        """,
    )
    found = findings(analysis)
    if dead:
        assert "rules[0] (ai-users)" in found and "rules[1] (research-also)" in found
    else:
        assert found == {}


def test_the_engine_ignores_user_names_the_identity_does_not_use(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "settings: {identity: [client-ip]}\n"
        "rules:\n"
        "  - {id: alice, description: Alice., match: {user: [alice]}, action: allow}\n"
    )
    engine = load_config(path, TEST_POLICIES, today=lambda: TODAY).engine
    decision = engine.decide(RequestInfo((HostName("host", "usbot.test"),), user="alice"))
    assert decision.rule is None
