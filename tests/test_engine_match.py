"""The engine over a registry in which every kind of fact occurs: each match field on its own
(a rule with only that field matches exactly the products, or the requests, for which its fact
holds, so a check that always held, or never did, fails here), and what a decision says.

The products are the test registry's (fixtures/policies) plus one record that knows nothing
(`vague`: residency, retention, ZDR and DPA unknown, low confidence), each reached through one
host, with the organisation's usbot tenant configured so that usbot's enterprise tier is too.
"""

import ipaddress
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiwall.core.decision import Decision, HostName, NameOutcome, RequestInfo
from aiwall.core.engine import Engine
from aiwall.core.registry import Registry, load_registry
from aiwall.core.rules import Action, RulesFile

from .conftest import FIXTURES, TODAY

VAGUE = """\
id: vague
name: Vague AI
kind: other
homepage: https://vague.test/
headline: Nobody knows.
summary: A record whose facts are unknown.
hosts: [vague.test]
products:
  - id: app
    name: Vague app
    verdict: Unknown
    summary: Undocumented.
    training: opt-in
    opt_out: {available: unknown}
    zero_retention: unknown
    dpa: unknown
    residency: []
    retention: unknown
tenant_restriction:
  - header: X-Vague-Org
    hosts: [vague.test]
    value: organisation ids
  - header: X-Vague-Team
    hosts: [team.vague.test]
    value: team ids
    separator: ";"
last_verified: 2026-11-01
confidence: low
sources:
  - url: https://vague.test/
    supports: nothing much
    date: 2026-11-01
"""

# One host (and path) per product; usbot.test is the enterprise tier once the tenant is set.
PRODUCTS: dict[str, tuple[str, str]] = {
    "cnchat/consumer": ("cnchat.test", "/"),
    "cnchat/api": ("api.cnchat.test", "/"),
    "euapi/api": ("euapi.test", "/"),
    "usbot/personal": ("usbotcdn.test", "/"),
    "usbot/anonymous": ("usbot.test", "/backend-anon/x"),
    "usbot/enterprise": ("usbot.test", "/c/1"),
    "usbot/api": ("api.usbot.test", "/"),
    "vague/app": ("vague.test", "/"),
}
ORG_HOST = "llm.corp.test"  # AI traffic only because a rule names it: no vendor facts
EVERY = frozenset(PRODUCTS)
USBOT = frozenset(p for p in PRODUCTS if p.startswith("usbot/"))
CNCHAT = frozenset({"cnchat/consumer", "cnchat/api"})


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    folder = tmp_path_factory.mktemp("policies")
    for record in (FIXTURES / "policies").glob("*.yaml"):
        shutil.copy(record, folder)
    (folder / "vague.yaml").write_text(VAGUE)
    return load_registry(folder)


def engine(
    registry: Registry,
    match: dict[str, Any],
    today: Callable[[], date] = lambda: TODAY,
    action: str = "block",
    tenants: dict[str, dict[str, list[str]]] | None = None,
    **settings: Any,
) -> Engine:
    """One rule `r` with this match, after a rule that makes ORG_HOST AI traffic."""
    rules = RulesFile.model_validate(
        {
            "settings": {"default_action": "log", "upload_size": 1000, **settings},
            "groups": {
                "research": {"users": ["rita"], "networks": ["10.99.0.0/16"]},
                "audit": {"users": ["audrey"]},
            },
            "tenants": {"usbot": {"X-UsBot-Allowed-Workspace": ["ws-1"]}}
            if tenants is None
            else tenants,
            "rules": [
                {
                    "id": "org",
                    "description": "names the organisation's host",
                    "match": {"host": [ORG_HOST], "user": ["nobody"]},
                    "action": "allow",
                },
                {
                    "id": "r",
                    "description": "the rule under test",
                    "match": match,
                    "action": action,
                },
            ],
        }
    )
    return Engine(registry, rules, today)


def request(host: str, path: str = "/", **fields: Any) -> RequestInfo:
    if "client_ip" in fields:
        fields["client_ip"] = ipaddress.ip_address(fields["client_ip"])
    return RequestInfo((HostName("host", host),), path=path, **fields)


def matched(engine: Engine, req: RequestInfo) -> bool:
    decision = engine.decide(req)
    return decision.rule is not None and decision.rule.id == "r"


def matching_products(engine: Engine) -> set[str]:
    found = {ref for ref, (host, path) in PRODUCTS.items() if matched(engine, request(host, path))}
    assert not matched(engine, request(ORG_HOST)), "a fact check held for a host without facts"
    return found


