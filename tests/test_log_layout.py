"""The layout `EventLog` writes is the one `telemetry/layout.py` writes down, and the reader's
fast path takes exactly those lines: a change of the writer's key order or timestamp width
fails here instead of quietly sending every line of `aiwall report` down the slow path."""

import json
from pathlib import Path
from typing import Any

import pytest
from aiwall.core.config import Config
from aiwall.telemetry import layout
from aiwall.telemetry.events import EventLog
from aiwall.telemetry.reader import Event, LogReader

from tests.eventcheck import context, decide

# (host, request fields, context fields): every shape a decision line takes.
DECISIONS = [
    ("api.cnchat.test", {"user": "alice", "client_ip": "10.0.0.7"}, {"status_code": 403}),
    ("cnchat.test", {}, {"status_code": 403}),
    ("cnchat.test", {"user": "rita"}, {"forwarded": True}),
    ("api.usbot.test", {"client_ip": "10.0.0.9"}, {"forwarded": True, "scheme": ""}),
    ("usbotcdn.test", {"user": "sam"}, {"acknowledged": True, "forwarded": True}),
    ("usbot.test", {}, {"forwarded": True, "sni": "usbot.test"}),
]


def write_decisions(config: Config, path: Path) -> list[str]:
    events = EventLog(str(path))
    for host, request, fields in DECISIONS:
        who = {k: v for k, v in request.items() if k in ("user", "client_ip")}
        events.decision(decide(config, host, **request), context(**who, **fields))
    return path.read_text().splitlines()


def read(lines: list[str]) -> tuple[LogReader, list[Any]]:
    reader = LogReader(lambda aiwall, name: json.dumps([aiwall, name], sort_keys=True))
    items = list(reader.read((line.encode() + b"\n" for line in lines), "log"))
    return reader, items


def keys(line: str) -> dict[str, Any]:
    """The line's keys, in order, nested."""

    def ordered(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        return dict(pairs)

    return dict(json.loads(line, object_pairs_hook=ordered))


def test_the_writer_lays_lines_out_as_the_layout_says(test_config: Config, tmp_path: Path) -> None:
    for line in write_decisions(test_config, tmp_path / "events.log"):
        event = keys(line)
        top = list(event)
        assert tuple(top[: len(layout.ENVELOPE_KEYS)]) == layout.ENVELOPE_KEYS
        rest = top[len(layout.ENVELOPE_KEYS) :]
        assert rest == [k for k in layout.DECISION_KEYS if k in rest]
        assert tuple(event["event"]) == layout.EVENT_KEYS
        assert list(event["aiwall"]) == [
            k for k in layout.DECISION_AIWALL_KEYS if k in event["aiwall"]
        ]
        assert list(event["log"])[-1] == "logger"
        assert line.startswith(layout.LINE_START.decode())
        assert len(event["@timestamp"]) == layout.TIMESTAMP_WIDTH
        assert line[layout.TIMESTAMP.stop :].startswith(layout.AFTER_TIMESTAMP.decode())
        assert line.encode().endswith(layout.DECISION_ENDS)


def test_every_decision_line_the_writer_makes_takes_the_fast_path(
    test_config: Config, tmp_path: Path
) -> None:
    lines = write_decisions(test_config, tmp_path / "events.log")
    reader, items = read(lines)
    assert reader.slow_decisions == 0
    assert len(items) == len(DECISIONS) and not any(isinstance(i, Event) for i in items)


def reordered(line: str, change: str) -> str:
    event = keys(line)
    if change == "envelope":  # ecs first: the id is no longer where the layout says
        event = {"ecs": event.pop("ecs"), **event}
    elif change == "aiwall-first":  # aiwall before source and user
        aiwall = event.pop("aiwall")
        at = list(event).index("log") + 1
        items = list(event.items())
        event = dict([*items[:at], ("aiwall", aiwall), *items[at:]])
    elif change == "names-last":  # tenant_restricted before names
        aiwall = event["aiwall"]
        names = aiwall.pop("names")
        aiwall["names"] = names
    elif change == "milliseconds":  # another timestamp width
        event["@timestamp"] = event["@timestamp"][:23] + "Z"
    elif change == "spaces":
        return json.dumps(event)
    return json.dumps(event, separators=(",", ":"))


@pytest.mark.parametrize(
    "change", ["envelope", "aiwall-first", "names-last", "milliseconds", "spaces"]
)
def test_any_other_layout_takes_the_slow_path_and_counts_the_same(
    test_config: Config, tmp_path: Path, change: str
) -> None:
    lines = write_decisions(test_config, tmp_path / "events.log")
    reader, items = read([reordered(line, change) for line in lines])
    assert reader.slow_decisions == len(DECISIONS)
    assert [item.fields["event"]["id"] for item in items] == [
        json.loads(line)["event"]["id"] for line in lines
    ]
