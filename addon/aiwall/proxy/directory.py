"""Reading the directory's groups in the background: now, after each configuration change, and
every `refresh`, in a worker thread, never while a request waits (identity/directory.py)."""

import asyncio
import contextlib
from collections.abc import Callable

from aiwall.identity.directory import GroupCache, RefreshResult
from aiwall.telemetry.events import EventLog
from aiwall.telemetry.metrics import Metrics


class DirectoryReader:
    def __init__(self, metrics: Metrics, events: Callable[[], EventLog]) -> None:
        self.cache = GroupCache()
        self._metrics = metrics
        self._events = events
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """A new configuration: read the directory now, not at the next interval."""
        self._changed.set()

    async def run(self) -> None:
        directory = self.cache
        while True:
            changed = self._changed.is_set()
            self._changed.clear()
            if directory.enabled:
                was_up = directory.up
                try:
                    result = await asyncio.to_thread(directory.refresh)
                except Exception as error:  # the reader outlives any one bad read
                    result = RefreshResult(False, len(directory.sources), 0, repr(error))
                    directory.up = False
                self._metrics.directory_read(result.ok, directory.snapshot.read_at)
                # Logged: the first read of a configuration, every failure, and the recovery.
                if changed or not result.ok or not was_up:
                    self._events().directory_read(
                        ok=result.ok,
                        groups=result.groups,
                        users=result.users,
                        error=result.error,
                        seconds=result.seconds,
                    )
            settings = directory.settings
            interval = settings.refresh.total_seconds() if settings else 3600.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval)
