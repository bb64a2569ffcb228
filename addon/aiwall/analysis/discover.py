"""`aiwall discover LOG...`: which AI vendors and products the logs an organisation already
keeps show in use, by how many clients, and what its rules would decide for them.

Names repeat: each distinct name is normalised and resolved once, and every line after that
costs one dictionary look-up. Only registry matches count as AI; everything else is counted
as not AI, and names that are no valid host as invalid.
"""

import argparse
import gzip
import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiwall.analysis import render
from aiwall.analysis.logformats import EXAMPLES, FORMATS, LogFormat, Tally, detect, shown
from aiwall.core.config import Config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.core.hostindex import HostEntry
from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.policy import Product, VendorRecord, host_text
from aiwall.core.registry import Registry
from aiwall.core.rules import Action

OUTPUT_FORMATS = ("text", "json", "html")
_SAMPLE_LINES = 50  # lines read ahead to tell a file's format
_CACHE_LIMIT = 1_000_000  # distinct names remembered; past this the cache starts over
_DNS_NOTE = (
    "DNS logs record look-ups, not requests: their counts are queries, and a name that was"
    " looked up may not have been used."
)
_YEARLESS_NOTE = "dnsmasq and syslog lines carry no year: their times read --MM-DDThh:mm:ss."
_LOCAL_TIME_NOTE = "BIND times are the DNS server's local time; Squid times are UTC."


@dataclass(eq=False)
class HostUse:
    """Requests to one host that resolved to one product."""

    host: str
    vendor: VendorRecord
    product: Product
    path: str  # the path a typical request has: `/`, or the product's path prefix
    requests: int = 0
    clients: set[str | None] = field(default_factory=set)
    first: str | None = None
    last: str | None = None


@dataclass
class InvalidName:
    name: str
    reason: str
    count: int = 0


@dataclass
class FileSummary:
    path: str
    log_format: LogFormat
    detected: bool
    tally: Tally
    ai_requests: int = 0
    not_ai_requests: int = 0
    invalid_names: int = 0
    first: str | None = None
    last: str | None = None
    warning: str | None = None


