"""Proxy benchmark: plain mitmdump, mitmdump with aiwall and mitmdump's own block_list, one run.

    .venv/bin/python bench/proxy.py [--duration S] [--connections N] [--rounds N]

Starts a local upstream (nginx when it is installed, else a small asyncio server), three
mitmdump processes in front of it and drives them with the same load, in turn within each
round so that the machine's noise falls on all of them: wrk for plain HTTP (absolute-form
requests, as a client configured with a proxy sends them) and an asyncio client for HTTPS
(CONNECT, TLS, keep-alive HTTP/1.1). It prints requests per second, the ratios to plain
mitmdump with the goals of the issue, and each proxy's resident memory. It reports, it does
not gate: it exits 0 once it has printed, and stops with an error only when a proxy does not
start or more than 1% of the requests of a run fail.

Everything listens on and talks to 127.0.0.1. The mitmdumps also load this file as a script
(`ResolveToUpstream` below), which resolves every host name to the local upstream, so vendor
names are used without DNS and nothing ever reaches a real vendor. For that reason the
imports outside the standard library and mitmproxy are made inside the functions that only
the benchmark runs: the mitmdumps must not carry them, or their memory would be misstated.
"""

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mitmproxy import ctx
from mitmproxy.addonmanager import Loader
from processes import cpu_seconds, load_average, stop_multiprocess, stop_process, tail

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "fixtures" / "proxy" / "rules.yaml"
POLICIES = ROOT / "policies"
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
MAX_ERROR_SHARE = 0.01
BODY = b"ok\n"
UPSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY)
)
PLAIN, AIWALL, BLOCK_LIST = "plain", "aiwall", "block_list"


class ResolveToUpstream:
    """Loaded into every mitmdump of the benchmark: every name resolves to the local upstream.

    Port 443 goes to the upstream's HTTPS port, any other port to its plain HTTP port. The
    server connection keeps the name it was asked for, so mitmproxy reuses it for the next
    request of a kept-alive client connection as it would in production.
    (tests/redirect_upstream.py rewrites the server address instead: mitmproxy then opens a
    new upstream connection for every request and, after five of them on one client
    connection, waits forever for its per-address limit.)
    """

    def load(self, loader: Loader) -> None:
        loader.add_option("bench_upstream_http", int, 0, "Port of the local upstream's HTTP.")
        loader.add_option("bench_upstream_https", int, 0, "Port of the local upstream's HTTPS.")

    def running(self) -> None:
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def to_upstream(host: object, port: object, **kwargs: Any) -> Any:
            https = str(port) == "443"
            local = ctx.options.bench_upstream_https if https else ctx.options.bench_upstream_http
            return await resolve("127.0.0.1", local, **kwargs)

        loop.getaddrinfo = to_upstream  # type: ignore[method-assign]


addons = [ResolveToUpstream()]


class BenchError(Exception):
    """The benchmark cannot go on: a process did not start, or too many requests failed."""


# --- the upstream -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    kind: str  # what serves: "nginx 1.22.1" or "asyncio"
    http_port: int
    https_port: int
    certificate: Path


