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
        head, tail = len(layout.ENVELOPE_HEAD), len(layout.ENVELOPE_TAIL)
        assert tuple(top[:head]) == layout.ENVELOPE_HEAD
        assert tuple(top[-tail:]) == layout.ENVELOPE_TAIL
        own = top[head:-tail]
        assert own == [k for k in layout.DECISION_KEYS if k in own]
        assert tuple(event["event"]) == layout.EVENT_KEYS
        assert list(event["aiwall"]) == [
            k for k in layout.DECISION_AIWALL_KEYS if k in event["aiwall"]
        ]
        assert list(event["log"])[-1] == "logger"
        assert line.startswith(layout.LINE_START.decode())
        assert len(event["@timestamp"]) == layout.TIMESTAMP_WIDTH
        assert line[layout.TIMESTAMP.stop :].startswith(layout.AFTER_TIMESTAMP.decode())
        assert line.encode().endswith(layout.LINE_ENDS)
        assert layout.DECISION_EVENT_END.decode() + "," in line


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
    elif change == "aiwall-last":  # aiwall after url, http, tls
        aiwall = event.pop("aiwall")
        at = list(event).index("message")
        items = list(event.items())
        event = dict([*items[:at], ("aiwall", aiwall), *items[at:]])
    elif change == "names-last":  # reason and facts before names: another counted part
        aiwall = event["aiwall"]
        names = aiwall.pop("names")
        aiwall["names"] = names
    elif change == "log-first":  # the line no longer ends with log
        event = {**{k: v for k, v in event.items() if k != "log"}, "log": event["log"]}
        event = {k: event[k] for k in ("@timestamp", "event", "log", *event) if k in event}
    elif change == "url-first":  # url between event and the client
        url = event.pop("url")
        items = list(event.items())
        event = dict([*items[:2], ("url", url), *items[2:]])
    elif change == "dataset-first":  # a decision's event no longer ends with its dataset
        envelope = event["event"]
        event["event"] = {"dataset": envelope.pop("dataset"), **envelope}
    elif change == "milliseconds":  # another timestamp width
        event["@timestamp"] = event["@timestamp"][:23] + "Z"
    elif change == "spaces":
        return json.dumps(event)
    return json.dumps(event, separators=(",", ":"))


def counted(items: list[Any]) -> list[tuple[str, Any]]:
    """What the caller counts by, per line, whichever path the line took."""
    out = []
    for item in items:
        if isinstance(item, Event):
            fields = item.fields
            rule = fields.get("rule", {}).get("name")
            aiwall = {k: v for k, v in fields["aiwall"].items() if k in COUNTED}
            client = (fields.get("user", {}).get("name"), fields.get("source", {}).get("ip"))
            out.append((json.dumps([aiwall, rule], sort_keys=True), client))
        else:
            _, _, decided, client = item
            counted_part = json.loads(decided)
            counted_part[0] = {k: v for k, v in counted_part[0].items() if k in COUNTED}
            out.append((json.dumps(counted_part, sort_keys=True), tuple(client)))
    return out


COUNTED = layout.DECISION_AIWALL_KEYS[: layout.DECISION_AIWALL_KEYS.index("names")]


@pytest.mark.parametrize(
    ("change", "slow"),
    [
        ("envelope", True),
        ("dataset-first", True),
        ("log-first", True),
        ("milliseconds", True),
        ("spaces", True),
        ("aiwall-last", True),
        ("url-first", True),
        ("names-last", False),  # read the fast way: nothing the reader relies on moved
    ],
)
def test_another_layout_takes_the_slow_path_where_it_must_and_counts_the_same(
    test_config: Config, tmp_path: Path, change: str, slow: bool
) -> None:
    lines = write_decisions(test_config, tmp_path / "events.log")
    _, fast_items = read(lines)
    reader, items = read([reordered(line, change) for line in lines])
    assert reader.slow_decisions == (len(DECISIONS) if slow else 0)
    assert counted(items) == counted(fast_items)
