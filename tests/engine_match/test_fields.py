"""Each match field on its own: a rule with only that field matches exactly the products, or
the requests, for which its fact holds (so a check that always held, or never did, fails
here), and explain names the field a rule failed on.
"""

from typing import Any

import pytest
from aiwall.core.decision import RequestInfo
from aiwall.core.registry import Registry

from .conftest import (
    CNCHAT,
    EVERY,
    ORG_HOST,
    PRODUCTS,
    USBOT,
    engine,
    matched,
    matching_products,
    request,
)


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
