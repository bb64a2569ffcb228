"""The log: one JSON line per event, ECS field names, structlog.

Each event is a structlog call whose event name (`decision`, `session`, `ack`, `config.loaded`,
`config.rejected`, `policy.changed`, `source.changed`, `error`, `decisions.suppressed`,
`connection.refused`, `directory.read`) becomes ECS `event.action`. The processor chain adds
the envelope (time, id, sequence, categorisation, the observer: `telemetry/envelope.py`) in the
order `telemetry/layout.py` writes down, and renders one ASCII line (`telemetry/encoding.py`);
`telemetry/writer.py` puts it on stdout or in a rotating file. `events.schema.json` documents
every field and the tests hold the two in step. Writing never raises: enforcement must not
depend on the log.
"""

import importlib.resources
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from aiwall.core.config import Config
from aiwall.core.decision import Decision
from aiwall.core.rules import Action, RulesFile
from aiwall.telemetry import changes
from aiwall.telemetry.encoding import render_line as _render_line
from aiwall.telemetry.encoding import safe_text
from aiwall.telemetry.envelope import Envelope, iso
from aiwall.telemetry.facts import RecordFacts
from aiwall.telemetry.sessions import DEFAULT_INTERVAL, Session, UsageSessions
from aiwall.telemetry.writer import LineWriter

EVENT_SCHEMA_PATH = Path(str(importlib.resources.files("aiwall.telemetry") / "events.schema.json"))
MAX_JUSTIFICATION = 1000


@dataclass(frozen=True)
class RequestContext:
    """What the proxy knows of a request beyond the decision.

    Never bodies, query strings or secrets: nothing here may carry them.
    """

    client_ip: str | None
    user: str | None  # proxy-auth user
    method: str
    scheme: str  # http / https / ws / wss; empty for a CONNECT
    path: str  # path only: anything after '?' or '#' is cut off all the same
    sni: str | None
    status_code: int | None  # what the proxy answered (403, 400, 303...), None when forwarded
    acknowledged: bool = False  # a warn rule that this identity had acknowledged: forwarded
    forwarded: bool = False  # the request went on to the vendor (as enforced, not re-derived)
    event_id: str | None = None  # made before the page that shows it (new_event_id())


