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
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from aiwall.ack.tokens import ACK_PATH
from aiwall.core.card import Card, card_for
from aiwall.core.decision import Decision
from aiwall.core.policy import Product, Training
from aiwall.core.rules import Action, Alternative

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

_STYLE = """
:root{color-scheme:light dark;--bg:#f4f5f7;--fg:#1b1f24;--muted:#555e69;--panel:#fff;
--line:#dde1e6;--accent:#1a56b8;--on-accent:#fff;--good:#e3f3e8;--on-good:#14532d;
--bad:#fcebea;--on-bad:#8c1d13;--unknown:#eceff3;--on-unknown:#39424d;--note:#fff4d6;
--on-note:#574000}
@media (prefers-color-scheme:dark){:root{--bg:#121417;--fg:#e6e8eb;--muted:#a7afb9;
--panel:#1b1e23;--line:#30353c;--accent:#8ab4ff;--on-accent:#0b1220;--good:#143321;
--on-good:#a6e3b8;--bad:#3b1a17;--on-bad:#ffb3aa;--unknown:#272b31;--on-unknown:#c8ced6;
--note:#33290c;--on-note:#f2d48a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);overflow-wrap:anywhere;
-webkit-text-size-adjust:100%;text-size-adjust:100%;
font:1rem/1.6 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:46rem;margin:0 auto;padding:2.5rem 1.25rem 3rem}
h1{font-size:1.8rem;line-height:1.25;margin:.3rem 0 .8rem}
h2{font-size:1.2rem;line-height:1.3;margin:0 0 .6rem}
h3{font-size:1rem;line-height:1.4;margin:1.4rem 0 .3rem}
p{margin:0 0 .75rem}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.eyebrow{margin:0;color:var(--muted);font-size:.78rem;font-weight:600;letter-spacing:.08em;
text-transform:uppercase}
.lead{font-size:1.125rem}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0 0;
color:var(--muted);font-size:.9rem}
.meta dt{font-weight:600}
.meta dd{margin:0}
section{margin:1.5rem 0;padding:1.25rem 1.5rem;background:var(--panel);
border:1px solid var(--line);border-radius:12px}
section>:first-child{margin-top:0}
.byline{color:var(--muted);font-size:.9rem}
.verdict{font-size:1.1rem}
.pills{display:flex;flex-wrap:wrap;gap:.5rem;margin:0 0 1rem;padding:0;list-style:none}
.pill{padding:.2rem .75rem;border-radius:999px;font-size:.85rem;font-weight:600;
background:var(--unknown);color:var(--on-unknown)}
.pill.good{background:var(--good);color:var(--on-good)}
.pill.bad{background:var(--bad);color:var(--on-bad)}
.facts{margin:1rem 0;border-top:1px solid var(--line)}
.facts div{display:grid;grid-template-columns:12rem 1fr;gap:1rem;padding:.5rem 0;
border-bottom:1px solid var(--line)}
.facts dt{font-weight:600}
.facts dd{margin:0}
.verified,.hint,.contact{color:var(--muted);font-size:.9rem}
.stale{padding:.6rem .9rem;border-radius:8px;background:var(--note);color:var(--on-note)}
.buttons{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.button{display:inline-block;padding:.6rem 1.1rem;border:1px solid var(--accent);
border-radius:8px;background:transparent;color:var(--accent);font:inherit;font-weight:600;
text-decoration:none;cursor:pointer}
.button.primary{background:var(--accent);color:var(--on-accent)}
label{display:block;margin-bottom:.35rem;font-weight:600}
textarea{display:block;width:100%;min-height:6rem;padding:.6rem;border:1px solid var(--muted);
border-radius:8px;background:var(--bg);color:inherit;font:inherit;margin-bottom:.4rem}
.tiers,.sources{padding-left:1.2rem}
.tiers li,.sources li{margin-bottom:.6rem}
.sources{font-size:.9rem}
.origin{margin-top:2rem;color:var(--muted);font-size:.8rem;text-align:center}
@media (max-width:36rem){main{padding:1.5rem 1rem 2rem}h1{font-size:1.45rem}
section{padding:1rem}.facts div,.meta{grid-template-columns:1fr;gap:0 1rem}
.meta dd{margin-bottom:.3rem}}
"""


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
    subject = _subject(decision)
    heading = f"{subject} is blocked by company policy"
    lead = _rule_message(decision) or f"Your organisation does not allow {subject} at work."
    actions = ['<section class="actions">', "<h2>What you can do</h2>"]
    if alternative := _alternative(decision):
        actions += [
            f"<p>The approved alternative is {_e(alternative.name)}.</p>",
            f'<div class="buttons">{_alternative_link(alternative)}</div>',
        ]
    actions += [_contact(f"Questions, or need an exception? Contact {contact}."), "</section>"]
    return _html(403, heading, _denial(decision, heading, lead, "\n".join(actions)))


