"""What a decision says: the facts a rule used as the product has them, staleness, the default
action, how each name resolved, the warned destinations, the trace, and the tenant headers.
"""

from datetime import date, timedelta

import pytest
from aiwall.core.decision import Decision, HostName, NameOutcome, RequestInfo
from aiwall.core.engine import Engine
from aiwall.core.registry import Registry
from aiwall.core.rules import Action, RulesFile

from ..conftest import TODAY
from .conftest import ORG_HOST, PRODUCTS, engine, matched, request


def test_the_facts_a_rule_used_are_recorded_as_the_product_has_them(registry: Registry) -> None:
    every_fact = {
        "vendor": ["cnchat", "euapi", "usbot", "vague"],
        "product": list(PRODUCTS),
        "kind": ["api-platform", "chat-assistant", "other"],
        "training": ["default", "opt-in", "never", "unknown"],
        "residency_outside": ["AQ"],
        "zero_retention": [True, False, "unknown"],
        "dpa": [True, False, "unknown"],
        "retention_over": "PT1M",
        "confidence": ["high", "medium", "low"],
    }
    cases = {
        "cnchat/api": {
            "vendor": "cnchat",
            "product": "cnchat/api",
            "kind": "api-platform",
            "training": "unknown",
            "residency_outside": ["CN"],
            "zero_retention": "unknown",
            "dpa": "unknown",
            "retention_over": "unknown",
            "confidence": "low",
        },
        "usbot/enterprise": {
            "vendor": "usbot",
            "product": "usbot/enterprise",
            "kind": "chat-assistant",
            "training": "never",
            "residency_outside": ["US", "EU"],
            "zero_retention": False,
            "dpa": True,
            "retention_over": "P30D",
            "confidence": "high",
        },
    }
    for ref, facts in cases.items():
        host, path = PRODUCTS[ref]
        assert engine(registry, every_fact).decide(request(host, path)).facts == facts
    stale = engine(registry, {"stale": True, "residency": "US"}).decide(request("usbotcdn.test"))
    assert stale.facts == {"residency": ["US"], "stale": True}
    assert stale.stale


def test_a_record_turns_stale_while_the_engine_runs(registry: Registry) -> None:
    """Which rules can match a product is cached; its staleness is part of what it is cached by."""
    days = [date(2026, 10, 2)]
    stale_rule = engine(registry, {"stale": True}, today=lambda: days[0], stale_after="P1D")
    assert not matched(stale_rule, request("euapi.test"))  # verified 2026-10-01
    days[0] = date(2026, 10, 3)
    assert matched(stale_rule, request("euapi.test"))
    days[0] = date(2026, 10, 2)
    assert not matched(stale_rule, request("euapi.test"))


def test_the_cache_of_rules_per_product_tells_products_of_one_vendor_apart(
    registry: Registry,
) -> None:
    api_only = engine(registry, {"product": "usbot/api"})
    assert matched(api_only, request("api.usbot.test"))
    assert not matched(api_only, request("usbotcdn.test"))
    assert matched(api_only, request("api.usbot.test"))


def test_no_rule_matching_takes_the_default_action(registry: Registry) -> None:
    for action in (Action.ALLOW, Action.LOG, Action.BLOCK):  # warn needs a rule: refused
        decision = engine(registry, {"vendor": "euapi"}, default_action=action.value).decide(
            request("cnchat.test")
        )
        assert (decision.action, decision.rule, decision.facts) == (action, None, {})
        assert decision.reason == f"no rule matched: the default action is {action}"


def test_a_stale_record_is_reported_stale_whatever_decides(registry: Registry) -> None:
    everything = engine(registry, {"user": "nobody"})
    assert everything.decide(request("usbotcdn.test")).stale
    assert not everything.decide(request("euapi.test")).stale


def test_stale_after_is_measured_from_the_last_verification(registry: Registry) -> None:
    verified = date(2026, 10, 1)  # euapi
    for today, stale in [
        (verified + timedelta(days=30), False),
        (verified + timedelta(days=31), True),
    ]:
        rules = engine(registry, {"stale": True}, today=lambda t=today: t, stale_after="P30D")
        assert matched(rules, request("euapi.test")) is stale


