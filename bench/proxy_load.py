"""bench/proxy.py's load: what a workload asks, and the clients that drive it (wrk for plain
HTTP, an asyncio client for HTTPS through CONNECT tunnels)."""

import asyncio
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from processes import cpu_seconds, tail
from proxy_setup import BenchError, Proxy

REQUEST_TIMEOUT = 10.0
MAX_ERROR_SHARE = 0.01


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
