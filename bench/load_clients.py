"""The load test's clients: fast, slow, large, idle, and the probe; one `Load` per run."""

import argparse
import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import Awaitable, Callable

from load_kinds import (
    KINDS,
    LARGE_KINDS,
    NETWORK_ERRORS,
    SLOW_HEAD_KINDS,
    SLOW_READ_KINDS,
    Failure,
    Kind,
    Response,
    Stream,
    Tally,
    Upload,
)
from load_memory import MB
from load_setup import ProxyDied, Sample, Setup, SetupError, open_fds, status_field

REQUEST_TIMEOUT = 20.0  # one request of a fast client; generous: the machine is shared
SLOW_TIMEOUT = 60.0  # one slow or large request, from connect to the last byte
HEAD_LIMIT = 64 * 1024


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
