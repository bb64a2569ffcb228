"""What the proxy answers instead of the vendor: block and warn pages (HTML) and their JSON form.

Browsers navigating to a page (`wants_html`) get HTML; scripts, SDKs and XHR get JSON. Every
answer carries `Cache-Control: no-store`, `X-Content-Type-Options: nosniff`,
`Referrer-Policy: same-origin` and a Content-Security-Policy; HTML pages allow no script at
all and one nonce-bearing `<style>`. Everything interpolated into HTML is escaped.

The JSON form is a stable interface, shaped so that the OpenAI and Anthropic SDKs parse it as
their own error (`error.type`, `error.message`; `error.code` for OpenAI):

    {"type": "error",
     "error": {"type": "permission_error",
               "code": "aiwall_blocked",
               "message": "Company policy blocks DeepSeek (chat.deepseek.com), rule ...",
               "vendor": "deepseek",
               "product": "deepseek/consumer",
               "host": "chat.deepseek.com",
               "rule": "block-cn-residency",
               "verdict": "Trains unless you opt out",
               "alternative": {"name": "Copilot Chat", "url": "https://..."},
               "contact": "IT service desk <it@example.com>",
               "acknowledge_url": null}}

Every key is always present; a value that does not apply is null. By `code`:

| code                  | status | error.type            | when                                  |
|-----------------------|--------|-----------------------|---------------------------------------|
| `aiwall_blocked`      | 403    | permission_error      | a rule (or the default action) blocks |
| `aiwall_warning`      | 403    | permission_error      | a warning awaits acknowledgement      |
| `aiwall_ack_refused`  | 403    | permission_error      | an acknowledgement was refused        |
| `aiwall_invalid_host` | 400    | invalid_request_error | a host name of the request is invalid |
| `aiwall_error`        | 503    | api_error             | aiwall failed; nothing was sent       |

`message` is a short explanation for people: what happened, the rule's message and the
approved alternative. `host` is the normalised name (A-labels for IDN). `acknowledge_url` is set
on warnings: the address the browser's warning page posts its acknowledgement to.
"""

import json
import secrets
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from aiwall.ack.tokens import ACK_PATH
from aiwall.core.card import Card
from aiwall.core.decision import Decision
from aiwall.core.policy import Product, Training
from aiwall.core.rules import Action, Alternative
from aiwall.pages.render import Skeleton, SkeletonCache, render, slot

_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_CSP_NO_CONTENT = "default-src 'none'; frame-ancestors 'none'"
_HTML = "text/html; charset=utf-8"
_JSON = "application/json; charset=utf-8"
_COMMON_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: under no-referrer browsers post the warning's form with
    # `Origin: null`, which the acknowledgement must refuse. Other sites still get nothing.
    ("Referrer-Policy", "same-origin"),
)
_PAGES = SkeletonCache()
_JSON_FIELDS = (
    "vendor",
    "product",
    "host",
    "rule",
    "verdict",
    "alternative",
    "contact",
    "acknowledge_url",
)


@dataclass(frozen=True)
class Page:
    """An answer the proxy gives in place of the vendor's."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def wants_html(headers: Mapping[str, str], *, default: bool = False) -> bool:
    """Whether the client is a browser navigating to a page (else it gets JSON).

    Fetch metadata decides when present: only `Sec-Fetch-Mode: navigate` is a page load.
    Without it: XHR (`X-Requested-With`) is not; `Accept` naming `text/html` (and not putting
    `application/json` first) is; `Accept` naming JSON only is not. A client that states no
    preference (`*/*` or no Accept: curl, scripts) gets `default`.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    mode = lowered.get("sec-fetch-mode")
    if mode is not None:
        return mode.strip().lower() == "navigate"
    if "x-requested-with" in lowered:
        return False
    media = [part.split(";", 1)[0].strip().lower() for part in lowered.get("accept", "").split(",")]
    if "text/html" in media:
        return media[0] != "application/json"
    return default if set(media) <= {"*/*", ""} else False


