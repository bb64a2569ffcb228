"""Load test: one mitmdump with aiwall under many concurrent clients for a bounded time.

    .venv/bin/python bench/load.py [--duration S] [--clients N] [--idle N]

Starts a local upstream (HTTP and HTTPS, asyncio, in a process of its own) and one mitmdump
with aiwall (tests/fixtures/proxy/rules.yaml, the shipped policies/, the event log in a file),
then runs, all at once and for a bounded time: fast clients for every kind of traffic (non-AI
HTTP and pass-through HTTPS, AI logged, blocked, warned and allowed, over plain HTTP and over
CONNECT + TLS), slow clients (request heads sent byte by byte, responses read slowly), large
uploads to a blocked host, thousands of idle connections, and a probe that measures how fast
the proxy answers throughout. It prints the errors, whether every AI decision produced exactly
one log event, requests per second and the proxy's resident memory at start, during and at
the end, each against its goal. It reports, it does not gate: it exits 0 once it has printed,
1 when its setup is broken and 3 when the proxy died under the load.

Everything listens on and talks to 127.0.0.1. mitmdump loads the test suite's
tests/redirect_upstream.py, which makes every host name resolve to the local upstream, so
vendor names are used without DNS and no request can leave the machine. It also loads this
file as a script (`MemoryReport` below, asked once at the start and once at the end); that is
why the imports outside the standard library and mitmproxy are made inside the functions only
the load test runs.
"""

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import multiprocessing
import os
import random
import re
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy import http
from processes import cpu_seconds, load_average, stop_multiprocess, stop_process, tail

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "fixtures" / "proxy" / "rules.yaml"
POLICIES = ROOT / "policies"
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 20.0  # one request of a fast client; generous: the machine is shared
SLOW_TIMEOUT = 60.0  # one slow or large request, from connect to the last byte
HEAD_LIMIT = 64 * 1024
MB = 1e6  # memory and sizes are printed in MB of 10^6 bytes


MEMORY_PATH = "/__load_test_memory"  # with Host example.org: answered by MemoryReport below


def own_rss() -> float:
    """This process's resident memory in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MB
    return float("nan")


class MemoryReport:
    """Loaded into the mitmdump under test: what holds its memory, asked once at the end.

    `GET http://example.org/__load_test_memory` is answered here (never forwarded) with the
    finished flows still in memory and their body bytes, then the same after a full garbage
    collection, and the resident memory before, after `gc.collect()` and after glibc's
    `malloc_trim(0)`. This tells memory the proxy still holds from pages the allocator keeps.
    """

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.path != MEMORY_PATH or flow.request.pretty_host != "example.org":
            return
        report: dict[str, Any] = {"rss": own_rss()}
        report["flows"], report["body_bytes"] = self.flows()
        report["collected"] = gc.collect()
        report["flows_after_gc"], report["body_bytes_after_gc"] = self.flows()
        report["rss_after_gc"] = own_rss()
        try:
            ctypes.CDLL(None).malloc_trim(0)
            report["rss_after_trim"] = own_rss()
        except (OSError, AttributeError):  # not glibc
            report["rss_after_trim"] = None
        flow.response = http.Response.make(
            200, json.dumps(report).encode(), {"Content-Type": "application/json"}
        )

    @staticmethod
    def flows() -> tuple[int, int]:
        flows = [o for o in gc.get_objects() if isinstance(o, http.HTTPFlow)]
        body = 0
        for flow in flows:
            body += len(flow.request.raw_content or b"")
            if flow.response is not None:
                body += len(flow.response.raw_content or b"")
        return len(flows), body


addons = [MemoryReport()]


class SetupError(Exception):
    """The load test cannot run: a process did not start, a port did not answer."""


class ProxyDied(Exception):
    """The mitmdump under test exited during the run."""


# --- the upstream -----------------------------------------------------------------------------

UPSTREAM_BLOCK = b"u" * (1 << 20)


def serve_upstream(http_port: int, https_port: int, cert: str, key: str) -> None:
    """The stand-in for every vendor and site; runs in a process of its own.

    Answers every request with 200 and `ok` (or `?size=N` bytes), keep-alive, reading and
    discarding any request body. It counts requests and body bytes per Host and TLS
    handshakes per SNI; `GET /__stats` sent to it directly returns the counts as JSON.
    """
    requests: Counter[str] = Counter()
    body_bytes: Counter[str] = Counter()
    snis: Counter[str] = Counter()

    def remember_sni(_: Any, name: str | None, __: ssl.SSLContext) -> None:
        snis[name or "(none)"] += 1

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                target = lines[0].split(b" ")[1]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0]
                if target == b"/__stats":
                    data = json.dumps(
                        {"requests": requests, "body_bytes": body_bytes, "sni": snis}
                    ).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data)
                    )
                    await writer.drain()
                    continue
                requests[host] += 1
                length = int(headers.get(b"content-length", b"0") or 0)
                while length > 0:
                    chunk = await reader.read(min(length, 1 << 18))
                    if not chunk:
                        return
                    length -= len(chunk)
                    body_bytes[host] += len(chunk)
                if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                    return  # the load test never sends chunked bodies
                size = re.search(rb"[?&]size=(\d+)", target)
                total = int(size.group(1)) if size else 3
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                    % total
                )
                if not size:
                    writer.write(b"ok\n")
                while size and total > 0:
                    writer.write(UPSTREAM_BLOCK[: min(total, len(UPSTREAM_BLOCK))])
                    total -= len(UPSTREAM_BLOCK)
                    await writer.drain()
                await writer.drain()
                if headers.get(b"connection", b"").lower() == b"close":
                    return
        except (OSError, EOFError, ValueError, IndexError, asyncio.IncompleteReadError):
            pass
        except asyncio.LimitOverrunError:
            pass
        finally:
            writer.close()

    async def serve() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        context.sni_callback = remember_sni
        await asyncio.start_server(handle, "127.0.0.1", http_port, backlog=4096)
        await asyncio.start_server(handle, "127.0.0.1", https_port, ssl=context, backlog=4096)
        await asyncio.Event().wait()

    asyncio.run(serve())


# --- processes --------------------------------------------------------------------------------


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    sys.path.insert(0, str(ROOT))  # the test suite's helpers: certificate, paths
    from tests.proxy import MITMDUMP, REDIRECT, SHIM
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
    command = [
        str(MITMDUMP),
        "-q",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "-s",
        str(SHIM),
        "-s",
        str(REDIRECT),
        "-s",
        str(Path(__file__).resolve()),
        "--set",
        f"confdir={confdir}",
        "--set",
        "ssl_insecure=true",
        "--set",
        "connection_strategy=lazy",
        "--set",
        f"aiwall_rules={RULES}",
        "--set",
        f"aiwall_policies={POLICIES}",
        "--set",
        f"aiwall_log={events}",
        "--set",
        f"aiwall_metrics=127.0.0.1:{metrics_port}",
    ]
    for script in scripts:
        command += ["-s", str(Path(script).resolve())]
    for option in mitm_options:
        command += ["--set", option]
    # tests/redirect_upstream.py makes every name resolve to the local upstream.
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


# --- the clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of traffic: where it goes, how, and what the proxy must answer."""

    key: str
    label: str
    host: str
    tls: bool
    status: int
    logged: bool  # aiwall writes exactly one decision event per request
    json: bool = False  # the answer is aiwall's JSON refusal

    @property
    def ai(self) -> bool:
        return self.host != "example.org"


