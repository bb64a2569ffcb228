"""A bound on identical refusal events, so that one client cannot flood the log.

HTTP/2 rapid reset or a script in a loop against a blocked name can ask thousands of times a
second. Each (client, host, rule, status) may write `limit` refusal events per `interval`; the
rest are counted, never dropped silently: once the interval is over, one summary event says how
many were left out.
"""

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

MAX_KEYS = 10_000  # distinct keys remembered per interval; past that every refusal is logged


@dataclass
class _Window:
    started: float
    written: int = 0
    suppressed: int = 0


@dataclass
class RefusalLimiter[K: Hashable]:
    limit: int = 20
    interval: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _windows: dict[K, _Window] = field(default_factory=dict)

    def admit(self, key: K) -> bool:
        """Whether this refusal event is written; if not, it is counted for the summary."""
        now = self.clock()
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= MAX_KEYS:
                return True
            window = self._windows[key] = _Window(now)
        elif now - window.started >= self.interval and not window.suppressed:
            window.started, window.written = now, 0  # nothing to summarise: start afresh
        if window.written < self.limit:
            window.written += 1
            return True
        window.suppressed += 1
        return False

    def expired(self) -> list[tuple[K, int, float]]:
        """Keys whose interval is over and had events left out: (key, how many, seconds)."""
        now = self.clock()
        done = [k for k, w in self._windows.items() if now - w.started >= self.interval]
        summaries = []
        for key in done:
            window = self._windows.pop(key)
            if window.suppressed:
                summaries.append((key, window.suppressed, now - window.started))
        return summaries
