"""Vendor records: the data-policy facts of one AI vendor and its products (policies/*.yaml)."""

from collections.abc import Iterator
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from aiwall.core.durations import parse_duration
from aiwall.core.regions import check_region

IDENTIFIER = r"^[a-z0-9][a-z0-9_-]*$"
OPEN_ENDED = "open-ended"
UNKNOWN = "unknown"
# A product's data-policy facts: what the card shows and what a changed source puts under review.
# The facts a product states (each may be `unknown`), in the order cards and logs show them.
FACTS = (
    "training",
    "opt_out",
    "zero_retention",
    "dpa",
    "residency",
    "retention",
    "jurisdiction",
)


class Training(StrEnum):
    """Whether the vendor trains its models on what you send."""

    DEFAULT = "default"  # trains unless you opt out
    OPT_IN = "opt-in"
    NEVER = "never"
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Kind(StrEnum):
    CHAT_ASSISTANT = "chat-assistant"
    API_PLATFORM = "api-platform"
    CODING_ASSISTANT = "coding-assistant"
    SEARCH_ASSISTANT = "search-assistant"
    WRITING_ASSISTANT = "writing-assistant"
    TRANSLATION = "translation"
    IMAGE_GENERATION = "image-generation"
    VIDEO_GENERATION = "video-generation"
    VOICE = "voice"
    AGENT = "agent"
    PRODUCTIVITY_SUITE = "productivity-suite"
    MODEL_HUB = "model-hub"
    OTHER = "other"


def _unknown_as_none(value: Any) -> Any:
    return None if value == UNKNOWN else value


def _check_retention(value: str) -> str:
    if value not in (OPEN_ENDED, UNKNOWN):
        parse_duration(value)
    return value


# true / false, or null (also written `unknown`) when nobody has established it.
KnownBool = Annotated[bool | None, BeforeValidator(_unknown_as_none)]
Region = Annotated[str, AfterValidator(check_region)]
RetentionPeriod = Annotated[str, AfterValidator(_check_retention)]
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _fact_name(name: str) -> str:
    if name not in FACTS:
        raise ValueError(f"{name!r} is not a fact ({', '.join(FACTS)})")
    return name


class Source(Strict):
    """A public page and what it supports; `covers` names the facts it backs."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    supports: str
    date: date
    covers: tuple[str, ...] = Field(
        default=(),
        description="facts this source backs: `hosts`, `tenant_restriction`, a fact name"
        " for every product (`residency`), or `<product>.<fact>` (`api.training`)",
    )


class PinnedHost(Strict):
    """A host that keeps data in one region (a data-residency endpoint: `eu.api.openai.com`)."""

    host: str = Field(description="a host (or host/path prefix), like the plain entries")
    residency: tuple[Region, ...] = Field(
        min_length=1, description="where data sent to this host is stored or processed"
    )
    note: str = ""


HostSpec = str | PinnedHost


def host_text(spec: HostSpec) -> str:
    return spec if isinstance(spec, str) else spec.host


class Review(Strict):
    """A cited page that changed after it was last verified: the facts it backs are under review
    until a person re-verifies it (gives the source a `date` on or after `changed`)."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    source: str = Field(description="what the page is called, as its title says")
    changed: date = Field(description="when `aiwall sources check` saw the change")
    covers: tuple[str, ...] = Field(
        default=(), description="the facts the source backs, as its `covers`; [] = every fact"
    )

    def facts_of(self, product_id: str) -> tuple[str, ...]:
        """The product facts this review puts in doubt for one product, in card order."""
        if not self.covers:
            return FACTS
        named = set(self.covers) | {
            c.partition(".")[2] for c in self.covers if c.partition(".")[0] == product_id
        }
        return tuple(fact for fact in FACTS if fact in named)


class OptOut(Strict):
    available: KnownBool
    how: str = ""
    retroactive: KnownBool = None
    note: str = ""


