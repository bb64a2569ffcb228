"""What the report makes of one logged event: the parts it counts by, checked.

`decided(aiwall, rule_name, domain)` is what a decision or session line says apart from who
and when (many lines share one); `ack_item`, `change_item` read acknowledgements and
configuration events. Each raises `Malformed` (a ValueError) naming the field that is not
what aiwall writes.
"""

from typing import Any, NamedTuple

from aiwall.telemetry.reader import Client, Event, Malformed

ACTIONS = ("block", "warn", "log", "allow")  # strictest first, the order of every `actions`
STRICTNESS = {"allow": 0, "log": 1, "warn": 2, "block": 3}
INVALID_HOST = "(invalid host name)"
# The facts of `aiwall.record` the report counts requests by, as (field, label).
RECORD_FACTS = (
    "training",
    "opt_out",
    "zero_retention",
    "dpa",
    "residency",
    "jurisdiction",
    "retention_class",
    "confidence",
    "stale",
    "under_review",
)


class Decided(NamedTuple):
    """What a decision (or a session) line says, without who and when."""

    action: str
    rule: str | None
    rule_name: str | None
    vendor: str  # vendor id, `host:NAME` for a host only the rules name, or INVALID_HOST
    product: str | None  # `vendor/product`
    record: tuple[str, str, bool] | None  # last_verified, confidence, stale
    facts: tuple[tuple[str, str], ...]  # (fact, value as text) for each of RECORD_FACTS known
    shadow: tuple[tuple[str, str], ...]  # (shadow rule id, what it would have done)
    acknowledged: bool
    invalid: bool
    recorded: bool = False  # allowed use counted in a session event, not one line per request

    @property
    def decided_by(self) -> str:
        return "rule" if self.rule else ("invalid-host" if self.invalid else "default")


def decided(
    aiwall: dict[str, Any], rule_name: str | None, domain: str | None, recorded: bool = False
) -> Decided:
    action = aiwall.get("action")
    if action not in STRICTNESS:
        raise Malformed(f"aiwall.action {action!r} is not one of {', '.join(ACTIONS)}")
    vendor = string(aiwall.get("vendor"), "aiwall.vendor")
    invalid = "invalid_host" in aiwall
    if vendor is None:
        if domain is None and not invalid:
            raise Malformed("needs url.domain")  # a host only the rules name: the whole line
        vendor = INVALID_HOST if invalid or not domain else f"host:{domain}"
    record = aiwall.get("record")
    stamp: tuple[str, str, bool] | None = None
    facts: tuple[tuple[str, str], ...] = ()
    if record is not None:
        record = obj(record, "aiwall.record")
        stamp = (
            string(record.get("last_verified"), "aiwall.record.last_verified") or "",
            string(record.get("confidence"), "aiwall.record.confidence") or "",
            record.get("stale") is True,
        )
        facts = tuple(
            (name, _fact_text(record[name], "none" if name == "under_review" else "unknown"))
            for name in RECORD_FACTS
            if name in record
        )
    shadow = aiwall.get("shadow") or []
    if not isinstance(shadow, list):
        raise Malformed("aiwall.shadow is not a list")
    outcomes = []
    for item in shadow:
        item = obj(item, "aiwall.shadow[]")
        would = item.get("action")
        rule = string(item.get("rule"), "aiwall.shadow[].rule")
        if would not in STRICTNESS or not rule:
            raise Malformed("aiwall.shadow[] needs a rule and an action")
        outcomes.append((rule, str(would)))
    return Decided(
        action=str(action),
        rule=string(aiwall.get("rule"), "aiwall.rule") or None,
        rule_name=rule_name,
        vendor=vendor,
        product=string(aiwall.get("product"), "aiwall.product"),
        record=stamp,
        facts=facts,
        shadow=tuple(outcomes),
        acknowledged=aiwall.get("acknowledged") is True,
        invalid=invalid,
        recorded=recorded,
    )


def decided_from_event(event: Event) -> Decided:
    """A decision or session event parsed whole."""
    fields = event.fields
    aiwall = obj(fields.get("aiwall"), "aiwall")
    rule = fields.get("rule")
    name = string(rule.get("name"), "rule.name") if isinstance(rule, dict) else None
    domain = field(fields, "url", "domain")
    return decided(aiwall, name, domain or "", recorded=event.kind == "session")


def client_of(event: Event) -> Client:
    return Client(field(event.fields, "user", "name"), field(event.fields, "source", "ip"))


