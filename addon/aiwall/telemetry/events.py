"""The log: one JSON line per event, ECS field names, structlog.

Each event is a structlog call whose event name (`decision`, `ack`, `config.loaded`,
`config.rejected`, `policy.changed`, `source.changed`, `error`) becomes ECS `event.action`.
The processor chain adds the ECS envelope, makes every string safe (lone surrogates replaced,
long strings cut) and renders JSON with `ensure_ascii`, so CR, LF, U+2028, escape codes and
NUL can only appear escaped: whatever a client sends, an event is exactly one line.
`events.schema.json` documents every field and the tests hold the two in step.

Writing never raises: enforcement must not depend on the log. A destination that cannot be
opened or written is reported once per streak of failures through the `aiwall` logger, and
the events lost are counted.

A file can rotate by size: when the next line would take it past `max_bytes`, it becomes
`<file>.1` (`.1` becomes `.2`, and so on up to `backups`) and a fresh file is opened, under
the same lock as the writes, so a line is never split across two files nor lost in between.
A rotation that fails (a read-only folder, a directory in the way) is reported and counted,
and the lines go on into the current file. For logrotate, `reopen()` (SIGHUP in the addon)
closes the file so the next event opens whatever file now has its name.
"""

import contextlib
import importlib.resources
import json
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from aiwall.core.decision import Decision

EVENT_SCHEMA_PATH = Path(str(importlib.resources.files("aiwall.telemetry") / "events.schema.json"))
ECS_VERSION = "8.11.0"
MAX_STRING = 2048
MAX_JUSTIFICATION = 1000
TRUNCATED = "[truncated]"
ROTATION_RETRY_SECONDS = 5.0  # after a failed rotation, how long to write on before trying again

logger = logging.getLogger("aiwall")


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


class _Kind(NamedTuple):
    """How ECS categorises one event name."""

    category: tuple[str, ...]
    dataset: str
    success: str  # event.type when the outcome is success
    failure: str  # event.type when the outcome is failure


_KINDS = {
    "decision": _Kind(("network", "web"), "aiwall.decision", "allowed", "denied"),
    "ack": _Kind(("network", "web"), "aiwall.ack", "allowed", "denied"),
    "config.loaded": _Kind(("configuration",), "aiwall.config", "change", "change"),
    "config.rejected": _Kind(("configuration",), "aiwall.config", "change", "change"),
    "policy.changed": _Kind(("configuration",), "aiwall.config", "change", "change"),
    "source.changed": _Kind(("configuration",), "aiwall.source", "change", "change"),
    "error": _Kind(("web",), "aiwall.error", "error", "error"),
    "decisions.suppressed": _Kind(("network", "web"), "aiwall.decision", "denied", "denied"),
    "directory.read": _Kind(("iam",), "aiwall.directory", "group", "error"),
}


