"""What the proxy benchmarks share: the processes they start, and what /proc says of them."""

import multiprocessing.process
import os
import subprocess
from pathlib import Path


def tail(log: Path | None, size: int = 2000) -> str:
    """The end of a process's log, for an error message."""
    text = log.read_text(errors="replace") if log and log.exists() else ""
    return text[-size:].strip() or "(no output)"


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def stop_multiprocess(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User and system time of the process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
