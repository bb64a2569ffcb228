"""`aiwall discover LOG...`: which AI vendors and products the logs an organisation already
keeps show in use, by how many clients, and what its rules would decide for them.

`Discovery` reads the logs (`analysis/logformats.py`) and `build_report` turns what it counted
into the JSON-shaped document that `discover_text` and `discover_html` render. Names repeat:
each distinct name is normalised and resolved once, and every line after that costs one
dictionary look-up. Only registry matches count as AI; everything else is counted as not AI,
and names that are no valid host as invalid. aiwall's own event log is read once per event,
however often overlapping files repeat it.
"""

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiwall.analysis.logformats import EXAMPLES, FORMATS, LogFormat, Tally, detect, shown
from aiwall.core.config import Config
from aiwall.core.decision import Decision, HostName, RequestInfo
from aiwall.core.hostindex import HostEntry
from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.policy import Product, VendorRecord, host_text
from aiwall.core.registry import Registry
from aiwall.core.rules import Action
from aiwall.telemetry.ids import SeenIds

_SAMPLE_LINES = 50  # lines read ahead to tell a file's format
_CACHE_LIMIT = 1_000_000  # distinct names remembered; past this the cache starts over
_DNS_NOTE = (
    "DNS logs record look-ups, not requests: their counts are queries, and a name that was"
    " looked up may not have been used."
)
_YEARLESS_NOTE = "dnsmasq and syslog lines carry no year: their times read --MM-DDThh:mm:ss."
_LOCAL_TIME_NOTE = "BIND times are the DNS server's local time; Squid times are UTC."
_AIWALL_NOTE = (
    "aiwall's own logs hold only what it logged: allowed requests are there only where a"
    " shadow rule matched or the rule records them (record: true); each event counts once,"
    " however often overlapping files repeat it."
)


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
        self.seen = SeenIds()  # the event ids of aiwall's logs, across files
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
        tally = Tally(seen=self.seen)
        summary = FileSummary(path, log_format, forced is None, tally, warning=warning)
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
        key = (host, vendor.ref(product))
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
        "duplicates": sum(f["duplicates"] for f in files),
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
        "product": vendor.ref(product),
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
        decision.product_ref if decided_as is not None and decided_as.id != product.id else None
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
    if "aiwall" in names:
        notes.append(_AIWALL_NOTE)
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
        "duplicates": tally.duplicates,
        "malformed_examples": [{"line": n, "text": text} for n, text in tally.examples],
        "first_seen": summary.first,
        "last_seen": summary.last,
    }


def _count(clients: set[str | None]) -> int:
    """Distinct clients; requests with no client column count for none."""
    return len(clients) - (None in clients)