@pytest.mark.parametrize(
    ("names", "concerned"),
    [
        (("example.org",), False),
        (("example.org", "www.example.org:443"), False),
        (("example.org", "cnchat.test"), True),
        (("API.cnchat.test.:443",), True),
        ((ORG_HOST,), True),  # named by a rule
        (("a." + ORG_HOST,), True),
        (("corp.test",), False),
        (("example.org", "chat_bot.example.org"), True),  # invalid: refused, so decided
        (("[::1",), True),
    ],
)
def test_only_names_of_ai_traffic_or_invalid_names_need_deciding(
    registry: Registry, names: tuple[str, ...], concerned: bool
) -> None:
    hosts = tuple(HostName("host", name) for name in names)
    assert engine(registry, {}).concerns(hosts, "/") is concerned


def test_a_decision_says_how_each_name_resolved(registry: Registry) -> None:
    names = (
        HostName("connect", "API.cnchat.test:443"),
        HostName("sni", "api.cnchat.test"),
        HostName("host", "example.org"),
    )
    decision = engine(registry, {"vendor": "cnchat"}).decide(RequestInfo(names))
    assert decision.names == (
        NameOutcome("connect", "API.cnchat.test:443", "api.cnchat.test", True, "cnchat", "api"),
        NameOutcome("sni", "api.cnchat.test", "api.cnchat.test", True, "cnchat", "api"),
        NameOutcome("host", "example.org", "example.org"),
    )
    assert (decision.action, decision.ai, decision.reason) == (
        Action.BLOCK,
        True,
        "rule r: the rule under test",
    )
    assert (decision.host, decision.product_ref, decision.stale) == (
        "api.cnchat.test",
        "cnchat/api",
        False,
    )
    assert (decision.invalid, decision.warned, decision.trace, decision.tenant_headers) == (
        None,
        (),
        (),
        (),
    )


def test_an_invalid_name_blocks_and_every_name_is_still_reported(registry: Registry) -> None:
    names = (
        HostName("connect", "example.org:443"),
        HostName("host", "user:pw@cnchat.test"),
        HostName("url", "chat..cnchat.test"),
    )
    decision = engine(registry, {}).decide(RequestInfo(names))
    userinfo = "a host name must not carry user:password@"
    assert decision == Decision(
        Action.BLOCK,
        True,
        f"invalid host name in host: {userinfo}",
        names=(
            NameOutcome("connect", "example.org:443", "example.org"),
            NameOutcome("host", "<redacted>@cnchat.test", None, invalid=userinfo),
            NameOutcome("url", "chat..cnchat.test", None, invalid="empty label"),
        ),
        invalid=userinfo,
    )


def test_traffic_that_is_not_ai_is_allowed_and_says_so(registry: Registry) -> None:
    names = (HostName("host", "Example.ORG.:8080"),)
    assert engine(registry, {}).decide(RequestInfo(names)) == Decision(
        Action.ALLOW,
        False,
        "not AI traffic",
        names=(NameOutcome("host", "Example.ORG.:8080", "example.org"),),
    )


def test_the_default_action_decides_with_the_vendor_facts_known(registry: Registry) -> None:
    decision = engine(registry, {"vendor": "cnchat"}).decide(request("usbotcdn.test"))
    assert (decision.action, decision.ai, decision.rule, decision.facts) == (
        Action.LOG,
        True,
        None,
        {},
    )
    assert (decision.host, decision.product_ref, decision.stale) == (
        "usbotcdn.test",
        "usbot/personal",
        True,
    )
    assert decision.reason == "no rule matched: the default action is log"


