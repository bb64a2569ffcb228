"""What the load test prints: errors, log check, requests per second, memory, against goals."""

import argparse
import statistics
from collections import Counter
from typing import Any

import processes
from load_clients import Load
from load_kinds import KINDS, Tally
from load_memory import MB
from load_run import LogCheck, Memory
from load_setup import ROOT, metric


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
    return processes.versions(ROOT)


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
