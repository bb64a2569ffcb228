"""Rule evaluation: the first enforcing rule that matches decides; shadow rules only record."""

import ipaddress

import pytest
from aiwall.core.config import Config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.rules import Action


def request(*hosts: str, **fields: object) -> RequestInfo:
    names = tuple(HostName("host", h) for h in hosts)
    if "client_ip" in fields:
        fields["client_ip"] = ipaddress.ip_address(str(fields["client_ip"]))
    return RequestInfo(names=names, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("req", "action", "rule"),
    [
        (request("cnchat.test"), Action.BLOCK, "block-cn"),
        (request("CHAT.CNchat.test."), Action.BLOCK, "block-cn"),
        (request("cnchat.test", user="rita"), Action.LOG, "research-cn"),
        (request("cnchat.test", client_ip="10.99.3.4"), Action.LOG, "research-cn"),
        (request("cnchat.test", client_ip="10.98.3.4"), Action.BLOCK, "block-cn"),
        (request("api.cnchat.test"), Action.BLOCK, "block-cn"),
        (request("usbot.test"), Action.ALLOW, "allow-enterprise"),  # tenant configured
        (request("api.usbot.test"), Action.LOG, None),
        (request("usbotcdn.test"), Action.LOG, None),
        (request("usbotcdn.test", user="sam"), Action.WARN, "warn-stale"),
        (
            request("usbotcdn.test", method="POST", body_size=4096),
            Action.BLOCK,
            "block-uploads",
        ),
        (request("usbotcdn.test", method="POST", body_size=100), Action.LOG, None),
        (request("usbotcdn.test", method="POST", multipart=True), Action.BLOCK, "block-uploads"),
        (request("usbotcdn.test", method="PUT", chunked=True), Action.BLOCK, "block-uploads"),
        (request("usbotcdn.test", method="GET", body_size=4096), Action.LOG, None),
        (request("euapi.test", client_ip="192.0.2.7"), Action.ALLOW, "log-eu-zdr"),
        (request("euapi.test", client_ip="198.51.100.7"), Action.LOG, "log-eu"),
        (request("llm.corp.test"), Action.ALLOW, "org-gateway"),
        (request("a.llm.corp.test"), Action.ALLOW, "org-gateway"),
        (request("example.org"), Action.ALLOW, None),
    ],
)
def test_first_matching_rule_decides(
    test_config: Config, req: RequestInfo, action: Action, rule: str | None
) -> None:
    decision = test_config.engine.decide(req)
    assert decision.action is action
    assert (decision.rule.id if decision.rule else None) == rule


def test_non_ai_traffic_is_not_ai(test_config: Config) -> None:
    decision = test_config.engine.decide(request("example.org"))
    assert not decision.ai
    assert decision.vendor is None


def test_path_prefix_selects_product_without_tenant(test_config: Config) -> None:
    resolution = test_config.registry.resolve("usbot.test", "/backend-anon/conversation")
    assert resolution is not None
    assert resolution.product.id == "anonymous"
    assert test_config.registry.resolve("usbot.test", "/c/123").product.id == "personal"  # type: ignore[union-attr]


def test_tenant_header_is_injected_and_product_is_enterprise(test_config: Config) -> None:
    decision = test_config.engine.decide(request("chat.usbot.test"))
    assert decision.product is not None and decision.product.id == "enterprise"
    assert [(h.name, h.value) for h in decision.tenant_headers] == [
        ("X-UsBot-Allowed-Workspace", "ws-1,ws-2")
    ]


def test_shadow_rule_records_without_deciding(test_config: Config) -> None:
    decision = test_config.engine.decide(request("api.cnchat.test"))
    assert decision.action is Action.BLOCK
    assert decision.rule is not None and decision.rule.id == "block-cn"
    assert [(s.rule.id, s.action) for s in decision.shadow] == [
        ("shadow-block-api-unknown", Action.BLOCK)
    ]


def test_shadow_rule_after_the_deciding_rule_is_not_recorded(test_config: Config) -> None:
    decision = test_config.engine.decide(request("cnchat.test", user="rita"))
    assert decision.rule is not None and decision.rule.id == "research-cn"
    assert decision.shadow == ()


def test_decision_names_the_facts_the_rule_used(test_config: Config) -> None:
    decision = test_config.engine.decide(request("cnchat.test"))
    assert decision.facts == {"residency": ["CN"]}
    decision = test_config.engine.decide(request("euapi.test", client_ip="192.0.2.1"))
    assert decision.facts == {
        "residency_outside": ["DE"],
        "zero_retention": True,
        "dpa": True,
        "retention_over": "P1D",
        "confidence": "high",
    }


def test_retention_over_counts_open_ended_and_unknown_as_over(test_config: Config) -> None:
    registry = test_config.registry
    from datetime import timedelta

    limit = timedelta(days=3650)
    assert registry.vendors["cnchat"].product("consumer").retention_exceeds(limit)
    assert registry.vendors["cnchat"].product("api").retention_exceeds(limit)
    assert not registry.vendors["usbot"].product("api").retention_exceeds(limit)


@pytest.mark.parametrize(
    ("hosts", "action", "host"),
    [
        (("example.org", "cnchat.test"), Action.BLOCK, "cnchat.test"),
        (("cnchat.test", "example.org"), Action.BLOCK, "cnchat.test"),
        (("euapi.test", "cnchat.test"), Action.BLOCK, "cnchat.test"),
        (("usbotcdn.test", "euapi.test"), Action.LOG, "usbotcdn.test"),
    ],
)
def test_disagreeing_names_take_the_strictest_outcome(
    test_config: Config, hosts: tuple[str, ...], action: Action, host: str
) -> None:
    decision = test_config.engine.decide(request(*hosts))
    assert decision.action is action
    assert decision.host == host
    assert [n.raw for n in decision.names] == list(hosts)


@pytest.mark.parametrize("bad", ["chat..cnchat.test", "cn_chat.test", "a b.test", "%2e.test"])
def test_an_invalid_name_blocks_with_a_reason(test_config: Config, bad: str) -> None:
    decision = test_config.engine.decide(request("example.org", bad))
    assert decision.blocks
    assert decision.invalid


def test_explain_traces_every_rule_up_to_the_deciding_one(test_config: Config) -> None:
    decision = test_config.engine.decide(request("cnchat.test"), explain=True)
    trace = [(t.rule.id, t.matched, t.failed_on) for t in decision.trace]
    assert trace == [
        ("org-gateway", False, "host"),
        ("research-cn", False, "group"),
        ("shadow-block-api-unknown", False, "kind"),
        ("block-cn", True, None),
    ]


def test_explain_and_fast_path_agree(test_config: Config) -> None:
    for req in [request("cnchat.test"), request("usbotcdn.test", user="sam"), request("x.test")]:
        fast, slow = test_config.engine.decide(req), test_config.engine.decide(req, explain=True)
        assert (fast.action, fast.rule, fast.shadow) == (slow.action, slow.rule, slow.shadow)
