"""What every event carries around its own fields: time, id, ECS categorisation, the observer.

`Envelope` is the first processor of `EventLog`'s structlog chain: structlog's event name
becomes ECS `event.action`, and the keys go in the order `telemetry/layout.py` writes down
(the head first, the event's own fields, the tail last).
"""

import importlib.metadata
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from structlog.typing import EventDict, WrappedLogger

from aiwall.telemetry.ids import new_event_id

ECS_VERSION = "8.11.0"


def _version() -> str:
    try:
        return importlib.metadata.version("aiwall")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return "0+unknown"


VERSION = _version()


class Kind(NamedTuple):
    """How ECS categorises one event name."""

    category: tuple[str, ...]
    dataset: str
    success: str  # event.type when the outcome is success
    failure: str  # event.type when the outcome is failure


KINDS = {
    "decision": Kind(("network", "web"), "aiwall.decision", "allowed", "denied"),
    "session": Kind(("network", "web"), "aiwall.session", "allowed", "allowed"),
    "ack": Kind(("network", "web"), "aiwall.ack", "allowed", "denied"),
    "config.loaded": Kind(("configuration",), "aiwall.config", "change", "change"),
    "config.rejected": Kind(("configuration",), "aiwall.config", "change", "change"),
    "policy.changed": Kind(("configuration",), "aiwall.config", "change", "change"),
    "source.changed": Kind(("configuration",), "aiwall.source", "change", "change"),
    "error": Kind(("web",), "aiwall.error", "error", "error"),
    "decisions.suppressed": Kind(("network", "web"), "aiwall.decision", "denied", "denied"),
    "connection.refused": Kind(("network",), "aiwall.connection", "denied", "denied"),
    "directory.read": Kind(("iam",), "aiwall.directory", "group", "error"),
}


def iso(moment: float) -> str:
    """A time as the log writes it: UTC, microseconds, `Z` (layout.TIMESTAMP_WIDTH wide)."""
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


class Envelope:
    """The structlog processor that wraps an event's fields in the envelope."""

    def __init__(self, observer_name: str | None, clock: Callable[[], float]) -> None:
        hostname = socket.gethostname()
        self.observer = {
            "name": observer_name or hostname,
            "hostname": hostname,
            "product": "aiwall",
            "type": "proxy",
            "version": VERSION,
        }
        self.clock = clock

    def __call__(self, logger: WrappedLogger, level: str, fields: EventDict) -> EventDict:
        name = fields.pop("event")
        outcome = fields.pop("outcome")
        event_id = fields.pop("event_id", None) or new_event_id()
        kind = KINDS[name]
        event: dict[str, Any] = {
            "id": event_id,
            "sequence": int(event_id.rpartition("-")[2]),
            "kind": "event",
            "category": list(kind.category),
            "type": [kind.success if outcome == "success" else kind.failure],
            "action": name,
            "outcome": outcome,
            "dataset": kind.dataset,
        }
        if "start" in fields:
            event["start"], event["end"] = fields.pop("start"), fields.pop("end")
        message = fields.pop("message")
        return {
            "@timestamp": iso(self.clock()),
            "event": event,
            **{key: value for key, value in fields.items() if value is not None and value != {}},
            "message": message,
            "ecs": {"version": ECS_VERSION},
            "observer": self.observer,
            "log": {"level": level, "logger": "aiwall"},
        }