def session_counts(event: Event) -> tuple[int, int, str]:
    """A session event's requests, bytes sent, and when it started (canonical)."""
    session = obj(obj(event.fields.get("aiwall"), "aiwall").get("session"), "aiwall.session")
    requests, sent = session.get("requests"), session.get("request_bytes")
    if not isinstance(requests, int) or requests < 1 or not isinstance(sent, int):
        raise Malformed("aiwall.session needs requests and request_bytes")
    envelope = obj(event.fields.get("event"), "event")
    start = string(envelope.get("start"), "event.start") or event.timestamp
    return requests, sent, start


def suppressed_count(event: Event) -> tuple[int, str | None]:
    """How many refusals a `decisions.suppressed` event counted, and for which rule."""
    suppressed = obj(obj(event.fields.get("aiwall"), "aiwall").get("suppressed"), "suppressed")
    count = suppressed.get("count")
    if not isinstance(count, int) or count < 0:
        raise Malformed("aiwall.suppressed.count is not a count")
    return count, field(event.fields, "rule", "id")


def ack_item(event: Event) -> dict[str, Any]:
    fields = event.fields
    ack = obj(obj(fields.get("aiwall"), "aiwall").get("ack"), "aiwall.ack")
    identity = string(ack.get("identity"), "aiwall.ack.identity") or "anonymous"
    user = field(fields, "user", "name") or field(fields, "source", "ip") or identity
    accepted = ack.get("accepted")
    if not isinstance(accepted, bool):
        raise Malformed("aiwall.ack.accepted is not true or false")
    return {
        "time": event.timestamp,
        "user": user,
        "identity": identity,
        "vendor": string(ack.get("vendor"), "aiwall.ack.vendor") or "",
        "product": string(ack.get("product"), "aiwall.ack.product"),
        "rule": string(ack.get("rule"), "aiwall.ack.rule") or "",
        "host": string(ack.get("host"), "aiwall.ack.host") or "",
        "justification": string(ack.get("justification"), "justification") or "",
        "accepted": accepted,
        "reason": string(ack.get("reason"), "aiwall.ack.reason") or "",
    }


def change_item(event: Event) -> dict[str, Any]:
    """A configuration event for the Changes section: when, where, what changed."""
    fields = event.fields
    aiwall = obj(fields.get("aiwall"), "aiwall")
    envelope = obj(fields.get("event"), "event")
    observer = field(fields, "observer", "name") or "?"
    event_id = string(envelope.get("id"), "event.id") or ""
    item: dict[str, Any] = {
        "time": event.timestamp,
        "kind": event.kind,
        "instance": f"{observer} ({event_id.rpartition('-')[0] or '?'})",
        "file": f"{event.source}:{event.line}",
        "rules_hash": None,
        "rules": [],
        "settings": [],
        "facts": [],
        "problems": [],
    }
    if event.kind == "config.loaded":
        config = obj(aiwall.get("config"), "aiwall.config")
        item["rules_hash"] = config.get("rules_hash")
        item["reload"] = config.get("reload") is True
        item["rules"] = _objects(config.get("rule_changes"), "aiwall.config.rule_changes")
        item["settings"] = [str(s) for s in config.get("settings_changes") or []]
        item["unlogged_allow"] = [str(s) for s in config.get("unlogged_allow") or []]
    elif event.kind == "policy.changed":
        policy = obj(aiwall.get("policy"), "aiwall.policy")
        changes = policy.get("changes")
        if not isinstance(changes, list):
            raise Malformed("aiwall.policy.changes is not a list")
        # Before structured changes, each was a line `vendor/product: field: old → new`.
        item["facts"] = [c if isinstance(c, dict) else {"text": str(c)} for c in changes]
    else:
        config = obj(aiwall.get("config"), "aiwall.config")
        item["problems"] = [str(p) for p in config.get("problems") or []]
    return item


def _objects(value: object, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Malformed(f"{name} is not a list of objects")
    return value


def _fact_text(value: object, empty: str) -> str:
    """A fact's value as one text: lists joined, an empty one `empty`, booleans yes or no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or empty
    return str(value)


def obj(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{name} is not an object")
    return value


def string(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise Malformed(f"{name} is not a string")


def field(event: dict[str, Any], outer: str, inner: str) -> str | None:
    part = event.get(outer)
    return string(part.get(inner), f"{outer}.{inner}") if isinstance(part, dict) else None
