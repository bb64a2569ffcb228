"""`aiwall resolve` throughput on a generated day of DNS/proxy log names.

    .venv/bin/python bench/resolve.py [--names N]

Two inputs, both resolved by the real command (`aiwall resolve --stats`): a log where names
repeat the way they do in DNS logs (about a quarter distinct), and one where every name is
distinct (the worst case for its cache). Half the names are AI hosts of the shipped registry
(some one label below a vendor host), half other traffic. Goal: at least 200,000 names/s.
"""

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from aiwall.core.registry import load_registry


def generate(path: Path, count: int, distinct: bool, seed: int = 1) -> None:
    rng = random.Random(seed)
    ai_hosts = load_registry().index.hosts()
    with path.open("w") as out:
        for i in range(count):
            n = i if distinct else rng.randrange(count // 4)
            host = rng.choice(ai_hosts) if n % 2 else f"example{n % 997}.org"
            out.write(f"h{n}.{host}\n" if distinct or n % 3 == 0 else f"{host}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    args = parser.parse_args()
    aiwall = Path(sys.executable).parent / "aiwall"
    with tempfile.TemporaryDirectory() as folder:
        for label, distinct in (("repeating names", False), ("all names distinct", True)):
            log = Path(folder) / "names.txt"
            generate(log, args.names, distinct)
            result = subprocess.run(
                [str(aiwall), "resolve", "--stats", str(log)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                check=True,
            )
            print(f"{label:<20} {result.stderr.strip()}  (goal >= 200,000 names/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
