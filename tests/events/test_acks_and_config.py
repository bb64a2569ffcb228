"""Acknowledgement, configuration and error events: the justification or the reason, what a
load or a reload changed in rules and facts, what a rejection keeps serving."""

import re
from pathlib import Path

from aiwall.core.config import Config, load_config
from aiwall.telemetry.events import EventLog

from tests.conftest import FIXTURES, TODAY
from tests.eventcheck import envelope, fact_change, fields, logged


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
