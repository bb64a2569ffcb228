"""Allowed use that a rule records (`record: true`): per-session counts instead of a line per call.

A plain `allow` leaves no line in the log; a rule with `record: true` leaves one `session`
event per (identity, vendor, product, rule) and interval: how many requests, how many bytes
they sent (their declared Content-Length), which hosts, the first and the last. Intervals are
aligned to the clock (10:00, 10:10, ... for ten minutes), so sessions of several instances
line up. A session is written when its interval is over: by the next request after that, by
a timer thread while the proxy is idle, and by `close()` (stop, or a new log destination).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_INTERVAL = 600.0  # seconds
MAX_HOSTS = 20  # hosts kept per session


@dataclass
class Session:
    """One identity's recorded use of one product, under one rule, in one interval."""

    identity: str
    user: str | None
    client_ip: str | None
    decision: Any  # the first request's Decision (vendor, product, rule, record facts)
    window: float  # start of the interval, seconds since the epoch
    first: float
    last: float
    requests: int = 0
    request_bytes: int = 0
    hosts: list[str] = field(default_factory=list)


SessionKey = tuple[str, str, str, float]  # identity, product, rule, interval start


class UsageSessions:
    """Counts recorded use in memory and hands each finished session to `emit`."""

    def __init__(
        self,
        emit: Callable[[Session], None],
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the session interval must be positive, not {interval}")
        self.interval = interval
        self._emit = emit
        self._clock = clock
        self._open: dict[SessionKey, Session] = {}
        self._lock = threading.Lock()
        self._next_due = float("inf")  # end of the oldest open interval
        self._timer: threading.Thread | None = None
        self._stopped = threading.Event()

    def count(
        self,
        *,
        identity: str,
        user: str | None,
        client_ip: str | None,
        product: str,
        rule: str,
        host: str | None,
        request_bytes: int,
        decision: Any,
    ) -> None:
        now = self._clock()
        window = now - now % self.interval
        key = (identity, product, rule, window)
        with self._lock:
            session = self._open.get(key)
            if session is None:
                session = self._open[key] = Session(
                    identity, user, client_ip, decision, window, now, now
                )
                self._next_due = min(self._next_due, window + self.interval)
            session.requests += 1
            session.request_bytes += request_bytes
            session.last = now
            if host and host not in session.hosts and len(session.hosts) < MAX_HOSTS:
                session.hosts.append(host)
        if now >= self._next_due:
            self.flush()
        if self._timer is None:
            self._start_timer()

    def flush(self, everything: bool = False) -> None:
        """Write the sessions whose interval is over (all of them with `everything`)."""
        now = self._clock()
        with self._lock:
            done = [
                key
                for key, session in self._open.items()
                if everything or session.window + self.interval <= now
            ]
            finished = [self._open.pop(key) for key in done]
            self._next_due = min(
                (s.window + self.interval for s in self._open.values()), default=float("inf")
            )
        for session in sorted(finished, key=lambda s: (s.window, s.first)):
            self._emit(session)

    def close(self) -> None:
        """Write every open session and stop the timer."""
        self._stopped.set()
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join(timeout=5)
        self.flush(everything=True)

    def _start_timer(self) -> None:
        with self._lock:
            if self._timer is not None or self._stopped.is_set():
                return
            self._timer = threading.Thread(target=self._tick, name="aiwall-sessions", daemon=True)
            self._timer.start()

    def _tick(self) -> None:
        while not self._stopped.is_set():
            due = self._next_due
            wait = self.interval if due == float("inf") else max(due - self._clock(), 0.0) + 0.05
            if self._stopped.wait(min(wait, self.interval)):
                return
            self.flush()
