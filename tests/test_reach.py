"""`aiwall check`'s analysis of the rules: what each rule can ever decide, and why one never does.

The cases of issue 11, each as an IT engineer would write them, over the test registry
(fixtures/policies) or the shipped one; and a property: whatever the engine decides for any
request, the analysis said that rule could decide for that product.
"""

import functools
import ipaddress
import textwrap
from pathlib import Path

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.reach.analyser import analyse
from aiwall.core.reach.findings import Analysis
from aiwall.core.rules import HTTP_METHODS
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import FIXTURES, ROOT, TODAY

TEST_POLICIES = FIXTURES / "policies"
SHIPPED_POLICIES = ROOT / "policies"
CANNOT_JUDGE = "it cannot judge them (not matched; list unknown to match them)"


def analysis_of(tmp_path: Path, rules: str, policies: Path = TEST_POLICIES) -> Analysis:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(rules))
    return analyse(load_config(path, policies, today=lambda: TODAY, tests=False))


def findings(analysis: Analysis) -> dict[str, str]:
    """`rules[2] (id)` (or another field) → the message, for every problem found."""
    return {problem.field: problem.message for problem in analysis.problems}


def summary(analysis: Analysis, rule_id: str) -> str:
    return next(r.summary() for r in analysis.rules if r.rule.id == rule_id)


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


def test_a_tenant_binding_that_takes_a_named_product_off_some_hosts_is_reported(
    tmp_path: Path,
) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        tenants:
          usbot: {X-UsBot-Allowed-Workspace: [ws-1]}
        rules:
          - id: warn-personal
            description: Personal US Bot.
            match: {product: usbot/personal}
            action: warn
        """,
    )
    problem = next(p for p in analysis.problems if p.field == "tenants.usbot")
    assert problem.severity == "warning"
    assert problem.message == (
        "binds usbot.test to usbot/enterprise: rules[0] (warn-personal) names usbot/personal,"
        " which is not reached there any more (still reached on usbotcdn.test); see the tenants"
        " section of rules.example.yaml"
    )
    assert "rules[0] (warn-personal)" not in findings(analysis)  # still decides on usbotcdn.test


def test_personal_chatgpt_under_the_openai_tenant_is_reported_with_the_shipped_records(
    tmp_path: Path,
) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        tenants:
          openai: {ChatGPT-Allowed-Workspace-Id: [c0ffee00-1234-4abc-8def-0123456789ab]}
        rules:
          - id: warn-personal-chatgpt
            description: Personal ChatGPT.
            match: {product: openai/chatgpt-personal}
            action: warn
        """,
        SHIPPED_POLICIES,
    )
    message = findings(analysis)["tenants.openai"]
    assert message.startswith(
        "binds chatgpt.com to openai/chatgpt-enterprise: rules[0] (warn-personal-chatgpt) names"
        " openai/chatgpt-personal, which is not reached there any more (still reached on chat.com"
    )


def test_a_product_only_a_tenant_reaches_is_dead_without_the_tenant(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - id: allow-enterprise
            description: Our workspace.
            match: {product: usbot/enterprise}
            action: allow
        """,
    )
    assert findings(analysis)["rules[0] (allow-enterprise)"] == (
        "never decides: match.product usbot/enterprise is never reached: no host leads to it"
    )


def test_a_product_all_of_whose_hosts_a_tenant_binds_is_dead_and_says_why(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for record in TEST_POLICIES.glob("*.yaml"):
        text = record.read_text().replace(
            "hosts: [usbot.test, usbotcdn.test]", "hosts: [usbot.test]"
        )
        (policies / record.name).write_text(text)
    analysis = analysis_of(
        tmp_path,
        """
        tenants:
          usbot: {X-UsBot-Allowed-Workspace: [ws-1]}
        rules:
          - id: warn-personal
            description: Personal.
            match: {product: usbot/personal}
            action: warn
        """,
        policies,
    )
    found = findings(analysis)
    assert found["rules[0] (warn-personal)"] == (
        "never decides: match.product usbot/personal is never reached: tenants.usbot binds its"
        " hosts (usbot.test) to the tenant's product"
    )
    assert "(reached nowhere now)" in found["tenants.usbot"]


def test_a_product_reached_only_by_regional_names_is_reached(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for record in TEST_POLICIES.glob("*.yaml"):
        text = record.read_text().replace(
            "hosts: [api.usbot.test]", 'hosts: ["{region}-api.usbot.test"]'
        )
        (policies / record.name).write_text(text)
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: usbot-api, description: Regional API., match: {product: usbot/api}, action: log}
        """,
        policies,
    )
    assert findings(analysis) == {}
    assert analysis.rules[0].decides == {"usbot/api"}


