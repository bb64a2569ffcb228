"""What every event carries, a UTC timestamp, an id, a sequence number and the observer; and
session events for recorded allowed use, one per client and interval."""

import ipaddress
import time
from pathlib import Path

from aiwall.core.config import Config
from aiwall.telemetry.events import EventLog
from aiwall.telemetry.ids import INSTANCE, new_event_id, parse_event_id

from tests.eventcheck import context, decide, envelope, fields, logged


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