def block_page(decision: Decision, contact: str) -> Page:
    def make() -> str:
        subject = _subject(decision)
        heading = f"{subject} is blocked by company policy"
        lead = _rule_message(decision) or f"Your organisation does not allow {subject} at work."
        return _render("denial.html", heading, lead, **_denial(decision, contact), warn=False)

    skeleton = _PAGES.get(("block", contact, *_key(decision)), _kept(decision), make)
    return _html(403, skeleton, host=decision.host or "unknown")


def warn_page(decision: Decision, contact: str, *, token: str, host: str) -> Page:
    def make() -> str:
        subject = _subject(decision)
        heading = f"Before you continue to {subject}"
        lead = _rule_message(decision) or (
            f"Your organisation asks you to read what {subject} does with your data"
            " before you use it."
        )
        return _render(
            "denial.html",
            heading,
            lead,
            **_denial(decision, contact),
            warn=True,
            ack_path=ACK_PATH,
            token=slot("token"),
            continue_host=slot("continue_host"),
            require_justification=decision.rule is not None and decision.rule.require_justification,
        )

    skeleton = _PAGES.get(("warn", contact, *_key(decision)), _kept(decision), make)
    return _html(403, skeleton, host=decision.host or "unknown", token=token, continue_host=host)


def denial_json(decision: Decision, contact: str, *, acknowledge_url: str | None = None) -> Page:
    warning = decision.action is Action.WARN
    subject = _subject(decision)
    if decision.vendor is not None and decision.host:
        subject += f" ({decision.host})"
    rule = decision.rule
    if warning:
        sentences = [f"Company policy asks you to acknowledge a warning before using {subject}"]
    else:
        sentences = [f"Company policy blocks {subject}"]
    sentences[0] += f", rule {rule.id}." if rule else " (the default action)."
    if message := _rule_message(decision):
        sentences.append(_sentence(message))
    if alternative := _alternative(decision):
        sentences.append(f"Use {alternative.name} instead ({alternative.url}).")
    if warning:
        sentences.append("To continue, open the site in a browser and acknowledge the warning.")
    vendor, product = decision.vendor, decision.product
    return _json(
        403,
        "permission_error",
        "aiwall_warning" if warning else "aiwall_blocked",
        " ".join(sentences),
        vendor=vendor.id if vendor else None,
        product=f"{vendor.id}/{product.id}" if vendor and product else None,
        host=decision.host,
        rule=rule.id if rule else None,
        verdict=product.verdict if product else None,
        alternative={"name": alternative.name, "url": alternative.url} if alternative else None,
        contact=contact,
        acknowledge_url=acknowledge_url,
    )


def invalid_host_page(reason: str, *, html: bool) -> Page:
    message = _sentence(f"The request was refused because a host name in it is invalid: {reason}")
    if not html:
        return _json(400, "invalid_request_error", "aiwall_invalid_host", message)
    paragraphs = ["Nothing was sent. Check the address for typing mistakes and try again."]
    return _message(400, "This address is not valid", message, paragraphs, None)


def error_page(*, html: bool, contact: str) -> Page:
    message = (
        "The company AI proxy could not check this request because of an internal error,"
        " so it stopped it: nothing was sent."
    )
    if not html:
        return _json(503, "api_error", "aiwall_error", message, contact=contact)
    return _message(
        503,
        "This request could not be checked",
        message,
        ["Try again in a moment."],
        f"If it keeps happening, tell {contact}.",
    )


def ack_refused_page(reason: str, *, html: bool, contact: str) -> Page:
    message = _sentence(f"Your acknowledgement was not accepted: {reason}")
    if not html:
        return _json(403, "permission_error", "aiwall_ack_refused", message, contact=contact)
    paragraph = (
        "Nothing was sent to the site. Go back and reload the page to see the warning again,"
        " then continue from there."
    )
    return _message(
        403,
        "Your acknowledgement was not accepted",
        message,
        [paragraph],
        f"If it keeps happening, tell {contact}.",
    )


