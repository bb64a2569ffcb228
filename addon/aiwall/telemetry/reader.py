"""Reading aiwall's event log back: the reader `aiwall report` uses, beside the writer.

`open_log(path)` gives a log's lines as bytes (`-` is stdin; gzip is recognised by its first
bytes, whatever the name). `LogReader.read(lines, source)` turns them into events, every event
once: a line whose `event.id` was read before (a log read twice, or the overlap that
`copytruncate` rotation leaves between `events.jsonl.1.gz` and `events.jsonl`) is counted as a
duplicate and dropped, and so is a line outside the time window.

Two ways through a line. A decision line in the layout `EventLog` writes (`telemetry/layout.py`
says which one, and `tests/test_log_layout.py` holds the writer to it) is not parsed whole:
the time, the id, the client and the part of `aiwall` that repeats from line to line are cut
out by their keys, and that part is handed to the caller's `interpret` once per distinct text.
Such a line comes out as a `FastDecision` tuple. Every other line (another kind of event, another
layout, a part that does not parse, a user name with an escape, or a part `interpret` refuses
with ValueError) is parsed by `json.loads` and comes out as an `Event`. Lines that are not a
complete JSON event are counted as malformed, the first few named `file:line: why`; nothing
in a log stops the reading.
"""

import gzip
import io
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiwall.telemetry import layout
from aiwall.telemetry.ids import SeenIds

MALFORMED_EXAMPLES = 20
_CORE_CACHE_LIMIT = 100_000
_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
_FIVE = ord("5")
_QUOTE = ord('"')


class Client(NamedTuple):
    """Who made a request: the proxy-auth user, the address (either may be unknown)."""

    user: str | None
    ip: str | None

    @property
    def label(self) -> str:
        return self.user or self.ip or "anonymous"

    @property
    def identity(self) -> str:
        if self.user:
            return f"user:{self.user}"
        return f"ip:{self.ip}" if self.ip else "anonymous"


# A decision line cut apart in aiwall's layout: (hour, timestamp, decided, client). The
# timestamp is canonical bytes (layout.TIMESTAMP_WIDTH wide), the hour its first 13 bytes
# (b"YYYY-MM-DDTHH", one object per hour), `decided` what `interpret` made of the line's
# repeating part, `client` what `identify` made of its client. A plain tuple, not a class: one
# is made per line of a large log; an `Event` is a tuple subclass, so `type(item) is tuple`
# tells the two apart.
FastDecision = tuple[bytes, bytes, Any, Any]


class Event(NamedTuple):
    """A line parsed whole."""

    kind: str  # event.action
    timestamp: str  # canonical
    fields: dict[str, Any]
    source: str
    line: int


class Malformed(ValueError):
    """A line that is JSON, but not an event as aiwall writes it."""


