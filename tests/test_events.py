"""The event log's events, one kind at a time: exact ECS fields, ids, facts, and changes."""

import ipaddress
import json
import re
import time
from pathlib import Path

import pytest
from aiwall.core.config import Config, load_config
from aiwall.core.engine import FACT_FIELDS
from aiwall.telemetry.events import EVENT_SCHEMA_PATH, EventLog
from aiwall.telemetry.facts import RETENTION_CLASSES, retention_class
from aiwall.telemetry.ids import INSTANCE, new_event_id, parse_event_id

from tests.conftest import FIXTURES, TODAY
from tests.eventcheck import context, decide, envelope, fact_change, fields, logged

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


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.log"


@pytest.fixture
def events(log_path: Path) -> EventLog:
    return EventLog(str(log_path))


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


def test_ack_event_carries_the_justification(events: EventLog, log_path: Path) -> None:
    events.ack(
        identity="user:sam",
        user="sam",
        client_ip="10.0.0.8",
        vendor="usbot",
        product="usbot/personal",
        rule_id="warn-stale",
        host="usbotcdn.test",
        justification="Customer escalation, ticket 42",
        ttl_seconds=3600,
        accepted=True,
        reason="acknowledged",
    )
    [event] = logged(log_path)
    assert fields(event) == envelope("ack", "success") | {
        "message": "ack accepted: user:sam for usbot by rule warn-stale: acknowledged",
        "source": {"ip": "10.0.0.8"},
        "user": {"name": "sam"},
        "url": {"domain": "usbotcdn.test"},
        "rule": {"id": "warn-stale"},
        "aiwall": {
            "ack": {
                "identity": "user:sam",
                "identified_by": "user",
                "vendor": "usbot",
                "product": "usbot/personal",
                "rule": "warn-stale",
                "host": "usbotcdn.test",
                "justification": "Customer escalation, ticket 42",
                "ttl_seconds": 3600,
                "accepted": True,
                "reason": "acknowledged",
            }
        },
    }


def test_refused_ack_is_a_warning_with_the_reason(events: EventLog, log_path: Path) -> None:
    events.ack(
        identity="ip:10.0.0.9",
        user=None,
        client_ip="10.0.0.9",
        vendor="host:llm.corp.test",
        product=None,
        rule_id="",
        host="llm.corp.test",
        justification="",
        ttl_seconds=0,
        accepted=False,
        reason="the token was already used",
    )
    [event] = logged(log_path)
    assert fields(event) == envelope("ack", "failure", level="warning") | {
        "message": "ack refused: ip:10.0.0.9 for host:llm.corp.test by rule :"
        " the token was already used",
        "source": {"ip": "10.0.0.9"},
        "url": {"domain": "llm.corp.test"},
        "aiwall": {
            "ack": {
                "identity": "ip:10.0.0.9",
                "identified_by": "address",
                "vendor": "host:llm.corp.test",
                "rule": "",
                "host": "llm.corp.test",
                "justification": "",
                "ttl_seconds": 0,
                "accepted": False,
                "reason": "the token was already used",
            }
        },
    }


