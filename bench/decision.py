"""Decision benchmark: microseconds per decision, for the shipped files and synthetic registries.

    .venv/bin/python bench/decision.py [--decisions N]

The synthetic registries hold 100, 10,000 and 100,000 host entries spread over the same 50
vendors, loaded through the same loader as policies/ (YAML written to a temporary folder) and
decided with the same rules; only the size of the host index differs between them. Each
workload mixes hosts of the registry (one to three labels below a vendor host) with hosts that
are not AI traffic, each named three times (CONNECT, SNI, Host) as a proxy sees them. The goal:
under 20 µs per decision, and the slowest registry at most 1.5 times the fastest.
"""

import argparse
import ipaddress
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiwall.core.config import load_config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
VENDORS = 50  # every synthetic registry has as many vendors; only their host lists grow
RULES = """
settings: {default_action: log}
groups:
  research: {users: [rita], networks: [10.99.0.0/16]}
rules:
  - {id: research, description: r, match: {group: research, residency: [CN]}, action: log}
  - {id: block-cn, description: b, match: {residency: [CN]}, action: block}
  - id: shadow
    description: s
    mode: shadow
    match: {retention_over: P30D, dpa: [false, unknown]}
    action: block
  - {id: uploads, description: u, match: {training: default, upload: true}, action: block}
  - {id: warn-default, description: w, match: {training: default}, action: warn}
  - {id: api, description: a, match: {kind: api-platform, path: ["/v1/*"]}, action: log}
"""
PRODUCT = """
  - id: {product}
    name: Synthetic {product}
    verdict: synthetic
    summary: synthetic
    training: {training}
    opt_out: {{available: true}}
    zero_retention: false
    dpa: {dpa}
    residency: [{residency}]
    retention: P{days}D
"""


def synthetic_record(vendor: int, hosts: list[str]) -> str:
    rng = random.Random(vendor)
    products = "".join(
        PRODUCT.format(
            product=name,
            training=rng.choice(["default", "never", "opt-in", "unknown"]),
            dpa=rng.choice(["true", "false", "unknown"]),
            residency=rng.choice(["US", "EU", "CN", "DE"]),
            days=rng.choice([1, 30, 400]),
        )
        for name in ("consumer", "api")
    )
    return (
        f"id: v{vendor}\nname: Vendor {vendor}\nkind: chat-assistant\n"
        f"homepage: https://v{vendor}.test/\nheadline: h\nsummary: s\n"
        f"hosts: [{', '.join(hosts)}]\nproducts:{products}"
        "last_verified: 2026-11-01\nconfidence: low\n"
        "sources: [{url: 'https://example.test/', supports: synthetic, date: 2026-11-01}]\n"
    )


def synthetic_config(entries: int, folder: Path) -> tuple[Engine, list[str]]:
    policies = folder / "policies"
    policies.mkdir(parents=True)
    hosts = [
        f"h{i}-{random.Random(i).randrange(10**6)}.example{i % 97}.test" for i in range(entries)
    ]
    per_vendor = entries // VENDORS
    for vendor in range(VENDORS):
        chunk = hosts[vendor * per_vendor : (vendor + 1) * per_vendor]
        (policies / f"v{vendor}.yaml").write_text(synthetic_record(vendor, chunk))
    (folder / "rules.yaml").write_text(RULES)
    return load_config(folder / "rules.yaml", policies).engine, hosts


def workload(
    hosts: list[str], count: int, distinct: int = 4000, seed: int = 7
) -> list[RequestInfo]:
    """Half registry hosts (one to three labels below), half other traffic.

    Every registry size gets the same number of distinct names, so that only the size of the
    index differs between the runs, not how often a name was seen before.
    """
    rng = random.Random(seed)
    names = []
    for i in range(distinct):
        if i % 2:
            host = ".".join([*["a", "b", "c"][: rng.randrange(1, 4)], rng.choice(hosts)])
        else:
            host = f"www.site{i}.example.org"
        names.append(host)
    requests = []
    for i in range(count):
        host = names[i % distinct]
        method, path = rng.choice([("GET", "/"), ("POST", "/v1/chat"), ("GET", "/c/1")])
        carried = (
            HostName("connect", f"{host}:443"),
            HostName("sni", host),
            HostName("host", host),
        )
        ip = ipaddress.ip_address(f"10.{98 + i % 3}.{i % 250}.{i % 200 + 1}")
        requests.append(RequestInfo(carried, method, path, user=f"u{i % 300}", client_ip=ip))
    return requests


def time_round(engine: Engine, requests: list[RequestInfo]) -> float:
    start = time.perf_counter()
    for request in requests:
        engine.decide(request)
    return (time.perf_counter() - start) / len(requests) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    shipped = load_config(ROOT / "rules.example.yaml", ROOT / "policies").engine
    entries = len(shipped.registry.index)
    runs = {f"shipped ({entries} entries)": (shipped, shipped.registry.index.hosts())}
    with tempfile.TemporaryDirectory() as folder:
        for size in (100, 10_000, 100_000):
            start = time.perf_counter()
            engine, hosts = synthetic_config(size, Path(folder) / str(size))
            loaded = time.perf_counter() - start
            runs[f"synthetic {size:,} entries (loaded in {loaded:.1f} s)"] = (engine, hosts)
    workloads = {name: workload(hosts, args.decisions) for name, (_, hosts) in runs.items()}
    for name, (engine, _) in runs.items():  # warm-up: fills the normalisation cache
        time_round(engine, workloads[name])
    # Rounds interleave the registries, so the machine's noise falls on all of them alike.
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (engine, _) in runs.items():
            samples[name].append(time_round(engine, workloads[name]))
    results = {name: statistics.median(values) for name, values in samples.items()}

    width = max(len(name) for name in results)
    print(f"{'registry':<{width}}  µs/decision (median of {args.rounds} rounds)")
    for name, us in results.items():
        print(f"{name:<{width}}  {us:10.2f}")
    synthetic = [us for name, us in results.items() if name.startswith("synthetic")]
    ratio = max(synthetic) / min(synthetic)
    print(f"slowest / fastest synthetic registry: {ratio:.2f} (goal <= 1.5)")
    slowest = max(results.values())
    print(f"slowest: {slowest:.2f} µs per decision (goal < 20)")
    return 0 if ratio <= 1.5 and slowest < 20 else 1


if __name__ == "__main__":
    sys.exit(main())
