"""`aiwall discover LOG...`: which AI vendors and products proxy, DNS or aiwall logs show in use,
by how many clients, and what the rules would decide for them."""

import argparse
import gzip
import json
import sys
import time
from pathlib import Path
from typing import IO

from aiwall.analysis.discover import Discovery, build_report
from aiwall.analysis.discover_text import render_text
from aiwall.analysis.logformats import FORMATS
from aiwall.core.config import Config

OUTPUT_FORMATS = ("text", "json", "html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG", help="log files (- for stdin; .gz ok)")
    parser.add_argument(
        "--log-format",
        choices=["auto", *FORMATS],
        default="auto",
        help="the logs' format: squid (native access.log), bind (query log), dnsmasq or"
        " pihole (log-queries lines), plain (a host or URL per line, optionally after a client),"
        " aiwall (aiwall's own event log; overlapping files count once); default: auto, told"
        " from each file's first lines",
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=OUTPUT_FORMATS,
        default="text",
        help="what to write, as `aiwall report`: a text summary (default), JSON, or an HTML page",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write there instead of stdout")
    parser.add_argument("--stats", action="store_true", help="print lines per second to stderr")


def run(args: argparse.Namespace, config: Config) -> int:
    forced = None if args.log_format == "auto" else FORMATS[args.log_format]
    discovery = Discovery(config.registry)
    start = time.perf_counter()
    for name in args.logs:
        try:
            source = _open(name)
        except OSError as error:
            print(f"aiwall: cannot read {name}: {error.strerror or error}", file=sys.stderr)
            return 2
        with source:
            discovery.read(name, source, forced)
    report = build_report(discovery, config)
    elapsed = time.perf_counter() - start
    if args.output_format == "json":
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    elif args.output_format == "html":
        from aiwall.analysis.discover_html import render_html

        text = render_html(report)
    else:
        text = render_text(report)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if args.stats:
        lines = report["totals"]["lines"]
        rate = lines / elapsed if elapsed else 0.0
        print(f"read {lines:,} lines in {elapsed:.2f} s: {rate:,.0f} lines/s", file=sys.stderr)
    return 0


def _open(name: str) -> IO[str]:
    """A log as text: undecodable bytes read as `\\xNN` escapes (and spoil only their line)."""
    if name == "-":
        return open(sys.stdin.fileno(), encoding="utf-8", errors="backslashreplace", closefd=False)
    with open(name, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(name, "rt", encoding="utf-8", errors="backslashreplace")
    return open(name, encoding="utf-8", errors="backslashreplace")