@pytest.mark.parametrize(
    ("alternative", "rules_after", "reported"),
    [
        # The alternative is itself warned for everyone.
        (
            "https://usbot.test/",
            "- {id: usbot, description: W., match: {vendor: usbot}, action: warn}",
            "warned by rules[1] (usbot)",
        ),
        # ...blocked.
        (
            "https://usbot.test/",
            "- {id: usbot, description: B., match: {vendor: usbot}, action: block}",
            "blocked by rules[1] (usbot)",
        ),
        # Warned only for the research network, which the blocking rule never applies to.
        (
            "https://usbot.test/",
            "- {id: usbot, description: W., match: {vendor: usbot, network: [10.99.0.0/16]},"
            " action: warn}",
            None,
        ),
        # Allowed before the warning.
        (
            "https://euapi.test/",
            "- {id: usbot, description: W., match: {vendor: usbot}, action: warn}",
            None,
        ),
        # Not AI traffic at all.
        (
            "https://intranet.example/",
            "- {id: usbot, description: W., match: {vendor: usbot}, action: warn}",
            None,
        ),
    ],
)
def test_an_alternative_the_same_rules_refuse_is_reported(
    tmp_path: Path, alternative: str, rules_after: str, reported: str | None
) -> None:
    analysis = analysis_of(
        tmp_path,
        f"""
        settings: {{default_action: allow}}
        rules:
          - id: block-cn
            description: China.
            match: {{residency: [CN], network: [10.20.0.0/16]}}
            action: block
            alternative: {{name: Approved, url: "{alternative}"}}
          {rules_after}
        """,
    )
    found = findings(analysis).get("rules[0] (block-cn).alternative")
    if reported is None:
        assert found is None
    else:
        assert found == (
            f"{alternative} is itself {reported} for people this rule applies to: the page"
            " would send them to another refusal"
        )


@pytest.mark.parametrize("tenant", [False, True])
def test_chatgpt_as_the_alternative_is_warned_unless_the_tenant_makes_it_the_workspace(
    tmp_path: Path, tenant: bool
) -> None:
    tenants = "tenants: {openai: {ChatGPT-Allowed-Workspace-Id: [ws-1]}}" if tenant else ""
    analysis = analysis_of(
        tmp_path,
        f"""
        {tenants}
        rules:
          - id: block-cn
            description: China.
            match: {{residency: [CN]}}
            action: block
            alternative: {{name: ChatGPT Enterprise, url: "https://chatgpt.com/"}}
          - id: allow-enterprise
            description: Our workspace.
            match: {{product: openai/chatgpt-enterprise}}
            action: allow
          - {{id: warn-trains, description: Trains., match: {{training: default}}, action: warn}}
        """,
        SHIPPED_POLICIES,
    )
    found = findings(analysis)
    if tenant:
        assert found == {}
    else:
        assert found["rules[0] (block-cn).alternative"] == (
            "https://chatgpt.com/ is itself warned by rules[2] (warn-trains) for people this rule"
            " applies to: the page would send them to another refusal"
        )
        assert found["rules[1] (allow-enterprise)"].startswith(
            "never decides: match.product openai/chatgpt-enterprise is never reached"
        )


