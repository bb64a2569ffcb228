"""`aiwall report LOG...`: decisions, use, acknowledgements, shadow rules and changes.

    aiwall report LOG... [--since T] [--until T] [--user U] [--vendor V] [--rule R]
                         [--action A] [--top N] [--format text|json|html] [--output FILE]
                         [--rules RULES]

LOG is a file of JSON lines as `EventLog` writes them, plain or gzip-compressed, or `-` for
stdin; several are read one after the other, each event once (overlapping rotated files count
as one; the report says how many duplicates it dropped). `--since` and `--until` take a date
(`2026-11-23`, midnight UTC), a date and time (`2026-11-23T08:00`, `...+01:00`, `...Z`; without
an offset it is UTC, like the log), or a duration before now (`24h`, `7d`, `2w`, `P30D`);
`--since` is inclusive, `--until` exclusive. `--user`, `--vendor`, `--rule`, `--action` keep
only what matches (each may be repeated or take a comma-separated list; `--vendor` takes a
vendor id or a product `vendor/product`, `--rule default` the default action). `--top N` lists
the N user-vendor pairs with the most requests (0: all). `--rules` reads the `groups` of a
rules file and counts decisions per group as well.
"""

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiwall.analysis.logged import ACTIONS
from aiwall.analysis.report import build
from aiwall.analysis.report_text import render_text
from aiwall.analysis.tally import Filters, Groups
from aiwall.analysis.times import parse_when

TOP = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="event log files (.gz too; - for stdin)"
    )
    parser.add_argument(
        "--since", metavar="T", help="from T: 2026-11-23, 2026-11-23T08:00Z, 24h, 7d"
    )
    parser.add_argument("--until", metavar="T", help="before T (same forms)")
    for name, what in (
        ("user", "a user name, address or identity (user:NAME, ip:ADDRESS)"),
        ("vendor", "a vendor id or a product vendor/product"),
        ("rule", "a rule id; default for the default action"),
        ("action", f"one of {', '.join(ACTIONS)}"),
    ):
        parser.add_argument(
            f"--{name}", action="append", default=[], metavar=name.upper(), help=f"only {what}"
        )
    parser.add_argument(
        "--top",
        type=int,
        default=TOP,
        metavar="N",
        help=f"who-used-what rows to list, largest first (default {TOP}; 0: all)",
    )
    parser.add_argument("--format", choices=["text", "json", "html"], default="text")
    parser.add_argument("--output", "-o", type=Path, help="write to FILE instead of stdout")
    parser.add_argument("--rules", type=Path, help="rules file whose groups to count decisions by")


def filters_of(args: argparse.Namespace) -> Filters:
    """The filters as given: repeated options and comma-separated lists alike."""

    def values(given: list[str]) -> frozenset[str]:
        return frozenset(v.strip() for text in given for v in text.split(",") if v.strip())

    actions = values(args.action)
    unknown = actions - set(ACTIONS)
    if unknown:
        raise ValueError(f"--action {', '.join(sorted(unknown))}: use {', '.join(ACTIONS)}")
    return Filters(values(args.user), values(args.vendor), values(args.rule), actions)


def run(args: argparse.Namespace) -> int:
    """0 when the report was written, 2 for bad arguments or unreadable logs."""
    now = datetime.now(UTC)
    try:
        since = parse_when(args.since, now) if args.since else None
        until = parse_when(args.until, now) if args.until else None
        filters = filters_of(args)
    except ValueError as error:
        print(f"aiwall report: {error}", file=sys.stderr)
        return 2
    groups = Groups.from_rules(args.rules) if args.rules else None  # ConfigError: cli prints it
    try:
        doc = build(args.logs, since, until, groups, filters, max(args.top, 0))
    except OSError as error:
        print(
            f"aiwall report: cannot read {error.filename or 'the log'}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 2
    if args.format == "html":
        from aiwall.analysis.report_html import render_html

        text = render_html(doc)
    elif args.format == "json":
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_text(doc)
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as error:
        print(
            f"aiwall report: cannot write {args.output}: {error.strerror or error}", file=sys.stderr
        )
        return 2
    return 0
