"""Where acknowledgements and spent nonces live: this process's memory, or a shared Redis.

An acknowledgement is kept for (identity, scope, rule): the scope is the vendor, or
`host:<name>` for a host only the rules name, and the rule is the warn rule that was
acknowledged, so an acknowledgement of a lax rule never satisfies a stricter one.
The interface is asynchronous: the proxy awaits it on mitmproxy's event loop, and a store that
talks to a server never blocks that loop.
"""

import heapq
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Protocol


class AckStore(Protocol):
    """Where acknowledgements and spent nonces live: in memory, or shared by several instances."""

    async def acknowledge(self, identity: str, scope: str, rule: str, ttl_seconds: int) -> None:
        """Remember for `ttl_seconds` that `identity` acknowledged `rule`'s warning for `scope`.

        Raises StoreUnavailable when it could not be recorded."""

    async def is_acknowledged(self, identity: str, scope: str, rule: str) -> bool:
        """Whether that acknowledgement exists and has not expired (False when unsure)."""

    async def use_nonce(self, nonce: str, ttl_seconds: int) -> bool:
        """Spend a nonce atomically: True the first time, False on a replay within `ttl_seconds`.

        Raises StoreUnavailable when it could not be spent."""

    @property
    def up(self) -> bool:
        """Whether the store answered its last call (a memory store is always up)."""

    async def close(self) -> None:
        """Let go of connections; the store is not used afterwards."""


class MemoryAckStore:
    """The acknowledgement store of a single instance: bounded, expiring, thread-safe.

    It holds at most `max_entries` acknowledgements and as many spent nonces; when full, it
    evicts expired entries first, then the oldest. Losing an acknowledgement only shows the
    warning again. Losing a nonce would let its token be replayed, so the store remembers the
    latest deadline it evicted and refuses nonces that expire no later: their tokens are older
    than the evicted one, and reloading the warning page gives a fresh one.
    """

    # `redeem` rounds a token's remaining lifetime up to whole seconds, so the deadlines of two
    # attempts with one token differ by less than this.
    _DEADLINE_ROUNDING = 1.0

    def __init__(
        self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._acknowledgements = _Deadlines[tuple[str, str, str]](max_entries)
        self._spent_nonces = _Deadlines[str](max_entries)
        self._latest_evicted_nonce = -math.inf
        self._clock = clock
        self._lock = threading.Lock()

    up = True

    async def acknowledge(self, identity: str, scope: str, rule: str, ttl_seconds: int) -> None:
        with self._lock:
            now = self._clock()
            self._acknowledgements.put((identity, scope, rule), now + ttl_seconds, now)

    async def is_acknowledged(self, identity: str, scope: str, rule: str) -> bool:
        with self._lock:
            return self._acknowledgements.holds((identity, scope, rule), self._clock())

    async def use_nonce(self, nonce: str, ttl_seconds: int) -> bool:
        with self._lock:
            now = self._clock()
            deadline = now + ttl_seconds
            if self._spent_nonces.holds(nonce, now) or (
                deadline <= self._latest_evicted_nonce + self._DEADLINE_ROUNDING
            ):
                return False
            evicted = self._spent_nonces.put(nonce, deadline, now)
            if evicted is not None:
                self._latest_evicted_nonce = max(self._latest_evicted_nonce, evicted)
            return True

    async def close(self) -> None:
        pass

    def __len__(self) -> int:
        """The number of acknowledgements held that have not expired."""
        with self._lock:
            self._acknowledgements.drop_expired(self._clock())
            return len(self._acknowledgements)


class _Deadlines[K: Hashable]:
    """Keys with deadlines, at most `max_entries` of them; not thread-safe on its own."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"a store needs room for at least one entry, not {max_entries!r}")
        self._max_entries = max_entries
        # key → (deadline, serial), oldest first
        self._entries: OrderedDict[K, tuple[float, int]] = OrderedDict()
        # The same entries soonest deadline first, so expired ones are found without a scan.
        # Rows whose serial no longer matches were replaced or evicted and are skipped.
        self._soonest: list[tuple[float, int, K]] = []
        self._serial = 0

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, key: K, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and now < entry[0]

    def put(self, key: K, deadline: float, now: float) -> float | None:
        """Set the deadline of `key`; returns that of a live entry evicted for room, if any."""
        self.drop_expired(now)
        self._entries.pop(key, None)
        evicted = None
        if len(self._entries) >= self._max_entries:
            _, (evicted, _) = self._entries.popitem(last=False)
        self._serial += 1
        self._entries[key] = (deadline, self._serial)
        heapq.heappush(self._soonest, (deadline, self._serial, key))
        if len(self._soonest) > 2 * self._max_entries:
            self._soonest = [(d, serial, k) for k, (d, serial) in self._entries.items()]
            heapq.heapify(self._soonest)
        return evicted

    def drop_expired(self, now: float) -> None:
        while self._soonest and self._soonest[0][0] <= now:
            _, serial, key = heapq.heappop(self._soonest)
            entry = self._entries.get(key)
            if entry is not None and entry[1] == serial:
                del self._entries[key]


def open_ack_store(spec: str) -> AckStore:
    """`memory` (this process only) or a `redis://`, `rediss://` or `unix://` URL of a Redis
    that several instances share. ValueError names the spec (a URL without its password)."""
    if spec == "memory":
        return MemoryAckStore()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from aiwall.ack.redis import RedisAckStore, redacted  # only those who use it need it

        try:
            return RedisAckStore(spec)
        except ValueError as error:
            raise ValueError(f"{redacted(spec)!r}: {error}") from None
    raise ValueError(f"{spec!r} is not an acknowledgement store (use memory or a redis:// URL)")
