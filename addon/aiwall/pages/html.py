"""The block, warn and message pages in HTML: what each shows, in the reader's language.

A page is rendered once per what it is about (decision, settings, language, form error) and
kept as a skeleton; per request only the nonce, token, host, URL, user, reference, time and a
kept justification are filled in (`render.slot`). So a refusal costs a copy, not a render.
"""

import string
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from gettext import NullTranslations
from urllib.parse import quote

from markupsafe import Markup

from aiwall.ack.tokens import ACK_PATH, MAX_JUSTIFICATION_CHARS, MIN_JUSTIFICATION_CHARS
from aiwall.core.card import card_for
from aiwall.core.colours import lightened
from aiwall.core.decision import Decision
from aiwall.core.policy import OPEN_ENDED, UNKNOWN, Product, Training, VendorRecord
from aiwall.core.rules import Alternative, PageSettings, Settings, in_language
from aiwall.pages.language import duration, negotiate, region_name, translations
from aiwall.pages.page import Page, Visit, html_page
from aiwall.pages.render import Skeleton, SkeletonCache, render, slot

_PAGES = SkeletonCache()
_DARK_PANEL = "#1b1e23"  # pages.css, dark mode


class FormError(StrEnum):
    """Why a posted warning form is shown again, with the reader's text kept."""

    TOO_SHORT = "too-short"
    EXPIRED = "expired"


@dataclass(frozen=True)
class _Alternative:
    name: str
    url: str


def block_page(decision: Decision, settings: Settings, visit: Visit) -> Page:
    language = negotiate(visit.accept_language)

    def make() -> str:
        t = translations(language)
        subject = _subject(decision)
        title = t.gettext("%(subject)s is blocked by company policy") % {"subject": subject}
        lead = _rule_message(decision, language) or t.gettext(
            "Your organisation does not allow %(subject)s at work."
        ) % {"subject": subject}
        return render(
            "denial.html",
            language,
            **_denial(decision, settings, language, title, lead, warn=False),
            warn=None,
        )

    key = ("block", language, id(settings), *_key(decision))
    return html_page(
        403, _PAGES.get(key, (settings, _kept(decision)), make), _values(decision, visit)
    )


def warn_page(
    decision: Decision,
    settings: Settings,
    visit: Visit,
    *,
    token: str,
    error: FormError | None = None,
    justification: str = "",
    address: str | None = None,
    may_continue: bool = True,
) -> Page:
    """The warning and its form; after a refused form, with `error` and the reader's text.

    `address`: the client is known by its address only, which the page says (an
    acknowledgement then counts for everyone behind that address). `may_continue` false: the
    rules want a named user and the proxy does not know who this is: no form, a sign-in hint."""
    language = negotiate(visit.accept_language)
    rule = decision.rule
    assert rule is not None, "a warning comes from a rule"

    def make() -> str:
        t = translations(language)
        subject = _subject(decision)
        title = t.gettext("Before you continue to %(subject)s") % {"subject": subject}
        lead = _rule_message(decision, language) or t.gettext(
            "Your organisation asks you to read what %(subject)s does with your data"
            " before you use it."
        ) % {"subject": subject}
        ttl = rule.ack_ttl if rule.ack_ttl is not None else settings.ack_ttl
        form = {
            "ack_path": ACK_PATH,
            "token": slot("token"),
            "justification": slot("justification"),
            "require_justification": rule.require_justification,
            "min_length": MIN_JUSTIFICATION_CHARS,
            "max_length": MAX_JUSTIFICATION_CHARS,
            "readers": settings.pages.justification_readers
            or t.gettext("your organisation's security team"),
            "ttl": duration(ttl, language),
            "scope": decision.vendor.name if decision.vendor else slot("decided_host"),
            "error": _form_error(error, t) if error else None,
            "address": slot("address") if address is not None else None,
            "signed_out": not may_continue,
        }
        return render(
            "denial.html",
            language,
            **_denial(decision, settings, language, title, lead, warn=True),
            warn=form,
        )

    key = ("warn", language, id(settings), error, address is None, may_continue)
    skeleton = _PAGES.get((*key, *_key(decision)), (settings, _kept(decision)), make)
    values = _values(decision, visit) | {"token": token, "justification": justification}
    values["address"] = address or ""
    return html_page(403, skeleton, values)


