"""The event log: exact ECS fields per event, one valid line whatever the input, never a raise."""

import errno
import io
import ipaddress
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiwall.core.config import Config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.core.engine import FACT_FIELDS
from aiwall.telemetry.events import EVENT_SCHEMA_PATH, EventLog, RequestContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.eventcheck import validate_event_lines

ENVELOPE = ("@timestamp", "ecs", "log", "event", "message")


def decide(config: Config, *names: str | tuple[str, str], **fields: Any) -> Decision:
    """Each name a Host header, or (seen_in, name) for the CONNECT target, SNI or URL."""
    hosts = tuple(HostName("host", n) if isinstance(n, str) else HostName(*n) for n in names)
    if "client_ip" in fields:
        fields["client_ip"] = ipaddress.ip_address(fields["client_ip"])
    return config.engine.decide(RequestInfo(hosts, **fields))


def context(**fields: Any) -> RequestContext:
    defaults: dict[str, Any] = dict(
        client_ip=None,
        user=None,
        method="GET",
        scheme="https",
        path="/",
        sni=None,
        status_code=None,
    )
    return RequestContext(**(defaults | fields))


def logged(path: Path) -> list[dict[str, Any]]:
    """Every event in the file, each checked to be one ASCII line that validates."""
    text = path.read_text(encoding="ascii")
    assert text == "" or text.endswith("\n")
    return validate_event_lines(text.split("\n")[:-1])


def fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event without its timestamp, for exact comparison."""
    assert list(event)[: len(ENVELOPE)] == list(ENVELOPE)
    return {key: value for key, value in event.items() if key != "@timestamp"}


def envelope(action: str, outcome: str, level: str = "info") -> dict[str, Any]:
    kinds = {
        "decision": (["network", "web"], {"success": "allowed", "failure": "denied"}),
        "ack": (["network", "web"], {"success": "allowed", "failure": "denied"}),
        "config.loaded": (["configuration"], {"success": "change"}),
        "config.rejected": (["configuration"], {"failure": "change"}),
        "policy.changed": (["configuration"], {"success": "change"}),
        "error": (["web"], {"failure": "error"}),
    }
    category, types = kinds[action]
    dataset = {"decision": "aiwall.decision", "ack": "aiwall.ack", "error": "aiwall.error"}
    return {
        "ecs": {"version": "8.11.0"},
        "log": {"level": level, "logger": "aiwall"},
        "event": {
            "kind": "event",
            "category": category,
            "type": [types[outcome]],
            "action": action,
            "outcome": outcome,
            "dataset": dataset.get(action, "aiwall.config"),
        },
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
            "record": {"last_verified": "2026-06-01", "confidence": "low", "stale": False},
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
    assert event["aiwall"]["facts"] == {}
    assert event["aiwall"]["record"] == {
        "last_verified": "2020-01-01",
        "confidence": "high",
        "stale": True,
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


def test_config_events(events: EventLog, log_path: Path) -> None:
    events.config_loaded(
        rules="rules.yaml",
        policies="policies",
        vendors=3,
        rules_count=10,
        warnings=["policies/usbot.yaml:40: warning: last_verified: older than P365D"],
    )
    events.config_rejected(problems=["rules.yaml:12: rules[2].action: not an action"])
    events.policy_changed(changes=["cnchat/consumer: training: default → never"])
    loaded, rejected, changed = (fields(e) for e in logged(log_path))
    assert loaded == envelope("config.loaded", "success") | {
        "message": "config loaded: 10 rules from rules.yaml, 3 vendors from policies, 1 warnings",
        "aiwall": {
            "config": {
                "rules": "rules.yaml",
                "policies": "policies",
                "vendors": 3,
                "rules_count": 10,
                "warnings": ["policies/usbot.yaml:40: warning: last_verified: older than P365D"],
            }
        },
    }
    assert rejected == envelope("config.rejected", "failure", level="error") | {
        "message": "config rejected: rules.yaml:12: rules[2].action: not an action",
        "aiwall": {"config": {"problems": ["rules.yaml:12: rules[2].action: not an action"]}},
    }
    assert changed == envelope("policy.changed", "success", level="warning") | {
        "message": "policy changed: cnchat/consumer: training: default → never",
        "aiwall": {"policy": {"changes": ["cnchat/consumer: training: default → never"]}},
    }


def test_config_events_carry_the_rules_hash_rule_changes_and_what_serves(
    events: EventLog, log_path: Path
) -> None:
    changes = [
        {"rule": "block-cn", "change": "changed", "fields": ["match.residency"]},
        {"rule": "old", "change": "removed", "fields": []},
    ]
    events.config_loaded(
        rules="rules.yaml",
        policies="policies",
        vendors=3,
        rules_count=10,
        warnings=[],
        rules_hash="sha256:" + "0" * 64,
        rule_changes=changes,
    )
    events.config_rejected(problems=["rules.yaml:1: (syntax): x"], serving="the last good one")
    lines = log_path.read_text().splitlines()
    validate_event_lines(lines)
    loaded, rejected = (fields(e) for e in logged(log_path))
    assert loaded["message"].endswith(", 2 rules changed")
    assert loaded["aiwall"]["config"]["rules_hash"] == "sha256:" + "0" * 64
    assert loaded["aiwall"]["config"]["rule_changes"] == changes
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
    events.policy_changed(changes=[])
    [event] = logged(log_path)
    assert event["@timestamp"].endswith("Z")
    assert len(event["@timestamp"]) == len("2026-11-29T13:50:00.123456Z")


HOSTILE = [
    ("CR LF", 'alice\r\n{"forged": true}', 'alice\r\n{"forged": true}'),
    ("line separators", "a\u2028b\u2029c\x85d\x1ce", "a\u2028b\u2029c\x85d\x1ce"),
    ("ANSI escape", "\x1b[31mred\x1b[0m\x07", "\x1b[31mred\x1b[0m\x07"),
    ("NUL", "a\x00b", "a\x00b"),
    ("lone surrogate", "a\udcffb\ud800", "a\ufffdb\ufffd"),
    ("invalid UTF-8", b"\xff\xfe\xc3(".decode("utf-8", "surrogateescape"), "\ufffd\ufffd\ufffd("),
    ("surrogate pair as two code points", "\ud83d\ude00", "\U0001f600"),
    ("quotes and backslashes", '"\\"}\\', '"\\"}\\'),
]


@pytest.mark.parametrize(
    ("text", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_text_stays_one_ascii_line(
    test_config: Config, events: EventLog, log_path: Path, text: str, expected: str
) -> None:
    decision = decide(test_config, "cnchat.test", ("sni", text))
    events.decision(decision, context(user=text, path="/" + text, sni=text))
    events.ack(
        identity=text,
        user=text,
        client_ip=text,
        vendor=text,
        product=text,
        rule_id=text,
        host=text,
        justification=text,
        ttl_seconds=1,
        accepted=False,
        reason=text,
    )
    events.internal_error(error=text, where=text, host=text, client_ip=text)
    decided, ack, error = logged(log_path)
    assert decided["user"]["name"] == expected
    assert decided["tls"]["client"]["server_name"] == expected
    assert decided["aiwall"]["names"][1]["name"] == expected
    assert ack["aiwall"]["ack"]["justification"] == expected
    assert error["error"]["message"] == expected


def test_bytes_where_text_belongs_are_decoded(events: EventLog, log_path: Path) -> None:
    events.internal_error(error=b"\xffboom", where="x", host=None, client_ip=None)  # type: ignore[arg-type]
    [event] = logged(log_path)
    assert event["error"]["message"] == "\ufffdboom"


def test_long_strings_are_cut_with_a_marker(events: EventLog, log_path: Path) -> None:
    events.ack(
        identity="user:sam",
        user="u" * 5000,
        client_ip=None,
        vendor="usbot",
        product=None,
        rule_id="warn-stale",
        host="usbotcdn.test",
        justification="j" * 5000,
        ttl_seconds=60,
        accepted=True,
        reason="acknowledged",
    )
    [event] = logged(log_path)
    user, justification = event["user"]["name"], event["aiwall"]["ack"]["justification"]
    assert len(user) == 2048 and user.endswith("[truncated]") and user.startswith("uuu")
    assert len(justification) == 1000 and justification.endswith("[truncated]")


def test_a_string_at_the_limit_is_kept_whole(events: EventLog, log_path: Path) -> None:
    events.internal_error(error="e" * 2048, where="x", host=None, client_ip=None)
    [event] = logged(log_path)
    assert event["error"]["message"] == "e" * 2048


hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=())),
    st.binary().map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.lists(
        st.sampled_from(["\r", "\n", "\u2028", "\x1b[2J", "\x00", "\udcff", '"', "\\", "é"])
    ).map("".join),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=hostile_text, path=hostile_text, host=hostile_text, justification=hostile_text)
def test_any_text_gives_one_valid_line_per_event(
    test_config: Config,
    tmp_path_factory: pytest.TempPathFactory,
    user: str,
    path: str,
    host: str,
    justification: str,
) -> None:
    log_path = tmp_path_factory.mktemp("property") / "events.log"
    events = EventLog(str(log_path))
    decision = decide(test_config, host, ("sni", host), "cnchat.test", user=user)
    events.decision(decision, context(user=user, path=path, sni=host, status_code=403))
    events.ack(
        identity=f"user:{user}",
        user=user,
        client_ip=None,
        vendor="cnchat",
        product=None,
        rule_id="block-cn",
        host=host,
        justification=justification,
        ttl_seconds=60,
        accepted=True,
        reason=justification,
    )
    events.internal_error(error=path, where="requestheaders", host=host, client_ip=None)
    events.config_rejected(problems=[user, path])
    events.policy_changed(changes=[host])
    events.close()
    written = logged(log_path)
    assert [e["event"]["action"] for e in written] == [
        "decision",
        "ack",
        "error",
        "config.rejected",
        "policy.changed",
    ]
    if len(user) <= 2048 and not any("\ud800" <= c <= "\udfff" for c in user):
        assert written[0]["user"]["name"] == user


def test_unopenable_destination_neither_raises_nor_stops_enforcement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("a regular file")
    with caplog.at_level(logging.ERROR, logger="aiwall"):
        events = EventLog(str(tmp_path / "file" / "log"))
        for _ in range(3):
            events.internal_error(error="x", where="y", host=None, client_ip=None)
    assert events.failures == 3
    reports = [r for r in caplog.records if r.name == "aiwall"]
    assert len(reports) == 1
    assert "Not a directory" in reports[0].getMessage()


def test_failing_writes_are_counted_and_reported_once_per_streak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = EventLog("/dev/full")
    with caplog.at_level(logging.WARNING, logger="aiwall"):
        for _ in range(4):
            events.policy_changed(changes=["x"])
    assert events.failures == 4
    assert ["No space left on device" in r.getMessage() for r in caplog.records] == [True]


class FlakyStream(io.StringIO):
    """A stdout whose writes fail while `broken` is set."""

    broken = False

    def write(self, text: str) -> int:
        if self.broken:
            raise OSError(errno.EPIPE, "Broken pipe")
        return super().write(text)


def test_log_recovers_after_a_failure_streak(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stream = FlakyStream()
    monkeypatch.setattr(sys, "stdout", stream)
    events = EventLog("-")
    with caplog.at_level(logging.WARNING, logger="aiwall"):
        for broken in (False, True, True, False, True, False):
            stream.broken = broken
            events.policy_changed(changes=[str(broken)])
    assert events.failures == 3
    assert [
        e["aiwall"]["policy"]["changes"]
        for e in validate_event_lines(stream.getvalue().splitlines())
    ] == [
        ["False"],
        ["False"],
        ["False"],
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert [("Broken pipe" in m, "again" in m) for m in messages] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
    ]


def test_closed_stdout_is_a_failure_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr(sys, "stdout", stream)
    events = EventLog("-")
    events.policy_changed(changes=[])
    assert events.failures == 1


def test_stdout_gets_one_line_per_event(
    test_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    events = EventLog()
    events.decision(decide(test_config, "cnchat.test"), context(user="a\nb"))
    events.policy_changed(changes=["x\ny"])
    out = capsys.readouterr().out
    assert out.count("\n") == 2
    validate_event_lines(out.splitlines())


def test_a_torn_last_line_does_not_swallow_the_next_event(log_path: Path) -> None:
    log_path.write_text('{"@timestamp": "2026-11-29T13:50:00.0000')
    events = EventLog(str(log_path))
    events.policy_changed(changes=["x"])
    torn, line = log_path.read_text().split("\n")[:-1]
    assert torn.startswith('{"@timestamp"')
    validate_event_lines([line])


def test_appends_to_an_existing_log(log_path: Path) -> None:
    EventLog(str(log_path)).policy_changed(changes=["first"])
    EventLog(str(log_path)).policy_changed(changes=["second"])
    assert [e["aiwall"]["policy"]["changes"] for e in logged(log_path)] == [["first"], ["second"]]


def test_logs_are_independent_and_leave_structlog_unconfigured(tmp_path: Path) -> None:
    before = structlog.get_config()
    one, two = EventLog(str(tmp_path / "one.log")), EventLog(str(tmp_path / "two.log"))
    one.policy_changed(changes=["one"])
    two.policy_changed(changes=["two"])
    assert structlog.get_config() == before
    assert logged(tmp_path / "one.log")[0]["aiwall"]["policy"]["changes"] == ["one"]
    assert logged(tmp_path / "two.log")[0]["aiwall"]["policy"]["changes"] == ["two"]


def test_schema_lists_every_fact_a_rule_can_use() -> None:
    schema = json.loads(EVENT_SCHEMA_PATH.read_text())
    facts = schema["$defs"]["aiwall.decision"]["properties"]["facts"]["properties"]
    assert set(facts) == set(FACT_FIELDS)


def test_schema_refuses_what_the_log_never_writes(test_config: Config, log_path: Path) -> None:
    EventLog(str(log_path)).decision(decide(test_config, "cnchat.test"), context())
    [line] = log_path.read_text().splitlines()
    event = json.loads(line)
    event["aiwall"]["prompt"] = "secret"
    with pytest.raises(AssertionError, match="prompt"):
        validate_event_lines([json.dumps(event)])
    del event["aiwall"]["prompt"]
    event["http"]["request"]["headers"] = {"authorization": "Bearer x"}
    with pytest.raises(AssertionError, match="headers"):
        validate_event_lines([json.dumps(event)])


# Rotation by size, and reopening for logrotate.


def line_length(tmp_path: Path) -> int:
    """The length of a `policy_changed(changes=["x"])` line: every one is as long."""
    probe = tmp_path / "probe.log"
    EventLog(str(probe)).policy_changed(changes=["x"])
    return len(probe.read_bytes())


def written(path: Path) -> list[list[str]]:
    """The `changes` of each event in the file, every line checked whole and valid."""
    return [e["aiwall"]["policy"]["changes"] for e in logged(path)]


def rotated(log_path: Path) -> list[Path]:
    return sorted(log_path.parent.glob(log_path.name + ".*"), key=lambda p: int(p.suffix[1:]))


@pytest.mark.parametrize(("room", "per_file"), [(0, 3), (-1, 2), (1, 3)])
def test_rotation_happens_at_the_line_that_would_not_fit(
    tmp_path: Path, log_path: Path, room: int, per_file: int
) -> None:
    length = line_length(tmp_path)
    events = EventLog(str(log_path), max_bytes=3 * length + room, backups=5)
    for number in range(7):
        events.policy_changed(changes=[str(number)])
    events.close()
    files = [*reversed(rotated(log_path)), log_path]  # oldest first
    numbers = [[int(c[0]) for c in written(path)] for path in files]
    assert [n for lines in numbers for n in lines] == list(range(7))
    assert [len(lines) for lines in numbers[:-1]] == [per_file] * (len(numbers) - 1)
    assert 1 <= len(numbers[-1]) <= per_file
    assert all(path.stat().st_size <= 3 * length + room for path in files)
    assert events.failures == events.rotation_failures == 0


def test_backups_beyond_the_limit_are_dropped(tmp_path: Path, log_path: Path) -> None:
    events = EventLog(str(log_path), max_bytes=line_length(tmp_path), backups=2)
    for number in range(10):
        events.policy_changed(changes=[str(number)])
    assert [p.name for p in rotated(log_path)] == ["events.log.1", "events.log.2"]
    assert [written(p) for p in (log_path, *rotated(log_path))] == [[["9"]], [["8"]], [["7"]]]


def test_no_backups_starts_the_file_over(tmp_path: Path, log_path: Path) -> None:
    events = EventLog(str(log_path), max_bytes=2 * line_length(tmp_path), backups=0)
    for number in range(5):
        events.policy_changed(changes=[str(number)])
    assert rotated(log_path) == []
    assert written(log_path) == [["4"]]


def test_a_line_longer_than_the_limit_is_written_whole_in_a_file_of_its_own(
    log_path: Path,
) -> None:
    events = EventLog(str(log_path), max_bytes=100, backups=3)
    events.policy_changed(changes=["a" * 500])
    events.policy_changed(changes=["b" * 500])
    assert written(log_path) == [["b" * 500]]
    assert written(rotated(log_path)[0]) == [["a" * 500]]


def test_rotation_counts_an_existing_file(tmp_path: Path, log_path: Path) -> None:
    length = line_length(tmp_path)
    EventLog(str(log_path)).policy_changed(changes=["before"])
    events = EventLog(str(log_path), max_bytes=length + 10, backups=1)
    events.policy_changed(changes=["after"])
    assert written(log_path) == [["after"]]
    assert written(rotated(log_path)[0]) == [["before"]]


def test_concurrent_writers_lose_and_split_nothing_across_rotations(
    tmp_path: Path, log_path: Path
) -> None:
    threads, each = 8, 150
    limit = 10 * line_length(tmp_path) + 25
    events = EventLog(str(log_path), max_bytes=limit, backups=threads * each)

    def write(thread: int) -> None:
        for number in range(each):
            events.policy_changed(changes=[f"{thread}-{number:04}"])

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    events.close()
    files = [*reversed(rotated(log_path)), log_path]
    assert all(path.stat().st_size <= limit for path in files)
    seen = [c[0] for path in files for c in written(path)]
    assert len(seen) == threads * each
    for thread in range(threads):
        mine = [s for s in seen if s.startswith(f"{thread}-")]
        assert mine == [f"{thread}-{n:04}" for n in range(each)]  # all there, in order
    assert events.failures == events.rotation_failures == 0


def test_a_rotation_that_cannot_rename_is_counted_and_the_lines_kept(
    tmp_path: Path,
    log_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    obstacle = tmp_path / "events.log.1"  # a directory with something in it: no rename onto it
    obstacle.mkdir()
    (obstacle / "keep").write_text("x")
    events = EventLog(str(log_path), max_bytes=line_length(tmp_path), backups=1)
    with caplog.at_level(logging.WARNING, logger="aiwall"):
        for number in range(4):
            events.policy_changed(changes=[str(number)])
        assert events.failures == 0
        assert events.rotation_failures == 1  # then not tried again for a while
        assert written(log_path) == [["0"], ["1"], ["2"], ["3"]]
        monkeypatch.setattr("aiwall.telemetry.events.ROTATION_RETRY_SECONDS", 0.0)
        events.policy_changed(changes=["4"])  # the retry is still due: fails again
        assert events.rotation_failures == 2
        (obstacle / "keep").unlink()
        obstacle.rmdir()
        events.policy_changed(changes=["5"])
    assert written(log_path) == [["5"]]
    assert written(obstacle) == [["0"], ["1"], ["2"], ["3"], ["4"]]
    messages = [r.getMessage() for r in caplog.records if r.name == "aiwall"]
    assert [("cannot rotate" in m, "again" in m) for m in messages] == [
        (True, False),
        (False, True),
    ]


def test_a_file_truncated_by_someone_else_is_not_rotated_early(
    tmp_path: Path, log_path: Path
) -> None:
    events = EventLog(str(log_path), max_bytes=2 * line_length(tmp_path), backups=1)
    events.policy_changed(changes=["0"])
    events.policy_changed(changes=["1"])
    with log_path.open("r+") as file:  # logrotate's copytruncate
        file.truncate(0)
    events.policy_changed(changes=["2"])
    assert rotated(log_path) == []
    assert written(log_path) == [["2"]]


def test_reopen_follows_an_external_rename(tmp_path: Path, log_path: Path) -> None:
    events = EventLog(str(log_path))
    events.policy_changed(changes=["0"])
    moved = tmp_path / "events.log-20261129"
    log_path.rename(moved)  # logrotate's create mode, before it signals the proxy
    events.policy_changed(changes=["1"])  # still the open file, now under its new name
    events.reopen()
    events.policy_changed(changes=["2"])
    assert written(moved) == [["0"], ["1"]]
    assert written(log_path) == [["2"]]


def test_reopen_of_stdout_is_harmless(capsys: pytest.CaptureFixture[str]) -> None:
    events = EventLog("-", max_bytes=10, backups=1)  # rotation means nothing for stdout
    events.policy_changed(changes=["0"])
    events.reopen()
    events.policy_changed(changes=["1"])
    assert len(validate_event_lines(capsys.readouterr().out.splitlines())) == 2


@pytest.mark.parametrize(("max_bytes", "backups"), [(-1, 5), (100, -1)])
def test_negative_rotation_settings_are_refused(max_bytes: int, backups: int) -> None:
    with pytest.raises(ValueError, match="0"):
        EventLog("-", max_bytes=max_bytes, backups=backups)