def warn_page(
    decision: Decision,
    contact: str,
    *,
    token: str,
    host: str,
    address: str | None = None,
    may_continue: bool = True,
) -> Page:
    """The warning with its Continue form; with `may_continue` false, the warning alone (the
    rules want a named user and the proxy does not know who this is). `address`: the client
    is known by its address only, which the page says: the acknowledgement counts for all
    there."""
    subject = _subject(decision)
    heading = f"Before you continue to {subject}"
    lead = _rule_message(decision) or (
        f"Your organisation asks you to read what {subject} does with your data before you use it."
    )
    needs_reason = decision.rule is not None and decision.rule.require_justification
    # The approved tool, when there is one, is the button that stands out.
    alternative = _alternative(decision)
    continue_class = "button" if alternative else "button primary"
    buttons = [f'<button class="{continue_class}" type="submit">Continue to {_e(host)}</button>']
    if alternative:
        buttons.insert(0, _alternative_link(alternative))
    if not may_continue:
        signed_out = [
            '<section class="actions">',
            "<h2>Sign in to continue</h2>",
            "<p>Your organisation records who acknowledged this warning, and this proxy does"
            " not know who you are. Sign in to the proxy (your browser asks when it is set up"
            " for it) and reload this page.</p>",
            _identified_by_address(address),
            f'<div class="buttons">{_alternative_link(alternative)}</div>' if alternative else "",
            _contact(f"Questions? Contact {contact}."),
            "</section>",
        ]
        return _html(403, heading, _denial(decision, heading, lead, "\n".join(signed_out)))
    form = [
        '<section class="actions">',
        f"<h2>{'Continue, or use the approved tool' if alternative else 'Continue'}</h2>",
        _identified_by_address(address),
        f'<form method="post" action="{_e(ACK_PATH)}">',
        f'<input type="hidden" name="token" value="{_e(token)}">',
    ]
    if needs_reason:
        form += [
            f'<label for="justification">Why do you need {_e(subject)} for this?</label>',
            '<textarea id="justification" name="justification" required minlength="10"'
            ' maxlength="1000" rows="4"></textarea>',
            '<p class="hint">Your answer is recorded with your acknowledgement.</p>',
        ]
    else:
        form.append('<p class="hint">Continuing records that you saw this warning.</p>')
    form += [
        f'<div class="buttons">{"".join(buttons)}</div>',
        "</form>",
        _contact(f"Questions? Contact {contact}."),
        "</section>",
    ]
    return _html(403, heading, _denial(decision, heading, lead, "\n".join(form)))


def _identified_by_address(address: str | None) -> str:
    if address is None:
        return ""
    return (
        f'<p class="hint identity">This proxy knows you only by your address, {_e(address)}.'
        " An acknowledgement from this address counts for everyone who uses it (a shared or"
        " remote desktop, a network behind one address).</p>"
    )


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
    body = [
        _header("This address is not valid", message),
        "<p>Nothing was sent. Check the address for typing mistakes and try again.</p>",
    ]
    return _html(400, "This address is not valid", "\n".join(body))


def error_page(*, html: bool, contact: str) -> Page:
    message = (
        "The company AI proxy could not check this request because of an internal error,"
        " so it stopped it: nothing was sent."
    )
    if not html:
        return _json(503, "api_error", "aiwall_error", message, contact=contact)
    body = [
        _header("This request could not be checked", message),
        "<p>Try again in a moment.</p>",
        _contact(f"If it keeps happening, tell {contact}."),
    ]
    return _html(503, "This request could not be checked", "\n".join(body))


def ack_refused_page(reason: str, *, html: bool, contact: str) -> Page:
    message = _sentence(f"Your acknowledgement was not accepted: {reason}")
    if not html:
        return _json(403, "permission_error", "aiwall_ack_refused", message, contact=contact)
    body = [
        _header("Your acknowledgement was not accepted", message),
        "<p>Nothing was sent to the site. Go back and reload the page to see the warning again,"
        " then continue from there.</p>",
        _contact(f"If it keeps happening, tell {contact}."),
    ]
    return _html(403, "Your acknowledgement was not accepted", "\n".join(body))


