"""Event ids: `<instance>-<sequence>`, unique, and made before the event is written.

The instance is random per process start, so two proxies (or one restarted) never share an
id; the sequence counts every id this process has made, so it is monotonic per instance. The
proxy takes an id before it renders a page, shows it there as the reference the employee can
quote, and hands it to the event that records the same request (`RequestContext.event_id`).
Readers drop a line whose id they have seen (a log read twice, `copytruncate` overlaps):
`SeenIds` remembers the ids as runs of consecutive sequence numbers, so memory grows with the
gaps in a log, not with its length.
"""

import base64
import bisect
import itertools
import os
from typing import NamedTuple


def _new_instance() -> str:
    return base64.b32encode(os.urandom(5)).decode("ascii").lower()


INSTANCE = _new_instance()  # 8 characters of [a-z2-7]
NONE_AFTER = 1 << 62  # beyond any sequence
_sequence = itertools.count(1)  # next() on a count is atomic: threads get distinct numbers


class EventId(NamedTuple):
    instance: str
    sequence: int

    def __str__(self) -> str:
        return f"{self.instance}-{self.sequence}"


def new_event_id() -> str:
    """A fresh id, `k3x7q2ma-1042`: for a page that shows it and the event that records it."""
    return f"{INSTANCE}-{next(_sequence)}"


def parse_event_id(text: str) -> EventId | None:
    """The instance and sequence of an id aiwall made; None for any other text."""
    instance, dash, number = text.rpartition("-")
    if not dash or not instance or not number.isdigit() or not number.isascii():
        return None
    return EventId(instance, int(number))


class SeenIds:
    """Which (instance, sequence) pairs have been read, as sorted runs per instance.

    A log read in order extends the current run by one per line; a stretch read again (an
    overlap) falls inside a run. Other ids (not `<instance>-<number>`) are kept as they are.
    """

    def __init__(self) -> None:
        self._starts: dict[bytes, list[int]] = {}  # per instance: first sequence of each run
        self._ends: dict[bytes, list[int]] = {}  # ... and its last, same index
        self._other: set[str] = set()

    def first_time(self, instance: bytes, sequence: int) -> bool:
        """Record the pair; False when it had been recorded before (a duplicate)."""
        return self.claim(instance, sequence) > 0

    def claim(self, instance: bytes, sequence: int) -> int:
        """Record the pair; 0 when it had been recorded before. Otherwise the first sequence
        after it that is known to have been recorded (`NONE_AFTER` when none): a reader may
        take the ids up to there as new without asking, and `add_run` them afterwards."""
        starts = self._starts.get(instance)
        if starts is None:
            self._starts[instance], self._ends[instance] = [sequence], [sequence]
            return NONE_AFTER
        ends = self._ends[instance]
        if ends[-1] + 1 == sequence:  # the common case: the next line of the same stretch
            ends[-1] = sequence
            return NONE_AFTER
        i = bisect.bisect_right(starts, sequence) - 1
        if i >= 0 and sequence <= ends[i]:
            return 0
        limit = starts[i + 1] if i + 1 < len(starts) else NONE_AFTER  # the next run's start
        self._add(instance, sequence, sequence)
        return limit

    def add_run(self, instance: bytes, first: int, last: int) -> None:
        """Record every sequence from `first` to `last` (none of them recorded before)."""
        if first <= last:
            self._add(instance, first, last)

    def _add(self, instance: bytes, first: int, last: int) -> None:
        starts = self._starts.setdefault(instance, [])
        ends = self._ends.setdefault(instance, [])
        i = bisect.bisect_right(starts, first) - 1  # the run that starts at or before `first`
        joins_left = i >= 0 and ends[i] + 1 >= first
        joins_right = i + 1 < len(starts) and starts[i + 1] <= last + 1
        if joins_left and joins_right:
            ends[i] = max(ends[i + 1], last)
            del starts[i + 1], ends[i + 1]
        elif joins_left:
            ends[i] = max(ends[i], last)
        elif joins_right:
            starts[i + 1] = first
            ends[i + 1] = max(ends[i + 1], last)
        else:
            starts.insert(i + 1, first)
            ends.insert(i + 1, last)

    def first_time_text(self, text: str) -> bool:
        """The same for an id as text; any text that is no aiwall id is compared whole."""
        parsed = parse_event_id(text)
        if parsed is not None:
            return self.first_time(parsed.instance.encode("utf-8"), parsed.sequence)
        if text in self._other:
            return False
        self._other.add(text)
        return True

    @property
    def runs(self) -> int:
        """How many runs are kept (memory grows with this, not with the ids read)."""
        return sum(len(starts) for starts in self._starts.values()) + len(self._other)
