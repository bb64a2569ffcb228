"""Writing the event log never raises: failures are counted and reported once per streak;
files rotate by size without losing or splitting a line, and reopen for logrotate."""

import errno
import io
import itertools
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from aiwall.core.config import Config
from aiwall.telemetry.events import EventLog

from tests.eventcheck import context, decide, fact_change, logged, validate_event_lines


@pytest.fixture(autouse=True)
def same_width_ids(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ids of one width, so that every line of the same event is as long (rotation sizes)."""
    numbers = itertools.count(1_000_000)
    monkeypatch.setattr(
        "aiwall.telemetry.envelope.new_event_id", lambda: f"testtest-{next(numbers)}"
    )
    yield


def mark(events: EventLog, text: str) -> None:
    """One event that carries `text` (a policy.changed whose new value it is)."""
    events.policy_changed([fact_change(text)])


def test_unopenable_destination_neither_raises_nor_stops_enforcement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("a regular file")
    with caplog.at_level(logging.ERROR, logger="aiwall"):
        events = EventLog(str(tmp_path / "file" / "log"))
        for _ in range(3):
            events.internal_error(error="x", where="y", host=None, client_ip=None)
    assert events.failures == 3
    reports = [r for r in caplog.records if r.name == "aiwall"]
    assert len(reports) == 1
    assert "Not a directory" in reports[0].getMessage()


def test_failing_writes_are_counted_and_reported_once_per_streak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = EventLog("/dev/full")
    with caplog.at_level(logging.WARNING, logger="aiwall"):
        for _ in range(4):
            mark(events, "x")
    assert events.failures == 4
    assert ["No space left on device" in r.getMessage() for r in caplog.records] == [True]


class FlakyStream(io.StringIO):
    """A stdout whose writes fail while `broken` is set."""

    broken = False

    def write(self, text: str) -> int:
        if self.broken:
            raise OSError(errno.EPIPE, "Broken pipe")
        return super().write(text)


def test_log_recovers_after_a_failure_streak(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stream = FlakyStream()
    monkeypatch.setattr(sys, "stdout", stream)
    events = EventLog("-")
    with caplog.at_level(logging.WARNING, logger="aiwall"):
        for broken in (False, True, True, False, True, False):
            stream.broken = broken
            mark(events, str(broken))
    assert events.failures == 3
    assert [
        [c["new"] for c in e["aiwall"]["policy"]["changes"]]
        for e in validate_event_lines(stream.getvalue().splitlines())
    ] == [["False"], ["False"], ["False"]]
    messages = [r.getMessage() for r in caplog.records]
    assert [("Broken pipe" in m, "again" in m) for m in messages] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
    ]


def test_closed_stdout_is_a_failure_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr(sys, "stdout", stream)
    events = EventLog("-")
    mark(events, "x")
    assert events.failures == 1


def test_stdout_gets_one_line_per_event(
    test_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    events = EventLog()
    events.decision(decide(test_config, "cnchat.test"), context(user="a\nb"))
    mark(events, "x\ny")
    out = capsys.readouterr().out
    assert out.count("\n") == 2
    validate_event_lines(out.splitlines())


def test_a_torn_last_line_does_not_swallow_the_next_event(log_path: Path) -> None:
    log_path.write_text('{"@timestamp": "2026-11-29T13:50:00.0000')
    events = EventLog(str(log_path))
    mark(events, "x")
    torn, line = log_path.read_text().split("\n")[:-1]
    assert torn.startswith('{"@timestamp"')
    validate_event_lines([line])


def test_appends_to_an_existing_log(log_path: Path) -> None:
    mark(EventLog(str(log_path)), "first")
    mark(EventLog(str(log_path)), "second")
    assert written(log_path) == [["first"], ["second"]]


def test_logs_are_independent_and_leave_structlog_unconfigured(tmp_path: Path) -> None:
    before = structlog.get_config()
    one, two = EventLog(str(tmp_path / "one.log")), EventLog(str(tmp_path / "two.log"))
    mark(one, "one")
    mark(two, "two")
    assert structlog.get_config() == before
    assert written(tmp_path / "one.log") == [["one"]]
    assert written(tmp_path / "two.log") == [["two"]]


# Rotation by size, and reopening for logrotate.


def line_length(tmp_path: Path) -> int:
    """The length of a `mark(events, "x")` line: every one is as long."""
    probe = tmp_path / "probe.log"
    mark(EventLog(str(probe)), "x")
    return len(probe.read_bytes())


def written(path: Path) -> list[list[str]]:
    """The texts `mark` wrote, per event, every line checked whole and valid."""
    return [[c["new"] for c in e["aiwall"]["policy"]["changes"]] for e in logged(path)]


def rotated(log_path: Path) -> list[Path]:
    return sorted(log_path.parent.glob(log_path.name + ".*"), key=lambda p: int(p.suffix[1:]))


@pytest.mark.parametrize(("room", "per_file"), [(0, 3), (-1, 2), (1, 3)])
def test_rotation_happens_at_the_line_that_would_not_fit(
    tmp_path: Path, log_path: Path, room: int, per_file: int
) -> None:
    length = line_length(tmp_path)
    events = EventLog(str(log_path), max_bytes=3 * length + room, backups=5)
    for number in range(7):
        mark(events, str(number))
    events.close()
    files = [*reversed(rotated(log_path)), log_path]  # oldest first
    numbers = [[int(c[0]) for c in written(path)] for path in files]
    assert [n for lines in numbers for n in lines] == list(range(7))
    assert [len(lines) for lines in numbers[:-1]] == [per_file] * (len(numbers) - 1)
    assert 1 <= len(numbers[-1]) <= per_file
    assert all(path.stat().st_size <= 3 * length + room for path in files)
    assert events.failures == events.rotation_failures == 0


def test_backups_beyond_the_limit_are_dropped(tmp_path: Path, log_path: Path) -> None:
    events = EventLog(str(log_path), max_bytes=line_length(tmp_path), backups=2)
    for number in range(10):
        mark(events, str(number))
    assert [p.name for p in rotated(log_path)] == ["events.log.1", "events.log.2"]
    assert [written(p) for p in (log_path, *rotated(log_path))] == [[["9"]], [["8"]], [["7"]]]


def test_no_backups_starts_the_file_over(tmp_path: Path, log_path: Path) -> None:
    events = EventLog(str(log_path), max_bytes=2 * line_length(tmp_path), backups=0)
    for number in range(5):
        mark(events, str(number))
    assert rotated(log_path) == []
    assert written(log_path) == [["4"]]


def test_a_line_longer_than_the_limit_is_written_whole_in_a_file_of_its_own(
    log_path: Path,
) -> None:
    events = EventLog(str(log_path), max_bytes=100, backups=3)
    mark(events, "a" * 500)
    mark(events, "b" * 500)
    assert written(log_path) == [["b" * 500]]
    assert written(rotated(log_path)[0]) == [["a" * 500]]


def test_rotation_counts_an_existing_file(tmp_path: Path, log_path: Path) -> None:
    length = line_length(tmp_path)
    mark(EventLog(str(log_path)), "before")
    events = EventLog(str(log_path), max_bytes=length + 10, backups=1)
    mark(events, "after")
    assert written(log_path) == [["after"]]
    assert written(rotated(log_path)[0]) == [["before"]]


def test_concurrent_writers_lose_and_split_nothing_across_rotations(
    tmp_path: Path, log_path: Path
) -> None:
    threads, each = 8, 150
    limit = 10 * line_length(tmp_path) + 25
    events = EventLog(str(log_path), max_bytes=limit, backups=threads * each)

    def write(thread: int) -> None:
        for number in range(each):
            mark(events, f"{thread}-{number:04}")

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    events.close()
    files = [*reversed(rotated(log_path)), log_path]
    assert all(path.stat().st_size <= limit for path in files)
    seen = [c[0] for path in files for c in written(path)]
    assert len(seen) == threads * each
    for thread in range(threads):
        mine = [s for s in seen if s.startswith(f"{thread}-")]
        assert mine == [f"{thread}-{n:04}" for n in range(each)]  # all there, in order
    assert events.failures == events.rotation_failures == 0


def test_a_rotation_that_cannot_rename_is_counted_and_the_lines_kept(
    tmp_path: Path,
    log_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    obstacle = tmp_path / "events.log.1"  # a directory with something in it: no rename onto it
    obstacle.mkdir()
    (obstacle / "keep").write_text("x")
    events = EventLog(str(log_path), max_bytes=line_length(tmp_path), backups=1)
    with caplog.at_level(logging.WARNING, logger="aiwall"):
        for number in range(4):
            mark(events, str(number))
        assert events.failures == 0
        assert events.rotation_failures == 1  # then not tried again for a while
        assert written(log_path) == [["0"], ["1"], ["2"], ["3"]]
        monkeypatch.setattr("aiwall.telemetry.writer.ROTATION_RETRY_SECONDS", 0.0)
        mark(events, "4")  # the retry is still due: fails again
        assert events.rotation_failures == 2
        (obstacle / "keep").unlink()
        obstacle.rmdir()
        mark(events, "5")
    assert written(log_path) == [["5"]]
    assert written(obstacle) == [["0"], ["1"], ["2"], ["3"], ["4"]]
    messages = [r.getMessage() for r in caplog.records if r.name == "aiwall"]
    assert [("cannot rotate" in m, "again" in m) for m in messages] == [
        (True, False),
        (False, True),
    ]


def test_a_file_truncated_by_someone_else_is_not_rotated_early(
    tmp_path: Path, log_path: Path
) -> None:
    events = EventLog(str(log_path), max_bytes=2 * line_length(tmp_path), backups=1)
    mark(events, "0")
    mark(events, "1")
    with log_path.open("r+") as file:  # logrotate's copytruncate
        file.truncate(0)
    mark(events, "2")
    assert rotated(log_path) == []
    assert written(log_path) == [["2"]]


def test_reopen_follows_an_external_rename(tmp_path: Path, log_path: Path) -> None:
    events = EventLog(str(log_path))
    mark(events, "0")
    moved = tmp_path / "events.log-20261129"
    log_path.rename(moved)  # logrotate's create mode, before it signals the proxy
    mark(events, "1")  # still the open file, now under its new name
    events.reopen()
    mark(events, "2")
    assert written(moved) == [["0"], ["1"]]
    assert written(log_path) == [["2"]]


def test_reopen_of_stdout_is_harmless(capsys: pytest.CaptureFixture[str]) -> None:
    events = EventLog("-", max_bytes=10, backups=1)  # rotation means nothing for stdout
    mark(events, "0")
    events.reopen()
    mark(events, "1")
    assert len(validate_event_lines(capsys.readouterr().out.splitlines())) == 2


@pytest.mark.parametrize(("max_bytes", "backups"), [(-1, 5), (100, -1)])
def test_negative_rotation_settings_are_refused(max_bytes: int, backups: int) -> None:
    with pytest.raises(ValueError, match="0"):
        EventLog("-", max_bytes=max_bytes, backups=backups)