KINDS = {
    k.key: k
    for k in (
        Kind("web-http", "non-AI HTTP", "example.org", False, 200, False),
        Kind("web-https", "non-AI HTTPS (passed through)", "example.org", True, 200, False),
        Kind("log-http", "AI logged, HTTP", "api.openai.com", False, 200, True),
        Kind("log-https", "AI logged, HTTPS", "api.openai.com", True, 200, True),
        Kind("block-http", "AI blocked, HTTP", "chat.deepseek.com", False, 403, True, True),
        Kind("block-https", "AI blocked, HTTPS", "chat.deepseek.com", True, 403, True, True),
        Kind("warn-https", "AI warned, HTTPS", "grok.com", True, 403, True, True),
        Kind("allow-https", "AI allowed, HTTPS", "api.anthropic.com", True, 200, False),
    )
}
FAST_KINDS = list(KINDS)
SLOW_HEAD_KINDS = ["block-http", "log-http", "web-http", "log-https", "block-https"]
SLOW_READ_KINDS = ["web-http", "web-https", "log-http", "log-https"]
LARGE_KINDS = ["block-http", "block-https"]


@dataclass
class Tally:
    """What one group of clients did."""

    sent: int = 0
    answered: int = 0  # complete responses with the expected status
    in_window: int = 0  # of them, those complete before the deadline (for requests/s)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def error(self, reason: str, detail: str = "") -> None:
        self.errors[reason] += 1
        if len(self.examples) < 3:
            self.examples.append(f"{reason}: {detail}"[:200])

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class Upload:
    """One large upload: how much was sent before the answer came, and what it was."""

    size: int
    sent_at_answer: int
    status: int | None
    seconds: float
    asked_continue: bool  # sent Expect: 100-continue
    got_continue: bool


class Stream:
    """A client connection to the proxy, plain or through a CONNECT tunnel with TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Failure(Exception):
    """A request failed; `reason` is its class in the report."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


NETWORK_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, ssl.SSLError)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    length: int
    close: bool


