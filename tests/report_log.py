"""The log the report tests read: six days (23 to 28 November 2026) of the fictitious vendors
in fixtures/policies under the rules below, written by `EventLog` with its clock moved: blocks,
warns (some of them acknowledged), logs, an allow that a shadow rule matched, a host only a rule
names, an invalid host name, accepted and refused acknowledgements whose justifications are
hostile HTML, config events, an event of an unknown kind, malformed lines and a torn last line.
Every seventh line is re-serialised with sorted keys and spaces, so both the fast path and the
json.loads path count."""

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiwall.core.config import Config, load_config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.telemetry.events import EventLog, RequestContext

from .conftest import FIXTURES, TODAY
from .eventcheck import fact_change

DAYS = 6
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

RULES = """
settings:
  default_action: log
  stale_after: P365D
groups:
  research: {users: [rita], networks: [10.99.0.0/16]}
  sales: {users: [sam, sol]}
tenants:
  usbot:
    X-UsBot-Allowed-Workspace: [ws-1]
rules:
  - id: gateway
    description: Our own gateway.
    match: {host: [llm.corp.test]}
    action: log
  - id: shadow-block-api-unknown
    description: Candidate - block APIs whose training is unknown.
    mode: shadow
    match: {kind: api-platform, training: unknown}
    action: block
  - id: research-cn
    description: Research may reach CN Chat.
    match: {vendor: cnchat, group: research}
    action: log
  - id: shadow-warn-usbot
    description: Candidate - warn on every US Bot product.
    mode: shadow
    match: {vendor: usbot}
    action: warn
  - id: block-cn
    description: No data to China.
    match: {residency: [CN]}
    action: block
  - id: allow-enterprise
    description: Our tenant.
    match: {product: usbot/enterprise}
    action: allow
  - id: warn-personal
    description: Personal accounts train <unless> you "opt out".
    match: {product: usbot/personal}
    action: warn
    require_justification: true
  - id: log-eu
    description: EU API.
    match: {vendor: euapi}
    action: log
"""

SCRIPT = '<script>alert("x")</script> need it for "Q4" & more'
IMG = "<img src=x onerror=alert(1)>"
JUSTIFICATIONS = [SCRIPT, "Customer escalation, ticket 42", "'; DROP TABLE acks; --",
                  "Line one\nLine two", IMG, ""]  # fmt: skip
EXPIRED = "the token has expired"
# (user, ip, host, acknowledged, how many a day)
TRAFFIC = [
    ("alice", "10.0.0.7", "cnchat.test", False, 10),  # block by block-cn
    ("bob", "10.0.0.8", "api.cnchat.test", False, 5),  # block, shadow would block
    (None, "10.99.0.5", "api.cnchat.test", False, 4),  # research network: log, shadow block
    ("rita", "10.0.0.20", "api.cnchat.test", False, 2),  # research user: log, shadow block
    ("sam", "10.0.0.30", "usbotcdn.test", False, 3),  # warn (stale record), shadow warn
    ("sam", "10.0.0.30", "usbotcdn.test", True, 2),  # warn already acknowledged: forwarded
    ("carol", "10.0.0.40", "usbot.test", False, 1),  # allow (enterprise tenant), shadow warn
    (None, "10.0.0.9", "euapi.test", False, 6),  # log by log-eu
    ("dave", "10.0.0.50", "api.usbot.test", False, 1),  # default action, shadow warn
    ("erin", "10.0.0.60", "llm.corp.test", False, 1),  # a host only the rules name
]


class Clock:
    """The time EventLog writes: moved by the test."""

    current = START

    @classmethod
    def time(cls) -> float:
        return cls.current.timestamp()


def tick(minutes: float = 1) -> None:
    Clock.current += timedelta(minutes=minutes)


def report_config(folder: Path) -> Config:
    rules = folder / "rules.yaml"
    rules.write_text(RULES)
    return load_config(rules, FIXTURES / "policies", today=lambda: TODAY)


def write_report_log(folder: Path, config: Config) -> Path:
    """The six days' log; see the module docstring."""
    path = folder / "events.log"
    Clock.current = START - timedelta(minutes=5)
    events = EventLog(str(path), clock=Clock.time)
    try:
        events.config_loaded(config, rules="rules.yaml", policies="policies")
        for day in range(DAYS):
            Clock.current = START + timedelta(days=day)
            for user, ip, host, acknowledged, count in TRAFFIC:
                for _ in range(count):
                    decide(events, config, user, ip, host, acknowledged)
                    tick()
            if day == 0:
                decide(events, config, "mallory", "10.0.0.66", "bad..cnchat.test", False)
                tick()
            events.ack(
                identity="user:sam",
                user="sam",
                client_ip="10.0.0.30",
                vendor="usbot",
                product="usbot/personal",
                rule_id="warn-personal",
                host="usbotcdn.test",
                justification=JUSTIFICATIONS[day],
                ttl_seconds=28800,
                accepted=True,
                reason="acknowledged",
            )
            tick()
            events.ack(
                identity="ip:10.0.0.9",
                user=None,
                client_ip="10.0.0.9",
                vendor="usbot",
                product="usbot/personal",
                rule_id="warn-personal",
                host="usbotcdn.test",
                justification=f"day {day}",
                ttl_seconds=0,
                accepted=False,
                reason=EXPIRED,
            )
            tick()
            if day == 3:
                events.policy_changed([fact_change("never", product="usbot/personal")])
                events.internal_error(
                    error="KeyError('x')", where="requestheaders", host="usbot.test", client_ip=None
                )
    finally:
        events.close()
    lines = path.read_text(encoding="ascii").splitlines()
    # Another layout (sorted keys, spaces) for every seventh line: counted all the same.
    lines = [
        json.dumps(json.loads(line), sort_keys=True) if n % 7 == 3 else line
        for n, line in enumerate(lines)
    ]
    unknown = json.loads(lines[0])
    unknown["event"]["action"] = "telemetry.sample"
    unknown["event"]["id"] = "zzzzzzzz-1"  # an event of its own
    middle = len(lines) // 2
    torn = lines[5][: len(lines[5]) // 2]
    lines[middle:middle] = [
        "this is not json",
        '{"@timestamp":"2026-11-25T10:00:00.000000Z","event":{"action":"decision"}}',
        json.dumps(unknown, separators=(",", ":")),
    ]
    path.write_text("\n".join(lines) + "\n" + torn, encoding="ascii")
    return path


def decide(
    events: EventLog, config: Config, user: str | None, ip: str, host: str, acknowledged: bool
) -> None:
    names = (HostName("connect", f"{host}:443"), HostName("sni", host), HostName("host", host))
    decision = config.engine.decide(
        RequestInfo(names, user=user, client_ip=ipaddress.ip_address(ip))
    )
    stopped = decision.blocks or (str(decision.action) == "warn" and not acknowledged)
    events.decision(
        decision,
        RequestContext(
            client_ip=ip,
            user=user,
            method="GET",
            scheme="https",
            path="/c/1",
            sni=host,
            status_code=403 if stopped else None,
            acknowledged=acknowledged,
            forwarded=not stopped,
        ),
    )
