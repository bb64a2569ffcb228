"""What the proxy benchmarks share: the processes they start, and what /proc says of them."""

import multiprocessing.process
import os
import ssl
import subprocess
import sys
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


def versions(root: Path, *more: str) -> list[str]:
    """What a benchmark ran on, one `name  value` line each; `more` goes before the commit."""
    import mitmproxy.version

    commit = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return [
        f"python       {sys.version.split()[0]} ({sys.executable})",
        f"mitmproxy    {mitmproxy.version.VERSION}",
        f"openssl      {ssl.OPENSSL_VERSION} (client side)",
        *more,
        f"aiwall       {commit.stdout.strip() or 'unknown commit'}",
        f"machine      {os.cpu_count()} cores, load average {load_average()}",
    ]
