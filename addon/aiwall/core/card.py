"""The vendor card: what a record says, arranged for people. Text here; HTML in `pages`."""

import re
from dataclasses import dataclass

from aiwall.core.policy import (
    OPEN_ENDED,
    UNKNOWN,
    Kind,
    OptOut,
    Product,
    Review,
    Training,
    VendorRecord,
)

KIND_LABELS = {
    Kind.CHAT_ASSISTANT: "AI chat assistant",
    Kind.API_PLATFORM: "AI API platform",
    Kind.CODING_ASSISTANT: "AI coding assistant",
    Kind.SEARCH_ASSISTANT: "AI search assistant",
    Kind.WRITING_ASSISTANT: "AI writing assistant",
    Kind.TRANSLATION: "AI translation",
    Kind.IMAGE_GENERATION: "AI image generation",
    Kind.VIDEO_GENERATION: "AI video generation",
    Kind.VOICE: "AI voice",
    Kind.AGENT: "AI agent",
    Kind.PRODUCTIVITY_SUITE: "AI in a productivity suite",
    Kind.MODEL_HUB: "AI model hub",
    Kind.OTHER: "AI service",
}

_TRAINING_BADGE = {
    Training.DEFAULT: "Trains by default",
    Training.OPT_IN: "Trains only if you opt in",
    Training.NEVER: "Does not train on your data",
    Training.UNKNOWN: "Training: unknown",
}
_TRAINING_FACT = {
    Training.OPT_IN: "only if you opt in",
    Training.NEVER: "no",
    Training.UNKNOWN: "unknown",
}

_FACT_NAMES = {
    "training": "training",
    "opt_out": "opt-out",
    "zero_retention": "zero retention",
    "dpa": "DPA",
    "residency": "where data is stored",
    "retention": "retention",
    "jurisdiction": "the company's jurisdiction",
}
UNDER_REVIEW = " (under review)"


def training_fact(product: Product) -> str:
    """The training fact in words that agree with the opt-out fact beside it."""
    if product.training is not Training.DEFAULT:
        return _TRAINING_FACT[product.training]
    if product.opt_out.available is True:
        return "yes, by default, unless you opt out"
    if product.opt_out.available is False:
        return "yes, by default, with no way to opt out"
    return "yes, by default (whether you can opt out is unknown)"


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    """A vendor card focused on one product (the one a request goes to)."""

    vendor: VendorRecord
    product: Product

    @property
    def title(self) -> str:
        return f"Does {self.vendor.name} train on your data?"

    @property
    def byline(self) -> tuple[str, str, str]:
        kind = KIND_LABELS[self.vendor.kind_of(self.product)]
        return self.vendor.name, kind, self.vendor.homepage

    @property
    def badges(self) -> tuple[str, str, str]:
        product = self.product
        return (
            _TRAINING_BADGE[product.training],
            _yes_no(product.zero_retention, "Zero-retention option", "No zero-retention option"),
            _yes_no(product.opt_out.available, "Opt-out available", "No opt-out"),
        )

    def facts(self) -> list[tuple[str, str]]:
        """The product's facts, one line each, as the pages and `explain` show them."""
        p = self.product
        vendor = self.vendor
        jurisdiction = vendor.jurisdiction_of(p)
        law = ", ".join(jurisdiction) or "unknown"
        note = p.jurisdiction_note if p.jurisdiction is not None else vendor.jurisdiction_note
        doubted = vendor.facts_under_review(p)
        facts = [
            ("training", "Trains on your data", training_fact(p)),
            ("opt_out", "Opt-out", _opt_out(p.opt_out)),
            (
                "zero_retention",
                "Zero retention",
                _known(p.zero_retention) + _then(p.zero_retention_note),
            ),
            ("dpa", "DPA", _known(p.dpa) + _then(p.dpa_note)),
            (
                "residency",
                "Data stored in",
                (", ".join(p.residency) or "unknown") + _then(p.residency_note),
            ),
            ("retention", "Retention", _retention(p.retention) + _then(p.retention_note)),
            ("jurisdiction", "Company under the law of", law + _then(note)),
        ]
        if p.models_from:
            models = ", ".join(p.models_from)
            served = (
                f"{models}: {vendor.name} serves these companies' models, and"
                f" {vendor.name}'s terms (above) apply to what you send" + _then(p.models_note)
            )
            facts.append(("models_from", "Models from", served))
        return [
            (label, value + (UNDER_REVIEW if fact in doubted else ""))
            for fact, label, value in facts
        ]

    def reviews(self) -> list[str]:
        """One sentence per changed source that puts this product's facts under review."""
        return [
            f"{self.vendor.name}'s {_source_name(self.vendor, review)} changed on"
            f" {review.changed}; these facts are under review: "
            + ", ".join(_FACT_NAMES[fact] for fact in facts)
            + "."
            for review, facts in self.vendor.reviews_of(self.product)
        ]

    def sections(self) -> list[Section]:
        vendor, product = self.vendor, self.product
        sections = [
            Section(
                f"Does {vendor.name} train its models on your data?",
                (vendor.headline, vendor.summary),
            ),
            Section(
                "Can you opt out?", (_join(product.opt_out.how, product.opt_out.note) or "unknown",)
            ),
            Section(
                "Zero retention / DPA",
                (
                    _join(
                        product.zero_retention_note,
                        product.retention_note,
                        product.residency_note,
                        product.dpa_note,
                    )
                    or "unknown",
                ),
            ),
        ]
        if vendor.notes:
            sections.append(Section("What most write-ups miss", (vendor.notes,)))
        return sections

    def tiers(self) -> list[tuple[str, str, str]]:
        return [(p.name, p.verdict, p.summary) for p in self.vendor.products]

    @property
    def footer(self) -> str:
        confidence = self.vendor.confidence_of(self.product)
        return " ".join(
            [
                *self.reviews(),
                f"Last verified {self.vendor.last_verified} · confidence: {confidence} · Terms"
                f" change — confirm directly with {self.vendor.name} before sending confidential"
                " data.",
            ]
        )