def redirect(location: str) -> Page:
    """303 See Other to `location`, which the caller has already checked."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in location):
        raise ValueError(f"redirect location {location!r} contains control characters")
    return _page(303, "text/plain; charset=utf-8", "", _CSP_NO_CONTENT, ("Location", location))


def _denial(decision: Decision, heading: str, lead: str, actions: str) -> str:
    """A block or warn page's body: what happened, the card's facts, the actions, the details."""
    rule = decision.rule
    parts = [
        _header(heading, lead),
        '<dl class="meta">',
        f"<dt>Address</dt><dd>{_e(decision.host or 'unknown')}</dd>",
        f"<dt>Rule</dt><dd>{_e(rule.id) if rule else 'none (the default action)'}</dd>",
        f"<dt>Why</dt><dd>{_e(decision.reason)}</dd>",
        "</dl>",
    ]
    if decision.vendor is None:
        return "\n".join([*parts, actions])
    card = card_for(decision.vendor, decision.product)
    return "\n".join(
        [*parts, _card_facts(card, stale=decision.stale), actions, _card_details(card)]
    )


def _header(heading: str, lead: str) -> str:
    return (
        '<p class="eyebrow">Company AI policy</p>\n'
        f"<h1>{_e(heading)}</h1>\n"
        f'<p class="lead">{_e(lead)}</p>'
    )


def _card_facts(card: Card, *, stale: bool) -> str:
    """The top of the card: verdict, badges, the product's facts, when they were verified."""
    name, kind, homepage = card.byline
    product = card.product
    pills = "".join(
        f'<li class="pill {tone}">{_e(badge)}</li>'
        for badge, tone in zip(card.badges, _badge_tones(product), strict=True)
    )
    facts = "\n".join(
        f"<div><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>" for label, value in card.facts()
    )
    parts = [
        '<section class="card">',
        f"<h2>{_e(card.title)}</h2>",
        f'<p class="byline">{_e(name)} · {_e(kind)} · {_link(homepage, "official site")}</p>',
        f'<p class="verdict">{_e(product.name)}: <strong>{_e(product.verdict)}</strong></p>',
        f'<ul class="pills">{pills}</ul>',
        f"<p>{_e(product.summary)}</p>",
        f'<dl class="facts">\n{facts}\n</dl>',
        f'<p class="verified">{_e(card.footer)}</p>',
    ]
    if stale:
        parts.append(
            f'<p class="stale">This record is stale: it was last verified on'
            f" {_e(card.vendor.last_verified)}, longer ago than your organisation allows."
            f" {_e(card.vendor.name)}'s terms may have changed since.</p>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _card_details(card: Card) -> str:
    """The rest of the card: the explanations, the verdict by plan, the sources."""
    parts = ['<section class="card details">']
    for section in card.sections():
        parts.append(f"<h3>{_e(section.title)}</h3>")
        parts.extend(f"<p>{_e(paragraph)}</p>" for paragraph in section.paragraphs)
    parts += ["<h3>Verdict by plan</h3>", '<ul class="tiers">']
    for product in card.vendor.products:
        marker = " (this address)" if product == card.product else ""
        parts.append(
            f"<li><strong>{_e(product.name)}</strong>{marker}: {_e(product.verdict)}."
            f" {_e(product.summary)}</li>"
        )
    parts += ["</ul>", "<h3>Sources</h3>", '<ol class="sources">']
    for source in card.vendor.sources:
        parts.append(
            f"<li>{_link(source.url, source.url)}<br>Supports: {_e(source.supports)}"
            f" (dated {_e(source.date)})</li>"
        )
    parts += ["</ol>", "</section>"]
    return "\n".join(parts)


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


def _alternative_link(alternative: Alternative) -> str:
    return (
        f'<a class="button primary" href="{_e(alternative.url)}" rel="noreferrer noopener">'
        f"Use {_e(alternative.name)} instead</a>"
    )


def _contact(sentence: str) -> str:
    return f'<p class="contact">{_e(sentence)}</p>'


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(text)}</a>'


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _html(status: int, title: str, main: str) -> Page:
    """A complete HTML document around `main` (already escaped), with a fresh style nonce."""
    nonce = secrets.token_urlsafe(18)
    document = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n"
        f'<style nonce="{nonce}">{_STYLE}</style>\n'
        f"</head>\n<body>\n<main>\n{main}\n"
        '<p class="origin">This page comes from your organisation\'s AI proxy (aiwall),'
        " not from the site you asked for.</p>\n"
        "</main>\n</body>\n</html>\n"
    )
    return _page(status, _HTML, document, _CSP.format(nonce=nonce))


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
