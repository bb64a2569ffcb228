"""Mutation testing of the decision core (`make mutation`): mutmut over the engine, host
normalisation, the host index and judged paths, against their fast unit tests.

mutmut expects the package under `src/` (or the top level); aiwall keeps it under `addon/`. So
the run happens in a copy, build/mutation/, whose `src/` is `addon/`: the working tree is never
mutated, and its tests can run while mutants are being tried. What to mutate and which tests
run are in pyproject.toml ([tool.mutmut]).

    .venv/bin/python scripts/mutation.py [--jobs N]

Prints the score per file and in all (killed / (killed + survived + timeouts)), then every
surviving mutant's name; `cd build/mutation && ../../.venv/bin/mutmut show NAME` shows one.
Exits 0 once it has printed: the score is read, not gated.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "mutation"
MUTMUT = Path(sys.executable).parent / "mutmut"
# What the copy needs besides the package: the tests, their fixtures and the shipped files they
# load, and the configuration (pytest's and mutmut's).
COPIED = ("tests", "policies", "rules.example.yaml", "pyproject.toml")
# Modules a test process imports that mutmut's fork server loads once for every mutant.
# aiwall's own modules are left out on purpose: each mutant imports them afresh, so nothing
# worked out at import time (or cached) before the fork hides a mutant.
PRELOADED = (
    "pytest",
    "hypothesis",
    "hypothesis.strategies",
    "pydantic",
    "yaml",
    "idna",
    "structlog",
    "cryptography.x509",
    "jsonschema",
)
KILLED = {1, 3}
SURVIVED = {0}
TIMEOUT = {24, 36, 152, 255, -24}


def stage() -> None:
    """A fresh copy of the checkout as mutmut wants it; an earlier run's results go."""
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir(parents=True)
    shutil.copytree(ROOT / "addon", STAGE / "src")  # with the shipped records
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, STAGE / name, symlinks=True)
        else:
            shutil.copy2(source, STAGE / name)
    (STAGE / "mutation-preload.txt").write_text("\n".join(PRELOADED) + "\n")


def summary() -> tuple[dict[str, Counter[str]], list[str]]:
    """Outcomes per mutated file, and the names of the mutants that survived."""
    by_file: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    for meta in sorted((STAGE / "mutants" / "src").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter[str] = Counter()
        for name, code in codes.items():
            if code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                survivors.append(name)
            elif code in TIMEOUT:
                counts["timeout"] += 1
            else:
                counts["other"] += 1  # no tests, not checked, suspicious: counted against
        by_file[str(meta.relative_to(STAGE / "mutants").with_suffix(""))] = counts
    return by_file, survivors


def score(counts: Counter[str]) -> str:
    detected = counts["killed"] + counts["timeout"]
    total = detected + counts["survived"] + counts["other"]
    percent = 100 * detected / total if total else 0.0
    return (
        f"{percent:5.1f}%  {detected}/{total} detected "
        f"(killed {counts['killed']}, timeout {counts['timeout']}, "
        f"survived {counts['survived']}, other {counts['other']})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tried at once (2)")
    args = parser.parse_args()
    stage()
    command = [str(MUTMUT), "run", "--max-children", str(args.jobs)]
    run = subprocess.run(command, cwd=STAGE, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if run.returncode != 0:
        print(f"mutmut run failed ({run.returncode})", file=sys.stderr)
        return run.returncode
    by_file, survivors = summary()
    total: Counter[str] = Counter()
    print()
    for path, counts in by_file.items():
        total += counts
        print(f"{path:34} {score(counts)}")
    print(f"{'all':34} {score(total)}")
    print(f"\n{len(survivors)} surviving mutants:")
    for name in survivors:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