class EventLog:
    """Writes aiwall's events as JSON lines to stdout (`-`) or appends them to a file.

    For a file, `max_bytes` > 0 rotates it by size, keeping `backups` older files (0: none,
    the full file is dropped). Both are ignored for stdout.
    """

    def __init__(self, destination: str = "-", max_bytes: int = 0, backups: int = 5) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 (no rotation) or more, not {max_bytes}")
        if backups < 0:
            raise ValueError(f"backups must be 0 or more, not {backups}")
        self._writer = _LineWriter(destination, max_bytes, backups)
        # A logger of its own, not structlog.configure: several logs may live side by side.
        self._log: FilteringBoundLogger = structlog.wrap_logger(
            self._writer,
            processors=[
                _ecs_envelope,
                _render,
            ],
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
        self._writer.close()

    def decision(self, decision: Decision, request: RequestContext) -> None:
        rule = decision.rule
        stopped = not request.forwarded
        self._emit(
            logging.INFO,
            "decision",
            not stopped,
            message=_decision_message(decision, request),
            source=_present(ip=request.client_ip),
            user=_present(name=request.user),
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
            rule={"id": rule.id, "name": rule.description, "ruleset": str(rule.mode)}
            if rule
            else None,
            aiwall={
                "action": str(decision.action),
                "reason": decision.reason,
                "rule": rule.id if rule else None,
                **_present(
                    vendor=decision.vendor.id if decision.vendor else None,
                    product=_product_name(decision),
                    record=_record(decision),
                ),
                "facts": decision.facts,
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
                "tenant_restricted": bool(decision.tenant_headers),
                **_present(invalid_host=decision.invalid),
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
                    "justification": _safe_text(justification, MAX_JUSTIFICATION),
                    "ttl_seconds": ttl_seconds,
                    "accepted": accepted,
                    "reason": reason,
                }
            },
        )

    def config_loaded(
        self,
        *,
        rules: str,
        policies: str,
        vendors: int,
        rules_count: int,
        warnings: list[str],
        rules_hash: str | None = None,
        rule_changes: list[dict[str, Any]] | None = None,
    ) -> None:
        """A configuration in force; `rule_changes` against the one before it, each
        `{rule, change: added|removed|changed, fields}`."""
        noted = f", {len(warnings)} warnings" if warnings else ""
        changed = f", {len(rule_changes)} rules changed" if rule_changes else ""
        traced = _present(rules_hash=rules_hash, rule_changes=rule_changes)
        self._emit(
            logging.INFO,
            "config.loaded",
            True,
            message=f"config loaded: {rules_count} rules from {rules},"
            f" {vendors} vendors from {policies}{noted}{changed}",
            aiwall={
                "config": {
                    "rules": rules,
                    "policies": policies,
                    "vendors": vendors,
                    "rules_count": rules_count,
                    "warnings": warnings,
                    **traced,
                }
            },
        )

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

    def policy_changed(self, *, changes: list[str]) -> None:
        """A reload changed vendor facts; each change reads `vendor/product: field: old → new`."""
        self._emit(
            logging.WARNING,
            "policy.changed",
            True,
            message="policy changed: " + "; ".join(changes),
            aiwall={"policy": {"changes": changes}},
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
            message=f"{count} more identical refusals of {host} for this client in"
            f" {seconds:.0f} s were counted, not written one by one",
            source=_present(ip=client_ip),
            user=_present(name=user),
            url=_present(domain=host),
            http=_present(response=_present(status_code=status_code) or None),
            rule=_present(id=rule_id),
            aiwall={"suppressed": {"count": count, "seconds": math.ceil(seconds)}},
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


# How an acknowledgement's identity was established: `user:`, `ip:` or neither.
_IDENTIFIED_BY = {"user": "user", "ip": "address"}


def _decision_message(decision: Decision, request: RequestContext) -> str:
    if decision.host is None:  # an invalid name, or no AI traffic
        return f"{decision.action}: {decision.reason}"
    product = _product_name(decision)
    what = f"{decision.host} ({product})" if product else decision.host
    by = f"rule {decision.rule.id}" if decision.rule else "the default action"
    acknowledged = ", acknowledged" if request.acknowledged else ""
    return f"{decision.action} {what} by {by}{acknowledged}"


def _product_name(decision: Decision) -> str | None:
    if decision.vendor is None or decision.product is None:
        return None
    return f"{decision.vendor.id}/{decision.product.id}"


def _record(decision: Decision) -> dict[str, Any] | None:
    """How far to trust the vendor facts: when they were checked, how sure, whether stale."""
    vendor, product = decision.vendor, decision.product
    if vendor is None:
        return None
    confidence = vendor.confidence_of(product) if product else vendor.confidence
    return {
        "last_verified": vendor.last_verified.isoformat(),
        "confidence": str(confidence),
        "stale": decision.stale,
    }


def _present(**fields: Any) -> dict[str, Any]:
    """The fields whose value is not None: the log leaves out what it does not know."""
    return {key: value for key, value in fields.items() if value is not None}


def _path_only(path: str) -> str:
    """The path without query or fragment, which may carry keys and tokens."""
    return path.split("?", 1)[0].split("#", 1)[0]


def _safe_text(text: str, limit: int = MAX_STRING) -> str:
    """Text that encodes as UTF-8 (lone surrogates become U+FFFD), at most `limit` characters."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, as surrogateescape makes of invalid UTF-8
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if len(text) > limit:
        return text[: limit - len(TRUNCATED)] + TRUNCATED
    return text


def _safe(value: Any) -> Any:
    """A copy of an event made of JSON types only, every string passed through _safe_text.

    Keys are aiwall's own names and left as they are. Exact type checks first: this runs on
    every value of every event, and they halve its cost.
    """
    kind = type(value)
    if kind is str:
        return value if value.isascii() and len(value) <= MAX_STRING else _safe_text(value)
    if kind is dict:
        return {key: _safe(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_safe(item) for item in value]
    if value is None or kind is bool or kind is int or (kind is float and math.isfinite(value)):
        return value
    if isinstance(value, bytes):
        return _safe_text(value.decode("utf-8", "replace"))
    return _safe_text(str(value))  # enums, addresses, dates: their text


def _ecs_envelope(logger: WrappedLogger, level: str, fields: EventDict) -> EventDict:
    """structlog's event name becomes ECS event.action; the envelope comes first in the line."""
    name = fields.pop("event")
    outcome = fields.pop("outcome")
    kind = _KINDS[name]
    timestamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {
        "@timestamp": timestamp,
        "ecs": {"version": ECS_VERSION},
        "log": {"level": level, "logger": "aiwall"},
        "event": {
            "kind": "event",
            "category": list(kind.category),
            "type": [kind.success if outcome == "success" else kind.failure],
            "action": name,
            "outcome": outcome,
            "dataset": kind.dataset,
        },
        **{key: value for key, value in fields.items() if value is not None and value != {}},
    }


def _render(logger: WrappedLogger, level: str, fields: EventDict) -> str:
    """Last: the event as one line of ASCII JSON (every control and non-ASCII character escaped).

    Most events hold nothing to clean, so they are dumped as they are; only when the dump shows
    something, a lone surrogate (or any escaped surrogate), a line long enough to hold an
    over-long string, a value that is not JSON, is the event walked, cleaned and dumped again.
    """
    try:
        line = _dumps(fields)
    except (TypeError, ValueError):
        return _dumps(_safe(fields))
    if len(line) > MAX_STRING or "\\ud" in line:
        return _dumps(_safe(fields))
    return line


def _dumps(fields: EventDict) -> str:
    return json.dumps(fields, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class _LineWriter:
    """What structlog writes to: one write and one flush per line, and never an exception."""

    def __init__(self, destination: str, max_bytes: int = 0, backups: int = 5) -> None:
        self.destination = destination
        self.failures = 0
        self.rotation_failures = 0
        self._max_bytes = max_bytes if destination != "-" else 0
        self._backups = backups
        self._file: TextIO | None = None
        self._size = 0  # bytes in the open file, so rotation needs no system call per line
        self._failing = False
        self._rotation_failing = False
        self._rotation_failed_at = -math.inf
        self._lock = threading.Lock()
        if destination != "-":
            try:
                self._open()
            except OSError as error:
                self._report(error)

    def msg(self, line: str) -> None:
        data = line + "\n"  # ASCII (ensure_ascii): characters are bytes
        with self._lock:
            try:
                stream = self._stream()
                if self._max_bytes and self._size + len(data) > self._max_bytes and self._size:
                    stream = self._rotate(len(data))
                stream.write(data)
                stream.flush()
                self._size += len(data)
            except (OSError, ValueError) as error:  # ValueError: a closed stdout
                self.failures += 1
                self._report(error)
                self._drop_file()
                return
            if self._failing:
                self._failing = False
                logger.warning(
                    "aiwall: writing the event log to %s again (%d events lost so far)",
                    self.destination,
                    self.failures,
                )

    debug = info = warning = error = critical = msg

    def close(self) -> None:
        with self._lock:
            self._drop_file()

    def _stream(self) -> TextIO:
        if self.destination == "-":
            return sys.stdout  # looked up each time, so a redirected stdout is followed
        return self._open() if self._file is None else self._file

    def _open(self) -> TextIO:
        self._file = _open_log(Path(self.destination))
        self._size = self._file.tell()
        return self._file

    def _rotate(self, needed: int) -> TextIO:
        """Rename the full file away and open a fresh one; on failure, the current one."""
        assert self._file is not None
        # Someone else may have truncated it (logrotate's copytruncate): trust the file.
        self._size = os.fstat(self._file.fileno()).st_size
        if self._size + needed <= self._max_bytes or not self._size:
            return self._file
        if time.monotonic() - self._rotation_failed_at < ROTATION_RETRY_SECONDS:
            return self._file
        self._drop_file()
        try:
            _shift(Path(self.destination), self._backups)
        except OSError as error:
            self.rotation_failures += 1
            self._rotation_failed_at = time.monotonic()
            if not self._rotation_failing:
                self._rotation_failing = True
                logger.error(
                    "aiwall: cannot rotate the event log %s: %s (events go on into it past"
                    " the size limit)",
                    self.destination,
                    error,
                )
        else:
            if self._rotation_failing:
                self._rotation_failing = False
                logger.warning("aiwall: rotating the event log %s again", self.destination)
        return self._open()  # the fresh file, or the old one again when the rename failed

    def _report(self, error: Exception) -> None:
        if not self._failing:
            self._failing = True
            logger.error(
                "aiwall: cannot write the event log to %s: %s (enforcement goes on; events"
                " are lost until it can)",
                self.destination,
                error,
            )

    def _drop_file(self) -> None:
        """Close the file; the next event opens it again, with a fresh buffer."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # the lost line is already counted
                self._file.close()
            self._file = None


def _shift(path: Path, backups: int) -> None:
    """`log.N-1` → `log.N` … `log` → `log.1`, dropping what was `log.<backups>`.

    Oldest first, and stopping at the first failure, so no file is ever renamed onto one
    that has not moved on yet: a failure loses nothing.
    """
    if backups == 0:
        path.unlink(missing_ok=True)
        return
    for number in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{number}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{number + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def _open_log(path: Path) -> TextIO:
    """Open for appending, line-buffered; end a line torn by a crash or a full disk first."""
    file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (kept open)
    try:
        if file.tell() > 0 and _last_byte(path) != b"\n":
            file.write("\n")
            file.flush()
    except OSError:
        file.close()
        raise
    return file


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as file:
        file.seek(-1, 2)
        return file.read(1)