class FixedAnswer(asyncio.Protocol):
    """Answers every request head with the same small response (the requests carry no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        data = self.pending + data
        heads = data.count(b"\r\n\r\n")
        if heads:
            self.transport.write(UPSTREAM_RESPONSE * heads)
            data = data[data.rfind(b"\r\n\r\n") + 4 :]
        self.pending = data


def serve_asyncio_upstream(http_port: int, https_port: int, cert: Path, key: Path) -> None:
    """The upstream when nginx is not installed; runs in a process of its own."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        await loop.create_server(FixedAnswer, "127.0.0.1", http_port, backlog=1024)
        await loop.create_server(FixedAnswer, "127.0.0.1", https_port, ssl=context, backlog=1024)
        await asyncio.Event().wait()

    asyncio.run(serve())


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path {folder}/body;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{http_port} backlog=1024;
        listen 127.0.0.1:{https_port} ssl backlog=1024;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "{body}"; }}
    }}
}}
"""


def start_upstream(folder: Path, choice: str, stack: contextlib.ExitStack) -> Upstream:
    from tests.mitm import free_port
    from tests.upstream import self_signed_certificate

    folder.mkdir()
    cert, key = self_signed_certificate(folder)
    http_port, https_port = free_port(), free_port()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if choice == "nginx" and not nginx:
        raise BenchError("--upstream nginx: no nginx found (Debian: apt-get install nginx-light)")
    if nginx and choice != "asyncio":
        config = folder / "nginx.conf"
        config.write_text(
            NGINX_CONF.format(
                folder=folder,
                http_port=http_port,
                https_port=https_port,
                cert=cert,
                key=key,
                body=BODY.decode().replace("\n", "\\n"),
            )
        )
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
        log: Path | None = folder / "nginx.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [nginx, "-p", str(folder), "-c", str(config), "-e", str(log)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        stack.callback(stop_process, process)
        exit_code: Callable[[], int | None] = process.poll
        kind = version.strip().removeprefix("nginx version: ").replace("/", " ")
    else:
        server = multiprocessing.get_context("spawn").Process(
            target=serve_asyncio_upstream, args=(http_port, https_port, cert, key), daemon=True
        )
        server.start()
        stack.callback(stop_multiprocess, server)
        log = None  # the child's errors go to this process's stderr

        def exit_code() -> int | None:
            return None if server.is_alive() else server.exitcode

        kind = "asyncio"
    for port in (http_port, https_port):
        wait_until_listening(port, exit_code, log)
    return Upstream(kind, http_port, https_port, cert)


# --- the proxies ------------------------------------------------------------------------------


@dataclass
class Proxy:
    name: str
    port: int
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    rss_at_start: float = 0.0


def registry_hosts() -> list[str]:
    from aiwall.core.registry import load_registry

    return load_registry(POLICIES).index.hosts()


def proxy_options(name: str, events: Path, hosts: Sequence[str]) -> dict[str, Any]:
    """What each of the three mitmdumps gets on top of what they share (tests/mitm.py)."""
    if name == AIWALL:
        return {"rules": RULES, "policies": POLICIES, "events": events}
    if name == BLOCK_LIST:
        return {"options": [f"block_list=/~d {host}/403" for host in hosts]}
    return {}


def start_proxy(
    name: str, folder: Path, upstream: Upstream, hosts: Sequence[str], stack: contextlib.ExitStack
) -> Proxy:
    from tests.mitm import free_port, mitmdump_command

    folder.mkdir()
    port = free_port()
    own = proxy_options(name, folder / "events.jsonl", hosts)
    command = mitmdump_command(
        port,
        folder / "confdir",
        scripts=[Path(__file__).resolve()],
        options=[
            f"bench_upstream_http={upstream.http_port}",
            f"bench_upstream_https={upstream.https_port}",
            *own.pop("options", []),
        ],
        **own,
    )
    log = folder / "mitmdump.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop_process, process)
    wait_until_listening(port, process.poll, log)
    return Proxy(name, port, command, process, log)


def wait_until_listening(port: int, exit_code: Callable[[], int | None], log: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if exit_code() is not None:
            raise BenchError(f"exited before listening on {port}: {tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise BenchError(
        f"nothing listens on 127.0.0.1:{port} after {START_TIMEOUT:.0f} s: {tail(log)}"
    )


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    """Resident memory from /proc/PID/status, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise BenchError(f"no {field_name} in /proc/{pid}/status")


