"""bench/proxy.py's report: each workload's rounds, and the tables of rates, CPU and memory."""

import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import processes
from proxy_load import Run, Workload
from proxy_setup import AIWALL, AIWALL_SCRIPT, BLOCK_LIST, PLAIN, ROOT, Proxy, Upstream, rss_mb


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

    def ratios(self, other: str, of: str = AIWALL) -> list[float]:
        """`of`'s throughput over the other's, one per round (paired: same round, same noise)."""
        return [a / b for a, b in zip(self.rates[of], self.rates[other], strict=True)]

    def cpu_ratios(self, other: str, of: str = AIWALL) -> list[float]:
        """`of`'s CPU time per request over the other's, one per round: what aiwall costs."""
        return [a / b for a, b in zip(self.cpu[of], self.cpu[other], strict=True)]


def median_text(values: list[float], spread: bool = False) -> str:
    if not values:
        return "-"
    text = f"{statistics.median(values):.2f}"
    return f"{text} ({min(values):.2f}-{max(values):.2f})" if spread else text


def versions(upstream: Upstream) -> list[str]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return processes.versions(
        ROOT,
        f"wrk          {(wrk.stdout + wrk.stderr).splitlines()[0].strip()}",
        f"upstream     {upstream.kind}, 127.0.0.1:{upstream.http_port} and :{upstream.https_port}",
    )


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


def table(title: str, rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [title]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return lines


def report(
    workloads: Sequence[Workload],
    measured: dict[str, Measured],
    proxies: dict[str, Proxy],
    rss_after: dict[str, float],
) -> list[str]:
    """The tables; goals are judged on `aiwall run` (the column `aiwall`)."""
    header = (
        "workload",
        PLAIN,
        AIWALL,
        AIWALL_SCRIPT,
        BLOCK_LIST,
        "aiwall/plain (min-max)",
        "aiwall -s/plain",
        "aiwall/block_list",
        "goal",
        "met",
    )
    throughput: list[tuple[str, ...]] = [header]
    cpu: list[tuple[str, ...]] = [header]
    for workload in workloads:
        m = measured[workload.label]
        label = f"{workload.label} ({workload.host})"
        has_block_list = BLOCK_LIST in m.rates
        goal = "-" if workload.goal is None else f">= {workload.goal:g}"
        throughput.append(
            (
                label,
                *(m.rate(name) for name in (PLAIN, AIWALL, AIWALL_SCRIPT, BLOCK_LIST)),
                median_text(m.ratios(PLAIN), spread=True),
                median_text(m.ratios(PLAIN, of=AIWALL_SCRIPT)),
                median_text(m.ratios(BLOCK_LIST) if has_block_list else []),
                goal,
                met(m.ratios(PLAIN), workload.goal),
            )
        )
        cpu.append(
            (
                label,
                *(m.cpu_per_request(name) for name in (PLAIN, AIWALL, AIWALL_SCRIPT, BLOCK_LIST)),
                median_text(m.cpu_ratios(PLAIN), spread=True),
                median_text(m.cpu_ratios(PLAIN, of=AIWALL_SCRIPT)),
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
