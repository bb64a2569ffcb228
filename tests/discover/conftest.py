"""What the tests of `aiwall discover` share: the log fixtures, the report of some logs, and the
parts of it they compare."""

from pathlib import Path
from typing import Any

from aiwall.analysis.discover import Discovery, build_report
from aiwall.analysis.logformats import FORMATS
from aiwall.core.config import Config

from ..conftest import FIXTURES

LOGS = FIXTURES / "logs"


def discover(config: Config, *paths: Path, log_format: str | None = None) -> dict[str, Any]:
    discovery = Discovery(config.registry)
    for path in paths:
        with path.open(encoding="utf-8", errors="backslashreplace") as lines:
            discovery.read(path.name, lines, FORMATS[log_format] if log_format else None)
    return build_report(discovery, config)


def products(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """product → (requests, clients, first seen, last seen, action, rule)."""
    return {
        p["product"]: (
            p["requests"],
            p["clients"],
            p["first_seen"],
            p["last_seen"],
            p["decision"]["action"],
            p["decision"]["rule"],
        )
        for v in report["vendors"]
        for p in v["products"]
    }


def tally(report: dict[str, Any]) -> dict[str, Any]:
    """The one file's counts, with its malformed lines' numbers."""
    (f,) = report["files"]
    keys = ("format", "lines", "requests", "ai_requests", "not_ai_requests", "invalid_names")
    counts = {k: f[k] for k in (*keys, "skipped", "blank", "malformed")}
    counts["malformed_lines"] = [e["line"] for e in f["malformed_examples"]]
    return counts