class EventLog:
    """Writes aiwall's events as JSON lines to stdout (`-`) or appends them to a file.

    For a file, `max_bytes` > 0 rotates it by size, keeping `backups` older files (0: none,
    the full file is dropped). Both are ignored for stdout. `observer_name` names this
    instance in every event (default: the host name); recorded allowed use is written as
    one `session` event per `session_interval` seconds and client, vendor, product and rule.
    `clock` gives the time (seconds since the epoch) for both.
    """

    def __init__(
        self,
        destination: str = "-",
        max_bytes: int = 0,
        backups: int = 5,
        *,
        observer_name: str | None = None,
        session_interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._writer = LineWriter(destination, max_bytes, backups)
        self._record = RecordFacts()
        self.sessions = UsageSessions(self._session, session_interval, clock)
        # A logger of its own, not structlog.configure: several logs may live side by side.
        self._log: FilteringBoundLogger = structlog.wrap_logger(
            self._writer,
            processors=[Envelope(observer_name, clock), _render],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            context_class=dict,
        ).bind()

    @property
    def failures(self) -> int:
        """How many events could not be written."""
        return self._writer.failures

    @property
    def rotation_failures(self) -> int:
        """How many rotations failed; their lines were written to the current file instead."""
        return self._writer.rotation_failures

    def reopen(self) -> None:
        """Close the file; the next event opens the destination anew (after logrotate's mv)."""
        self._writer.close()

    def close(self) -> None:
        """Write the open sessions, then close the file."""
        self.sessions.close()
        self._writer.close()

    def decision(self, decision: Decision, request: RequestContext) -> None:
        rule = decision.rule
        self._emit(
            logging.INFO,
            "decision",
            request.forwarded,
            event_id=request.event_id,
            message=_decision_message(decision, request),
            # In the order of layout.DECISION_KEYS and DECISION_AIWALL_KEYS.
            source=_present(ip=request.client_ip),
            user=_present(name=request.user),
            rule={"id": rule.id, "name": rule.description, "ruleset": str(rule.mode)}
            if rule
            else None,
            aiwall={
                "action": str(decision.action),
                "rule": rule.id if rule else None,
                **_present(
                    vendor=decision.vendor.id if decision.vendor else None,
                    product=decision.product_ref,
                    record=self._record_of(decision),
                ),
                "shadow": [{"rule": s.rule.id, "action": str(s.action)} for s in decision.shadow],
                "acknowledged": request.acknowledged,
                "names": [
                    {
                        "seen_in": name.seen_in,
                        "name": name.raw,
                        "host": name.host,
                        "vendor": name.vendor,
                        "product": name.product,
                        "invalid": name.invalid,
                    }
                    for name in decision.names
                ],
                "reason": decision.reason,
                "facts": decision.facts,
                "tenant_restricted": bool(decision.tenant_headers),
                **_present(invalid_host=decision.invalid),
            },
            url=_present(
                domain=decision.host,
                path=_path_only(request.path) or None,
                scheme=request.scheme or None,
            ),
            http=_present(
                request={"method": request.method},
                response=_present(status_code=request.status_code) or None,
            ),
            tls=_present(client=_present(server_name=request.sni) or None),
        )

    def allowed(
        self, decision: Decision, *, user: str | None, client_ip: object, body: int | None
    ) -> None:
        """A forwarded request that is not logged: counted into its session when its rule
        allows with `record: true` (`body`: the request body's declared length, if any; the
        address as text, or as an `ipaddress` address)."""
        if not records_use(decision) or decision.product_ref is None:
            return
        assert decision.rule is not None
        ip = str(client_ip) if client_ip is not None else None
        identity = f"user:{user}" if user else (f"ip:{ip}" if ip else "anonymous")
        self.sessions.count(
            identity=identity,
            user=user,
            client_ip=ip,
            product=decision.product_ref,
            rule=decision.rule.id,
            host=decision.host,
            request_bytes=body or 0,
            decision=decision,
        )

    def _session(self, session: Session) -> None:
        decision: Decision = session.decision
        rule = decision.rule
        assert rule is not None
        start, end = iso(session.first), iso(session.last)
        self._emit(
            logging.INFO,
            "session",
            True,
            start=start,
            end=end,
            message=f"session: {session.identity} used {decision.product_ref}:"
            f" {session.requests} requests, {session.request_bytes} bytes sent,"
            f" {start[11:19]} to {end[11:19]} UTC, recorded by rule {rule.id}",
            source=_present(ip=session.client_ip),
            user=_present(name=session.user),
            rule={"id": rule.id, "name": rule.description, "ruleset": str(rule.mode)},
            aiwall={
                "action": str(decision.action),
                "rule": rule.id,
                **_present(
                    vendor=decision.vendor.id if decision.vendor else None,
                    product=decision.product_ref,
                    record=self._record_of(decision),
                ),
                "session": {
                    "identity": session.identity,
                    "requests": session.requests,
                    "request_bytes": session.request_bytes,
                    "hosts": list(session.hosts),
                    "interval_seconds": math.ceil(self.sessions.interval),
                },
            },
        )

    def ack(
        self,
        *,
        identity: str,
        user: str | None,
        client_ip: str | None,
        vendor: str,
        product: str | None,
        rule_id: str,
        host: str,
        justification: str,
        ttl_seconds: int,
        accepted: bool,
        reason: str,
    ) -> None:
        """One event per acknowledgement attempt, recorded or refused (forged, expired...)."""
        verdict = "accepted" if accepted else "refused"
        identified_by = _IDENTIFIED_BY.get(identity.partition(":")[0], "nobody")
        shared = " (known by address only: it counts for everyone there)"
        self._emit(
            logging.INFO if accepted else logging.WARNING,
            "ack",
            accepted,
            message=f"ack {verdict}: {identity} for {vendor} by rule {rule_id}: {reason}"
            + (shared if accepted and identified_by == "address" else ""),
            source=_present(ip=client_ip),
            user=_present(name=user),
            url={"domain": host},
            rule=_present(id=rule_id or None),
            aiwall={
                "ack": {
                    "identity": identity,
                    "identified_by": identified_by,
                    "vendor": vendor,
                    **_present(product=product),
                    "rule": rule_id,
                    "host": host,
                    "justification": safe_text(justification, MAX_JUSTIFICATION),
                    "ttl_seconds": ttl_seconds,
                    "accepted": accepted,
                    "reason": reason,
                }
            },
        )

    def config_loaded(
        self,
        config: Config,
        *,
        rules: str,
        policies: str,
        previous: Config | None = None,
        previous_rules: RulesFile | None = None,
    ) -> None:
        """The configuration now in force, what it changed in the rules, and (`policy.changed`)
        in the vendor facts, against the `previous` one of this process (or, at a start, the
        rules of the last good configuration kept in the state directory)."""
        warnings = [str(w) for w in config.warnings]
        before = previous.rules if previous is not None else previous_rules
        rule_changes = changes.rule_changes(before, config.rules) if before else []
        settings = changes.settings_changes(before, config.rules) if before else []
        noted = f", {len(warnings)} warnings" if warnings else ""
        changed = f", {len(rule_changes)} rules changed" if rule_changes else ""
        self._emit(
            logging.INFO,
            "config.loaded",
            True,
            message=f"config loaded: {len(config.rules.rules)} rules from {rules},"
            f" {len(config.registry.vendors)} vendors from {policies}{noted}{changed}",
            aiwall={
                "config": {
                    "rules": rules,
                    "policies": policies,
                    "vendors": len(config.registry.vendors),
                    "rules_count": len(config.rules.rules),
                    "warnings": warnings,
                    "reload": previous is not None,
                    "rules_hash": changes.rules_hash(config.rules),
                    "policies_hash": changes.policies_hash(config.registry),
                    "rule_ids": [rule.id for rule in config.rules.rules],
                    "default_action": str(config.rules.settings.default_action),
                    "unlogged_allow": changes.unlogged_allow(config.rules),
                    "rule_changes": rule_changes,
                    "settings_changes": settings,
                }
            },
        )
        if previous is not None and (
            facts := changes.fact_changes(previous.registry, config.registry)
        ):
            self.policy_changed(facts)

    def config_rejected(self, *, problems: list[str], serving: str | None = None) -> None:
        """A configuration that cannot be used; each problem reads `file:line: field: message`;
        `serving` says what serves instead."""
        instead = f"; serving {serving}" if serving else ""
        self._emit(
            logging.ERROR,
            "config.rejected",
            False,
            message="config rejected: " + "; ".join(problems) + instead,
            aiwall={"config": {"problems": problems, **_present(serving=serving)}},
        )

    def policy_changed(self, facts: list[dict[str, Any]]) -> None:
        """A reload changed vendor facts: one `{vendor, product, change, field, old, new}` each."""
        self._emit(
            logging.WARNING,
            "policy.changed",
            True,
            message="policy changed: " + "; ".join(map(changes.fact_change_text, facts)),
            aiwall={"policy": {"changes": facts}},
        )

    def source_changed(
        self,
        *,
        vendor: str,
        url: str,
        title: str,
        facts: list[str],
        verified: str,
        diff: list[str],
    ) -> None:
        """A page a record cites changed in substance (`aiwall sources check`)."""
        covered = f" ({', '.join(facts)})" if facts else ""
        self._emit(
            logging.WARNING,
            "source.changed",
            True,
            message=f"source changed: {vendor}: {url}{covered}",
            aiwall={
                "source": {
                    "vendor": vendor,
                    "url": url,
                    "title": title,
                    "facts": facts,
                    "verified": verified,
                    "diff": diff,
                }
            },
        )

    def decisions_suppressed(
        self,
        *,
        client_ip: str | None,
        user: str | None,
        host: str | None,
        rule_id: str | None,
        status_code: int | None,
        count: int,
        seconds: float,
    ) -> None:
        """Identical refusals for one client that were counted instead of written one by one."""
        self._emit(
            logging.WARNING,
            "decisions.suppressed",
            False,
            message=f"{count} more identical refusals of {host or 'request heads'} for this client"
            f" in {seconds:.0f} s were counted, not written one by one",
            source=_present(ip=client_ip),
            user=_present(name=user),
            url=_present(domain=host),
            http=_present(response=_present(status_code=status_code) or None),
            rule=_present(id=rule_id),
            aiwall={"suppressed": {"count": count, "seconds": math.ceil(seconds)}},
        )

    def connection_refused(self, *, client_ip: str | None, status_code: int, reason: str) -> None:
        """A connection closed before any request on it was decided (proxy/heads.py)."""
        self._emit(
            logging.WARNING,
            "connection.refused",
            False,
            message=f"closed the connection of {client_ip or 'a client'} with {status_code}:"
            f" {reason}",
            source=_present(ip=client_ip),
            http={"response": {"status_code": status_code}},
            aiwall={"refused": {"reason": reason}},
        )

    def internal_error(
        self, *, error: str, where: str, host: str | None, client_ip: str | None
    ) -> None:
        self._emit(
            logging.ERROR,
            "error",
            False,
            message=f"internal error in {where}: {error}",
            source=_present(ip=client_ip),
            url=_present(domain=host),
            error={"message": error},
            aiwall={"error": {"where": where}},
        )

    def directory_read(
        self, *, ok: bool, groups: int, users: int, error: str | None, seconds: float
    ) -> None:
        """A read of the directory groups: the first of a configuration, a failure (the last
        membership read keeps serving), or the first success after failures."""
        if ok:
            message = f"directory read: {users} users in {groups} groups"
        else:
            message = f"directory unreachable, keeping the last membership read: {error}"
        self._emit(
            logging.INFO if ok else logging.WARNING,
            "directory.read",
            ok,
            message=message,
            **_present(error=None if ok else {"message": error or "unknown"}),
            aiwall={
                "directory": {
                    "groups": groups,
                    "users": users,
                    "milliseconds": round(seconds * 1000),
                    "stale": not ok,
                }
            },
        )

    def _emit(self, level: int, name: str, success: bool, **fields: Any) -> None:
        self._log.log(level, name, outcome="success" if success else "failure", **fields)

    def _record_of(self, decision: Decision) -> dict[str, Any] | None:
        """The vendor record's facts as they were when deciding; None without a product."""
        if decision.vendor is None or decision.product is None:
            return None
        return self._record(decision.vendor, decision.product, decision.stale)


# How an acknowledgement's identity was established: `user:`, `ip:` or neither.
_IDENTIFIED_BY = {"user": "user", "ip": "address"}


def records_use(decision: Decision) -> bool:
    """Whether an allowed request is recorded (counted into a `session`): `record: true`."""
    rule = decision.rule
    return decision.action is Action.ALLOW and rule is not None and rule.record


def _decision_message(decision: Decision, request: RequestContext) -> str:
    if decision.host is None:  # an invalid name, or no AI traffic
        return f"{decision.action}: {decision.reason}"
    product = decision.product_ref
    what = f"{decision.host} ({product})" if product else decision.host
    by = f"rule {decision.rule.id}" if decision.rule else "the default action"
    acknowledged = ", acknowledged" if request.acknowledged else ""
    return f"{decision.action} {what} by {by}{acknowledged}"


def _present(**fields: Any) -> dict[str, Any]:
    """The fields whose value is not None: the log leaves out what it does not know."""
    return {key: value for key, value in fields.items() if value is not None}


def _path_only(path: str) -> str:
    """The path without query or fragment, which may carry keys and tokens."""
    return path.split("?", 1)[0].split("#", 1)[0]


def _render(logger: WrappedLogger, level: str, fields: EventDict) -> str:
    return _render_line(dict(fields))
