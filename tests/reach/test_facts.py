"""`aiwall check`'s analysis of what rules ask of a product: paths, vendor facts, and facts a
record leaves unknown; the shipped files; and a property: whatever the engine decides for any
request, the analysis said that rule could decide for that product.
"""

import functools
import ipaddress
from pathlib import Path

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.core.reach.analyser import analyse
from aiwall.core.reach.findings import Analysis
from aiwall.core.rules import HTTP_METHODS
from hypothesis import given, settings
from hypothesis import strategies as st

from ..conftest import ROOT, TODAY
from .conftest import CANNOT_JUDGE, SHIPPED_POLICIES, TEST_POLICIES, analysis_of, findings


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
    assert_the_analysis_said_it_could(analysis, decision, target)


def assert_the_analysis_said_it_could(analysis: Analysis, decision: Decision, target: str) -> None:
    """The rule that decided (or the default action) and every shadow rule recorded were said
    to be able to decide for the target."""
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
    assert_the_analysis_said_it_could(analysis, decision, target)
