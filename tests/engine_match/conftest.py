"""The engine over a registry in which every kind of fact occurs: the test registry's products
(fixtures/policies) plus one record that knows nothing (`vague`: residency, retention, ZDR and
DPA unknown, low confidence), each reached through one host, with the organisation's usbot
tenant configured so that usbot's enterprise tier is too; and one rule `r` under test.
"""

import ipaddress
import shutil
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.engine import Engine
from aiwall.core.registry import Registry, load_registry
from aiwall.core.rules import RulesFile

from ..conftest import FIXTURES, TODAY

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


@pytest.fixture(scope="package")
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