@pytest.mark.parametrize(
    ("hosts", "action", "warned"),
    [
        (("cnchat.test",), Action.WARN, ["cnchat.test"]),
        (("cnchat.test", "euapi.test"), Action.WARN, ["cnchat.test", "euapi.test"]),
        (
            ("cnchat.test", "usbotcdn.test", "euapi.test"),
            Action.WARN,
            ["cnchat.test", "euapi.test"],
        ),
        (("cnchat.test", "vague.test"), Action.BLOCK, []),
        (("usbotcdn.test",), Action.LOG, []),
    ],
)
def test_every_warned_destination_among_the_names_is_listed(
    registry: Registry, hosts: tuple[str, ...], action: Action, warned: list[str]
) -> None:
    rules = RulesFile.model_validate(
        {
            "rules": [
                {"id": "v", "description": "-", "match": {"vendor": "vague"}, "action": "block"},
                {
                    "id": "w",
                    "description": "-",
                    "match": {"vendor": ["cnchat", "euapi"]},
                    "action": "warn",
                },
            ]
        }
    )
    decision = Engine(registry, rules, lambda: TODAY).decide(
        RequestInfo(tuple(HostName("host", h) for h in hosts))
    )
    assert decision.action is action
    assert [w.host for w in decision.warned] == warned
    assert all(w.action is Action.WARN and w.ai and w.rule is not None for w in decision.warned)


def test_a_name_seen_twice_is_reported_twice(registry: Registry) -> None:
    names = (HostName("connect", "cnchat.test:443"), HostName("host", "CNCHAT.test"))
    decision = engine(registry, {}).decide(RequestInfo(names))
    assert [(n.host, n.ai, n.vendor, n.product) for n in decision.names] == [
        ("cnchat.test", True, "cnchat", "consumer"),
        ("cnchat.test", True, "cnchat", "consumer"),
    ]


def test_deciding_traces_no_rules_unless_asked_to_explain(registry: Registry) -> None:
    rules = engine(registry, {"vendor": "cnchat"})
    assert rules.decide(request("cnchat.test")).trace == ()
    explained = rules.decide(request("cnchat.test"), explain=True)
    assert [(t.rule.id, t.matched, t.failed_on) for t in explained.trace] == [
        ("org", False, "host"),
        ("r", True, None),
    ]


TENANT = "X-UsBot-Allowed-Workspace"


@pytest.mark.parametrize(
    ("host", "path", "product", "headers"),
    [
        # the tenant's hosts go to the enterprise tier, with the header
        ("usbot.test", "/c/1", "usbot/enterprise", [(TENANT, "ws-1,ws-2")]),
        ("chat.usbot.test", "/", "usbot/enterprise", [(TENANT, "ws-1,ws-2")]),
        # a product with a more specific host, or a path of its own, stays what it is
        ("api.usbot.test", "/", "usbot/api", [(TENANT, "ws-1,ws-2")]),
        ("usbot.test", "/backend-anon/x", "usbot/anonymous", [(TENANT, "ws-1,ws-2")]),
        # other hosts of the vendor, and other vendors, get no header
        ("usbotcdn.test", "/", "usbot/personal", []),
        ("cnchat.test", "/", "cnchat/consumer", []),
        # the second of a vendor's restrictions applies even when its first is not configured
        ("team.vague.test", "/", "vague/app", [("X-Vague-Team", "t-1;t-2")]),
        ("vague.test", "/", "vague/app", []),
    ],
)
def test_a_configured_tenant_adds_its_header_as_the_vendor_spells_it(
    registry: Registry, host: str, path: str, product: str, headers: list[tuple[str, str]]
) -> None:
    tenants = {
        "usbot": {TENANT.lower(): ["ws-1", "ws-2"]},  # header names are case-insensitive
        "vague": {"x-vague-team": ["t-1", "t-2"]},
    }
    names = (HostName("connect", f"{host}:443"), HostName("host", host))
    decision = engine(registry, {}, tenants=tenants).decide(RequestInfo(names, path=path))
    assert decision.product_ref == product
    assert [(h.name, h.value) for h in decision.tenant_headers] == headers


def test_without_a_tenant_the_vendors_hosts_go_to_its_default_product(registry: Registry) -> None:
    decision = engine(registry, {}, tenants={}).decide(request("usbot.test"))
    assert decision.product_ref == "usbot/personal"
    assert decision.tenant_headers == ()
