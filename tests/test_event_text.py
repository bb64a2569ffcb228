"""The event log holds whatever text a client sends: one valid ASCII line per event, strings
cleaned and cut, nothing the schema does not name."""

import json
from pathlib import Path

import pytest
from aiwall.core.config import Config
from aiwall.telemetry.events import EventLog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.eventcheck import context, decide, fact_change, logged, validate_event_lines

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


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
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
    events.policy_changed([fact_change(host)])
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
