"""`aiwall sources check`: has any page the vendor records cite changed in substance?

Each cited URL is fetched once (several records may cite it), its main text extracted and
normalised (feed/text.py) and compared with the snapshot of the last run. A URL seen for the
first time becomes the baseline; a URL that cannot be fetched, or shows no text, is listed as
unreachable and is no change. A change replaces the snapshot, so the next run reports only
what changes after it, and puts the facts the page covers under review (feed/review.py).
"""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from aiwall.core.policy import Review, Source, VendorRecord
from aiwall.core.registry import Registry
from aiwall.feed.fetch import Fetched, Validators, fetch_all
from aiwall.feed.snapshots import Snapshot, SnapshotStore
from aiwall.feed.text import page_text, text_diff


@dataclass(frozen=True)
class Citation:
    """One record's source entry for a URL."""

    vendor: VendorRecord
    source: Source


@dataclass(frozen=True)
class SourceChange:
    url: str
    title: str
    citations: tuple[Citation, ...]
    diff: tuple[str, ...]

    def reviews(self, today: date) -> Iterator[tuple[str, Review]]:
        """The mark each citing record gets: (vendor id, review)."""
        for citation in self.citations:
            review = Review(
                url=self.url,
                source=self.title or self.url,
                changed=today,
                covers=citation.source.covers,
            )
            yield citation.vendor.id, review


@dataclass(frozen=True)
class Unreachable:
    url: str
    error: str
    citations: tuple[Citation, ...]


@dataclass
class SourcesReport:
    checked: int = 0
    unchanged: int = 0
    baseline: list[str] = field(default_factory=list)
    changed: list[SourceChange] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)


def citations(registry: Registry) -> dict[str, tuple[Citation, ...]]:
    """Every cited URL, with the records (and their source entries) that cite it."""
    by_url: dict[str, list[Citation]] = {}
    for vendor in registry.vendors.values():
        for source in vendor.sources:
            by_url.setdefault(source.url, []).append(Citation(vendor, source))
    return {url: tuple(cited) for url, cited in by_url.items()}


def check_sources(
    registry: Registry,
    store: SnapshotStore,
    *,
    concurrency: int = 8,
    timeout: float = 20.0,
    now: datetime | None = None,
) -> SourcesReport:
    """Fetch every cited page, compare with its snapshot, and update the snapshots."""
    cited = citations(registry)
    snapshots = {url: store.get(url) for url in cited}
    wanted = [(url, s.validators if s else Validators()) for url, s in snapshots.items()]
    fetched = fetch_all(wanted, concurrency=concurrency, timeout=timeout)
    pages = asyncio.run(_extract_all(fetched))
    fetched_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    report = SourcesReport(checked=len(cited))
    for answer, page in zip(fetched, pages, strict=True):
        url, before = answer.url, snapshots[answer.url]
        if answer.status == "not-modified" and before is not None:
            report.unchanged += 1
            continue
        if answer.status != "ok" or page is None or not page[1]:
            error = answer.error or "the page shows no main text"
            report.unreachable.append(Unreachable(url, error, cited[url]))
            continue
        title, text = page
        after = Snapshot(url, title, text, fetched_at, *_validators(answer))
        if before is None:
            report.baseline.append(url)
        elif before.text == text:
            report.unchanged += 1
        else:
            diff = tuple(text_diff(before.text, text))
            report.changed.append(SourceChange(url, title or before.title, cited[url], diff))
        store.put(after)
    return report


async def _extract_all(fetched: list[Fetched]) -> list[tuple[str, str] | None]:
    """Each page's title and main text; extraction is CPU work, done off the event loop."""

    async def one(answer: Fetched) -> tuple[str, str] | None:
        if answer.status != "ok":
            return None
        page = await asyncio.to_thread(page_text, answer.body, answer.content_type)
        return page.title, page.text

    return list(await asyncio.gather(*(one(answer) for answer in fetched)))


def _validators(answer: Fetched) -> tuple[str | None, str | None]:
    return answer.validators.etag, answer.validators.last_modified


def facts_named(citation: Citation) -> str:
    return ", ".join(citation.source.covers) or "the whole record"


def render_text(report: SourcesReport) -> str:
    lines: list[str] = []
    for change in report.changed:
        title = f" ({change.title})" if change.title else ""
        lines.append(f"CHANGED      {change.url}{title}")
        for citation in change.citations:
            lines.append(
                f"  {citation.vendor.id}: {facts_named(citation)}"
                f" (verified {citation.source.date}): now under review"
            )
        lines.extend(f"    {line}" for line in change.diff)
    for gone in report.unreachable:
        vendors = ", ".join(c.vendor.id for c in gone.citations)
        lines.append(f"UNREACHABLE  {gone.url}: {gone.error} (cited by {vendors})")
    for url in report.baseline:
        lines.append(f"BASELINE     {url}")
    lines.append(
        f"{report.checked} sources checked: {len(report.changed)} changed,"
        f" {report.unchanged} unchanged, {len(report.unreachable)} unreachable,"
        f" {len(report.baseline)} recorded for the first time"
    )
    return "\n".join(lines) + "\n"


def render_json(report: SourcesReport) -> str:
    def cited(citations: tuple[Citation, ...]) -> list[dict[str, Any]]:
        return [
            {
                "vendor": c.vendor.id,
                "facts": list(c.source.covers),
                "verified": c.source.date.isoformat(),
            }
            for c in citations
        ]

    data = {
        "checked": report.checked,
        "unchanged": report.unchanged,
        "changed": [
            {"url": c.url, "title": c.title, "records": cited(c.citations), "diff": list(c.diff)}
            for c in report.changed
        ],
        "unreachable": [
            {"url": u.url, "error": u.error, "records": cited(u.citations)}
            for u in report.unreachable
        ],
        "baseline": report.baseline,
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
