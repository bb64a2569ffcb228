"""`aiwall discover` throughput on a generated one-million-line Squid access.log.

    .venv/bin/python bench/discover.py [--lines N] [--keep FILE]

The log is Squid's native format as Squid writes it: about 8% of requests go to AI hosts of
the shipped registry (a few vendors get most; some requests go to a subdomain, some to a path
that selects another product), the rest to some 20,000 other names with a long tail; three
quarters are CONNECT tunnels, the rest absolute URLs; clients drawn from 2,500 addresses, a
few of them busy; one line in a thousand torn or garbled. The real command reads it
(`aiwall discover --format json --output /dev/null`), and the wall-clock time of that
process (start-up and loading the registry included) is what counts.
Goal: 1,000,000 lines in at most 10 s.
"""

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiwall.core.registry import load_registry

GOAL_SECONDS = 10.0


def generate(path: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    ai_hosts = sorted(host for host in load_registry().index.hosts() if ":" not in host)
    rng.shuffle(ai_hosts)  # a few vendors get most of the AI traffic, as in real logs
    other = [f"{word}{n}.example.{tld}" for n in range(4000) for word, tld in _OTHER]
    clients = [f"10.{i // 250}.{i % 250}.{1 + i % 7}" for i in range(2500)]
    stamp = 1732870800.0
    with path.open("w") as out:
        for i in range(count):
            stamp += rng.random() * 0.02
            client = clients[int(rng.paretovariate(1.2)) % len(clients)]
            if i % 1000 == 999:
                out.write(_broken(rng, stamp, client))
                continue
            if rng.random() < 0.08:
                host = ai_hosts[int(rng.paretovariate(0.8)) % len(ai_hosts)]
                if rng.random() < 0.2:
                    host = f"www.{host}"
                path_part = "/backend-anon/conversation" if rng.random() < 0.1 else "/c/1"
            else:
                host = other[min(int(rng.paretovariate(0.9)) - 1, len(other) - 1)]
                path_part = f"/static/{rng.randrange(10_000)}.js"
            elapsed = rng.randrange(1, 120_000)
            size = rng.randrange(200, 500_000)
            peer = f"HIER_DIRECT/192.0.2.{rng.randrange(1, 255)}"
            if rng.random() < 0.75:
                out.write(
                    f"{stamp:.3f} {elapsed:6} {client} TCP_TUNNEL/200 {size} CONNECT {host}:443"
                    f" - {peer} -\n"
                )
            else:
                out.write(
                    f"{stamp:.3f} {elapsed:6} {client} TCP_MISS/200 {size} GET"
                    f" http://{host}{path_part} - {peer} text/html\n"
                )


_OTHER = [("cdn", "com"), ("img", "net"), ("api", "io"), ("news", "org"), ("ads", "com")]


def _broken(rng: random.Random, stamp: float, client: str) -> str:
    return rng.choice(
        [
            f"{stamp:.3f}     12 {client} TCP_MISS/200 1532 GET http://cdn1.exa\n",
            "\x00\x00\x17\x03\x03garbage\n",
            f"{stamp:.3f} {client} TCP_MISS 200\n",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="also copy the generated log here")
    args = parser.parse_args()
    aiwall = Path(sys.executable).parent / "aiwall"
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "access.log"
        start = time.perf_counter()
        generate(log, args.lines)
        made = time.perf_counter() - start
        size = log.stat().st_size / 1e6
        print(f"generated {args.lines:,} lines ({size:.0f} MB) in {made:.1f} s", file=sys.stderr)
        if args.keep:
            args.keep.write_bytes(log.read_bytes())
        command = [str(aiwall), "discover", "--format", "json", "--output", "/dev/null"]
        start = time.perf_counter()
        result = subprocess.run(
            [*command, "--stats", str(log)], stderr=subprocess.PIPE, text=True, check=True
        )
        elapsed = time.perf_counter() - start
    rate = args.lines / elapsed
    verdict = "ok" if elapsed <= GOAL_SECONDS * args.lines / 1_000_000 else "TOO SLOW"
    print(
        f"aiwall discover: {args.lines:,} Squid lines in {elapsed:.2f} s wall clock,"
        f" {rate:,.0f} lines/s (goal: 1,000,000 lines in <= {GOAL_SECONDS:.0f} s): {verdict}"
    )
    print(f"  (the command's own count, without start-up: {result.stderr.strip()})")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