def message_page(
    status: int,
    settings: Settings,
    visit: Visit,
    title: Callable[[NullTranslations], str],
    lead: str,
    paragraphs: Callable[[NullTranslations], list[str]],
) -> Page:
    """A page that only tells: an invalid address, an internal error, a refused form. Rare,
    so rendered each time."""
    language = negotiate(visit.accept_language)
    t = translations(language)
    rendered = render(
        "message.html",
        language,
        title=title(t),
        lead=lead,
        paragraphs=paragraphs(t),
        brand=_brand(settings.pages),
        help=_help(settings, None, language),
        host=slot("host"),
    )
    return html_page(status, Skeleton.of(rendered), _values(None, visit))


def _denial(
    decision: Decision,
    settings: Settings,
    language: str,
    title: str,
    lead: str,
    *,
    warn: bool,
) -> dict[str, object]:
    """What the block and warn pages both show."""
    rule = decision.rule
    alternative = rule.alternative if rule else None
    card = None
    if decision.vendor is not None:
        product = decision.product or decision.vendor.main_product
        card = _card(decision.vendor, product, language, stale=decision.stale, warn=warn)
    return {
        "title": title,
        "lead": lead,
        "subject": _subject(decision),
        "host": slot("host"),
        "brand": _brand(settings.pages),
        "alternative": _localized(alternative, language) if alternative else None,
        "exception_url": _url(settings.pages.exception_url, decision),
        "help": _help(settings, decision, language),
        "card": card,
        "it": {
            "host": slot("decided_host"),
            "rule": rule.id if rule else None,
            "reason": decision.reason,
            "record": decision.product_ref,
        },
    }


def _card(
    vendor: VendorRecord, product: Product, language: str, *, stale: bool, warn: bool
) -> dict[str, object]:
    """The vendor card, compact: each fact once, in words for employees. Block pages show no
    way to opt out: it is no way around the block."""
    t = translations(language)
    trains = {
        Training.DEFAULT: t.gettext("Yes, by default"),
        Training.OPT_IN: t.gettext("Only if you opt in"),
        Training.NEVER: t.gettext("No"),
        Training.UNKNOWN: t.gettext("Unknown"),
    }[product.training]
    opt_out = product.opt_out.available
    if warn and product.training is Training.DEFAULT and opt_out is not None:
        trains = (
            t.gettext("Yes, unless you opt out")
            if opt_out
            else t.gettext("Yes, and you cannot opt out")
        )
    stored = ", ".join(f"{region_name(code, language)} ({code})" for code in product.residency)
    facts = [
        (t.gettext("Trains on what you type"), trains),
        (t.gettext("Zero retention available"), _known(product.zero_retention, t)),
        (t.gettext("Data processing agreement"), _known(product.dpa, t)),
        (t.gettext("Data stored in"), stored or t.gettext("Unknown")),
        (t.gettext("Kept for"), _retention(product.retention, t)),
    ]
    training_tone = {"default": "bad", "opt-in": "good", "never": "good"}.get(
        product.training, "unknown"
    )
    pills = [
        (t.gettext("Trains on your data") if training_tone == "bad" else trains, training_tone),
        (
            t.gettext("No zero-retention option")
            if product.zero_retention is False
            else t.gettext("Zero-retention option")
            if product.zero_retention
            else t.gettext("Zero retention: unknown"),
            _tone(product.zero_retention),
        ),
    ]
    return {
        "name": product.name,
        "vendor": vendor.name,
        "verdict": product.verdict,
        "summary": product.summary,
        "pills": pills,
        "facts": facts,
        "verified": vendor.last_verified.isoformat(),
        "confidence": {"high": t.gettext("high"), "medium": t.gettext("medium")}.get(
            vendor.confidence_of(product), t.gettext("low")
        ),
        "stale": stale,
        "reviews": card_for(vendor, product).reviews(),  # English only, as `explain` says it
        "opt_out": product.opt_out.how if warn and opt_out else "",
        "others": [(p.name, p.verdict) for p in vendor.products if p != product],
        "sources": [(source.url, source.date.isoformat()) for source in vendor.sources],
    }