class Discovery:
    """Accumulates what the logs show, file by file, against one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.uses: dict[tuple[str, str], HostUse] = {}  # (host, product reference) → use
        self.files: list[FileSummary] = []
        self.clients: set[str | None] = set()
        self.not_ai_names: set[str] = set()
        self.invalid: dict[str, InvalidName] = {}
        # Name as logged → what it is: a product's host, an invalid name, not AI (None), or a
        # normalised host whose product depends on the path (str).
        self._names: dict[str, HostUse | InvalidName | str | None] = {}
        self._path_hosts = _path_specific_hosts(registry)

    def read(self, path: str, lines: Iterable[str], forced: LogFormat | None) -> FileSummary:
        """Read one log; `forced` is the format, or None to tell it from the first lines."""
        lines = iter(lines)
        warning = None
        if forced is None:
            sample = list(itertools.islice(lines, _SAMPLE_LINES))
            lines = itertools.chain(sample, lines)
            log_format = detect(sample)
            if log_format is None:
                log_format = FORMATS["plain"]
                if any(line.strip() for line in sample):
                    warning = "no line of the first ones looks like a known format: read as plain"
        else:
            log_format = forced
        summary = FileSummary(path, log_format, forced is None, Tally(), warning=warning)
        self._count(summary, lines)
        self.files.append(summary)
        return summary

    def _count(self, summary: FileSummary, lines: Iterator[str]) -> None:
        """The hot loop: one dictionary look-up per line once a name has been seen."""
        names, outcome_of, clients = self._names, self._outcome, self.clients
        spans: dict[HostUse, list[str]] = {}
        first = last = None
        ai = not_ai = invalid = 0
        for client, name, path, _method, stamp in summary.log_format.read(lines, summary.tally):
            clients.add(client)
            if stamp is not None:
                if first is None or stamp < first:
                    first = stamp
                if last is None or stamp > last:
                    last = stamp
            try:
                outcome = names[name]
            except KeyError:
                if len(names) >= _CACHE_LIMIT:
                    names.clear()
                outcome = names[name] = outcome_of(name)
            if outcome is None:
                not_ai += 1
                continue
            if isinstance(outcome, InvalidName):
                outcome.count += 1
                invalid += 1
                continue
            if isinstance(outcome, str):
                host, outcome = outcome, self._use_at(outcome, path or "/")
                if outcome is None:
                    self.not_ai_names.add(host)
                    not_ai += 1
                    continue
            ai += 1
            outcome.requests += 1
            outcome.clients.add(client)
            if stamp is not None:
                span = spans.get(outcome)
                if span is None:
                    spans[outcome] = [stamp, stamp]
                elif stamp < span[0]:
                    span[0] = stamp
                elif stamp > span[1]:
                    span[1] = stamp
        text = summary.log_format.stamp_text
        for use, (earliest, latest) in spans.items():
            use.first = _earliest((use.first, text(earliest)))
            use.last = _latest((use.last, text(latest)))
        summary.first = text(first) if first is not None else None
        summary.last = text(last) if last is not None else None
        summary.ai_requests, summary.not_ai_requests, summary.invalid_names = ai, not_ai, invalid

    def _outcome(self, name: str) -> HostUse | InvalidName | str | None:
        try:
            host = normalise_host(name)
        except InvalidHost as error:
            known = self.invalid.get(name)
            if known is None:
                known = self.invalid[name] = InvalidName(shown(name), error.reason)
            return known
        if any(suffix in self._path_hosts for suffix in _suffixes(host)):
            return host
        use = self._use_at(host, "/")
        if use is None:
            self.not_ai_names.add(host)
        return use

    def _use_at(self, host: str, path: str) -> HostUse | None:
        resolution = self.registry.resolve(host, path)
        if resolution is None:
            return None
        vendor, product = resolution.vendor, resolution.product
        key = (host, f"{vendor.id}/{product.id}")
        use = self.uses.get(key)
        if use is None:
            typical = resolution.entry.path_prefix or "/"
            use = self.uses[key] = HostUse(host, vendor, product, typical)
        return use


def _path_specific_hosts(registry: Registry) -> frozenset[str]:
    """Hosts with an entry that carries a path prefix: their product depends on the path."""
    hosts = set()
    for _, product in registry.products():
        for spec in product.hosts:
            entry = HostEntry.parse(host_text(spec))
            if entry.path_prefix:
                hosts.add(entry.host)
    return frozenset(hosts)


def _suffixes(host: str) -> Iterator[str]:
    labels = host.split(".")
    for i in range(len(labels)):
        yield ".".join(labels[i:])


def _earliest(stamps: Iterable[str | None]) -> str | None:
    return min(_dated(stamps), default=None)


def _latest(stamps: Iterable[str | None]) -> str | None:
    return max(_dated(stamps), default=None)


def _dated(stamps: Iterable[str | None]) -> list[str]:
    """The times to compare: those with a year when there are any, else the yearless
    (`--MM-DD...`) ones, which cannot be ordered against the others."""
    known = [s for s in stamps if s]
    with_year = [s for s in known if not s.startswith("--")]
    return with_year or known


# --- The report: one JSON-shaped dict; text and HTML are renderings of it. ------------------


def build_report(discovery: Discovery, config: Config) -> dict[str, Any]:
    """What the logs show, as the JSON output carries it."""
    products: dict[tuple[str, str], list[HostUse]] = {}
    for use in discovery.uses.values():
        if use.requests:
            products.setdefault((use.vendor.id, use.product.id), []).append(use)
    by_vendor: dict[str, list[dict[str, Any]]] = {}
    clients_of: dict[str, set[str | None]] = {}
    for uses in products.values():
        row, clients = _product_row(uses, config)
        by_vendor.setdefault(uses[0].vendor.id, []).append(row)
        clients_of.setdefault(uses[0].vendor.id, set()).update(clients)
    vendors = []
    for vendor_id, rows in by_vendor.items():
        rows.sort(key=lambda r: (-r["requests"], r["product"]))
        vendor = discovery.registry.vendors[vendor_id]
        vendors.append(
            {
                "vendor": vendor_id,
                "name": vendor.name,
                "requests": sum(r["requests"] for r in rows),
                "clients": _count(clients_of[vendor_id]),
                "first_seen": _earliest(r["first_seen"] for r in rows),
                "last_seen": _latest(r["last_seen"] for r in rows),
                "products": rows,
            }
        )
    vendors.sort(key=lambda v: (-v["requests"], v["vendor"]))
    files = [_file_row(summary) for summary in discovery.files]
    ai_clients = set().union(*clients_of.values()) if clients_of else set()
    totals = {
        "lines": sum(f["lines"] for f in files),
        "requests": sum(f["requests"] for f in files),
        "clients": _count(discovery.clients),
        "ai_requests": sum(f["ai_requests"] for f in files),
        "ai_clients": _count(ai_clients),
        "vendors": len(vendors),
        "products": sum(len(v["products"]) for v in vendors),
        "not_ai_requests": sum(f["not_ai_requests"] for f in files),
        "not_ai_names": len(discovery.not_ai_names),
        "invalid_names": sum(f["invalid_names"] for f in files),
        "skipped": sum(f["skipped"] for f in files),
        "blank": sum(f["blank"] for f in files),
        "malformed": sum(f["malformed"] for f in files),
    }
    invalid = sorted(discovery.invalid.values(), key=lambda i: (-i.count, i.name))
    return {
        "rules": str(config.rules_path),
        "assumed_request": _assumed_request(config),
        "totals": totals,
        "vendors": vendors,
        "files": files,
        "invalid_examples": [
            {"name": i.name, "reason": i.reason, "count": i.count} for i in invalid[:EXAMPLES]
        ],
        "notes": _notes(discovery, config),
    }


def _product_row(uses: list[HostUse], config: Config) -> tuple[dict[str, Any], set[str | None]]:
    vendor, product = uses[0].vendor, uses[0].product
    uses.sort(key=lambda u: (-u.requests, u.host))
    hosts: list[dict[str, Any]] = []
    clients: set[str | None] = set()
    stale = False
    for use in uses:
        decision = config.engine.decide(
            RequestInfo(names=(HostName("host", use.host),), method="GET", path=use.path)
        )
        stale = decision.stale
        hosts.append(
            {
                "host": use.host,
                "requests": use.requests,
                "clients": _count(use.clients),
                "decision": _decision_row(decision, product),
            }
        )
        clients |= use.clients
    decisions = [h["decision"] for h in hosts]
    strictest = max(decisions, key=lambda d: Action(d["action"]).strictness)
    row = {
        "vendor": vendor.id,
        "product": f"{vendor.id}/{product.id}",
        "name": product.name,
        "kind": str(vendor.kind_of(product)),
        "requests": sum(u.requests for u in uses),
        "clients": _count(clients),
        "first_seen": _earliest(u.first for u in uses),
        "last_seen": _latest(u.last for u in uses),
        "verdict": product.verdict,
        "training": str(product.training),
        "residency": list(product.residency),
        "retention": product.retention,
        "zero_retention": product.zero_retention,
        "dpa": product.dpa,
        "last_verified": str(vendor.last_verified),
        "confidence": str(vendor.confidence_of(product)),
        "stale": stale,
        "decision": strictest,
        "decision_varies_by_host": any(d != strictest for d in decisions),
        "hosts": hosts,
    }
    return row, clients


def _decision_row(decision: Decision, product: Product) -> dict[str, Any]:
    decided_as = decision.product
    as_product = (
        f"{decision.vendor.id}/{decided_as.id}"
        if decision.vendor and decided_as and decided_as.id != product.id
        else None
    )
    return {
        "action": str(decision.action),
        "rule": decision.rule.id if decision.rule else None,
        "reason": decision.reason,
        "as_product": as_product,
        "shadow": [s.rule.id for s in decision.shadow],
    }


def _assumed_request(config: Config) -> dict[str, Any]:
    """What a decision assumes, and the rules that cannot be judged from a log."""
    identity = [
        rule.id
        for rule in config.rules.rules
        if rule.match.group or rule.match.user or rule.match.network
    ]
    return {
        "method": "GET",
        "path": "/ (or the product's path prefix)",
        "user": None,
        "client_ip": None,
        "rules_not_judged": identity,
    }


def _notes(discovery: Discovery, config: Config) -> list[str]:
    names = {summary.log_format.name for summary in discovery.files}
    notes = [
        "Decisions are for a GET of the host's root (or the product's path) by an unknown"
        " user from an unknown address: rules that need a group, user or network cannot be"
        " judged from a log and count as not matching."
    ]
    if names & {"dnsmasq", "pihole", "bind"}:
        notes.append(_DNS_NOTE)
    stamps = [s for summary in discovery.files for s in (summary.first, summary.last) if s]
    if any(s.startswith("--") for s in stamps):
        notes.append(_YEARLESS_NOTE)
    if "bind" in names:
        notes.append(_LOCAL_TIME_NOTE)
    named = sorted({host for rule in config.rules.rules for host in rule.match.host})
    if named:
        notes.append(
            "Only hosts of the vendor registry count as AI here; the hosts your rules name"
            f" ({', '.join(named)}) count as not AI."
        )
    return notes


def _file_row(summary: FileSummary) -> dict[str, Any]:
    tally = summary.tally
    return {
        "path": summary.path,
        "format": summary.log_format.name,
        "detected": summary.detected,
        "warning": summary.warning,
        "lines": tally.lines,
        "requests": tally.requests,
        "ai_requests": summary.ai_requests,
        "not_ai_requests": summary.not_ai_requests,
        "invalid_names": summary.invalid_names,
        "skipped": tally.skipped,
        "blank": tally.blank,
        "malformed": tally.malformed,
        "malformed_examples": [{"line": n, "text": text} for n, text in tally.examples],
        "first_seen": summary.first,
        "last_seen": summary.last,
    }


def _count(clients: set[str | None]) -> int:
    """Distinct clients; requests with no client column count for none."""
    return len(clients) - (None in clients)


# --- Renderings of the report, through the shared render module. ------------------------------

_TONE = {series.key: series.tone for series in render.ACTION_SERIES}


def render_text(report: dict[str, Any]) -> str:
    totals = report["totals"]
    out = [
        "AI services in use (aiwall discover)",
        f"{len(report['files'])} log(s), {totals['lines']:,} lines: {totals['requests']:,}"
        f" requests from {totals['clients']:,} clients",
        f"AI: {totals['ai_requests']:,} requests from {totals['ai_clients']:,} clients to"
        f" {totals['products']} products of {totals['vendors']} vendors",
        f"Not AI: {totals['not_ai_requests']:,} requests to {totals['not_ai_names']:,} names;"
        f" invalid names: {totals['invalid_names']:,}; malformed lines: {totals['malformed']:,}",
        f"Rules: {report['rules']}",
    ]
    vendors = report["vendors"]
    if not vendors:
        out += ["", "No AI vendor of the registry appears in the logs."]
    else:
        most = vendors[0]["requests"]
        out += ["", "Vendors"]
        out.append(
            render.text_table(
                ["vendor", "requests", "clients", "first seen", "last seen", ""],
                [
                    [
                        f"{v['name']} ({v['vendor']})",
                        v["requests"],
                        v["clients"],
                        v["first_seen"],
                        v["last_seen"],
                        render.text_bar(v["requests"], most, 20),
                    ]
                    for v in vendors
                ],
                numeric=(1, 2),
            )
        )
        out += ["", "Products, and what the rules would decide"]
        out.append(
            render.text_table(
                ["product", "requests", "clients", "verdict", "residency", "retention", "rules"],
                [
                    [
                        p["product"],
                        p["requests"],
                        p["clients"],
                        p["verdict"],
                        ", ".join(p["residency"]) or "unknown",
                        p["retention"],
                        _decision_text(p["decision"], p["decision_varies_by_host"]),
                    ]
                    for p in _products(report)
                ],
                numeric=(1, 2),
                max_width=60,
            )
        )
        out += ["", "Hosts"]
        out.append(
            render.text_table(
                ["host", "product", "requests", "clients", "rules"],
                [
                    [
                        h["host"],
                        p["product"],
                        h["requests"],
                        h["clients"],
                        _decision_text(h["decision"]),
                    ]
                    for p in _products(report)
                    for h in p["hosts"]
                ],
                numeric=(2, 3),
                max_width=60,
            )
        )
    out += ["", "Logs"]
    out.append(
        render.text_table(
            ["log", "format", "lines", "requests", "AI", "not AI", "invalid", "other", "malformed"],
            [
                [
                    f["path"],
                    f["format"] + ("" if f["detected"] else " (given)"),
                    f["lines"],
                    f["requests"],
                    f["ai_requests"],
                    f["not_ai_requests"],
                    f["invalid_names"],
                    f["skipped"] + f["blank"],
                    f["malformed"],
                ]
                for f in report["files"]
            ],
            numeric=range(2, 9),
        )
    )
    for f in report["files"]:
        if f["first_seen"]:
            out.append(f"  {f['path']}: from {f['first_seen']} to {f['last_seen']}")
        if f["warning"]:
            out.append(f"  {f['path']}: {f['warning']}")
    examples = _malformed_rows(report)
    if examples:
        out += ["", "Malformed lines (first few of each log)"]
        out.append(
            render.text_table(["log", "line", "text"], examples, numeric=(1,), max_width=100)
        )
    if report["invalid_examples"]:
        out += ["", "Invalid names (most frequent)"]
        out.append(render.text_table(["name", "count", "why"], _invalid_rows(report), numeric=(1,)))
    out += ["", "Notes"]
    out += [f"  - {note}" for note in _all_notes(report)]
    return "\n".join(out) + "\n"


def render_html(report: dict[str, Any]) -> str:
    """One self-contained page (render.page): every value from a log or a record is escaped."""
    totals = report["totals"]
    products = list(_products(report))
    summary = render.tiles(
        [
            ("AI requests", totals["ai_requests"], "info", f"of {totals['requests']:,} requests"),
            ("clients using AI", totals["ai_clients"], "info", f"of {totals['clients']:,}"),
            ("vendors", totals["vendors"], "neutral", f"{totals['products']} products"),
            (
                "not AI",
                totals["not_ai_requests"],
                "neutral",
                f"{totals['not_ai_names']:,} names, {totals['invalid_names']:,} invalid",
            ),
            ("malformed lines", totals["malformed"], "warn" if totals["malformed"] else "good", ""),
        ]
    )
    by_vendor = [
        (
            v["name"],
            _by_action(h for p in v["products"] for h in p["hosts"]),
        )
        for v in report["vendors"]
    ]
    charts = render.grid(
        render.section(
            "Requests by vendor",
            render.hbars(
                by_vendor,
                render.ACTION_SERIES,
                name="vendors",
                label="AI requests per vendor, by what the rules would decide",
            ),
            note="Coloured by what your rules would decide for them.",
        ),
        render.section(
            "AI requests by decision",
            render.donut(
                [
                    (series, _by_action(h for p in products for h in p["hosts"])[series.key])
                    for series in render.ACTION_SERIES
                ],
                name="actions",
                label="AI requests by what the rules would decide",
            ),
        ),
    )
    product_table = render.table(
        [
            "Product",
            "Requests",
            "Clients",
            "First seen",
            "Last seen",
            "Verdict",
            "Residency",
            "Retention",
            "Rules decide",
        ],
        [
            [
                render.Safe(
                    f"<strong>{render.escape(p['name'])}</strong><br>{render.escape(p['product'])}"
                ),
                p["requests"],
                p["clients"],
                p["first_seen"],
                p["last_seen"],
                p["verdict"],
                ", ".join(p["residency"]) or "unknown",
                p["retention"],
                _decision_html(p["decision"], p["decision_varies_by_host"]),
            ]
            for p in products
        ],
        numeric=(1, 2),
        empty="No AI vendor of the registry appears in the logs.",
    )
    host_table = render.table(
        ["Host", "Product", "Requests", "Clients", "Rules decide"],
        [
            [h["host"], p["product"], h["requests"], h["clients"], _decision_html(h["decision"])]
            for p in products
            for h in p["hosts"]
        ],
        numeric=(2, 3),
    )
    log_table = render.table(
        [
            *("Log", "Format", "Lines", "Requests", "AI", "Not AI", "Invalid names"),
            *("Malformed", "From", "To"),
        ],
        [
            [
                f["path"],
                f["format"] + ("" if f["detected"] else " (given)"),
                f["lines"],
                f["requests"],
                f["ai_requests"],
                f["not_ai_requests"],
                f["invalid_names"],
                f["malformed"],
                f["first_seen"],
                f["last_seen"],
            ]
            for f in report["files"]
        ],
        numeric=range(2, 8),
    )
    warnings = [f"{f['path']}: {f['warning']}" for f in report["files"] if f["warning"]]
    body = [
        summary,
        charts,
        render.section("Products, and what your rules would decide", product_table),
        render.section("Hosts", host_table),
        render.section("Logs read", log_table, note="; ".join(warnings)),
        render.section(
            "Malformed lines",
            render.table(
                ["Log", "Line", "Text"],
                _malformed_rows(report),
                numeric=(1,),
                empty="None: every line was read.",
            ),
            note="The first few of each log, as they were (control characters escaped).",
        ),
        render.section(
            "Invalid names",
            render.table(
                ["Name", "Count", "Why"],
                _invalid_rows(report),
                numeric=(1,),
                empty="None.",
            ),
        ),
        render.section(
            "Notes",
            render.Safe(
                "<ul>"
                + "".join(f"<li>{render.escape(note)}</li>" for note in _all_notes(report))
                + "</ul>"
            ),
        ),
    ]
    return render.page(
        "AI services in use",
        body,
        eyebrow="aiwall discover",
        subtitle=f"{totals['ai_requests']:,} AI requests from {totals['ai_clients']:,} clients"
        f" to {totals['vendors']} vendors, in {len(report['files'])} log(s)",
        meta=[f"Rules: {report['rules']}"],
    )


def _products(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for vendor in report["vendors"]:
        yield from vendor["products"]


def _by_action(hosts: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(_TONE, 0)
    for host in hosts:
        counts[host["decision"]["action"]] += host["requests"]
    return counts


def _malformed_rows(report: dict[str, Any]) -> list[list[object]]:
    return [
        [f["path"], example["line"], example["text"]]
        for f in report["files"]
        for example in f["malformed_examples"]
    ]


def _invalid_rows(report: dict[str, Any]) -> list[list[object]]:
    return [[i["name"], i["count"], i["reason"]] for i in report["invalid_examples"]]


def _all_notes(report: dict[str, Any]) -> list[str]:
    notes = list(report["notes"])
    unjudged = report["assumed_request"]["rules_not_judged"]
    if unjudged:
        notes.append(f"Rules not judged here (they need an identity): {', '.join(unjudged)}.")
    return notes


def _decision_text(decision: dict[str, Any], varies: bool = False) -> str:
    why = decision["rule"] or "default action"
    if decision["as_product"]:
        why += f", as {decision['as_product']}"
    text = f"{decision['action']} ({why})"
    if decision["shadow"]:
        text += f"; shadow: {', '.join(decision['shadow'])}"
    return text + ("; varies by host" if varies else "")


def _decision_html(decision: dict[str, Any], varies: bool = False) -> render.Safe:
    action = decision["action"]
    detail = _decision_text(decision, varies).removeprefix(action).strip()
    return render.Safe(f"{render.pill(action, _TONE[action])} {render.escape(detail)}")


# --- Command line. ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG", help="log files (- for stdin; .gz ok)")
    parser.add_argument(
        "--log-format",
        choices=["auto", *FORMATS],
        default="auto",
        help="the logs' format: squid (native access.log), bind (query log), dnsmasq or"
        " pihole (log-queries lines), plain (a host or URL per line, optionally after a client);"
        " default: auto, told from each file's first lines",
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
