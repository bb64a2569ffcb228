"""One run of the load test: warm-up, idle connections, the load, memory; then the log check."""

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load_clients import REQUEST_TIMEOUT, SLOW_TIMEOUT, Load
from load_kinds import FAST_KINDS, KINDS, NETWORK_ERRORS, Failure
from load_memory import MEMORY_PATH
from load_setup import http_get, metric_values, status_field
from processes import cpu_seconds


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