def test_every_product_is_reached_through_its_host(registry: Registry) -> None:
    everything = engine(registry, {})
    for ref, (host, path) in PRODUCTS.items():
        assert everything.decide(request(host, path)).product_ref == ref


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"vendor": "cnchat"}, CNCHAT),
        ({"vendor": ["euapi", "vague"]}, {"euapi/api", "vague/app"}),
        ({"product": "usbot/enterprise"}, {"usbot/enterprise"}),
        ({"product": ["cnchat/api", "usbot/api"]}, {"cnchat/api", "usbot/api"}),
        # a product's own kind overrides its vendor's (cnchat/api, usbot/api)
        ({"kind": "api-platform"}, {"cnchat/api", "euapi/api", "usbot/api"}),
        (
            {"kind": ["chat-assistant", "other"]},
            {"cnchat/consumer", "vague/app"} | USBOT - {"usbot/api"},
        ),
        ({"training": "never"}, {"euapi/api", "usbot/enterprise", "usbot/api"}),
        ({"training": ["opt-in", "unknown"]}, {"cnchat/api", "vague/app"}),
        ({"training": "default"}, {"cnchat/consumer", "usbot/personal", "usbot/anonymous"}),
        # any of the product's regions is in the list; unknown residency never is
        ({"residency": "EU"}, {"usbot/enterprise"}),
        ({"residency": ["CN", "DE"]}, CNCHAT | {"euapi/api"}),
        ({"residency": "US"}, USBOT),
        # any of the product's regions is outside the list; unknown residency always is
        ({"residency_outside": "US"}, CNCHAT | {"euapi/api", "usbot/enterprise", "vague/app"}),
        ({"residency_outside": ["US", "EU"]}, CNCHAT | {"euapi/api", "vague/app"}),
        ({"residency_outside": ["US", "EU", "DE", "CN"]}, {"vague/app"}),
        ({"zero_retention": True}, {"euapi/api", "usbot/api"}),
        (
            {"zero_retention": False},
            {"cnchat/consumer", "usbot/personal", "usbot/anonymous", "usbot/enterprise"},
        ),
        ({"zero_retention": "unknown"}, {"cnchat/api", "vague/app"}),
        (
            {"zero_retention": [True, "unknown"]},
            {"euapi/api", "usbot/api", "cnchat/api", "vague/app"},
        ),
        ({"dpa": True}, {"euapi/api", "usbot/enterprise", "usbot/api"}),
        ({"dpa": False}, {"cnchat/consumer", "usbot/personal", "usbot/anonymous"}),
        ({"dpa": "unknown"}, {"cnchat/api", "vague/app"}),
        # strictly longer than the limit; open-ended and unknown are longer than any
        ({"retention_over": "PT1H"}, EVERY),
        ({"retention_over": "P7D"}, EVERY - {"euapi/api"}),
        ({"retention_over": "P30D"}, CNCHAT | {"vague/app"}),
        # a product's own confidence overrides its vendor's (cnchat/api is low, cnchat medium)
        ({"confidence": "high"}, USBOT | {"euapi/api"}),
        ({"confidence": "medium"}, {"cnchat/consumer"}),
        ({"confidence": "low"}, {"cnchat/api", "vague/app"}),
        # usbot was last verified in 2020: older than stale_after (P365D)
        ({"stale": True}, USBOT),
        ({"stale": False}, EVERY - USBOT),
        # every field given must hold
        ({"vendor": "usbot", "dpa": True}, {"usbot/enterprise", "usbot/api"}),
        ({"residency": "US", "zero_retention": True, "kind": "api-platform"}, {"usbot/api"}),
        ({"vendor": "cnchat", "residency_outside": ["CN"]}, set()),
    ],
)
def test_a_fact_field_matches_exactly_the_products_it_describes(
    registry: Registry, match: dict[str, Any], expected: set[str]
) -> None:
    assert matching_products(engine(registry, match)) == set(expected)


