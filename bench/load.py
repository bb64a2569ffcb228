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
vendor names are used without DNS and no request can leave the machine. It also loads
bench/load_memory.py, which answers what holds the proxy's memory (asked once at the start and
once at the end). The parts: load_setup (the processes, /proc, the metrics), load_upstream,
load_kinds (the kinds of traffic), load_clients (the clients), load_run (one run, the log
check), load_report (what is printed); the mitmdump command line is tests/mitm.py's.
"""

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from load_clients import SLOW_TIMEOUT, Load
from load_kinds import FAST_KINDS
from load_report import report, shown, versions
from load_run import Memory, check_log, run, settle_log
from load_setup import ProxyDied, SetupError, http_get, raise_fd_limit, start
from processes import load_average, tail


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