# --- the load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    label: str
    client: Literal["wrk", "tls-keepalive", "tls-new"]  # tls-new: a new tunnel per request
    host: str
    expected: dict[str, int]  # the proxies it runs through -> the status each must answer
    goal: float | None  # aiwall/plain throughput must reach it; None: the issue sets no number
    cpu_goal: float  # aiwall's CPU time per request / plain's must stay at or under it
    path: str = "/"
    browser: bool = False  # a page navigation (HTML answers), else an API client (JSON)

    @property
    def headers(self) -> dict[str, str]:
        if self.browser:
            return {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
        return {"Accept": "application/json"}


FORWARDED = {PLAIN: 200, AIWALL: 200}
BLOCKED = {PLAIN: 200, AIWALL: 403, BLOCK_LIST: 403}  # plain mitmdump forwards it all the same
# CPU goals (issue 9): a refusal costs less than a forward; the rest costs about what it does
# without aiwall. Blocked AI is refused both ways a client may ask: a browser gets the HTML
# page, an API client the JSON error.
NON_AI, LOGGED, REFUSED = 1.02, 1.05, 0.7
WORKLOADS = (
    Workload("non-AI HTTP", "wrk", "example.org", {**FORWARDED, BLOCK_LIST: 200}, 0.98, NON_AI),
    Workload(
        "non-AI HTTPS, kept-alive tunnels", "tls-keepalive", "example.org", FORWARDED, 3.0, NON_AI
    ),
    Workload(
        "non-AI HTTPS, a tunnel per request", "tls-new", "example.org", FORWARDED, 3.0, NON_AI
    ),
    Workload("AI logged, HTTP", "wrk", "api.openai.com", FORWARDED, 0.96, LOGGED, "/v1/models"),
    Workload(
        "AI logged, HTTPS", "tls-keepalive", "api.openai.com", FORWARDED, 0.96, LOGGED, "/v1/models"
    ),
    Workload("blocked AI, HTTP, API", "wrk", "chat.deepseek.com", BLOCKED, None, REFUSED),
    Workload(
        "blocked AI, HTTPS, API", "tls-keepalive", "chat.deepseek.com", BLOCKED, None, REFUSED
    ),
    Workload(
        "blocked AI, HTTPS, browser",
        "tls-keepalive",
        "chat.deepseek.com",
        BLOCKED,
        None,
        REFUSED,
        browser=True,
    ),
)


@dataclass
class Run:
    """One load run through one proxy: answers with the expected status, failures, seconds."""

    answered: int = 0
    failed: int = 0
    seconds: float = 0.0
    first_failure: str = ""
    proxy_cpu: float = 0.0  # seconds of CPU the proxy process spent meanwhile, all its threads

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request(self) -> float:
        """Microseconds of the proxy's CPU time per request answered."""
        return self.proxy_cpu * 1e6 / self.answered if self.answered else 0.0

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.first_failure = self.first_failure or reason


WRK_SCRIPT = """\
wrk.path = "http://{host}{path}"
wrk.headers["Host"] = "{host}"
{headers}unexpected = 0
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) expected = tonumber(args[1]) end
function response(status, headers, body)
  if status ~= expected then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.timeout, bad))
end
"""


def wrk_run(script: Path, port: int, expected: int, connections: int, seconds: int) -> Run:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={REQUEST_TIMEOUT:.0f}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
        "--",
        str(expected),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise BenchError(f"wrk printed no result: {result.stdout}{result.stderr}")
    requests, micros, connect, read, write, timeout, unexpected = map(int, line.split()[1:])
    run = Run(answered=requests - unexpected, seconds=micros / 1e6)
    reasons = {"connect": connect, "read": read, "write": write, "timeout": timeout}
    reasons[f"status other than {expected}"] = unexpected
    run.failed = sum(reasons.values())
    run.first_failure = ", ".join(f"{n} {what}" for what, n in reasons.items() if n)
    return run


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the proxies' CA and the upstream are both throwaway
    context.set_alpn_protocols(["http/1.1"])
    return context


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_tunnel(port: int, host: str, context: ssl.SSLContext) -> Stream:
    """CONNECT through the proxy, then TLS to `host` inside the tunnel."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if head.split(b" ", 2)[1:2] != [b"200"]:
        writer.close()
        raise ConnectionError(f"CONNECT answered {head.splitlines()[0]!r}")
    await writer.start_tls(context, server_hostname=host)
    return reader, writer


async def exchange(stream: Stream, request: bytes) -> int:
    """Send one request, read its whole response; return the status."""
    reader, writer = stream
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise ConnectionError("a response without Content-Length")
    await reader.readexactly(length)
    return int(head[9:12])


def close(stream: Stream) -> None:
    stream[1].close()


async def tls_load(
    port: int, workload: Workload, expected: int, connections: int, seconds: float
) -> Run:
    """`connections` clients, each with a kept-alive tunnel or a new tunnel per request."""
    context = client_context()
    fields = "".join(f"{name}: {value}\r\n" for name, value in workload.headers.items())
    request = f"GET {workload.path} HTTP/1.1\r\nHost: {workload.host}\r\n{fields}\r\n".encode()
    run = Run()
    keepalive = workload.client == "tls-keepalive"

    async def tunnel() -> Stream:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            return await open_tunnel(port, workload.host, context)

    async def one_request(stream: Stream) -> bool:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status = await exchange(stream, request)
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            run.fail(repr(e))
            return False
        if status == expected:
            run.answered += 1
        else:
            run.fail(f"status {status}")
        return True

    async def client(stream: Stream | None, deadline: float) -> None:
        while time.monotonic() < deadline:
            if stream is None:
                try:
                    stream = await tunnel()
                except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as e:
                    run.fail(repr(e))
                    continue
            if not await one_request(stream) or not keepalive:
                close(stream)
                stream = None
        if stream is not None:
            close(stream)

    # Kept-alive tunnels are opened before the clock starts: the requests are what is measured.
    streams: list[Stream | None] = [None] * connections
    if keepalive:
        streams = list(await asyncio.gather(*(tunnel() for _ in range(connections))))
    start = time.monotonic()
    async with asyncio.timeout(seconds + 2 * REQUEST_TIMEOUT + 5):
        await asyncio.gather(*(client(s, start + seconds) for s in streams))
    run.seconds = time.monotonic() - start
    return run


async def peer_certificate(port: int, host: str) -> bytes:
    """The certificate the client sees for `host` through the proxy (DER)."""
    async with asyncio.timeout(REQUEST_TIMEOUT):
        stream = await open_tunnel(port, host, client_context())
    try:
        return stream[1].get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        close(stream)


def load_run(
    proxy: Proxy, workload: Workload, script: Path | None, connections: int, seconds: int
) -> Run:
    expected = workload.expected[proxy.name]
    cpu_before = cpu_seconds(proxy.process.pid)
    if script is not None:
        run = wrk_run(script, proxy.port, expected, connections, seconds)
    else:
        try:
            run = asyncio.run(tls_load(proxy.port, workload, expected, connections, seconds))
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as error:
            raise BenchError(f"{workload.label} through {proxy.name}: {error!r}") from error
    run.proxy_cpu = cpu_seconds(proxy.process.pid) - cpu_before
    total = run.answered + run.failed
    if not run.answered or run.failed > MAX_ERROR_SHARE * total:
        raise BenchError(
            f"{workload.label} through {proxy.name}: {run.failed} of {total} requests failed "
            f"({run.first_failure}); its log: {tail(proxy.log)}"
        )
    return run


# --- the report -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One workload's runs, round by round: every round runs each of its proxies once."""

    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # µs per request

    def add_round(self, runs: dict[str, Run]) -> None:
        for name, run in runs.items():
            self.rates.setdefault(name, []).append(run.rate)
            self.cpu.setdefault(name, []).append(run.cpu_per_request)

    def rate(self, name: str) -> str:
        return f"{statistics.median(self.rates[name]):.0f}" if name in self.rates else "-"

    def cpu_per_request(self, name: str) -> str:
        return f"{statistics.median(self.cpu[name]):.0f}" if name in self.cpu else "-"

    def ratios(self, other: str) -> list[float]:
        """aiwall's throughput over the other's, one per round (paired: same round, same noise)."""
        return [a / b for a, b in zip(self.rates[AIWALL], self.rates[other], strict=True)]

    def cpu_ratios(self, other: str) -> list[float]:
        """aiwall's CPU time per request over the other's, one per round: what aiwall costs."""
        return [a / b for a, b in zip(self.cpu[AIWALL], self.cpu[other], strict=True)]


def median_text(values: list[float], spread: bool = False) -> str:
    if not values:
        return "-"
    text = f"{statistics.median(values):.2f}"
    return f"{text} ({min(values):.2f}-{max(values):.2f})" if spread else text


def versions(upstream: Upstream) -> list[str]:
    import mitmproxy.version

    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return [
        f"python       {sys.version.split()[0]} ({sys.executable})",
        f"mitmproxy    {mitmproxy.version.VERSION}",
        f"openssl      {ssl.OPENSSL_VERSION} (client side)",
        f"wrk          {(wrk.stdout + wrk.stderr).splitlines()[0].strip()}",
        f"upstream     {upstream.kind}, 127.0.0.1:{upstream.http_port} and :{upstream.https_port}",
        f"aiwall       {commit.stdout.strip() or 'unknown commit'}",
        f"machine      {os.cpu_count()} cores, load average {load_average()}",
    ]


def shown_command(command: Sequence[str]) -> str:
    """A mitmdump command line, paths relative to the checkout, block_list entries counted."""
    shown: list[str] = []
    entries = 0
    for part in command:
        if part.startswith("block_list="):
            shown.pop()  # its --set
            entries += 1
        else:
            shown.append(part.replace(f"{ROOT}/", ""))
    more = f" + {entries} x --set 'block_list=/~d HOST/403'" if entries else ""
    return " ".join(shown) + more


def table(title: str, rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [title]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return lines


def report(
    measured: dict[str, Measured], proxies: dict[str, Proxy], rss_after: dict[str, float]
) -> list[str]:
    throughput = [
        (
            "workload",
            "plain",
            "aiwall",
            "block_list",
            "aiwall/plain (min-max)",
            "aiwall/block_list",
            "goal",
            "met",
        )
    ]
    cpu = [
        (
            "workload",
            "plain",
            "aiwall",
            "block_list",
            "aiwall/plain (min-max)",
            "aiwall/block_list",
            "goal",
            "met",
        )
    ]
    for workload in WORKLOADS:
        m = measured[workload.label]
        label = f"{workload.label} ({workload.host})"
        has_block_list = BLOCK_LIST in m.rates
        goal = "-" if workload.goal is None else f">= {workload.goal:g}"
        throughput.append(
            (
                label,
                m.rate(PLAIN),
                m.rate(AIWALL),
                m.rate(BLOCK_LIST),
                median_text(m.ratios(PLAIN), spread=True),
                median_text(m.ratios(BLOCK_LIST) if has_block_list else []),
                goal,
                met(m.ratios(PLAIN), workload.goal),
            )
        )
        cpu.append(
            (
                label,
                m.cpu_per_request(PLAIN),
                m.cpu_per_request(AIWALL),
                m.cpu_per_request(BLOCK_LIST),
                median_text(m.cpu_ratios(PLAIN), spread=True),
                median_text(m.cpu_ratios(BLOCK_LIST) if has_block_list else []),
                f"<= {workload.cpu_goal:g}",
                "yes" if statistics.median(m.cpu_ratios(PLAIN)) <= workload.cpu_goal else "NO",
            )
        )
    lines = table(
        "requests per second, median of the rounds; ratios: median of each round's ratio",
        throughput,
    )
    lines.append("")
    lines += table(
        "the proxy's CPU time per request (µs, utime+stime from /proc/PID/stat over each run / "
        "requests answered; median of the rounds); ratios: aiwall's cost / the other's, per round "
        "(less sensitive to other load than requests per second)",
        cpu,
    )
    lines += ["", "resident memory (MB)    at start  after load  peak (VmHWM)"]
    for name, proxy in proxies.items():
        peak = rss_mb(proxy.process.pid, "VmHWM")
        lines.append(f"{name:<22}{proxy.rss_at_start:>10.1f}{rss_after[name]:>12.1f}{peak:>14.1f}")
    at_start = proxies[AIWALL].rss_at_start - proxies[PLAIN].rss_at_start
    after = rss_after[AIWALL] - rss_after[PLAIN]
    lines.append(
        f"aiwall - plain: {after:+.1f} MB after load (goal <= 15 MB): "
        f"{'yes' if after <= 15 else 'NO'}; {at_start:+.1f} MB at start"
    )
    return lines


def met(ratios: list[float], goal: float | None) -> str:
    if goal is None:
        return "-"
    return "yes" if statistics.median(ratios) >= goal else "NO"


# --- the benchmark ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=int,
        default=140,
        help="seconds of load in all, split evenly over the runs (default 140: about 3 minutes)",
    )
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of runs (default 4)")
    parser.add_argument(
        "--upstream",
        choices=("auto", "nginx", "asyncio"),
        default="auto",
        help="what serves behind the proxies (auto: nginx when installed)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("error: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))  # the test suite's helpers: free ports, certificate, paths
    for stop in (signal.SIGINT, signal.SIGTERM):  # also where a shell made SIGINT ignored
        signal.signal(stop, signal.default_int_handler)
    try:
        with tempfile.TemporaryDirectory(prefix="aiwall-bench-") as folder:
            benchmark(args, Path(folder))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: every process it started is stopped", file=sys.stderr)
        return 130
    return 0


