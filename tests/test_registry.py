"""Resolution of hosts to exactly one (vendor, product), over the shipped vendor records."""

from pathlib import Path

import pytest
from aiwall.core.hostindex import HostEntry, HostIndex
from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.policy import host_text
from aiwall.core.registry import Registry, load_registry
from hypothesis import given
from hypothesis import strategies as st

REGISTRY = load_registry()
VENDOR_HOSTS = [
    (r.vendor.id, host) for host in REGISTRY.index.hosts() if (r := REGISTRY.resolve(host))
]


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("chat.deepseek.com", "/", "deepseek/consumer"),
        ("deepseek.com", "/", "deepseek/consumer"),
        ("api.deepseek.com", "/v1/chat/completions", "deepseek/api"),
        ("a.b.api.deepseek.com", "/", "deepseek/api"),
        ("chatgpt.com", "/c/123", "openai/chatgpt-personal"),
        ("chatgpt.com", "/backend-anon/conversation", "openai/chatgpt-logged-out"),
        ("chatgpt.com", "/backend-api/conversation", "openai/chatgpt-personal"),
        ("api.openai.com", "/v1/models", "openai/api"),
        ("claude.ai", "/chat", "anthropic/claude-consumer"),
        ("api.anthropic.com", "/v1/messages", "anthropic/api"),
        ("gemini.google.com", "/app", "google/gemini-app"),
        ("grok.com", "/", "xai/grok-consumer"),
        ("chat.mistral.ai", "/", "mistral/le-chat"),
        ("www.perplexity.ai", "/", "perplexity/consumer"),
    ],
)
def test_a_host_and_path_resolve_to_one_product(name: str, path: str, expected: str) -> None:
    resolution = REGISTRY.resolve(normalise_host(name), path)
    assert resolution is not None
    assert f"{resolution.vendor.id}/{resolution.product.id}" == expected


@pytest.mark.parametrize(
    "name",
    [
        "evil-deepseek.com",
        "deepseek.com.evil.net",
        "notdeepseek.com",
        "deepseekcom",
        "deepseek.co",
        "xn--depseek-8gg.com",  # Cyrillic е
        "chatgpt.com.example.org",
        "example.org",
        "com",
    ],
)
def test_look_alikes_resolve_to_nothing(name: str) -> None:
    assert REGISTRY.resolve(normalise_host(name)) is None


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.sampled_from(VENDOR_HOSTS), st.lists(label, min_size=1, max_size=4))
def test_any_subdomain_of_a_vendor_host_resolves_to_that_vendor(
    vendor_host: tuple[str, str], labels: list[str]
) -> None:
    vendor, host = vendor_host
    resolution = REGISTRY.resolve(".".join([*labels, host]))
    assert resolution is not None and resolution.vendor.id == vendor


@given(
    st.sampled_from(VENDOR_HOSTS),
    st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True),
    st.sampled_from(["evil.net", "example.org", "com.evil"]),
)
def test_look_alikes_of_a_vendor_host_never_resolve_to_it(
    vendor_host: tuple[str, str], glued: str, tail: str
) -> None:
    _, host = vendor_host
    for look_alike in (f"{glued}{host}", f"{host}.{tail}", f"{host}{glued}"):
        try:
            name = normalise_host(look_alike)
        except InvalidHost:
            continue
        resolution = REGISTRY.resolve(name)
        if resolution is not None:  # only through another entry, on a label boundary
            assert resolution.entry.host != host
            assert name.endswith("." + resolution.entry.host) or name == resolution.entry.host


def test_the_most_specific_entry_wins_then_the_longest_path() -> None:
    index: HostIndex[str] = HostIndex()
    index.add(HostEntry.parse("example.com"), "vendor")
    index.add(HostEntry.parse("api.example.com"), "api")
    index.add(HostEntry.parse("example.com/a/"), "a")
    index.add(HostEntry.parse("example.com/a/b/"), "ab")
    assert index.resolve("x.api.example.com", "/a/b/") == "api"
    assert index.resolve("example.com", "/a/b/c") == "ab"
    assert index.resolve("example.com", "/a/x") == "a"
    assert index.resolve("www.example.com", "/z") == "vendor"
    assert index.resolve("example.org") is None


def test_every_registry_host_is_claimed_once() -> None:
    assert isinstance(REGISTRY, Registry)
    owners: dict[str, str] = {}
    for vendor in REGISTRY.vendors.values():
        for text in [*vendor.hosts, *(h for p in vendor.products for h in p.hosts)]:
            entry = str(HostEntry.parse(host_text(text)))
            assert owners.setdefault(entry, vendor.id) == vendor.id


# {region} patterns and hosts that pin data to a region (issue 12, entry points)


def test_a_region_pattern_matches_every_region_and_nothing_else() -> None:
    from aiwall.core.hostindex import HostEntry, HostIndex

    index: HostIndex[str] = HostIndex()
    index.add(HostEntry.parse("{region}-aiplatform.googleapis.com"), "vertex")
    index.add(HostEntry.parse("europe-west4-aiplatform.googleapis.com/v1/special/"), "special")
    for host in (
        "us-central1-aiplatform.googleapis.com",
        "europe-west4-aiplatform.googleapis.com",
        "asia-northeast1-aiplatform.googleapis.com",
        "x.us-central1-aiplatform.googleapis.com",
    ):
        assert index.resolve(host) == "vertex", host
    for host in (
        "aiplatform.googleapis.com",
        "-aiplatform.googleapis.com.evil.example",
        "us-central1-aiplatform.googleapis.com.evil.example",
        "us-central1-aiplatformx.googleapis.com",
        "storage.googleapis.com",
    ):
        assert index.resolve(host) is None, host
    assert index.resolve("europe-west4-aiplatform.googleapis.com", "/v1/special/x") == "special"
    assert index.patterns() == {"googleapis.com": ["[a-z0-9-]+\\-aiplatform"]}