def redirect(location: str) -> Page:
    """303 See Other to `location`, which the caller has already checked."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in location):
        raise ValueError(f"redirect location {location!r} contains control characters")
    return _page(303, "text/plain; charset=utf-8", "", _CSP_NO_CONTENT, ("Location", location))


def _denial(decision: Decision, contact: str) -> dict[str, object]:
    """What the block and warn pages both show: what happened, the card, the contact."""
    card = None
    if decision.vendor is not None:
        card = _PageCard(decision.vendor, decision.product or decision.vendor.main_product)
    return {
        "host": slot("host"),
        "rule": decision.rule,
        "reason": decision.reason,
        "card": card,
        "stale": decision.stale,
        "subject": _subject(decision),
        "alternative": _alternative(decision),
        "contact": contact,
    }


class _PageCard(Card):
    """The card with the colour of each badge, as the page shows them."""

    @property
    def pills(self) -> list[tuple[str, str]]:
        return list(zip(self.badges, _badge_tones(self.product), strict=True))


def _badge_tones(product: Product) -> tuple[str, str, str]:
    """Colours for `Card.badges`, in the same order: good for the user's data, bad, or unknown."""
    training = {
        Training.DEFAULT: "bad",
        Training.OPT_IN: "good",
        Training.NEVER: "good",
        Training.UNKNOWN: "unknown",
    }[product.training]
    # No opt-out only hurts when the product trains.
    opt_out = _tone(product.opt_out.available) if training != "good" else "unknown"
    return training, _tone(product.zero_retention), opt_out


def _tone(value: bool | None) -> str:
    return "unknown" if value is None else ("good" if value else "bad")


def _subject(decision: Decision) -> str:
    """Who the page is about: the vendor's name, else the host a rule names."""
    if decision.vendor is not None:
        return decision.vendor.name
    return decision.host or "this site"


def _rule_message(decision: Decision) -> str:
    return decision.rule.message.strip() if decision.rule else ""


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _alternative(decision: Decision) -> Alternative | None:
    return decision.rule.alternative if decision.rule else None


def _key(decision: Decision) -> tuple[Hashable, ...]:
    """What a block or warn page shows of a decision, apart from its host (a slot)."""
    rule = decision.rule
    return id(decision.vendor), id(decision.product), id(rule), decision.reason, decision.stale


def _kept(decision: Decision) -> object:
    """The objects whose ids `_key` holds."""
    return decision.vendor, decision.product, decision.rule


def _message(
    status: int, title: str, lead: str, paragraphs: list[str], contact: str | None
) -> Page:
    """A page that only tells: an invalid address, an internal error, a refused form. Rare,
    so rendered each time."""
    rendered = _render("message.html", title, lead, paragraphs=paragraphs, contact=contact)
    return _html(status, Skeleton.of(rendered))


def _render(template: str, title: str, lead: str, **context: object) -> str:
    return render(template, lang="en", title=title, lead=lead, nonce=slot("nonce"), **context)


def _html(status: int, skeleton: Skeleton, **values: str) -> Page:
    """A page from its skeleton, with a fresh style nonce and this request's values."""
    nonce = secrets.token_urlsafe(18)
    body = skeleton.fill({"nonce": nonce, **values})
    headers = (
        ("Content-Type", _HTML),
        *_COMMON_HEADERS,
        ("Content-Security-Policy", _CSP.format(nonce=nonce)),
    )
    return Page(status, headers, body)


def _json(status: int, error_type: str, code: str, message: str, **fields: object) -> Page:
    error: dict[str, object] = {"type": error_type, "code": code, "message": message}
    error |= {name: fields.get(name) for name in _JSON_FIELDS}
    body = json.dumps({"type": "error", "error": error}, ensure_ascii=False)
    return _page(status, _JSON, body, _CSP_NO_CONTENT)


def _page(status: int, content_type: str, body: str, csp: str, *extra: tuple[str, str]) -> Page:
    headers = (
        ("Content-Type", content_type),
        *_COMMON_HEADERS,
        ("Content-Security-Policy", csp),
        *extra,
    )
    # Lone surrogates cannot be encoded; they become "?" rather than an error page of their own.
    return Page(status, headers, body.encode("utf-8", "replace"))