def test_the_default_action_can_refuse_the_alternative_too(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        settings: {default_action: block}
        rules:
          - id: block-cn
            description: China.
            match: {residency: [CN]}
            action: block
            alternative: {name: Approved, url: "https://euapi.test/"}
        """,
    )
    assert (
        "is itself blocked by the default" in findings(analysis)["rules[0] (block-cn).alternative"]
    )


def test_a_path_outside_the_products_path_never_matches(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - id: anon-api
            description: Logged-out API calls.
            match: {product: usbot/anonymous, path: "/api/*"}
            action: block
          - id: anon-chat
            description: Logged-out chat.
            match: {product: usbot/anonymous, path: "/backend-anon/conv*"}
            action: block
        """,
    )
    assert findings(analysis) == {
        "rules[0] (anon-api)": "never decides: match.path /api/*: what else it matches is only"
        " reached at usbot.test/backend-anon/, and not under that path"
    }


def test_vendor_facts_never_hold_on_a_host_only_the_rules_name(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - id: gateway
            description: Our gateway, if it trains.
            match: {host: [llm.corp.test], training: default}
            action: block
        """,
    )
    assert findings(analysis)["rules[0] (gateway)"] == (
        "never decides: match.host names hosts no vendor record covers, where vendor facts"
        " (match.training) never hold"
    )


def test_a_fact_no_product_has_is_named_with_the_unknown_count(tmp_path: Path) -> None:
    analysis = analysis_of(
        tmp_path,
        """
        rules:
          - {id: cn-law, description: Chinese law., match: {jurisdiction: [CN]}, action: block}
        """,
    )
    assert findings(analysis)["rules[0] (cn-law)"] == (
        "never decides: match.jurisdiction [CN]: no product reached has it (6 products do not"
        " say: list unknown to match them)"
    )


@pytest.mark.parametrize(
    ("match", "note"),
    [
        ("{residency: [CN]}", None),
        (
            "{training: [default, never]}",
            "training unknown for 1 product: " + CANNOT_JUDGE,
        ),
        (
            "{training: [default, unknown]}",
            "training unknown for 1 product: matched (the rule lists unknown)",
        ),
        (
            "{dpa: false}",
            "dpa unknown for 1 product: " + CANNOT_JUDGE,
        ),
        (
            "{zero_retention: [false, unknown]}",
            "zero_retention unknown for 1 product: matched (the rule lists unknown)",
        ),
        (
            "{retention_over: P7D}",
            "retention_over unknown for 1 product: matched (unknown counts as over)",
        ),
        (
            "{jurisdiction: [US, unknown]}",
            "jurisdiction unknown for 6 products: matched (the rule lists unknown)",
        ),
        # Other facts of the rule choose which products count: only CN Chat's API has them.
        (
            "{kind: api-platform, vendor: cnchat, dpa: true}",
            "dpa unknown for 1 product: " + CANNOT_JUDGE,
        ),
        ("{kind: chat-assistant, dpa: true}", None),
    ],
)
def test_each_fact_rule_says_how_many_products_it_cannot_judge(
    tmp_path: Path, match: str, note: str | None
) -> None:
    analysis = analysis_of(
        tmp_path,
        f"""
        rules:
          - {{id: fact, description: A fact., match: {match}, action: log}}
        """,
    )
    assert analysis.rules[0].unknown == ([note] if note else [])


def test_residency_unknown_is_matched_only_when_listed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {id: cn, description: CN or unknown., match: {residency: [CN, unknown]},"
        " action: block}\n"
        "  - {id: law, description: Unknown law., match: {jurisdiction: unknown}, action: warn}\n"
    )
    policies = tmp_path / "policies"
    policies.mkdir()
    for record in TEST_POLICIES.glob("*.yaml"):
        text = record.read_text()
        if record.stem == "euapi":
            text = text.replace("residency: [DE]", "residency: []")
        if record.stem == "usbot":
            text = text.replace("last_verified:", "jurisdiction: [US]\nlast_verified:", 1)
        (policies / record.name).write_text(text)
    engine = load_config(path, policies, today=lambda: TODAY).engine

    def decide(host: str) -> str | None:
        rule = engine.decide(RequestInfo((HostName("host", host),))).rule
        return rule.id if rule else None

    assert decide("euapi.test") == "cn"  # residency unknown
    assert decide("cnchat.test") == "cn"  # CN
    assert decide("usbot.test") is None  # US, jurisdiction US
    assert decide("api.usbot.test") is None


def test_the_shipped_example_has_no_dead_rule(shipped_config: Config) -> None:
    analysis = analyse(shipped_config)
    assert [p for p in analysis.problems if p.severity == "error"] == []
    assert all(r.decides for r in analysis.rules)


def test_the_analysis_of_the_shipped_files_takes_under_two_seconds(
    shipped_config: Config,
) -> None:
    import time

    start = time.perf_counter()
    analyse(shipped_config)
    assert time.perf_counter() - start < 2.0


# --- the analysis agrees with the engine --------------------------------------------------------

HOSTS = [
    "usbot.test",
    "chat.usbot.test",
    "usbotcdn.test",
    "api.usbot.test",
    "cnchat.test",
    "api.cnchat.test",
    "euapi.test",
    "llm.corp.test",
    "x.llm.corp.test",
]
PATHS = ["/", "/backend-anon/", "/backend-anon/x", "/v1/chat", "/api/upload"]
USERS = [None, "rita", "sam", "alice"]
IPS = ["10.99.1.2", "192.0.2.7", "10.1.1.1", "2001:db8::1"]


@given(
    host=st.sampled_from(HOSTS),
    path=st.sampled_from(PATHS),
    user=st.sampled_from(USERS),
    ip=st.sampled_from(IPS),
    method=st.sampled_from(HTTP_METHODS),
    body=st.sampled_from([(None, False), (None, True), (10, False), (5000, False)]),
)
@settings(max_examples=300, deadline=None)
def test_whatever_the_engine_decides_the_analysis_said_it_could(
    test_config: Config,
    host: str,
    path: str,
    user: str | None,
    ip: str,
    method: str,
    body: tuple[int | None, bool],
) -> None:
    analysis = _analysis(test_config)
    request = RequestInfo(
        (HostName("host", host),),
        method,
        path,
        user,
        ipaddress.ip_address(ip),
        body_size=body[0],
        multipart=body[1],
    )
    decision = test_config.engine.decide(request)
    if not decision.ai:
        return
    target = decision.product_ref or f"host:{host.removeprefix('x.')}"
    index = {r.rule.id: r for r in analysis.rules}
    if decision.rule is None:
        assert target in analysis.default
    else:
        assert target in index[decision.rule.id].decides
    for shadow in decision.shadow:
        assert target in index[shadow.rule.id].decides


_ANALYSES: dict[int, Analysis] = {}


def _analysis(config: Config) -> Analysis:
    if id(config) not in _ANALYSES:
        _ANALYSES[id(config)] = analyse(config)
    return _ANALYSES[id(config)]


@functools.cache
def _shipped() -> Config:
    """The shipped files, loaded once (not a fixture: Hypothesis would print all of it)."""
    return load_config(ROOT / "rules.example.yaml", SHIPPED_POLICIES, today=lambda: TODAY)


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_the_analysis_of_the_shipped_files_agrees_with_the_engine(data: st.DataObject) -> None:
    config = _shipped()
    analysis = _analysis(config)
    hosts = sorted(config.registry.index.hosts())
    host = data.draw(st.sampled_from([*hosts, "llm.northwind.example"]))
    request = RequestInfo(
        (HostName("host", host),),
        data.draw(st.sampled_from(HTTP_METHODS)),
        data.draw(st.sampled_from(["/", "/v1/chat", "/api/x", "/backend-anon/x", "/upload"])),
        data.draw(st.sampled_from([None, "mkowalski", "apatel", "someone"])),
        ipaddress.ip_address(
            data.draw(st.sampled_from(["10.99.8.5", "10.20.1.1", "fd00:20::1", "192.0.2.1"]))
        ),
        body_size=data.draw(st.sampled_from([None, 10, 5_000_000])),
        multipart=data.draw(st.booleans()),
    )
    decision = config.engine.decide(request)
    if not decision.ai:
        return  # a host listed only with a path prefix, asked for another path
    target = decision.product_ref or f"host:{host}"
    index = {r.rule.id: r for r in analysis.rules}
    if decision.rule is None:
        assert target in analysis.default
    else:
        assert target in index[decision.rule.id].decides
    for shadow in decision.shadow:
        assert target in index[shadow.rule.id].decides