def canonical(moment: datetime) -> str:
    """A time as the log writes it: UTC, microseconds, `Z`."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.isoformat(timespec="microseconds").replace("+00:00", "Z")


@contextmanager
def open_log(
    path: str, on_damage: Callable[[str], None] | None = None
) -> Iterator[Iterable[bytes]]:
    """A log file as lines of bytes: `-` is stdin; gzip is recognised by its magic bytes.

    Bytes, not text: aiwall's lines are ASCII, and decoding a gigabyte costs more than reading
    it; only the parts that are kept are decoded. Compressed data that ends early or is damaged
    (a log rotated while being compressed) ends the lines there and is reported to
    `on_damage`; without it, the error is raised."""
    if path == "-":
        yield sys.stdin.buffer
        return
    raw = io.BufferedReader(io.FileIO(path, "rb"), buffer_size=1 << 20)
    try:
        if raw.peek(2)[:2] != b"\x1f\x8b":
            yield raw
            return
        unpacked = gzip.GzipFile(fileobj=raw, mode="rb")
        yield unpacked if on_damage is None else _guarded(unpacked, on_damage)
    finally:
        raw.close()


def _guarded(lines: Iterable[bytes], on_damage: Callable[[str], None]) -> Iterator[bytes]:
    try:
        yield from lines
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        on_damage(f"compressed data ends early or is damaged ({error}); read up to there")


class LogReader:
    """Reads logs one after the other, keeping the counts of what it read and dropped.

    `interpret(aiwall, rule_name)` turns the repeating part of a decision line (the `aiwall`
    object up to `names`, and the rule's name) into what the caller counts by; it is called
    once per distinct text, and raising ValueError sends the line down the slow path.
    `identify(client)` does the same for the client of a line (default: the `Client` itself).
    """

    def __init__(
        self,
        interpret: Callable[[dict[str, Any], str | None], Any],
        since: datetime | None = None,
        until: datetime | None = None,
        identify: Callable[[Client], Any] = lambda client: client,
    ) -> None:
        self.since = canonical(since) if since else None
        self.until = canonical(until) if until else None
        self._interpret = interpret
        self._identify = identify
        self.read_lines = 0
        self.outside = 0
        self.duplicates = 0
        self.without_id = 0
        self.slow_decisions = 0  # decision lines that took the slow path
        self.malformed = 0
        self.malformed_examples: list[str] = []
        self._seen = SeenIds()
        self._cores: dict[bytes, Any] = {}  # repeating part → interpreted; _SLOW: slow path
        self._clients: dict[bytes, Any] = {}  # a line's source and user part → identified
        self._hours: dict[bytes, bytes] = {}  # b"YYYY-MM-DDTHH" that are real hours

    def read(self, lines: Iterable[bytes], source: str) -> Iterator[FastDecision | Event]:
        """Every event of `lines` inside the window and not read before, in the log's order."""
        since = self.since.encode() if self.since else None
        until = self.until.encode() if self.until else None
        seen, cores, clients, hours = self._seen, self._cores, self._clients, self._hours
        slow = _SLOW
        # The layout's marks, bound locally: this loop runs once per line of a large log.
        action_key, line_start, after_ts, ends = (
            layout.ACTION_KEY,
            layout.LINE_START,
            layout.AFTER_TIMESTAMP,
            layout.LINE_ENDS,
        )
        ts_start, ts_end, id_at, shape = (
            layout.TIMESTAMP.start,
            layout.TIMESTAMP.stop,
            layout.ID_AT,
            layout.TIMESTAMP_SHAPE,
        )
        event_end, source_ip, user_name = (
            layout.DECISION_EVENT_END,
            layout.SOURCE_IP,
            layout.USER_NAME,
        )
        aiwall_start, counted_end = layout.AIWALL_DECISION_START, layout.AIWALL_COUNTED_END
        rule_start = layout.RULE_START
        # The stretch of consecutive new ids being read, recorded in `seen` when it ends or a
        # line takes the slow path: ids from `run_first` to `next_n - 1` of the instance whose
        # ids start with `run_prefix`; the ids up to `limit` are known to be new.
        run_prefix, run_first, next_n, limit = b"\0", 0, -1, 0
        number = 0
        try:
            for number, line in enumerate(lines, 1):
                k = line.find(action_key, id_at)
                ts = line[ts_start:ts_end]
                if (
                    k > 0
                    and line.startswith(b'decision"', k + 10)
                    and ts.translate(_DIGITS_TO_0) == shape
                    and line.startswith(line_start)
                    and ts[14] <= _FIVE  # minutes and seconds below 60
                    and ts[17] <= _FIVE
                    and line.startswith(after_ts, ts_end)
                    and line.endswith(ends)
                ):
                    hour = hours.get(ts[:13]) or self._hour(ts[:13])
                    if (since is not None and ts < since) or (until is not None and ts >= until):
                        self.outside += 1
                        continue
                    end = line.find(b'"', id_at)
                    if line.startswith(run_prefix, id_at):
                        sequence = line[id_at + len(run_prefix) : end]
                        new_run = False
                    else:
                        instance, dash, sequence = line[id_at:end].rpartition(b"-")
                        if not dash or b"\\" in instance:
                            sequence = b""  # not an id aiwall makes: the slow path
                        new_run = True
                    p = line.find(event_end, k)
                    if hour and p > 0 and sequence.isdigit():
                        p0 = p = p + len(event_end)
                        if line.startswith(source_ip, p):
                            p = line.find(b'"', p + 17) + 2
                        if line.startswith(user_name, p):
                            p = line.find(b'"', p + 17) + 2
                        client = clients.get(line[p0:p], slow)
                        if client is slow:
                            client = self._client(line[p0:p])
                        i_aw = line.find(aiwall_start, p)
                        if i_aw != p and not line.startswith(rule_start, p):
                            i_aw = -1  # something else follows the client: the slow path
                        i_names = line.find(counted_end, i_aw) if i_aw > 0 else -1
                        core = line[i_aw + 10 : i_names]
                        decided = cores.get(core) if i_names > 0 else slow
                        if decided is None:
                            decided = self._core(line, p, i_aw, core)
                        if decided is not slow and client is not slow:
                            n = int(sequence)
                            if n == next_n and n < limit and not new_run:
                                next_n += 1  # the next of a stretch of new ids: no look-up
                            else:
                                seen.add_run(run_prefix[:-1], run_first, next_n - 1)
                                if new_run:
                                    run_prefix = instance + b"-"
                                limit = seen.claim(run_prefix[:-1], n)
                                if not limit:
                                    self.duplicates += 1
                                    run_first, next_n = 0, -1
                                    continue
                                run_first, next_n = n + 1, n + 1
                            yield (hour, ts, decided, client)
                            continue
                # The slow path: the whole line through json.loads.
                seen.add_run(run_prefix[:-1], run_first, next_n - 1)
                run_first = next_n
                event = self._parse(line, source, number)
                if event is not None:
                    yield event
        finally:
            self.read_lines += number
            seen.add_run(run_prefix[:-1], run_first, next_n - 1)

    def damaged(self, source: str, why: str) -> None:
        """A file that could not be read to its end: one malformed entry."""
        self.bad(source, "end", why)

    def bad(self, source: str, number: int | str, why: str) -> None:
        """Count a malformed line (the caller's too: an event it cannot make sense of)."""
        self.malformed += 1
        if len(self.malformed_examples) < MALFORMED_EXAMPLES:
            self.malformed_examples.append(f"{source}:{number}: {why}")

    def _core(self, line: bytes, k: int, i_aw: int, core: bytes) -> Any:
        """Interpret the repeating part of a decision line (and its rule's name) once per text."""
        try:
            aiwall = json.loads(core + b"}")
            name = None
            i_rule = line.find(layout.RULE_START, k, i_aw)
            if i_rule > 0:
                rule = json.loads(line[i_rule + 8 : i_aw])
                name = rule.get("name") if isinstance(rule, dict) else None
            if not isinstance(aiwall, dict) or not isinstance(name, str | None):
                raise Malformed("not an object")
            decided = self._interpret(aiwall, name)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError, Malformed, the caller's
            decided = _SLOW
        if len(self._cores) < _CORE_CACHE_LIMIT:
            self._cores[core] = decided
        return decided

    def _hour(self, hour: bytes) -> bytes:
        """b"YYYY-MM-DDTHH" when it is a real hour (the shape alone allows month 13), else
        empty; the same object for every line of one hour, so its hash is worked out once."""
        try:
            datetime.strptime(hour.decode("ascii"), "%Y-%m-%dT%H")
        except ValueError:
            return b""
        self._hours[hour] = hour
        return hour

    def _client(self, part: bytes) -> Any:
        """The client of a line's `source` and `user` part (`,"source":{"ip":"..."}` and
        `,"user":{"name":"..."}`, either or both left out), as `identify` makes it; the slow
        path's marker for escapes."""
        client: Any = _SLOW
        if b"\\" not in part:
            ip = user = None
            if part.startswith(layout.SOURCE_IP):
                end = part.index(b'"', 17)
                ip, rest = part[17:end].decode("ascii", "replace"), part[end + 2 :]
            else:
                rest = part
            if rest.startswith(layout.USER_NAME):
                user = rest[17 : rest.index(b'"', 17)].decode("ascii", "replace")
            client = self._identify(Client(user, ip))
        self._clients[part] = client
        return client

    def _parse(self, line: bytes, source: str, number: int) -> Event | None:
        """The whole line through json.loads: any layout, any kind. None: nothing to count."""
        if not line.strip():
            return None  # a blank line
        try:
            event = json.loads(line.decode("utf-8", "replace").rstrip("\r\n"))
            if not isinstance(event, dict):
                raise Malformed("not a JSON object")
            envelope = event.get("event")
            kind = envelope.get("action") if isinstance(envelope, dict) else None
            if not isinstance(kind, str):
                raise Malformed("no event.action")
            ts = _timestamp(event.get("@timestamp"))
        except Malformed as error:
            self.bad(source, number, str(error))
            return None
        except json.JSONDecodeError as error:
            self.bad(source, number, f"not JSON: {error.msg} at column {error.colno}")
            return None
        except ValueError as error:
            self.bad(source, number, f"not JSON ({error})")
            return None
        if not (
            (self.since is None or ts >= self.since) and (self.until is None or ts < self.until)
        ):
            self.outside += 1
            return None
        event_id = envelope.get("id") if isinstance(envelope, dict) else None
        if isinstance(event_id, str):
            if not self._seen.first_time_text(event_id):
                self.duplicates += 1
                return None
        else:
            self.without_id += 1
        if kind == "decision":
            self.slow_decisions += 1
        return Event(kind, ts, event, source, number)


_SLOW: Any = object()  # a marker: this part (or client) needs the whole line


def _timestamp(value: object) -> str:
    """The event's `@timestamp` in canonical form; Malformed when there is none."""
    if isinstance(value, str):
        try:
            return canonical(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise Malformed("no valid @timestamp")
