"""Decision events: exact ECS fields, the outcome, the path as logged, and every fact of the
record, in the classes the schema names."""

import json
from pathlib import Path

import pytest
from aiwall.core.config import Config
from aiwall.core.engine import FACT_FIELDS
from aiwall.telemetry.events import EVENT_SCHEMA_PATH, EventLog
from aiwall.telemetry.facts import RETENTION_CLASSES, retention_class

from tests.eventcheck import context, decide, envelope, fields, logged

CNCHAT_API_RECORD = {
    "last_verified": "2026-06-01",
    "confidence": "low",
    "stale": False,
    "training": "unknown",
    "opt_out": "unknown",
    "zero_retention": "unknown",
    "dpa": "unknown",
    "residency": ["CN"],
    "jurisdiction": [],
    "retention": "unknown",
    "retention_class": "unknown",
    "under_review": [],
}


def test_blocked_request_is_logged_with_every_field(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    decision = decide(
        test_config,
        ("connect", "api.cnchat.test:443"),
        ("sni", "api.cnchat.test"),
        "api.cnchat.test",
        method="POST",
        user="alice",
        client_ip="10.0.0.7",
    )
    request = context(
        client_ip="10.0.0.7",
        user="alice",
        method="POST",
        path="/v1/chat?api_key=sk-secret#frag",
        sni="api.cnchat.test",
        status_code=403,
    )
    events.decision(decision, request)
    names = [
        ("connect", "api.cnchat.test:443"),
        ("sni", "api.cnchat.test"),
        ("host", "api.cnchat.test"),
    ]
    [event] = logged(log_path)
    assert fields(event) == envelope("decision", "failure") | {
        "message": "block api.cnchat.test (cnchat/api) by rule block-cn",
        "source": {"ip": "10.0.0.7"},
        "user": {"name": "alice"},
        "url": {"domain": "api.cnchat.test", "path": "/v1/chat", "scheme": "https"},
        "http": {"request": {"method": "POST"}, "response": {"status_code": 403}},
        "tls": {"client": {"server_name": "api.cnchat.test"}},
        "rule": {"id": "block-cn", "name": "No data to China.", "ruleset": "enforce"},
        "aiwall": {
            "action": "block",
            "reason": "rule block-cn: No data to China.",
            "rule": "block-cn",
            "vendor": "cnchat",
            "product": "cnchat/api",
            "record": CNCHAT_API_RECORD,
            "facts": {"residency": ["CN"]},
            "shadow": [{"rule": "shadow-block-api-unknown", "action": "block"}],
            "acknowledged": False,
            "names": [
                {
                    "seen_in": seen_in,
                    "name": name,
                    "host": "api.cnchat.test",
                    "vendor": "cnchat",
                    "product": "api",
                    "invalid": None,
                }
                for seen_in, name in names
            ],
            "tenant_restricted": False,
        },
    }
    assert "sk-secret" not in log_path.read_text()


def test_default_action_has_a_null_rule_and_no_rule_object(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    events.decision(decide(test_config, "api.usbot.test"), context())
    [event] = logged(log_path)
    assert "rule" not in event
    assert event["message"] == "log api.usbot.test (usbot/api) by the default action"
    assert event["aiwall"]["rule"] is None
    assert event["aiwall"]["reason"] == "no rule matched: the default action is log"
    assert event["aiwall"]["facts"] == {}  # the rule used none: the record has them all
    assert event["aiwall"]["record"] == {
        "last_verified": "2020-01-01",
        "confidence": "high",
        "stale": True,
        "training": "never",
        "opt_out": "no",
        "zero_retention": "yes",
        "dpa": "yes",
        "residency": ["US"],
        "jurisdiction": [],
        "retention": "P30D",
        "retention_class": "up-to-30d",
        "under_review": [],
    }
    assert event["aiwall"]["tenant_restricted"] is True


def test_unknown_values_are_left_out_not_null(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    events.decision(decide(test_config, "api.usbot.test"), context(scheme="", path=""))
    [event] = logged(log_path)
    assert event["url"] == {"domain": "api.usbot.test"}
    assert event["http"] == {"request": {"method": "GET"}}
    assert {"source", "user", "tls", "rule"}.isdisjoint(event)
    assert "invalid_host" not in event["aiwall"]


def test_invalid_host_is_a_failure_with_the_reason(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    events.decision(decide(test_config, "bad..cnchat.test"), context(status_code=400))
    [event] = logged(log_path)
    reason = event["aiwall"]["invalid_host"]
    assert reason
    assert event["event"]["outcome"] == "failure"
    assert event["message"] == f"block: invalid host name in host: {reason}"
    assert "domain" not in event["url"]
    assert {"vendor", "product", "record"}.isdisjoint(event["aiwall"])
    assert event["aiwall"]["names"] == [
        {
            "seen_in": "host",
            "name": "bad..cnchat.test",
            "host": None,
            "vendor": None,
            "product": None,
            "invalid": reason,
        }
    ]


def test_host_only_a_rule_names_has_no_vendor(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    events.decision(decide(test_config, "llm.corp.test"), context())
    [event] = logged(log_path)
    assert event["message"] == "allow llm.corp.test by rule org-gateway"
    assert {"vendor", "product", "record"}.isdisjoint(event["aiwall"])
    assert event["aiwall"]["names"][0]["vendor"] is None


@pytest.mark.parametrize(
    ("host", "user", "acknowledged", "outcome", "message"),
    [
        (
            "cnchat.test",
            None,
            False,
            "failure",
            "block cnchat.test (cnchat/consumer) by rule block-cn",
        ),
        (
            "usbotcdn.test",
            "sam",
            False,
            "failure",
            "warn usbotcdn.test (usbot/personal) by rule warn-stale",
        ),
        (
            "usbotcdn.test",
            "sam",
            True,
            "success",
            "warn usbotcdn.test (usbot/personal) by rule warn-stale, acknowledged",
        ),
        (
            "cnchat.test",
            "rita",
            False,
            "success",
            "log cnchat.test (cnchat/consumer) by rule research-cn",
        ),
        (
            "usbot.test",
            None,
            False,
            "success",
            "allow usbot.test (usbot/enterprise) by rule allow-enterprise",
        ),
    ],
)
def test_outcome_is_failure_when_the_proxy_stopped_the_request(
    test_config: Config,
    events: EventLog,
    log_path: Path,
    host: str,
    user: str | None,
    acknowledged: bool,
    outcome: str,
    message: str,
) -> None:
    decision = decide(test_config, host, user=user)
    forwarded = outcome == "success"  # what the enforcement step reports, recorded as is
    events.decision(decision, context(user=user, acknowledged=acknowledged, forwarded=forwarded))
    [event] = logged(log_path)
    assert event["event"]["outcome"] == outcome
    assert event["event"]["type"] == ["denied" if outcome == "failure" else "allowed"]
    assert event["message"] == message
    assert event["aiwall"]["acknowledged"] is acknowledged


@pytest.mark.parametrize(
    ("path", "logged_path"),
    [
        ("/v1/chat?key=sk-1", "/v1/chat"),
        ("/v1/chat#access_token=x", "/v1/chat"),
        ("/a?b#c", "/a"),
        ("/a#b?c", "/a"),
        ("?key=sk-1", None),
        ("/plain", "/plain"),
    ],
)
def test_path_is_cut_before_query_and_fragment(
    test_config: Config, events: EventLog, log_path: Path, path: str, logged_path: str | None
) -> None:
    events.decision(decide(test_config, "cnchat.test"), context(path=path))
    [event] = logged(log_path)
    assert event["url"].get("path") == logged_path
    assert "sk-1" not in log_path.read_text()


@pytest.mark.parametrize("host", ["cnchat.test", "api.cnchat.test", "api.usbot.test", "usbot.test"])
def test_every_decision_carries_every_fact_of_its_record(
    test_config: Config, events: EventLog, log_path: Path, host: str
) -> None:
    events.decision(decide(test_config, host), context())
    [event] = logged(log_path)
    schema = json.loads(EVENT_SCHEMA_PATH.read_text())
    assert set(event["aiwall"]["record"]) == set(schema["$defs"]["record"]["properties"])


def test_schema_lists_every_fact_a_rule_can_use() -> None:
    schema = json.loads(EVENT_SCHEMA_PATH.read_text())
    facts = schema["$defs"]["aiwall.decision"]["properties"]["facts"]["properties"]
    assert set(facts) == set(FACT_FIELDS)


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ("P0D", "none"),
        ("PT1H", "up-to-30d"),
        ("P30D", "up-to-30d"),
        ("P31D", "up-to-1y"),
        ("P1Y", "up-to-1y"),
        ("P2Y", "over-1y"),
        ("open-ended", "open-ended"),
        ("unknown", "unknown"),
    ],
)
def test_retention_falls_in_one_class_the_schema_names(retention: str, expected: str) -> None:
    assert retention_class(retention) == expected
    schema = json.loads(EVENT_SCHEMA_PATH.read_text())
    assert schema["$defs"]["record"]["properties"]["retention_class"]["enum"] == list(
        RETENTION_CLASSES
    )