class Load:
    """The shared state of one run: the proxy, the clients' tallies, the deadline."""

    def __init__(self, setup: Setup, args: argparse.Namespace) -> None:
        self.setup = setup
        self.args = args
        self.deadline = 0.0
        self.started = 0.0
        self.counter = 0
        self.random = random.Random(1)
        self.tallies: dict[str, Tally] = {}
        self.paths: dict[str, tuple[str, int | None]] = {}  # path -> (kind, status answered)
        self.uploads: list[Upload] = []
        self.samples: list[Sample] = []
        self.phase = "start"
        self.idle: list[Stream] = []
        self.idle_closed_by_proxy = 0
        self.idle_failed = 0
        self.idle_opened = 0
        self.idle_watchers: set[asyncio.Task[None]] = set()
        self.metrics_before: dict[str, float] = {}
        self.metrics_after: dict[str, float] = {}
        self.cpu_before = self.cpu_after = (0.0, 0.0)  # mitmdump's CPU seconds, this process's
        self.elapsed = 0.0
        self.mitm_context = ssl.create_default_context(cafile=str(setup.ca))
        self.mitm_context.set_alpn_protocols(["http/1.1"])
        # Non-AI HTTPS must be passed through: the client trusts only the upstream's own
        # certificate, so a connection that mitmproxy intercepted fails verification.
        self.pass_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.pass_context.check_hostname = False
        self.pass_context.load_verify_locations(cafile=str(setup.upstream_cert))
        self.pass_context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        self.pass_context.set_alpn_protocols(["http/1.1"])

    def tally(self, name: str) -> Tally:
        return self.tallies.setdefault(name, Tally())

    def path(self, kind: Kind, group: str) -> str:
        self.counter += 1
        path = f"/load/{group}/{self.counter}"
        self.paths[path] = (kind.key, None)
        return path

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    # --- connections and messages ---

    async def open(self, kind: Kind) -> Stream:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", self.setup.proxy_port, limit=HEAD_LIMIT
            )
        except NETWORK_ERRORS as error:
            raise Failure("connect", repr(error)) from None
        stream = Stream(reader, writer)
        if not kind.tls:
            return stream
        try:
            writer.write(
                f"CONNECT {kind.host}:443 HTTP/1.1\r\nHost: {kind.host}:443\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if head.split(b" ", 2)[1:2] != [b"200"]:
                raise Failure("connect", f"CONNECT answered {head.splitlines()[0]!r}")
            context = self.mitm_context if kind.ai else self.pass_context
            await writer.start_tls(context, server_hostname=kind.host)
        except NETWORK_ERRORS as error:
            stream.close()
            raise Failure("connect", repr(error)) from None
        except Failure:
            stream.close()
            raise
        return stream

    @staticmethod
    def request_head(kind: Kind, path: str, extra: str = "") -> bytes:
        target = path if kind.tls else f"http://{kind.host}{path}"
        return (
            f"GET {target} HTTP/1.1\r\nHost: {kind.host}\r\nAccept: application/json\r\n"
            f"User-Agent: aiwall-load{extra}\r\n\r\n"
        ).encode()

    @staticmethod
    async def read_head(stream: Stream) -> tuple[int, dict[str, str]]:
        head = await stream.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise Failure("bad response", lines[0])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    async def read_response(
        self,
        stream: Stream,
        slow: tuple[int, float] | None = None,
        head: tuple[int, dict[str, str]] | None = None,
    ) -> Response:
        """One whole response (interim 1xx skipped); `slow` reads the body in small steps."""
        status, headers = head or await self.read_head(stream)
        while 100 <= status < 200:
            status, headers = await self.read_head(stream)
        close = headers.get("connection", "").lower() == "close"
        length = 0
        if "content-length" in headers:
            remaining = int(headers["content-length"])
            while remaining > 0:
                step = min(remaining, slow[0] if slow else 1 << 20)
                chunk = await stream.reader.read(step)
                if not chunk:
                    raise Failure("closed", f"{remaining} bytes of the body missing")
                remaining -= len(chunk)
                length += len(chunk)
                if slow:
                    await asyncio.sleep(slow[1])
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await stream.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await stream.reader.readexactly(size + 2)
                length += size
                if not size:
                    break
        else:
            raise Failure("bad response", "neither Content-Length nor chunked")
        return Response(status, headers, length, close)

    def judge(self, kind: Kind, tally: Tally, path: str, response: Response) -> None:
        tally.statuses[response.status] += 1
        self.paths[path] = (kind.key, response.status)
        if response.status != kind.status:
            raise Failure(f"status {response.status}", path)
        if kind.json and "json" not in response.headers.get("content-type", ""):
            raise Failure("not JSON", response.headers.get("content-type", ""))
        tally.answered += 1
        if not self.deadline or time.monotonic() <= self.deadline:
            tally.in_window += 1

    # --- the clients ---

    async def fast_client(self, kind: Kind) -> None:
        """Kept-alive connections of 1 to 30 requests; every fourth request is a small POST."""
        tally = self.tally(kind.key)
        while self.running():
            stream = None
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    stream = await self.open(kind)
                for _ in range(self.random.randint(1, 30)):
                    if not self.running():
                        break
                    path = self.path(kind, kind.key)
                    post = self.counter % 4 == 0
                    head = self.request_head(kind, path)
                    if post:
                        body = b'{"prompt": "' + b"a" * 1000 + b'"}'
                        head = head.replace(b"GET ", b"POST ", 1).replace(
                            b"\r\n\r\n",
                            b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                            % len(body),
                        )
                        head += body
                    begin = time.monotonic()
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        stream.writer.write(head)
                        tally.sent += 1
                        response = await self.read_response(stream)
                    self.judge(kind, tally, path, response)
                    tally.latencies.append(time.monotonic() - begin)
                    if response.close:
                        break
            except Failure as failure:
                tally.error(failure.reason, failure.detail)
                await asyncio.sleep(0.05)
            except TimeoutError:
                tally.error("timeout", kind.key)
            except NETWORK_ERRORS as error:
                tally.error("reset or closed", repr(error))
                await asyncio.sleep(0.05)
            finally:
                if stream:
                    stream.close()

    async def one_slow(self, tally: Tally, action: Callable[[], Awaitable[None]]) -> None:
        try:
            async with asyncio.timeout(SLOW_TIMEOUT):
                await action()
        except Failure as failure:
            tally.error(failure.reason, failure.detail)
        except TimeoutError:
            tally.error("timeout", "")
        except NETWORK_ERRORS as error:
            tally.error("reset or closed", repr(error))
        await asyncio.sleep(0.05)

    async def slow_head_client(self, number: int) -> None:
        """Sends each request head one byte at a time, then reads the answer; one per connection."""
        tally = self.tally("slow-head")
        turn = number
        while self.running():
            kind = KINDS[SLOW_HEAD_KINDS[turn % len(SLOW_HEAD_KINDS)]]
            turn += 1

            async def once(kind: Kind = kind) -> None:
                stream = await self.open(kind)
                try:
                    path = self.path(kind, f"slowhead-{kind.key}")
                    head = self.request_head(kind, path, "\r\nConnection: close")
                    begin = time.monotonic()
                    for byte in range(len(head)):
                        stream.writer.write(head[byte : byte + 1])
                        await stream.writer.drain()
                        await asyncio.sleep(self.args.slow_byte_delay)
                    tally.sent += 1
                    self.judge(kind, tally, path, await self.read_response(stream))
                    tally.latencies.append(time.monotonic() - begin)
                finally:
                    stream.close()

            await self.one_slow(tally, once)

    async def slow_read_client(self, number: int) -> None:
        """Asks for a large response and reads it 64 KiB at a time with pauses."""
        tally = self.tally("slow-read")
        size = int(self.args.slow_read_mb * MB)
        turn = number
        while self.running():
            kind = KINDS[SLOW_READ_KINDS[turn % len(SLOW_READ_KINDS)]]
            turn += 1

            async def once(kind: Kind = kind) -> None:
                stream = await self.open(kind)
                try:
                    path = self.path(kind, f"slowread-{kind.key}")
                    begin = time.monotonic()
                    stream.writer.write(self.request_head(kind, f"{path}?size={size}"))
                    tally.sent += 1
                    response = await self.read_response(stream, slow=(65536, 0.05))
                    self.judge(kind, tally, path, response)
                    if response.length != size:
                        raise Failure("short body", f"{response.length} of {size} bytes")
                    tally.latencies.append(time.monotonic() - begin)
                finally:
                    stream.close()

            await self.one_slow(tally, once)

    async def large_client(self, number: int) -> None:
        """POSTs a large body (Content-Length, streamed) to the blocked host; reads meanwhile."""
        tally = self.tally("large")
        size = int(self.args.large_mb * MB)
        chunk = b"x" * (256 * 1024)
        turn = number
        while self.running():
            kind = KINDS[LARGE_KINDS[turn % len(LARGE_KINDS)]]
            expect = turn % 3 == 2  # every third one asks for 100-continue first
            turn += 1

            async def once(kind: Kind = kind, expect: bool = expect) -> None:
                stream = await self.open(kind)
                try:
                    path = self.path(kind, f"large-{kind.key}{'-expect' if expect else ''}")
                    head = self.request_head(
                        kind,
                        path,
                        f"\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}"
                        + ("\r\nExpect: 100-continue" if expect else ""),
                    ).replace(b"GET ", b"POST ", 1)
                    begin = time.monotonic()
                    stream.writer.write(head)
                    tally.sent += 1
                    await self.upload(stream, kind, tally, path, size, chunk, expect, begin)
                finally:
                    stream.close()

            await self.one_slow(tally, once)

    async def upload(
        self,
        stream: Stream,
        kind: Kind,
        tally: Tally,
        path: str,
        size: int,
        chunk: bytes,
        expect: bool,
        begin: float,
    ) -> None:
        sent = 0
        got_continue = False
        first: tuple[int, dict[str, str]] | None = None
        if expect:  # as curl does: wait a second for 100 Continue or a final answer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    first = await self.read_head(stream)
            if first and first[0] == 100:
                got_continue, first = True, None
        answered_at: list[int] = []

        async def answer() -> Response:
            response = await self.read_response(stream, head=first)
            answered_at.append(sent)
            return response

        async def send_body() -> None:
            nonlocal sent
            while sent < size and first is None:
                piece = chunk[: size - sent]
                stream.writer.write(piece)
                sent += len(piece)
                await stream.writer.drain()

        reading = asyncio.create_task(answer())
        sending = asyncio.create_task(send_body())
        try:
            # The answer may come while the body is still being sent (then sending stops), or
            # after it all; a proxy that answered may close the connection under the sender.
            await asyncio.wait([reading, sending], return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                with contextlib.suppress(*NETWORK_ERRORS):
                    await sending
            response = await reading
        finally:
            reading.cancel()
            sending.cancel()
            await asyncio.gather(reading, sending, return_exceptions=True)
        self.uploads.append(
            Upload(
                size,
                answered_at[0],
                response.status,
                time.monotonic() - begin,
                expect,
                got_continue,
            )
        )
        self.judge(kind, tally, path, response)
        tally.latencies.append(time.monotonic() - begin)

    async def probe(self, name: str, until: float) -> None:
        """A small non-AI request on a new connection every interval: is the proxy responsive?"""
        tally = self.tally(name)
        kind = KINDS["web-http"]
        while time.monotonic() < until:
            stream = None
            begin = time.monotonic()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    stream = await self.open(kind)
                    path = self.path(kind, name.replace(", ", "-").replace(" ", "-"))
                    stream.writer.write(self.request_head(kind, path, "\r\nConnection: close"))
                    tally.sent += 1
                    response = await self.read_response(stream)
                self.judge(kind, tally, path, response)
                tally.latencies.append(time.monotonic() - begin)
            except Failure as failure:
                tally.error(failure.reason, failure.detail)
            except TimeoutError:
                tally.error("timeout", "")
            except NETWORK_ERRORS as error:
                tally.error("reset or closed", repr(error))
            finally:
                if stream:
                    stream.close()
            await asyncio.sleep(max(0.0, self.args.probe_interval - (time.monotonic() - begin)))

    # --- idle connections ---

    async def open_idle(self, count: int) -> None:
        """Idle connections: a third silent, a third in an open CONNECT tunnel waiting for TLS,
        a third stopped in the middle of a request head."""

        async def one(number: int) -> None:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", self.setup.proxy_port
                    )
                    if number % 3 == 1:
                        writer.write(
                            b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n"
                        )
                        head = await reader.readuntil(b"\r\n\r\n")
                        if b" 200 " not in head.split(b"\r\n")[0] + b" ":
                            raise ConnectionError(head[:40])
                    elif number % 3 == 2:
                        writer.write(b"GET http://example.org/ HTTP/1.1\r\nHost: exa")
            except (*NETWORK_ERRORS, TimeoutError):
                self.idle_failed += 1
                return
            stream = Stream(reader, writer)
            self.idle.append(stream)
            self.idle_opened += 1
            watcher = asyncio.create_task(self.watch_idle(stream))
            self.idle_watchers.add(watcher)

        batch = 200
        for first in range(0, count, batch):
            await asyncio.gather(*(one(n) for n in range(first, min(count, first + batch))))
            await asyncio.sleep(0.05)

    async def watch_idle(self, stream: Stream) -> None:
        with contextlib.suppress(*NETWORK_ERRORS):
            if not await stream.reader.read(1) and not stream.writer.is_closing():
                self.idle_closed_by_proxy += 1  # not closed by this side

    async def close_idle(self) -> None:
        for stream in self.idle:
            stream.close()
        for watcher in self.idle_watchers:
            watcher.cancel()
        await asyncio.gather(*self.idle_watchers, return_exceptions=True)
        self.idle.clear()

    # --- sampling ---

    def sample(self) -> Sample:
        pid = self.setup.process.pid
        if self.setup.process.poll() is not None:
            raise ProxyDied(f"mitmdump exited with {self.setup.process.returncode}")
        try:
            rss = status_field(pid, "VmRSS")
        except (OSError, SetupError):
            raise ProxyDied("mitmdump is gone") from None
        at = time.monotonic() - self.started if self.started else 0.0
        sample = Sample(at, rss, open_fds(pid), self.phase)
        self.samples.append(sample)
        return sample

    async def sampler(self, until: float) -> None:
        while time.monotonic() < until:
            self.sample()
            await asyncio.sleep(1.0)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Memory:
    start: float = 0.0  # after the warm-up
    idle: float = 0.0  # with the idle connections open
    peak_sampled: float = 0.0
    after_load: float = 0.0  # load stopped, idle connections still open
    end: float = 0.0  # idle connections closed, a few seconds later
    hwm: float = 0.0  # the kernel's peak (VmHWM) over the whole life of the process
    first_half: float = 0.0  # highest sample in the first half of the load
    second_half: float = 0.0
    inside_start: dict[str, Any] = field(default_factory=dict)  # MemoryReport's answers
    inside: dict[str, Any] = field(default_factory=dict)


async def drive(load: Load, clients: list[Awaitable[None]], args: argparse.Namespace) -> None:
    """Every client until the deadline and its last request; the sampler watches the proxy."""
    async with asyncio.timeout(args.duration + SLOW_TIMEOUT + 30):  # nothing runs away
        sampler = asyncio.create_task(load.sampler(load.deadline + SLOW_TIMEOUT + 30))
        gathered = asyncio.gather(*clients)
        try:
            done, _ = await asyncio.wait([gathered, sampler], return_when=asyncio.FIRST_COMPLETED)
            if sampler in done:
                sampler.result()  # raises ProxyDied
            await gathered
        finally:
            gathered.cancel()
            sampler.cancel()
            await asyncio.gather(gathered, sampler, return_exceptions=True)


async def run(load: Load, args: argparse.Namespace, memory: Memory, notes: list[str]) -> None:
    # Warm-up: every kind once (certificates generated, upstream connections opened), and
    # the probe alone, unloaded, as the baseline of its latency.
    warm = load.tally("warm-up")
    for kind in KINDS.values():
        for _ in range(3):
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    stream = await load.open(kind)
                    try:
                        path = load.path(kind, "warmup")
                        stream.writer.write(load.request_head(kind, path))
                        warm.sent += 1
                        load.judge(kind, warm, path, await load.read_response(stream))
                    finally:
                        stream.close()
            except (Failure, TimeoutError, *NETWORK_ERRORS) as error:
                warm.error(getattr(error, "reason", "error"), f"{kind.key}: {error!r}")
    await load.probe("probe, unloaded", time.monotonic() + 3)
    await asyncio.sleep(1)
    load.phase = "start"
    memory.start = load.sample().rss
    memory.inside_start = inside_memory(load.setup.proxy_port)
    load.metrics_before = metric_values(load.setup.metrics_port)

    load.phase = "idle"
    idle_began = time.monotonic()
    await load.open_idle(args.idle)
    notes.append(
        f"idle connections: {load.idle_opened} of {args.idle} opened in "
        f"{time.monotonic() - idle_began:.1f} s ({load.idle_failed} failed to open)"
    )
    await asyncio.sleep(2)
    memory.idle = load.sample().rss

    load.phase = "load"
    load.cpu_before = (cpu_seconds(load.setup.process.pid), time.process_time())
    load.started = time.monotonic()
    load.deadline = load.started + args.duration
    clients: list[Awaitable[None]] = [
        load.fast_client(KINDS[FAST_KINDS[n % len(FAST_KINDS)]]) for n in range(args.clients)
    ]
    clients += [load.slow_head_client(n) for n in range(args.slow)]
    clients += [load.slow_read_client(n) for n in range(args.slow)]
    clients += [load.large_client(n) for n in range(args.large)]
    clients.append(load.probe("probe, under load", load.deadline))

    try:
        await drive(load, clients, args)
    except TimeoutError:
        notes.append("some clients did not finish in time and were cancelled")
    load.elapsed = time.monotonic() - load.started
    load.cpu_after = (cpu_seconds(load.setup.process.pid), time.process_time())
    load.phase = "after"
    memory.after_load = load.sample().rss
    await load.close_idle()
    await asyncio.sleep(3)
    memory.end = load.sample().rss
    memory.hwm = status_field(load.setup.process.pid, "VmHWM")
    memory.inside = inside_memory(load.setup.proxy_port)  # last: it changes what it measures
    during = [s for s in load.samples if s.phase == "load"]
    memory.peak_sampled = max(s.rss for s in during) if during else memory.after_load
    half = args.duration / 2
    memory.first_half = max((s.rss for s in during if s.at < half), default=0.0)
    memory.second_half = max((s.rss for s in during if s.at >= half), default=0.0)
    load.metrics_after = metric_values(load.setup.metrics_port)


def inside_memory(port: int) -> dict[str, Any]:
    """MemoryReport's answer: a full garbage collection and malloc_trim inside the proxy."""
    answer = http_get(port, f"http://example.org{MEMORY_PATH}", "example.org", 60)
    return dict(json.loads(answer))


def settle_log(path: Path) -> None:
    """Wait until the event log stops growing (at most 10 s)."""
    deadline = time.monotonic() + 10
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size
        if now == size:
            return
        size = now
        time.sleep(0.5)


@dataclass
class LogCheck:
    expected: int = 0  # AI requests answered that aiwall must have logged
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0  # decision events for requests that must not be logged
    wrong_status: int = 0  # an event whose status disagrees with what the client got
    decisions: int = 0
    errors: int = 0  # aiwall `error` events
    examples: list[str] = field(default_factory=list)

    def example(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


def check_log(load: Load) -> LogCheck:
    check = LogCheck()
    seen: Counter[str] = Counter()
    statuses: dict[str, int | None] = {}
    with load.setup.events.open() as lines:
        for line in lines:
            if not line.endswith("\n"):
                break
            event = json.loads(line)
            action = event.get("event", {}).get("action")
            if action == "error":
                check.errors += 1
                check.example(f"error event: {event.get('message', '')[:150]}")
            if action != "decision":
                continue
            check.decisions += 1
            path = event.get("url", {}).get("path", "")
            seen[path] += 1
            statuses[path] = event.get("http", {}).get("response", {}).get("status_code")
    for path, (key, status) in load.paths.items():
        kind = KINDS[key]
        count = seen.get(path, 0)
        if kind.logged and status is not None:
            check.expected += 1
            if count == 0:
                check.missing += 1
                check.example(f"missing: {path} ({status})")
            elif count > 1:
                check.duplicated += 1
                check.example(f"{count} events: {path}")
            logged_status = statuses.get(path)
            agrees = logged_status is None if kind.status == 200 else logged_status == status
            if count and not agrees:
                check.wrong_status += 1
                check.example(f"event status {logged_status} for {path} answered {status}")
        elif not kind.logged and count:
            check.unexpected += count
            check.example(f"logged though {kind.label}: {path}")
    known = set(load.paths)
    stray = sum(n for path, n in seen.items() if path not in known)
    check.unexpected += stray
    if stray:
        check.example(f"{stray} events for paths the load test never sent")
    return check


# --- the report -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:.0f}"


def table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


GROUP_LABELS = {
    **{key: kind.label for key, kind in KINDS.items()},
    "slow-head": "slow clients: head byte by byte",
    "slow-read": "slow clients: reading slowly",
    "large": "large uploads to the blocked host",
    "probe, unloaded": "probe before the load",
    "probe, under load": "probe under load",
    "warm-up": "warm-up",
}


GROUP_EXPECTED = {  # by the kinds each group cycles through
    "slow-head": "200/403",
    "slow-read": "200",
    "large": "403",
    "probe, unloaded": "200",
    "probe, under load": "200",
}


def versions() -> list[str]:
    import mitmproxy.version

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return [
        f"python       {sys.version.split()[0]} ({sys.executable})",
        f"mitmproxy    {mitmproxy.version.VERSION}",
        f"openssl      {ssl.OPENSSL_VERSION} (client side)",
        f"aiwall       {commit.stdout.strip() or 'unknown commit'}",
        f"machine      {os.cpu_count()} cores, load average {load_average()}",
    ]


def shown(command: list[str]) -> str:
    return " ".join(part.replace(f"{ROOT}/", "") for part in command)


def report(
    load: Load, memory: Memory, check: LogCheck, upstream: dict[str, Any], args: argparse.Namespace
) -> list[str]:
    rows = [("traffic", "sent", "expected", "statuses", "errors", "req/s", "p50 ms", "p99 ms")]
    order = [*KINDS, "slow-head", "slow-read", "large", "probe, unloaded", "probe, under load"]
    for name in order:
        tally = load.tallies.get(name)
        if tally is None:
            continue
        expected = str(KINDS[name].status) if name in KINDS else GROUP_EXPECTED[name]
        rate = tally.in_window / args.duration if not name.startswith("probe") else 0.0
        rows.append(
            (
                GROUP_LABELS[name],
                str(tally.sent),
                expected,
                " ".join(f"{s}:{n}" for s, n in sorted(tally.statuses.items())) or "-",
                str(tally.failed),
                f"{rate:.1f}" if rate else "-",
                ms(percentile(tally.latencies, 0.5)),
                ms(percentile(tally.latencies, 0.99)),
            )
        )
    lines = [
        "",
        f"the load: {args.duration:g} s, then {load.elapsed - args.duration:.1f} s for the "
        "requests in flight to end; req/s counts the answers within the load's seconds",
        *table(rows),
    ]
    load_groups = [n for n in order if n in load.tallies and not n.startswith("probe")]
    errors = sum(load.tallies[n].failed for n in load_groups)
    probe = load.tallies.get("probe, under load", Tally())
    errors += probe.failed
    reasons: Counter[str] = Counter()
    for name in [*load_groups, "probe, under load"]:
        reasons.update(
            {f"{name}: {r}": n for r, n in load.tallies.get(name, Tally()).errors.items()}
        )
    if reasons:
        lines.append("errors by kind: " + ", ".join(f"{r} x{n}" for r, n in reasons.items()))
        for name in [*load_groups, "probe, under load"]:
            for example in load.tallies.get(name, Tally()).examples:
                lines.append(f"  e.g. {name}: {example}")
    warm = load.tallies.get("warm-up", Tally())
    if warm.failed:
        lines.append(f"warm-up errors (not counted): {warm.failed}: {warm.examples}")
    rps = sum(load.tallies[n].in_window for n in load_groups) / args.duration

    # Large uploads.
    uploads = load.uploads
    whole = sum(1 for u in uploads if u.sent_at_answer >= u.size)
    lines.append("")
    if uploads:
        shares = [u.sent_at_answer / u.size for u in uploads]
        continued = sum(u.got_continue for u in uploads)
        asked = sum(u.asked_continue for u in uploads)
        lines.append(
            f"large uploads: {len(uploads)} of {args.large_mb:g} MB answered; the answer came "
            f"after {statistics.median(shares):.0%} of the body (median; min "
            f"{min(shares):.0%}); {whole} only after the whole body; median "
            f"{statistics.median(u.seconds for u in uploads):.2f} s each; "
            f"{continued} got 100 Continue though the host is blocked ({asked} asked)"
        )
    blocked_upstream = {
        h: n for h, n in upstream["requests"].items() if h in ("chat.deepseek.com", "grok.com")
    }
    blocked_sni = {
        h: n for h, n in upstream["sni"].items() if h in ("chat.deepseek.com", "grok.com")
    }
    lines.append(
        f"upstream saw: requests {dict(upstream['requests'])}; body bytes "
        f"{dict(upstream['body_bytes'])}; TLS SNI {dict(upstream['sni'])}"
    )

    # Allowed: counted, not logged.
    allowed = load.tallies.get("allow-https", Tally())
    counted = metric(load.metrics_after, "aiwall_decisions_total", action="allow") - metric(
        load.metrics_before, "aiwall_decisions_total", action="allow"
    )
    internal = metric(load.metrics_after, "aiwall_internal_errors_total")
    crashes = load.setup.log.read_text(errors="replace").count("mitmproxy has crashed!")

    # Memory.
    growth = memory.end - memory.start
    inside = memory.inside
    after_gc = inside.get("rss_after_gc") or float("nan")
    after_trim = inside.get("rss_after_trim") or after_gc
    start_trim = memory.inside_start.get("rss_after_trim") or memory.inside_start.get(
        "rss_after_gc", memory.start
    )
    collected_growth = after_trim - start_trim
    bound = args.memory_bound if args.memory_bound is not None else needed_memory(args)
    plateau = memory.second_half <= memory.first_half * 1.10 + 10
    per_idle = (memory.idle - memory.start) * MB / 1e3 / max(1, load.idle_opened)
    samples = [s for s in load.samples if s.phase == "load"]
    fds = max((s.fds for s in samples), default=-1)
    lines += [
        "",
        "resident memory of mitmdump (VmRSS, MB)",
        f"  at start, after the warm-up           {memory.start:8.1f}",
        f"  with {args.idle} idle connections       {memory.idle:8.1f}"
        f"   ({per_idle:.1f} kB per idle connection)",
        f"  highest 1 s sample during the load    {memory.peak_sampled:8.1f}"
        f"   (first half {memory.first_half:.1f}, second half {memory.second_half:.1f})",
        f"  after the load, idle still open       {memory.after_load:8.1f}",
        f"  at the end, idle closed, 3 s later    {memory.end:8.1f}   ({growth:+.1f} vs start)",
        f"  peak over the process's life (VmHWM)  {memory.hwm:8.1f}",
        f"  then, inside the proxy: {inside.get('flows', 0)} flows still in memory holding "
        f"{inside.get('body_bytes', 0) / MB:.1f} MB of bodies (finished flows are garbage in "
        "reference cycles until Python's cyclic collector runs);",
        f"    after gc.collect(): {inside.get('flows_after_gc', 0)} flows, "
        f"{inside.get('body_bytes_after_gc', 0) / MB:.1f} MB of bodies, RSS {after_gc:.1f}; "
        f"after malloc_trim(0): RSS {after_trim:.1f} ({collected_growth:+.1f} vs the same at "
        f"start: {start_trim:.1f})",
        f"  open file descriptors, most during the load: {fds}",
        "  during the load, every 5 s: "
        + " ".join(f"{s.rss:.0f}" for s in samples[:: max(1, round(5 / 1.0))]),
    ]
    proxy_cpu = load.cpu_after[0] - load.cpu_before[0]
    client_cpu = load.cpu_after[1] - load.cpu_before[1]
    lines.append(
        f"CPU during the load: mitmdump {proxy_cpu / load.elapsed:.0%} of a core, this client "
        f"{client_cpu / load.elapsed:.0%} (mitmdump runs one event loop: ~100% means it was "
        f"the bottleneck)"
    )

    # Goals.
    p99 = percentile(probe.latencies, 0.99)
    goals = [
        ("goal", "measured", "target", "met"),
        (
            "errors (all clients and the probe)",
            str(errors),
            "0",
            yes(errors == 0),
        ),
        (
            "every AI decision logged exactly once",
            f"{check.expected} expected, {check.missing} missing, {check.duplicated} dup",
            "0 missing, 0 dup",
            yes(check.missing == 0 and check.duplicated == 0),
        ),
        (
            "no event for non-AI or allowed traffic",
            f"{check.unexpected} events",
            "0",
            yes(check.unexpected == 0),
        ),
        (
            "events agree with the answer",
            f"{check.wrong_status} disagree",
            "0",
            yes(check.wrong_status == 0),
        ),
        (
            "allowed AI counted in metrics",
            f"{counted:.0f} counted, {allowed.answered} answered",
            "= answered",
            yes(counted == allowed.answered) if allowed.failed == 0 else "?",
        ),
        (
            "blocked/warned hosts never reached",
            f"{sum(blocked_upstream.values())} requests, {sum(blocked_sni.values())} TLS",
            "0",
            yes(not blocked_upstream and not blocked_sni),
        ),
        (
            "large bodies answered before the end",
            f"{whole} of {len(uploads)} only after all",
            "0",
            yes(whole == 0 and bool(uploads)) if uploads else "-",
        ),
        (
            "requests per second (answered)",
            f"{rps:.0f}",
            "report",
            "-",
        ),
        (
            "responsive: probe p99 under load",
            f"{ms(p99)} ms (unloaded "
            f"{ms(percentile(load.tallies['probe, unloaded'].latencies, 0.99))})",
            f"<= {args.probe_goal_ms} ms",
            yes(p99 * 1000 <= args.probe_goal_ms and probe.failed == 0),
        ),
        (
            "idle connections held",
            f"{load.idle_opened} open, {load.idle_closed_by_proxy} closed by proxy",
            f"{args.idle}, 0",
            yes(load.idle_opened == args.idle and load.idle_closed_by_proxy == 0),
        ),
        (
            "memory: end vs start",
            f"{memory.start:.0f} -> {memory.end:.0f} MB ({growth:+.0f})",
            f"<= +{bound:.0f} MB",
            yes(growth <= bound),
        ),
        (
            "memory: after GC + trim vs start (leaks)",
            f"{start_trim:.0f} -> {after_trim:.0f} MB ({collected_growth:+.0f})",
            f"<= +{args.leak_bound:g} MB",
            yes(collected_growth <= args.leak_bound),
        ),
        (
            "memory: no growth over the load",
            f"{memory.first_half:.0f} / {memory.second_half:.0f} MB",
            "2nd half <= 1st +10%+10",
            yes(plateau),
        ),
        (
            "proxy internals: crashes, aiwall errors",
            f"{crashes} crashes, {internal:.0f} + {check.errors} errors",
            "0",
            yes(crashes == 0 and internal == 0 and check.errors == 0),
        ),
    ]
    lines += ["", "summary", *table(goals)]
    if check.examples:
        lines.append("log check examples: " + "; ".join(check.examples))
    lines.append(
        f"log: {check.decisions} decision events in {load.setup.events.stat().st_size / MB:.1f} "
        f"MB; mitmdump's own log {load.setup.log.stat().st_size / MB:.2f} MB"
    )
    lines.append(
        f"memory bounds: the end may exceed the start by {bound:.0f} MB (--memory-bound): "
        "what this load needs at its peak (each concurrent upload and slow response held about "
        "twice, 20 kB per idle connection, 32 MB more), which the allocator may keep after the "
        "load; more is memory still held, such as finished flows with their bodies waiting for "
        "Python's cyclic collector. After gc.collect() and malloc_trim(0) inside the proxy, "
        f"what remains beyond the same at start must be at most {args.leak_bound:g} MB "
        "(--leak-bound: fragments of the peak, about 15 kB per idle connection that was open, "
        "and caches); more would be a leak. The plateau row compares the highest samples of "
        "the two halves of the load; it moves with when the collector runs."
    )
    return lines


def needed_memory(args: argparse.Namespace) -> float:
    """MB the load needs at its peak: mitmproxy holds each concurrent upload and each slow
    response about twice (its buffer and the flow's copy), an idle connection about 20 kB;
    plus 32 MB for everything else (certificates, connection state, fragmentation)."""
    uploads = 2 * args.large * args.large_mb
    responses = 2 * args.slow * args.slow_read_mb
    return uploads + responses + args.idle * 20e3 / MB + 32


def yes(condition: bool) -> str:
    return "yes" if condition else "NO"


# --- main -------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (60)")
    parser.add_argument("--clients", type=int, default=40, help="fast clients (40)")
    parser.add_argument("--idle", type=int, default=2000, help="idle connections held (2000)")
    parser.add_argument("--slow", type=int, default=4, help="slow clients of each kind (4)")
    parser.add_argument("--large", type=int, default=2, help="concurrent large uploads (2)")
    parser.add_argument("--large-mb", type=float, default=32, help="size of an upload (32 MB)")
    parser.add_argument(
        "--slow-read-mb", type=float, default=8, help="size a slow reader asks for (8 MB)"
    )
    parser.add_argument(
        "--slow-byte-delay", type=float, default=0.02, help="pause per byte of a slow head (s)"
    )
    parser.add_argument(
        "--probe-interval", type=float, default=0.2, help="seconds between probes (0.2)"
    )
    parser.add_argument(
        "--probe-goal-ms", type=int, default=1000, help="probe p99 goal under load (1000 ms)"
    )
    parser.add_argument(
        "--memory-bound",
        type=float,
        default=None,
        help="allowed growth of the memory, end vs start (MB; default: what the load needs "
        "at its peak, see the report)",
    )
    parser.add_argument(
        "--leak-bound",
        type=float,
        default=48,
        help="allowed growth after a full GC and malloc_trim in the proxy, end vs start (48 MB)",
    )
    parser.add_argument(
        "--set",
        dest="mitm_options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="an extra mitmproxy option for the proxy under test (repeatable), e.g. "
        "stream_large_bodies=1m",
    )
    parser.add_argument(
        "--script",
        dest="scripts",
        action="append",
        default=[],
        metavar="PATH",
        help="an extra mitmproxy script for the proxy under test (repeatable), for investigations",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs) and print it"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)

    def overran(*_: object) -> None:
        raise KeyboardInterrupt("the load test overran its time limit")

    signal.signal(signal.SIGALRM, overran)  # the last resort: the script always ends
    signal.alarm(int(args.duration + SLOW_TIMEOUT + 240))
    folder = Path(tempfile.mkdtemp(prefix="aiwall-load-"))
    try:
        return load_test(args, folder)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({interrupt or 'signal'}): every process it started is stopped")
        return 130
    finally:
        signal.alarm(0)
        if args.keep:
            print(f"kept: {folder}")
        else:
            subprocess.run(["rm", "-rf", str(folder)], check=False)


def load_test(args: argparse.Namespace, folder: Path) -> int:
    fd_note = raise_fd_limit(args.idle + 4 * (args.clients + 4 * args.slow + args.large) + 512)
    print(f"command      {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(*versions(), sep="\n")
    print(fd_note)
    with contextlib.ExitStack() as stack:
        setup = start(folder, args.mitm_options, args.scripts, stack)
        print(f"mitmdump     {shown(setup.command)}")
        print(
            f"load         {args.duration:g} s: {args.clients} fast clients over "
            f"{len(FAST_KINDS)} kinds, {args.slow} slow-head + {args.slow} slow-read clients, "
            f"{args.large} large uploads of {args.large_mb:g} MB, {args.idle} idle connections, "
            f"a probe every {args.probe_interval:g} s",
            flush=True,
        )
        load = Load(setup, args)
        memory = Memory()
        notes: list[str] = []
        try:
            asyncio.run(run(load, args, memory, notes))
        except ProxyDied as died:
            print(f"\nerror: the proxy died under the load: {died}")
            print(f"its log ends with:\n{tail(setup.log, 3000)}")
            return 3
        for note in notes:
            print(note)
        settle_log(setup.events)
        check = check_log(load)
        upstream = json.loads(http_get(setup.http_port, "/__stats"))
        print(*report(load, memory, check, upstream, args), sep="\n")
        print(f"load average at the end: {load_average()}")
        if setup.process.poll() is not None:
            print(f"error: the proxy exited with {setup.process.returncode}: {tail(setup.log)}")
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
