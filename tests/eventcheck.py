"""Checks on written event logs, for every test that produces one: each line is one event that
validates against events.schema.json; and the helpers the event-log tests share."""

import ipaddress
import json
import socket
from functools import cache
from pathlib import Path
from typing import Any

from aiwall.core.config import Config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.telemetry.envelope import VERSION
from aiwall.telemetry.events import EVENT_SCHEMA_PATH, RequestContext
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


@cache
def event_validator() -> Draft202012Validator:
    schema = json.loads(EVENT_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_event_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Parse and validate every line; fail naming the line and what is wrong with it."""
    events = []
    for number, line in enumerate(lines, 1):
        assert line.isascii(), f"event line {number} is not ASCII: {line!r}"
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssertionError(f"event line {number} is not JSON ({error}): {line!r}") from None
        problem = best_match(event_validator().iter_errors(event))
        if problem is not None:
            where = ".".join(map(str, problem.absolute_path)) or "(event)"
            raise AssertionError(f"event line {number}: {where}: {problem.message}\n{line}")
        events.append(event)
    return events


def logged(path: Path) -> list[dict[str, Any]]:
    """Every event in the file, each checked to be one ASCII line that validates."""
    text = path.read_text(encoding="ascii")
    assert text == "" or text.endswith("\n")
    return validate_event_lines(text.split("\n")[:-1])


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


HEAD, TAIL = ("@timestamp", "event"), ("message", "ecs", "observer", "log")
OBSERVER = socket.gethostname()


def fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event without what differs from one event to the next (time, id, sequence)."""
    assert tuple(event)[:2] == HEAD and tuple(event)[-4:] == TAIL
    envelope = {k: v for k, v in event["event"].items() if k not in ("id", "sequence")}
    return {k: v for k, v in event.items() if k != "@timestamp"} | {"event": envelope}


def envelope(action: str, outcome: str, level: str = "info", name: str = "") -> dict[str, Any]:
    """The envelope `fields` leaves of an event of this kind (`name`: the observer's)."""
    kinds = {
        "decision": (["network", "web"], {"success": "allowed", "failure": "denied"}),
        "session": (["network", "web"], {"success": "allowed"}),
        "ack": (["network", "web"], {"success": "allowed", "failure": "denied"}),
        "config.loaded": (["configuration"], {"success": "change"}),
        "config.rejected": (["configuration"], {"failure": "change"}),
        "policy.changed": (["configuration"], {"success": "change"}),
        "error": (["web"], {"failure": "error"}),
    }
    category, types = kinds[action]
    dataset = {
        "decision": "aiwall.decision",
        "session": "aiwall.session",
        "ack": "aiwall.ack",
        "error": "aiwall.error",
    }
    return {
        "ecs": {"version": "8.11.0"},
        "observer": {
            "name": name or OBSERVER,
            "hostname": OBSERVER,
            "product": "aiwall",
            "type": "proxy",
            "version": VERSION,
        },
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


def fact_change(new: str, old: str = "default", product: str = "cnchat/consumer") -> dict[str, Any]:
    """One change of a `policy.changed` event: `training` from `old` to `new`."""
    vendor = product.partition("/")[0]
    return {
        "vendor": vendor,
        "product": product,
        "change": "changed",
        "field": "training",
        "old": old,
        "new": new,
    }
