"""Where event lines go: stdout, or a file that rotates by size, and never an exception.

A destination that cannot be opened or written is reported once per streak of failures
through the `aiwall` logger, and the events lost are counted: enforcement must not depend on
the log.

A file can rotate by size: when the next line would take it past `max_bytes`, it becomes
`<file>.1` (`.1` becomes `.2`, and so on up to `backups`) and a fresh file is opened, under
the same lock as the writes, so a line is never split across two files nor lost in between.
A rotation that fails (a read-only folder, a directory in the way) is reported and counted,
and the lines go on into the current file. For logrotate, `close()` (SIGHUP in the addon)
lets the next line open whatever file now has the name.
"""

import contextlib
import logging
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

ROTATION_RETRY_SECONDS = 5.0  # after a failed rotation, how long to write on before trying again

logger = logging.getLogger("aiwall")


class LineWriter:
    """What structlog writes to: one write and one flush per line, and never an exception."""

    def __init__(self, destination: str, max_bytes: int = 0, backups: int = 5) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 (no rotation) or more, not {max_bytes}")
        if backups < 0:
            raise ValueError(f"backups must be 0 or more, not {backups}")
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
