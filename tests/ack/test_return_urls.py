"""The return URL a token carries: absolute http(s) only, bound to the token, never taken from
the request."""

import dataclasses
import inspect

import pytest
from aiwall.ack.store import MemoryAckStore
from aiwall.ack.tokens import TokenSigner, redeem

from .conftest import ALICE, RULE, VENDOR, issue, payload_of, reason_of, redeemed, run, with_payload


@pytest.mark.parametrize(
    "url",
    [
        "//evil.com",
        "/\\evil.com",
        "javascript:alert(1)",
        "JavaScript:alert(1)//https://chat.deepseek.com/",
        "data:text/html,<script>alert(1)</script>",
        "/relative/path",
        "relative",
        "evil.com",
        "",
        "https://",
        "https:///evil.com",
        "https:/\\evil.com",
        "https:\\\\evil.com",
        "https:evil.com",
        "https://chat.deepseek.com\\@evil.com",
        "https://chat.deepseek.com@evil.com/",
        "ftp://chat.deepseek.com/",
        " https://chat.deepseek.com/",
        "https://chat.deepseek.com/\r\nSet-Cookie: a=b",
        "ht\ttps://chat.deepseek.com/",
        "https://chat.deepseek.com:99999/",
        "https://chat.deepseek.com:port/",
        "https://[::1/",
        "https://chat.deepseek.com/\u2028",
    ],
)
def test_return_url_that_is_not_absolute_http_is_refused_at_issue(
    signer: TokenSigner, url: str
) -> None:
    with pytest.raises(ValueError, match="not an absolute http"):
        issue(signer, return_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://chat.deepseek.com",
        "http://chat.deepseek.com:8080/path?q=1#frag",
        "HTTPS://CHAT.DEEPSEEK.COM/",
        "https://[2001:db8::1]:443/",
        "https://10.0.0.7/",
        "https://chat.deepseek.com/redirect?to=https://evil.com/",
    ],
)
def test_absolute_http_return_url_is_accepted(signer: TokenSigner, url: str) -> None:
    claim = signer.verify(issue(signer, return_url=url), identity=ALICE, vendor=VENDOR, rule=RULE)

    assert claim.return_url == url


def test_look_alike_return_url_is_bound_to_the_token(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    # The proxy issues whatever URL the user was going to; the form cannot replace it.
    look_alike = "https://chat.deepseek.com.evil.com/"
    token = issue(signer, return_url=look_alike)

    claim = redeemed(signer, store, token, "")

    assert claim.return_url == look_alike


def test_redeem_takes_no_url_from_the_request() -> None:
    parameters = set(inspect.signature(redeem).parameters)

    assert parameters == {
        "signer",
        "store",
        "token",
        "identity",
        "vendor",
        "rule",
        "justification",
    }


def test_token_with_its_return_url_edited_is_refused(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    token = issue(signer)
    edited = with_payload(token, payload_of(token) | {"return_url": "https://evil.com/"})

    assert reason_of(lambda: redeemed(signer, store, edited, ""))
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_signed_token_with_an_unsafe_return_url_is_still_refused(signer: TokenSigner) -> None:
    # Defence in depth: should an unsafe URL ever be signed, it never becomes a redirect.
    claim = signer.verify(issue(signer), identity=ALICE, vendor=VENDOR, rule=RULE)
    fields = {**dataclasses.asdict(claim), "return_url": "//evil.com"}
    token = signer._seal(fields)

    assert reason_of(lambda: signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)) == (
        "return URL is not an absolute http(s) URL"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"ttl_seconds": True},
        {"ttl_seconds": 0},
        {"ttl_seconds": "3600"},
        {"expires": 1_900_000_000},
        {"require_justification": 1},
        {"identity": None},
        {"unexpected": "field"},
    ],
)
def test_signed_payload_of_the_wrong_shape_is_refused(
    signer: TokenSigner, change: dict[str, object]
) -> None:
    claim = signer.verify(issue(signer), identity=ALICE, vendor=VENDOR, rule=RULE)
    token = signer._seal({**dataclasses.asdict(claim), **change})

    assert (
        reason_of(lambda: signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE))
        == "malformed"
    )


@pytest.mark.parametrize("fields", [[], "text", {}])
def test_signed_payload_that_is_no_claim_is_refused(signer: TokenSigner, fields: object) -> None:
    token = signer._seal(fields)  # type: ignore[arg-type]

    assert (
        reason_of(lambda: signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE))
        == "malformed"
    )
