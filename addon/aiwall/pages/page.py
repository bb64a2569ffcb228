"""An answer the proxy gives in place of the vendor's, and what it knows of the request."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from aiwall.pages.render import Skeleton

CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
CSP_NO_CONTENT = "default-src 'none'; frame-ancestors 'none'"
_HTML = "text/html; charset=utf-8"
_COMMON_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: under no-referrer browsers post the warning's form with
    # `Origin: null`, which the acknowledgement must refuse. Other sites still get nothing.
    ("Referrer-Policy", "same-origin"),
)


@dataclass(frozen=True)
class Page:
    """An answer the proxy gives in place of the vendor's."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Visit:
    """The request a page answers: what the page says that is not in the decision.

    `reference` is the id of the decision's log event, for the helpdesk; `time` is when it
    was decided (None: now).
    """

    host: str = ""
    url: str = ""
    user: str | None = None
    accept_language: str = ""
    reference: str | None = None
    time: datetime | None = None


def page(status: int, content_type: str, body: str, csp: str, *extra: tuple[str, str]) -> Page:
    headers = (
        ("Content-Type", content_type),
        *_COMMON_HEADERS,
        ("Content-Security-Policy", csp),
        *extra,
    )
    # Lone surrogates cannot be encoded; they become "?" rather than an error page of their own.
    return Page(status, headers, body.encode("utf-8", "replace"))


def html_page(status: int, skeleton: Skeleton, values: dict[str, str]) -> Page:
    """A page from its skeleton, with a fresh style nonce and this request's values."""
    nonce = secrets.token_urlsafe(18)
    body = skeleton.fill({"nonce": nonce, **values})
    headers = (
        ("Content-Type", _HTML),
        *_COMMON_HEADERS,
        ("Content-Security-Policy", CSP.format(nonce=nonce)),
    )
    return Page(status, headers, body)
