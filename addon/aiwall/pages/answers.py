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

`message` is a short explanation for people: what happened (in English), the rule's message
and the approved alternative (in the reader's language from `Accept-Language`, when the rule
gives one). `host` is the normalised name (A-labels for IDN). `acknowledge_url` is set
on warnings: the address the browser's warning page posts its acknowledgement to.
"""

import json
from collections.abc import Mapping

from aiwall.core.decision import Decision
from aiwall.core.rules import Action, Settings, in_language
from aiwall.pages.html import FormError, block_page, message_page, warn_page
from aiwall.pages.language import negotiate
from aiwall.pages.page import CSP_NO_CONTENT, Page, Visit, page

__all__ = [
    "FormError",
    "Page",
    "Visit",
    "ack_refused_page",
    "block_page",
    "denial_json",
    "error_page",
    "invalid_host_page",
    "redirect",
    "wants_html",
    "warn_page",
]

_JSON = "application/json; charset=utf-8"
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
_DEFAULT_SETTINGS = Settings()


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


def denial_json(
    decision: Decision,
    settings: Settings,
    visit: Visit | None = None,
    *,
    acknowledge_url: str | None = None,
) -> Page:
    language = negotiate(visit.accept_language if visit else "")
    warning = decision.action is Action.WARN
    subject = decision.vendor.name if decision.vendor else (decision.host or "this site")
    if decision.vendor is not None and decision.host:
        subject += f" ({decision.host})"
    rule = decision.rule
    if warning:
        sentences = [f"Company policy asks you to acknowledge a warning before using {subject}"]
    else:
        sentences = [f"Company policy blocks {subject}"]
    sentences[0] += f", rule {rule.id}." if rule else " (the default action)."
    if rule and (message := in_language(rule.message, language).strip()):
        sentences.append(_sentence(message))
    alternative = rule.alternative if rule else None
    name = in_language(alternative.name, language) if alternative else None
    if alternative:
        sentences.append(f"Use {name} instead ({alternative.url}).")
    if warning:
        sentences.append("To continue, open the site in a browser and acknowledge the warning.")
    vendor, product = decision.vendor, decision.product
    return _json(
        403,
        "permission_error",
        "aiwall_warning" if warning else "aiwall_blocked",
        " ".join(sentences),
        vendor=vendor.id if vendor else None,
        product=decision.product_ref,
        host=decision.host,
        rule=rule.id if rule else None,
        verdict=product.verdict if product else None,
        alternative={"name": name, "url": alternative.url} if alternative else None,
        contact=settings.contact,
        acknowledge_url=acknowledge_url,
    )


def invalid_host_page(
    reason: str, *, html: bool, settings: Settings | None = None, visit: Visit | None = None
) -> Page:
    message = _sentence(f"The request was refused because a host name in it is invalid: {reason}")
    if not html:
        return _json(400, "invalid_request_error", "aiwall_invalid_host", message)
    return message_page(
        400,
        settings or _DEFAULT_SETTINGS,
        visit or Visit(),
        lambda t: t.gettext("This address is not valid"),
        reason,
        lambda t: [
            t.gettext("Nothing was sent. Check the address for typing mistakes and try again.")
        ],
    )


def error_page(*, html: bool, settings: Settings | None = None, visit: Visit | None = None) -> Page:
    settings = settings or _DEFAULT_SETTINGS
    message = (
        "The company AI proxy could not check this request because of an internal error,"
        " so it stopped it: nothing was sent."
    )
    if not html:
        return _json(503, "api_error", "aiwall_error", message, contact=settings.contact)
    return message_page(
        503,
        settings,
        visit or Visit(),
        lambda t: t.gettext("This request could not be checked"),
        "",
        lambda t: [
            t.gettext(
                "The company AI proxy could not check this request because of an internal error,"
                " so it stopped it: nothing was sent."
            ),
            t.gettext("Try again in a moment."),
        ],
    )


def ack_refused_page(
    reason: str, *, html: bool, settings: Settings | None = None, visit: Visit | None = None
) -> Page:
    settings = settings or _DEFAULT_SETTINGS
    message = _sentence(f"Your acknowledgement was not accepted: {reason}")
    if not html:
        return _json(
            403, "permission_error", "aiwall_ack_refused", message, contact=settings.contact
        )
    return message_page(
        403,
        settings,
        visit or Visit(),
        lambda t: t.gettext("Your acknowledgement was not accepted"),
        reason,
        lambda t: [
            t.gettext(
                "Nothing was sent to the site. Go back and reload the page to see the warning"
                " again, then continue from there."
            )
        ],
    )


def redirect(location: str) -> Page:
    """303 See Other to `location`, which the caller has already checked."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in location):
        raise ValueError(f"redirect location {location!r} contains control characters")
    return page(303, "text/plain; charset=utf-8", "", CSP_NO_CONTENT, ("Location", location))


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _json(status: int, error_type: str, code: str, message: str, **fields: object) -> Page:
    error: dict[str, object] = {"type": error_type, "code": code, "message": message}
    error |= {name: fields.get(name) for name in _JSON_FIELDS}
    body = json.dumps({"type": "error", "error": error}, ensure_ascii=False)
    return page(status, _JSON, body, CSP_NO_CONTENT)