@pytest.mark.parametrize(
    ("match", "req", "expected"),
    [
        ({"host": "euapi.test"}, request("euapi.test"), True),
        ({"host": "euapi.test"}, request("eu.euapi.test"), True),
        ({"host": "euapi.test"}, request("cnchat.test"), False),
        ({"host": "euapi.test/v1/"}, request("euapi.test", "/v1/chat"), True),
        ({"host": "euapi.test/v1/"}, request("euapi.test", "/v2/chat"), False),
        ({"group": "research"}, request("euapi.test", user="rita"), True),
        ({"group": "research"}, request("euapi.test", client_ip="10.99.1.2"), True),
        ({"group": "research"}, request("euapi.test", user="sam", client_ip="10.98.1.2"), False),
        ({"group": "research"}, request("euapi.test"), False),
        ({"group": ["audit", "research"]}, request("euapi.test", user="rita"), True),
        ({"group": ["audit", "research"]}, request("euapi.test", user="audrey"), True),
        ({"group": ["audit", "research"]}, request("euapi.test", user="sam"), False),
        ({"user": ["sam", "kim"]}, request("euapi.test", user="kim"), True),
        ({"user": ["sam", "kim"]}, request("euapi.test", user="rita"), False),
        ({"user": ["sam", "kim"]}, request("euapi.test"), False),
        ({"network": "192.0.2.0/24"}, request("euapi.test", client_ip="192.0.2.9"), True),
        ({"network": "192.0.2.0/24"}, request("euapi.test", client_ip="192.0.3.9"), False),
        ({"network": "192.0.2.0/24"}, request("euapi.test"), False),
        ({"network": "2001:db8::/32"}, request("euapi.test", client_ip="2001:db8::7"), True),
        ({"method": "post"}, request("euapi.test", method="POST"), True),
        ({"method": "POST"}, request("euapi.test", method="post"), True),
        ({"method": ["POST", "PUT"]}, request("euapi.test", method="GET"), False),
        ({"path": "/v1/*"}, request("euapi.test", "/v1/chat/completions"), True),
        ({"path": "/v1/*"}, request("euapi.test", "/v2/chat"), False),
        ({"path": ["/a", "/upload"]}, request("euapi.test", "/upload"), True),
        ({"path": ["/a", "/upload"]}, request("euapi.test", "/uploads"), False),
        ({"path": ["/a", "/upload"]}, request("euapi.test", "/x/upload"), False),
        ({"path": "*/upload"}, request("euapi.test", "/x/upload"), True),
        # upload: true is multipart, chunked, or a body above settings.upload_size (1000)
        ({"upload": True}, request("euapi.test", multipart=True), True),
        ({"upload": True}, request("euapi.test", chunked=True), True),
        ({"upload": True}, request("euapi.test", body_size=1001), True),
        ({"upload": True}, request("euapi.test", body_size=1000), False),
        ({"upload": True}, request("euapi.test"), False),
        # a size of its own
        ({"upload": 10}, request("euapi.test", body_size=11), True),
        ({"upload": 10}, request("euapi.test", body_size=10), False),
        ({"upload": "2KB"}, request("euapi.test", body_size=1500), False),
        ({"upload": "2KB"}, request("euapi.test", body_size=2001), True),
        # upload: false is everything else
        ({"upload": False}, request("euapi.test", body_size=5), True),
        ({"upload": False}, request("euapi.test", body_size=5000), False),
        ({"upload": False}, request("euapi.test", multipart=True), False),
    ],
)
def test_a_request_field_matches_exactly_the_requests_it_describes(
    registry: Registry, match: dict[str, Any], req: RequestInfo, expected: bool
) -> None:
    assert matched(engine(registry, match), req) is expected
    # explain tries every check of every rule and must come to the same answer
    explained = engine(registry, match).decide(req, explain=True)
    assert (explained.rule is not None and explained.rule.id == "r") is expected


def test_a_request_field_holds_for_a_host_only_the_rules_name(registry: Registry) -> None:
    assert matched(engine(registry, {"host": "corp.test"}), request(ORG_HOST))
    assert matched(engine(registry, {"method": "GET"}), request(ORG_HOST))
    assert not matched(engine(registry, {"method": "GET", "vendor": "euapi"}), request(ORG_HOST))


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


@pytest.mark.parametrize(
    ("match", "failed_on"),
    [
        ({"vendor": "cnchat"}, "vendor"),
        ({"product": "cnchat/api"}, "product"),
        ({"kind": "other"}, "kind"),
        ({"training": "default"}, "training"),
        ({"residency": "CN"}, "residency"),
        ({"residency_outside": ["US", "DE", "EU"]}, "residency_outside"),
        ({"zero_retention": False}, "zero_retention"),
        ({"dpa": False}, "dpa"),
        ({"retention_over": "P7D"}, "retention_over"),
        ({"confidence": "low"}, "confidence"),
        ({"stale": True}, "stale"),
        ({"host": "cnchat.test"}, "host"),
        ({"group": "research"}, "group"),
        ({"user": "rita"}, "user"),
        ({"network": "10.0.0.0/8"}, "network"),
        ({"method": "POST"}, "method"),
        ({"path": "/v2/*"}, "path"),
        ({"upload": True}, "upload"),
        # the vendor's facts are tried before the request's
        ({"path": "/v2/*", "dpa": False, "vendor": "euapi"}, "dpa"),
    ],
)
def test_explain_names_the_field_a_rule_failed_on(
    registry: Registry, match: dict[str, Any], failed_on: str
) -> None:
    decision = engine(registry, match).decide(request("euapi.test", "/v1/x"), explain=True)
    trial = decision.trace[-1]
    assert (trial.rule.id, trial.matched, trial.failed_on) == ("r", False, failed_on)