def test_config_loaded_at_start_names_the_rules_and_hashes(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    events.config_loaded(test_config, rules="rules.yaml", policies="policies")
    [loaded] = (fields(e) for e in logged(log_path))
    config = loaded["aiwall"]["config"]
    assert loaded == envelope("config.loaded", "success") | {
        "message": f"config loaded: 10 rules from rules.yaml, 3 vendors from policies,"
        f" {len(test_config.warnings)} warnings",
        "aiwall": {
            "config": {
                "rules": "rules.yaml",
                "policies": "policies",
                "vendors": 3,
                "rules_count": 10,
                "warnings": [str(w) for w in test_config.warnings],
                "reload": False,
                "rules_hash": config["rules_hash"],
                "policies_hash": config["policies_hash"],
                "rule_ids": [rule.id for rule in test_config.rules.rules],
                "default_action": "log",
                "unlogged_allow": ["org-gateway", "allow-enterprise", "log-eu-zdr"],
                "rule_changes": [],
                "settings_changes": [],
            }
        },
    }
    assert re.fullmatch("sha256:[0-9a-f]{64}", config["rules_hash"])


def test_a_reload_says_what_changed_in_rules_and_facts(
    test_config: Config, events: EventLog, log_path: Path, tmp_path: Path
) -> None:
    rules = (FIXTURES / "rules.yaml").read_text()
    rules = rules.replace("    action: block\n    message: Not to China.", "    action: warn")
    rules = rules.replace("  default_action: log", "  default_action: block")
    rules = rules.replace(
        "  - id: org-gateway",
        "  - id: new-rule\n    description: New.\n    action: log\n"
        "    match: {vendor: euapi}\n  - id: org-gateway",
    )
    policies = tmp_path / "policies"
    policies.mkdir()
    for record in (FIXTURES / "policies").glob("*.yaml"):
        text = record.read_text()
        if record.name == "cnchat.yaml":
            text = text.replace("    training: default", "    training: never", 1)
        (policies / record.name).write_text(text)
    (tmp_path / "rules.yaml").write_text(rules)
    changed = load_config(tmp_path / "rules.yaml", policies, today=lambda: TODAY)
    events.config_loaded(changed, rules="rules.yaml", policies="p", previous=test_config)
    loaded, policy = logged(log_path)
    config = loaded["aiwall"]["config"]
    assert config["reload"] is True
    assert config["rule_changes"] == [
        {"rule": "new-rule", "change": "added", "fields": []},
        {"rule": "block-cn", "change": "changed", "fields": ["action", "message"]},
    ]
    assert config["settings_changes"] == ["settings.default_action"]
    assert config["unlogged_allow"] == ["org-gateway", "allow-enterprise", "log-eu-zdr"]
    assert config["rules_hash"] != loaded["aiwall"]["config"]["policies_hash"]
    assert fields(policy) == envelope("policy.changed", "success", level="warning") | {
        "message": "policy changed: cnchat/consumer: training: default → never",
        "aiwall": {"policy": {"changes": [fact_change("never")]}},
    }


def test_rules_that_only_moved_are_moved(test_config: Config) -> None:
    from aiwall.telemetry.changes import rule_changes

    rules = test_config.rules
    moved = rules.model_copy(update={"rules": (rules.rules[-1], *rules.rules[:-1])})
    assert rule_changes(rules, moved) == [
        {"rule": "log-eu", "change": "moved", "fields": ["position"]}
    ]
    assert rule_changes(rules, rules) == []


def test_config_rejected_and_policy_changed(events: EventLog, log_path: Path) -> None:
    events.config_rejected(problems=["rules.yaml:12: rules[2].action: not an action"])
    events.policy_changed([fact_change("never")])
    rejected, changed = (fields(e) for e in logged(log_path))
    assert rejected == envelope("config.rejected", "failure", level="error") | {
        "message": "config rejected: rules.yaml:12: rules[2].action: not an action",
        "aiwall": {"config": {"problems": ["rules.yaml:12: rules[2].action: not an action"]}},
    }
    assert changed["aiwall"]["policy"]["changes"] == [fact_change("never")]


def test_a_start_compares_with_the_kept_rules_and_a_rejection_says_what_serves(
    events: EventLog, log_path: Path, test_config: Config
) -> None:
    kept = test_config.rules.model_copy(update={"rules": test_config.rules.rules[1:]})
    events.config_loaded(test_config, rules="rules.yaml", policies="policies", previous_rules=kept)
    events.config_rejected(problems=["rules.yaml:1: (syntax): x"], serving="the last good one")
    loaded, rejected = (fields(e) for e in logged(log_path))
    first = test_config.rules.rules[0].id
    assert loaded["aiwall"]["config"]["rule_changes"][0]["rule"] == first
    assert loaded["aiwall"]["config"]["reload"] is False
    assert rejected["aiwall"]["config"]["serving"] == "the last good one"
    assert rejected["message"].endswith("; serving the last good one")


def test_internal_error_event(events: EventLog, log_path: Path) -> None:
    events.internal_error(
        error="RuntimeError('boom')",
        where="requestheaders",
        host="cnchat.test",
        client_ip="10.0.0.7",
    )
    events.internal_error(error="KeyError('x')", where="tls_clienthello", host=None, client_ip=None)
    first, second = (fields(e) for e in logged(log_path))
    assert first == envelope("error", "failure", level="error") | {
        "message": "internal error in requestheaders: RuntimeError('boom')",
        "source": {"ip": "10.0.0.7"},
        "url": {"domain": "cnchat.test"},
        "error": {"message": "RuntimeError('boom')"},
        "aiwall": {"error": {"where": "requestheaders"}},
    }
    assert {"source", "url"}.isdisjoint(second)


def test_timestamp_is_utc_with_microseconds(events: EventLog, log_path: Path) -> None:
    events.policy_changed([])
    [event] = logged(log_path)
    assert event["@timestamp"].endswith("Z")
    assert len(event["@timestamp"]) == len("2026-11-29T13:50:00.123456Z")


def test_every_event_has_an_id_a_sequence_and_the_observer(
    test_config: Config, tmp_path: Path
) -> None:
    path = tmp_path / "events.log"
    events = EventLog(str(path), observer_name="proxy-eu-1")
    events.decision(decide(test_config, "cnchat.test"), context())
    events.policy_changed([])
    events.internal_error(error="x", where="y", host=None, client_ip=None)
    written = logged(path)
    ids = [parse_event_id(e["event"]["id"]) for e in written]
    assert all(i is not None and i.instance == INSTANCE for i in ids)
    sequences = [e["event"]["sequence"] for e in written]
    assert sequences == [i.sequence for i in ids if i] == sorted(set(sequences))
    assert [e["observer"]["name"] for e in written] == ["proxy-eu-1"] * 3
    assert (
        fields(written[1])["observer"]
        == envelope("error", "failure", name="proxy-eu-1")["observer"]
    )


def test_an_id_made_before_the_page_is_the_events(
    test_config: Config, events: EventLog, log_path: Path
) -> None:
    reference = new_event_id()  # what the block page shows
    events.policy_changed([])  # another event in between takes a later number
    events.decision(decide(test_config, "cnchat.test"), context(event_id=reference))
    first, decision = logged(log_path)
    assert decision["event"]["id"] == reference
    assert decision["event"]["sequence"] < first["event"]["sequence"]


def test_ids_are_unique_across_logs_and_threads(tmp_path: Path) -> None:
    import threading

    made: list[str] = []
    threads = [
        threading.Thread(target=lambda: made.extend(new_event_id() for _ in range(2000)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8000


@pytest.mark.parametrize("host", ["cnchat.test", "api.cnchat.test", "api.usbot.test", "usbot.test"])
def test_every_decision_carries_every_fact_of_its_record(
    test_config: Config, events: EventLog, log_path: Path, host: str
) -> None:
    events.decision(decide(test_config, host), context())
    [event] = logged(log_path)
    schema = json.loads(EVENT_SCHEMA_PATH.read_text())
    assert set(event["aiwall"]["record"]) == set(schema["$defs"]["record"]["properties"])


def test_recorded_allowed_use_is_one_session_event_per_client_and_interval(
    shipped_config: Config, tmp_path: Path
) -> None:
    path = tmp_path / "events.log"
    events = EventLog(str(path), session_interval=3600)
    research = decide(shipped_config, "claude.ai", user="mkowalski", client_ip="10.99.8.5")
    assert research.rule is not None and research.rule.record
    plain = decide(shipped_config, "llm.northwind.example", user="kli")
    for body in (100, None, 2000):
        events.allowed(research, user="mkowalski", client_ip=ipaddress.ip_address("10.99.8.5"),
                       body=body)  # fmt: skip
    events.allowed(research, user=None, client_ip="10.99.8.6", body=5)
    events.allowed(plain, user="kli", client_ip=None, body=5)  # allow without record: nothing
    assert not path.exists() or path.read_text() == ""  # nothing until the interval is over
    events.close()
    first, second = logged(path)
    start, end = first["event"]["start"], first["event"]["end"]
    assert start <= end <= first["@timestamp"]
    expected = envelope("session", "success")
    expected["event"] |= {"start": start, "end": end}
    assert fields(first) == expected | {
        "message": first["message"],
        "source": {"ip": "10.99.8.5"},
        "user": {"name": "mkowalski"},
        "rule": {
            "id": "research-claude-recorded",
            "name": research.rule.description,
            "ruleset": "enforce",
        },
        "aiwall": {
            "action": "allow",
            "rule": "research-claude-recorded",
            "vendor": "anthropic",
            "product": research.product_ref,
            "record": first["aiwall"]["record"],
            "session": {
                "identity": "user:mkowalski",
                "requests": 3,
                "request_bytes": 2100,
                "hosts": ["claude.ai"],
                "interval_seconds": 3600,
            },
        },
    }
    assert second["aiwall"]["session"]["identity"] == "ip:10.99.8.6"
    assert "user" not in second


def test_sessions_are_written_when_their_interval_is_over(
    shipped_config: Config, tmp_path: Path
) -> None:
    path = tmp_path / "events.log"
    events = EventLog(str(path), session_interval=0.3)
    research = decide(shipped_config, "claude.ai", user="mkowalski")
    events.allowed(research, user="mkowalski", client_ip=None, body=1)
    deadline = time.monotonic() + 5
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the timer thread writes it while the proxy is idle
    [session] = logged(path)
    assert session["aiwall"]["session"]["requests"] == 1
    events.close()
    assert len(logged(path)) == 1


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