def card_for(vendor: VendorRecord, product: Product | None = None) -> Card:
    return Card(vendor, product or vendor.main_product)


def render_text(card: Card) -> str:
    """The card as plain text, for `aiwall show` and terminals."""
    name, kind, homepage = card.byline
    lines = [card.title, "", f"{name} · {kind} · {homepage}", "", " · ".join(card.badges), ""]
    for section in card.sections():
        lines.append(section.title)
        lines.extend(f"  {p}" for p in section.paragraphs)
        lines.append("")
    lines.append(f"Facts for {card.product.name}")
    lines.extend(f"  {label}: {value}" for label, value in card.facts())
    lines += ["", "Verdict by plan tier"]
    for tier, verdict, summary in card.tiers():
        lines.append(f"  {tier}: {verdict}")
        lines.append(f"    {summary}")
    lines += ["", card.footer, "", "Sources"]
    for source in card.vendor.sources:
        lines.append(f"  {source.url}")
        lines.append(f"    Supports: {source.supports} (dated {source.date})")
    return "\n".join(lines) + "\n"


def _source_name(vendor: VendorRecord, review: Review) -> str:
    """The page's title without the vendor's name in front: "DeepSeek Privacy Policy" → "Privacy
    Policy"; the page's address when it has no title."""
    prefix = re.compile(
        rf"^\s*{re.escape(vendor.name)}(?:'s)?\s*[-:|\u2013\u2014]?\s*", re.IGNORECASE
    )
    return prefix.sub("", review.source).strip() or review.url


def _join(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part.strip())


def _then(note: str) -> str:
    return f" — {note}" if note else ""


def _known(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _yes_no(value: bool | None, yes: str, no: str) -> str:
    if value is None:
        return f"{yes}: unknown"
    return yes if value else no


def _opt_out(opt_out: OptOut) -> str:
    if opt_out.available is None:
        return "unknown"
    if not opt_out.available:
        return "no" + _then(opt_out.note)
    retroactive = {True: "retroactive", False: "not retroactive", None: "retroactivity unknown"}
    return f"yes ({retroactive[opt_out.retroactive]})" + _then(opt_out.how)


def _retention(retention: str) -> str:
    if retention == OPEN_ENDED:
        return "open-ended (no fixed deletion schedule)"
    return "unknown" if retention == UNKNOWN else retention