class Product(Strict):
    """One tier or product of a vendor, with the facts that decide what a rule does with it."""

    id: Identifier
    name: str
    kind: Kind | None = Field(default=None, description="defaults to the vendor's kind")
    hosts: tuple[HostSpec, ...] = Field(
        default=(),
        description="hosts (and host/path prefixes) that identify this product; a path prefix"
        " ends at a segment boundary (huggingface.co/chat covers /chat and /chat/..., not"
        " /chatty). An entry may pin data to a region: {host: eu.api.openai.com, residency:"
        " [EU]}. The first label may hold {region}: {region}-aiplatform.googleapis.com",
    )
    verdict: str = Field(description='one line, like "Trains unless you opt out"')
    summary: str
    training: Training
    opt_out: OptOut
    zero_retention: KnownBool
    zero_retention_note: str = ""
    dpa: KnownBool
    dpa_note: str = ""
    residency: tuple[Region, ...] = Field(
        description="where data is stored or processed; [] = unknown"
    )
    residency_note: str = ""
    retention: RetentionPeriod = Field(description=f"ISO 8601 duration, {OPEN_ENDED} or {UNKNOWN}")
    retention_note: str = ""
    jurisdiction: tuple[Region, ...] | None = Field(
        default=None,
        description="overrides the vendor's jurisdiction where another entity runs this product",
    )
    jurisdiction_note: str = ""
    models_from: tuple[str, ...] = Field(
        default=(),
        description="companies whose models this product serves (the host's terms apply)",
    )
    models_note: str = ""
    confidence: Confidence | None = Field(default=None, description="defaults to the vendor's")
    verified: dict[Annotated[str, AfterValidator(_fact_name)], date] = Field(
        default_factory=dict,
        description="when each fact was last checked against its sources, where that differs"
        " from the record's last_verified",
    )

    def retention_exceeds(self, limit: timedelta) -> bool:
        """Open-ended and unknown retention count as longer than any limit."""
        if self.retention in (OPEN_ENDED, UNKNOWN):
            return True
        return parse_duration(self.retention) > limit


def product_ref(vendor_id: str, product_id: str) -> str:
    """`openai/chatgpt-personal`: the one spelling of a product reference."""
    return f"{vendor_id}/{product_id}"


class TenantRestriction(Strict):
    """A header the vendor honours to admit only the organisation's own tenant."""

    header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")]
    hosts: tuple[str, ...] = Field(min_length=1)
    value: str = Field(description="what the header carries, as the vendor documents it")
    separator: str = Field(default=",", description="between several tenant ids")
    product: Identifier | None = Field(
        default=None,
        description="the enterprise product that traffic on these hosts is once restricted",
    )


class VendorRecord(Strict):
    """Everything aiwall knows about one AI vendor, with sources and a date."""

    id: Identifier
    name: str
    kind: Kind
    homepage: Annotated[str, Field(pattern=r"^https?://\S+$")]
    headline: str = Field(description="the one-sentence answer to 'does it train on my data?'")
    summary: str
    hosts: tuple[str, ...] = Field(min_length=1)
    default_product: Identifier | None = Field(
        default=None,
        description="product for vendor hosts no product claims; the first product if absent",
    )
    products: tuple[Product, ...] = Field(min_length=1)
    tenant_restriction: tuple[TenantRestriction, ...] = ()
    jurisdiction: tuple[Region, ...] = Field(
        default=(),
        description="countries whose law governs the entity that operates the service and"
        " processes the data (the parent where the operator is a controlled subsidiary);"
        " [] = unknown",
    )
    jurisdiction_note: str = Field(default="", description="the entity, and its parent if any")
    last_verified: date
    confidence: Confidence
    sources: tuple[Source, ...] = Field(min_length=1)
    notes: str = Field(default="", description="what people usually get wrong")
    under_review: tuple[Review, ...] = Field(
        default=(),
        description="sources that changed since they were verified; `aiwall sources check`"
        " records them in `_review.yaml` beside the records",
    )

    @model_validator(mode="after")
    def _products_are_consistent(self) -> "VendorRecord":
        ids = [p.id for p in self.products]
        if len(set(ids)) != len(ids):
            raise ValueError(f"product ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        for name, wanted in [("default_product", self.default_product)] + [
            ("tenant_restriction.product", t.product) for t in self.tenant_restriction
        ]:
            if wanted is not None and wanted not in ids:
                raise ValueError(f"{name} {wanted!r} is not one of this vendor's products {ids}")
        return self

    def ref(self, product: Product) -> str:
        """`vendor/product`: how rules, logs and reports name a product."""
        return product_ref(self.id, product.id)

    def product(self, product_id: str) -> Product:
        return next(p for p in self.products if p.id == product_id)

    @property
    def main_product(self) -> Product:
        return self.product(self.default_product or self.products[0].id)

    def kind_of(self, product: Product) -> Kind:
        return product.kind or self.kind

    def verified_on(self, product: Product, fact: str) -> date:
        """When a fact of a product was last checked: its own date, else the record's."""
        return product.verified.get(fact, self.last_verified)

    def jurisdiction_of(self, product: Product) -> tuple[str, ...]:
        return self.jurisdiction if product.jurisdiction is None else product.jurisdiction

    def confidence_of(self, product: Product) -> Confidence:
        return product.confidence or self.confidence

    def reviews_of(self, product: Product) -> Iterator[tuple[Review, tuple[str, ...]]]:
        """Each review that puts facts of `product` in doubt, with those facts."""
        for review in self.under_review:
            if facts := review.facts_of(product.id):
                yield review, facts

    def facts_under_review(self, product: Product) -> tuple[str, ...]:
        doubted = {fact for _, facts in self.reviews_of(product) for fact in facts}
        return tuple(fact for fact in FACTS if fact in doubted)
