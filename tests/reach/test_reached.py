"""`aiwall check`'s analysis of what is reached: tenant bindings that take a named product off
its hosts, products reached by regional names only, approved alternatives the same rules
refuse.
"""

from pathlib import Path

import pytest

from .conftest import SHIPPED_POLICIES, analysis_of, edited_policies, findings


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
    policies = edited_policies(
        tmp_path, "hosts: [usbot.test, usbotcdn.test]", "hosts: [usbot.test]"
    )
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
    policies = edited_policies(
        tmp_path, "hosts: [api.usbot.test]", 'hosts: ["{region}-api.usbot.test"]'
    )
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
