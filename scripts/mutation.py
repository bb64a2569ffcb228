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
# Modules mutmut's fork server imports once for every mutant. aiwall's modules compute nothing
# on import and a mutant is chosen when a mutated function is called, so they can be shared;
# the test modules cannot (tests/test_registry.py loads the registry on import, which must
# happen under the mutant), and nothing in the fork server runs a test.
PRELOADED = (
    "aiwall.core.config",
    "aiwall.core.urls",
    "aiwall.telemetry.events",
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


def mutmut_run(jobs: int, *mutants: str) -> int:
    command = [str(MUTMUT), "run", "--max-children", str(jobs), *mutants]
    run = subprocess.run(command, cwd=STAGE, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if run.returncode != 0:
        print(f"mutmut run failed ({run.returncode})", file=sys.stderr)
    return run.returncode


def metas() -> list[Path]:
    return sorted((STAGE / "mutants" / "src").rglob("*.py.meta"))


def outcomes() -> list[tuple[str, int | None]]:
    """Every mutant's name and mutmut's exit code for it (None: not tried)."""
    return [
        (name, code)
        for meta in metas()
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
    ]


def summary() -> tuple[dict[str, Counter[str]], list[str]]:
    """Outcomes per mutated file, and the names of the mutants that survived."""
    by_file: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    for meta in metas():
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
    if returncode := mutmut_run(args.jobs):
        return returncode
    # On a busy machine a mutant's tests can outlast mutmut's wall-clock limit: try the timed
    # out ones again, with nothing else running, so that a timeout means a mutant that never
    # finishes (an endless loop).
    if timed_out := [name for name, code in outcomes() if code in TIMEOUT]:
        print(f"\ntrying the {len(timed_out)} mutants that timed out again")
        if returncode := mutmut_run(args.jobs, *timed_out):
            return returncode
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