def _known(value: bool | None, t: NullTranslations) -> str:
    if value is None:
        return t.gettext("Unknown")
    return t.gettext("Yes") if value else t.gettext("No")


def _tone(value: bool | None) -> str:
    return "unknown" if value is None else ("good" if value else "bad")


def _retention(retention: str, t: NullTranslations) -> str:
    if retention == OPEN_ENDED:
        return t.gettext("No fixed deletion date")
    if retention == UNKNOWN:
        return t.gettext("Unknown")
    return retention


def _form_error(error: FormError, t: NullTranslations) -> str:
    if error is FormError.TOO_SHORT:
        return t.gettext(
            "Please say a little more: at least %(count)d characters, not counting spaces."
        ) % {"count": MIN_JUSTIFICATION_CHARS}
    return t.gettext("This form had expired. Your text is kept: please continue again.")


def _brand(settings: PageSettings) -> dict[str, object]:
    style = ""
    if settings.accent:
        dark = lightened(settings.accent, _DARK_PANEL)
        # Validated #rrggbb colours: safe to put into the stylesheet as they are.
        style = (
            f":root{{--accent:{settings.accent};--on-accent:#fff}}"
            f"@media (prefers-color-scheme:dark){{:root{{--accent:{dark};--on-accent:#0b1220}}}}"
        )
    return {
        "organisation": settings.organisation,
        "logo": settings.logo,
        "style": Markup(style),
        "acceptable_use_url": settings.acceptable_use_url,
        "privacy_url": settings.privacy_url,
    }


def _help(settings: Settings, decision: Decision | None, language: str) -> dict[str, object]:
    """The contact, linked with a subject the helpdesk can sort by, and the reference."""
    link = settings.pages.contact_url
    if link and link.startswith("mailto:"):
        rule = decision.rule.id if decision and decision.rule else "-"
        subject = (
            quote(f"AI policy: {rule} / ", safe="")
            + slot("host", "query")
            + quote(" / ref ", safe="")
            + slot("reference", "query")
        )
        link += ("&" if "?" in link else "?") + "subject=" + subject
    elif link and not link.startswith("tel:"):
        link = _url(link, decision)
    return {
        "contact": settings.contact,
        "link": link,
        "reference": slot("reference"),
        "time": slot("time"),
    }


def _url(template: str | None, decision: Decision | None) -> str | None:
    """An exception or contact URL with its variables filled in, each percent-encoded; those
    that vary per request are slots."""
    if template is None:
        return None
    static = {
        "vendor": decision.vendor.id if decision and decision.vendor else "",
        "rule": decision.rule.id if decision and decision.rule else "",
    }
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(quote(static[name], safe="") if name in static else slot(name, "query"))
    return "".join(parts)


def _localized(alternative: Alternative, language: str) -> _Alternative:
    return _Alternative(in_language(alternative.name, language), alternative.url)


def _subject(decision: Decision) -> str:
    """Who the page is about, as employees know it: the product, the vendor, else the host."""
    if decision.product is not None:
        return decision.product.name
    if decision.vendor is not None:
        return decision.vendor.name
    return decision.host or "this site"


def _rule_message(decision: Decision, language: str) -> str:
    return in_language(decision.rule.message, language).strip() if decision.rule else ""


def _values(decision: Decision | None, visit: Visit) -> dict[str, str]:
    when = visit.time or datetime.now(UTC)
    return {
        "host": visit.host or (decision.host if decision else "") or "",
        "decided_host": (decision.host if decision else None) or "unknown",
        "url": visit.url,
        "user": visit.user or "",
        "reference": visit.reference or "",
        "time": when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def _key(decision: Decision) -> tuple[Hashable, ...]:
    """What a page shows of a decision, apart from what varies per request (slots)."""
    return (
        id(decision.vendor),
        id(decision.product),
        id(decision.rule),
        decision.reason,
        decision.stale,
    )


def _kept(decision: Decision) -> object:
    """The objects whose ids `_key` holds."""
    return decision.vendor, decision.product, decision.rule
