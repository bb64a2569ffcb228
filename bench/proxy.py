"""Proxy benchmark: plain mitmdump, aiwall as deployed (`aiwall run`), aiwall as a mitmdump
script and mitmdump's own block_list, in one run.

    .venv/bin/python bench/proxy.py [--duration S] [--connections N] [--rounds N]

Starts a local upstream (nginx when it is installed, else a small asyncio server), the four
proxies in front of it (bench/proxy_setup.py) and drives them with the same load, in turn
within each round so that the machine's noise falls on all of them: wrk for plain HTTP
(absolute-form requests, as a client configured with a proxy sends them) and an asyncio client
for HTTPS (CONNECT, TLS, keep-alive HTTP/1.1) (bench/proxy_load.py). It prints requests per
second, each proxy's CPU time per request, the ratios to plain mitmdump with the goals of the
issue, and each proxy's resident memory (bench/proxy_report.py). The goals are judged on
`aiwall run`, which loads only the mitmproxy addons a policy proxy needs (aiwall/proxy/
master.py); the `aiwall -s` column shows aiwall inside a full mitmdump. It reports, it does not
gate: it exits 0 once it has printed, and stops with an error only when a proxy does not start
or more than 1% of the requests of a run fail.

Everything listens on and talks to 127.0.0.1. Every proxy loads bench/upstream_resolver.py as
a script, which resolves every host name to the local upstream, so vendor names are used
without DNS and nothing ever reaches a real vendor.
"""

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import ssl
import sys
import tempfile
from pathlib import Path

from processes import load_average
from proxy_load import WRK_SCRIPT, Run, Workload, load_run, peer_certificate
from proxy_report import Measured, report, shown_command, versions
from proxy_setup import (
    AIWALL,
    AIWALL_SCRIPT,
    BLOCK_LIST,
    PLAIN,
    ROOT,
    BenchError,
    Proxy,
    Upstream,
    registry_hosts,
    rss_mb,
    start_proxy,
    start_upstream,
)

FORWARDED = {PLAIN: 200, AIWALL: 200, AIWALL_SCRIPT: 200}
# Plain mitmdump forwards it all the same.
BLOCKED = {PLAIN: 200, AIWALL: 403, AIWALL_SCRIPT: 403, BLOCK_LIST: 403}
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
            name: start_proxy(name, folder / name.replace(" ", ""), upstream, hosts, stack)
            for name in (PLAIN, AIWALL, AIWALL_SCRIPT, BLOCK_LIST)
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
        # AI requests each aiwall answered: each is logged, or counted in a refusal summary.
        ai_answered = dict.fromkeys((AIWALL, AIWALL_SCRIPT), 0)

        def run(name: str, workload: Workload, seconds: int) -> Run:
            script = scripts.get(workload.label)
            result = load_run(proxies[name], workload, script, args.connections, seconds)
            if name in ai_answered and workload.host != "example.org":
                ai_answered[name] += result.answered
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
        print(*report(WORKLOADS, measured, proxies, rss_after), sep="\n")
        for name, answered in ai_answered.items():
            print(events_check(name, folder / name.replace(" ", "") / "events.jsonl", answered))
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


def events_check(name: str, events: Path, ai_answered: int) -> str:
    """aiwall logs every AI request it lets through, and every refusal or, past the limit of
    identical refusals a client may cause, counts it in a summary event; those in flight when a
    run ended are logged but not counted as answered."""
    decisions = summarised = 0
    with events.open("rb") as lines:
        for line in lines:
            if b'"action":"decision"' in line:
                decisions += 1
            elif b'"action":"decisions.suppressed"' in line:
                summarised += json.loads(line)["aiwall"]["suppressed"]["count"]
    return (
        f"{name}: {decisions} decision events and {summarised} refusals counted in summaries"
        f" for the {ai_answered} AI requests it answered in time"
        f" ({events.stat().st_size / 1e6:.0f} MB of log)"
    )


if __name__ == "__main__":
    sys.exit(main())