@pytest.mark.parametrize(
    "text", ["a.{region}.example.com", "{region}{region}.example.com", "{region}"]
)
def test_a_misplaced_region_pattern_is_refused(text: str) -> None:
    from aiwall.core.hostindex import HostEntry
    from aiwall.core.hosts import InvalidHost

    with pytest.raises(InvalidHost):
        HostEntry.parse(text)


def test_a_pinned_host_decides_residency_rules_on_its_region(tmp_path: Path) -> None:
    from aiwall.core.config import load_config
    from aiwall.core.decision import HostName, RequestInfo

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "globalai.yaml").write_text(
        """\
id: globalai
name: Global AI
kind: api-platform
homepage: https://globalai.example/
headline: h
summary: s
hosts: [globalai.example]
products:
  - id: api
    name: Global AI API
    hosts:
      - api.globalai.example
      - {host: eu.api.globalai.example, residency: [EU], note: EU data residency}
      - "{region}.regional.globalai.example"
    verdict: v
    summary: s
    training: never
    opt_out: {available: false}
    zero_retention: false
    dpa: true
    residency: [US]
    retention: P30D
last_verified: 2026-12-01
confidence: high
sources:
  - {url: "https://globalai.example/dpa", supports: s, date: 2026-12-01,
     covers: [hosts, training, opt_out, zero_retention, dpa, residency, retention]}
"""
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {id: outside-eu, description: d, match: {residency_outside: [EU]}, action: block}\n"
    )
    config = load_config(rules, policies)

    def action(host: str) -> str:
        request = RequestInfo((HostName("host", host),))
        return str(config.engine.decide(request).action)

    assert action("api.globalai.example") == "block"  # the product's US residency
    assert action("eu.api.globalai.example") == "log"  # the pinned endpoint keeps data in the EU
    assert action("frankfurt.regional.globalai.example") == "block"


def test_staleness_works_per_fact(tmp_path: Path) -> None:
    """A record re-verified recently is still stale where one fact was last checked long ago,
    and a `stale: true` rule sees it."""
    from datetime import date, timedelta

    from aiwall.core.config import load_config
    from aiwall.core.decision import HostName, RequestInfo
    from aiwall.core.registry import is_stale, stale_facts

    policies = tmp_path / "policies"
    policies.mkdir()
    record = (Path(__file__).parent / "fixtures" / "policies" / "usbot.yaml").read_text()
    (policies / "usbot.yaml").write_text(record)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {id: stale, description: d, match: {stale: true}, action: warn}\n"
    )
    fresh = load_config(rules, policies)
    vendor = fresh.registry.vendors["usbot"]
    today = vendor.last_verified + timedelta(days=10)
    assert not is_stale(vendor, today, timedelta(days=365))
    dated = record.replace(
        "    training: default\n",
        "    training: default\n    verified: {training: 2015-01-01}\n",
        1,
    )
    assert dated != record
    (policies / "usbot.yaml").write_text(dated)
    config = load_config(rules, policies, today=lambda: today)
    vendor = config.registry.vendors["usbot"]
    product = next(p for p in vendor.products if p.verified)
    assert stale_facts(vendor, product, today, timedelta(days=365)) == ["training"]
    assert is_stale(vendor, today, timedelta(days=365))
    assert any("verified.training" in str(w) for w in config.warnings)
    request = RequestInfo((HostName("host", "usbot.test"),))
    assert str(config.engine.decide(request).action) == "warn"
    assert date(2015, 1, 1) == vendor.verified_on(product, "training")


def test_the_example_china_rules_block_every_chinese_service_in_the_registry() -> None:
    """Every host of the shipped registry whose product keeps data in China or is run under
    Chinese law is blocked by rules.example.yaml for an ordinary employee (issue 12)."""
    import ipaddress

    from aiwall.core.config import load_config
    from aiwall.core.decision import HostName, RequestInfo
    from aiwall.core.hostindex import REGION

    from .conftest import ROOT

    config = load_config(ROOT / "rules.example.yaml", ROOT / "policies")
    office = ipaddress.ip_address("10.20.30.40")
    chinese = []
    for vendor in config.registry.vendors.values():
        for text in [*vendor.hosts, *(h for p in vendor.products for h in p.hosts)]:
            entry = HostEntry.parse(host_text(text))
            host = entry.host.replace(REGION, "region1")
            path = entry.path_prefix or "/"
            route = config.engine.route(host, path)
            assert route is not None and route[0] is vendor
            product, residency = route[1], route[3]
            if product is None or not (
                "CN" in residency or "CN" in vendor.jurisdiction_of(product)
            ):
                continue
            chinese.append(host)
            request = RequestInfo((HostName("host", host),), path=path, client_ip=office)
            decision = config.engine.decide(request)
            assert str(decision.action) == "block", (host, decision.rule)
    assert len(chinese) >= 40  # Baidu, ByteDance, DeepSeek, Kimi, Qwen, Zhipu and the rest