def benchmark(args: argparse.Namespace, folder: Path) -> None:
    runs_per_round = sum(len(w.expected) for w in WORKLOADS)
    seconds = max(1, args.duration // (args.rounds * runs_per_round))
    with contextlib.ExitStack() as stack:
        upstream = start_upstream(folder / "upstream", args.upstream, stack)
        hosts = registry_hosts()
        proxies = {
            name: start_proxy(name, folder / name, upstream, hosts, stack)
            for name in (PLAIN, AIWALL, BLOCK_LIST)
        }
        for proxy in proxies.values():
            proxy.rss_at_start = rss_mb(proxy.process.pid)
        scripts = write_wrk_scripts(folder)
        print(f"command      {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(*versions(upstream), sep="\n")
        for name, proxy in proxies.items():
            print(f"{name:<12} {shown_command(proxy.command)}")
        print(
            f"load         {args.connections} connections, {args.rounds} rounds of "
            f"{runs_per_round} runs of {seconds} s, after a 1 s warm-up of each"
        )
        print(passthrough_check(proxies, upstream), flush=True)
        ai_answered = 0  # AI requests aiwall answered: each must have its decision event

        def run(name: str, workload: Workload, seconds: int) -> Run:
            nonlocal ai_answered
            script = scripts.get(workload.label)
            result = load_run(proxies[name], workload, script, args.connections, seconds)
            if name == AIWALL and workload.host != "example.org":
                ai_answered += result.answered
            return result

        for workload in WORKLOADS:
            for name in workload.expected:
                run(name, workload, 1)
        measured = {w.label: Measured() for w in WORKLOADS}
        for number in range(args.rounds):
            for workload in WORKLOADS:
                names = list(workload.expected)
                names = names[number % len(names) :] + names[: number % len(names)]
                runs = {name: run(name, workload, seconds) for name in names}
                measured[workload.label].add_round(runs)
                shown = "  ".join(
                    f"{n} {r.rate:.0f}/s {r.cpu_per_request:.0f} µs" for n, r in runs.items()
                )
                print(
                    f"round {number + 1}/{args.rounds}  {workload.label}: {shown}", file=sys.stderr
                )
        rss_after = {name: rss_mb(proxy.process.pid) for name, proxy in proxies.items()}
        print()
        print(*report(measured, proxies, rss_after), sep="\n")
        print(events_check(folder / AIWALL / "events.jsonl", ai_answered))
        print(f"load average at the end: {load_average()}")


def write_wrk_scripts(folder: Path) -> dict[str, Path]:
    scripts = {}
    for number, workload in enumerate(w for w in WORKLOADS if w.client == "wrk"):
        script = folder / f"wrk-{number}.lua"
        headers = "".join(
            f'wrk.headers["{name}"] = "{value}"\n' for name, value in workload.headers.items()
        )
        script.write_text(
            WRK_SCRIPT.format(host=workload.host, path=workload.path, headers=headers)
        )
        scripts[workload.label] = script
    return scripts


def passthrough_check(proxies: dict[str, Proxy], upstream: Upstream) -> str:
    """Whether the client saw the upstream's own certificate (passed through) or mitmproxy's."""
    own = ssl.PEM_cert_to_DER_cert(upstream.certificate.read_text())
    seen = {
        name: "passed through"
        if asyncio.run(peer_certificate(proxy.port, "example.org")) == own
        else "intercepted"
        for name, proxy in proxies.items()
        if name != BLOCK_LIST
    }
    return "non-AI HTTPS " + ", ".join(f"{name}: {how}" for name, how in seen.items())


def events_check(events: Path, ai_answered: int) -> str:
    """aiwall logs every AI request; those in flight when a run ended are logged, not counted."""
    decisions = 0
    with events.open("rb") as lines:
        for line in lines:
            decisions += b'"action":"decision"' in line
    return (
        f"aiwall logged {decisions} decisions for the {ai_answered} AI requests it answered "
        f"in time ({events.stat().st_size / 1e6:.0f} MB of log)"
    )


if __name__ == "__main__":
    sys.exit(main())
