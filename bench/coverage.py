"""How much of the public AI-hostname reference set the vendor registry recognises.

    .venv/bin/python bench/coverage.py [--lists DIR] [--policies DIR] [--verbose]

Reads hostnames.txt (649 AI hostnames from 12 public lists) and sources.tsv (which lists hold
each name) from shared/reference/ai-hostlists, drops the names policies/excluded-hosts.tsv
deliberately does not match (shared infrastructure, sites that are not AI services), and
resolves every remaining name against the registry the way the proxy does (normalise, then
the most specific host entry). Prints the share that resolves to a vendor, overall and per
source list (a name counts for every list that holds it); --verbose also lists the names that
do not resolve. Exit status 1 when overall coverage is below 90%.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.registry import Registry, load_registry

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LISTS = REPO.parent / "shared" / "reference" / "ai-hostlists"
DEFAULT_POLICIES = REPO / "policies"
EXCLUDED_FILE = "excluded-hosts.tsv"
GOAL = 0.90


def read_hostnames(path: Path) -> list[str]:
    """The names of hostnames.txt: one a line, `#` comments and blank lines skipped."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and line not in names:
            names.append(line)
    return names


def read_sources(path: Path) -> dict[str, list[str]]:
    """sources.tsv: `hostname<TAB>list,list,...` with a header line."""
    sources: dict[str, list[str]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        name, _, lists = line.partition("\t")
        sources[name.strip()] = [s for s in (x.strip() for x in lists.split(",")) if s]
    return sources


def read_excluded(path: Path) -> dict[str, str]:
    """excluded-hosts.tsv: `hostname<TAB>reason` with a header line; missing file = none."""
    if not path.exists():
        return {}
    excluded: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if number == 1 or not line.strip() or line.startswith("#"):
            continue
        name, _, reason = line.partition("\t")
        excluded[name.strip()] = reason.strip()
    return excluded


def resolves(registry: Registry, name: str) -> str | None:
    """`vendor/product` the name resolves to, or None (unmatched or not a valid host)."""
    try:
        host = normalise_host(name)
    except InvalidHost:
        return None
    found = registry.resolve(host)
    return f"{found.vendor.id}/{found.product.id}" if found else None


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lists", type=Path, default=DEFAULT_LISTS, help="folder with hostnames.txt, sources.tsv"
    )
    parser.add_argument(
        "--policies", type=Path, default=DEFAULT_POLICIES, help="records and excluded-hosts.tsv"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="list unresolved names")
    args = parser.parse_args(argv)

    names = read_hostnames(args.lists / "hostnames.txt")
    sources = read_sources(args.lists / "sources.tsv")
    excluded = read_excluded(args.policies / EXCLUDED_FILE)
    registry = load_registry(args.policies)

    counted = [n for n in names if n not in excluded]
    resolved = {n: resolves(registry, n) for n in counted}
    missing = [n for n in counted if resolved[n] is None]

    total_by_list: Counter[str] = Counter()
    hit_by_list: Counter[str] = Counter()
    for name in counted:
        for source in sources.get(name, ["(no list)"]):
            total_by_list[source] += 1
            hit_by_list[source] += resolved[name] is not None

    hits = len(counted) - len(missing)
    overall = hits / len(counted) if counted else 0.0
    print(f"reference names: {len(names)} ({args.lists / 'hostnames.txt'})")
    dropped = len(names) - len(counted)
    print(f"excluded:        {dropped} ({args.policies / EXCLUDED_FILE})")
    print(f"vendors:         {len(registry.vendors)}")
    share = percent(hits, len(counted))
    print(f"resolved:        {hits} / {len(counted)} = {share}  (goal {GOAL:.0%})")
    print()
    print(f"{'list':<16}{'resolved':>10}{'names':>8}{'coverage':>10}")
    for source in sorted(total_by_list, key=lambda s: (-total_by_list[s], s)):
        total, hit = total_by_list[source], hit_by_list[source]
        print(f"{source:<16}{hit:>10}{total:>8}{percent(hit, total):>10}")

    # Contradictions worth fixing in excluded-hosts.tsv: an excluded name a record still
    # claims, or an exclusion for a name the reference set does not hold.
    for name in sorted(excluded):
        if name not in names:
            print(f"note: excluded name {name} is not in hostnames.txt", file=sys.stderr)
        elif (owner := resolves(registry, name)) is not None:
            print(f"note: excluded name {name} still resolves to {owner}", file=sys.stderr)

    if args.verbose and missing:
        print()
        print(f"unresolved ({len(missing)}):")
        for name in sorted(missing):
            print(f"  {name}\t{','.join(sources.get(name, []))}")
    return 0 if overall >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
