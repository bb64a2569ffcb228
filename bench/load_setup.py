"""Starting the load test's processes, and what /proc and aiwall's metrics say of the proxy."""

import contextlib
import multiprocessing
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from load_memory import MB
from load_upstream import serve_upstream
from processes import stop_multiprocess, stop_process, tail

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "fixtures" / "proxy" / "rules.yaml"
POLICIES = ROOT / "policies"
MEMORY_SCRIPT = Path(__file__).resolve().parent / "load_memory.py"  # loaded into the proxy
START_TIMEOUT = 30.0


class SetupError(Exception):
    """The load test cannot run: a process did not start, a port did not answer."""


class ProxyDied(Exception):
    """The mitmdump under test exited during the run."""


@dataclass
class Setup:
    folder: Path
    http_port: int
    https_port: int
    upstream_cert: Path
    proxy_port: int
    metrics_port: int
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    events: Path
    confdir: Path

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"


def wait_until_listening(port: int, alive: Callable[[], bool], what: str, log: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not alive():
            raise SetupError(f"{what} exited before listening on {port}: {tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SetupError(f"{what}: nothing listens on 127.0.0.1:{port}: {tail(log)}")


def start(
    folder: Path, mitm_options: list[str], scripts: list[str], stack: contextlib.ExitStack
) -> Setup:
    sys.path.insert(0, str(ROOT))  # the test suite's helpers: certificate, command line
    from tests.mitm import REDIRECT, free_port, mitmdump_command
    from tests.upstream import self_signed_certificate

    cert, key = self_signed_certificate(folder)
    http_port, https_port = free_port(), free_port()
    upstream = multiprocessing.get_context("spawn").Process(
        target=serve_upstream, args=(http_port, https_port, str(cert), str(key)), daemon=True
    )
    upstream.start()
    stack.callback(stop_multiprocess, upstream)
    for port in (http_port, https_port):
        wait_until_listening(port, upstream.is_alive, "the upstream", None)

    port, metrics_port = free_port(), free_port()
    events, log, confdir = folder / "events.jsonl", folder / "mitmdump.log", folder / "confdir"
    command = mitmdump_command(
        port,
        confdir,
        rules=RULES,
        policies=POLICIES,
        events=events,
        # tests/redirect_upstream.py makes every name resolve to the local upstream.
        scripts=[REDIRECT, MEMORY_SCRIPT, *(Path(script).resolve() for script in scripts)],
        options=[f"aiwall_metrics=127.0.0.1:{metrics_port}", *mitm_options],
    )
    env = dict(
        os.environ, AIWALL_TEST_TLS_PORT=str(https_port), AIWALL_TEST_PLAIN_PORT=str(http_port)
    )
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    stack.callback(stop_process, process)
    setup = Setup(
        folder, http_port, https_port, cert, port, metrics_port, command, process, log, events,
        confdir,
    )  # fmt: skip
    wait_until_listening(port, lambda: process.poll() is None, "mitmdump", log)
    deadline = time.monotonic() + START_TIMEOUT
    while not (setup.ca.exists() and events.exists() and events.stat().st_size):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SetupError(f"mitmdump wrote no CA or no config.loaded event: {tail(log)}")
        time.sleep(0.1)
    return setup


def raise_fd_limit(needed: int) -> str:
    """Raise the soft limit on open files for this process and mitmdump (which inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return f"open files: soft limit {soft} (needed about {needed})"
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return f"open files: soft limit raised from {soft} to {target} (needed about {needed})"


# --- measuring the proxy ----------------------------------------------------------------------


def status_field(pid: int, name: str) -> float:
    """A kB field of /proc/PID/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024 / MB
    raise SetupError(f"no {name} in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


@dataclass
class Sample:
    at: float  # seconds since the load started (negative: before)
    rss: float
    fds: int
    phase: str


def http_get(port: int, path: str, host: str = "127.0.0.1", timeout: float = 10) -> bytes:
    """A GET to a local server: the metrics endpoint, the upstream's counters, the proxy."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break
    return data.partition(b"\r\n\r\n")[2]


def metric_values(port: int) -> dict[str, float]:
    """aiwall's Prometheus counters, `name{labels}` -> value."""
    values = {}
    for line in http_get(port, "/metrics").decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metric(values: dict[str, float], prefix: str, **labels: str) -> float:
    total = 0.0
    for name, value in values.items():
        named = name.startswith(prefix + "{") or name == prefix
        if named and all(f'{k}="{v}"' in name for k, v in labels.items()):
            total += value
    return total
