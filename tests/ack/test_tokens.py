"""Acknowledgement tokens: only the token the proxy issued verifies, for its user, vendor and
rule, until it expires."""

import base64

import pytest
from aiwall.ack.errors import InvalidToken
from aiwall.ack.tokens import ACK_PATH, MAX_TOKEN_CHARS, AckClaim, TokenSigner
from hypothesis import given
from hypothesis import strategies as st

from .conftest import (
    ALICE,
    LIFETIME,
    NOW,
    OTHER_SECRET,
    RETURN_URL,
    RULE,
    SECRET,
    TOKEN_ALPHABET,
    VENDOR,
    FakeClock,
    issue,
    payload_of,
    reason_of,
    with_payload,
)


def test_ack_path_is_the_reserved_well_known_path() -> None:
    assert ACK_PATH == "/.well-known/aiwall/ack"


def test_issued_token_verifies_to_the_claim_it_was_issued_with(signer: TokenSigner) -> None:
    token = issue(signer, require_justification=True, ttl_seconds=8 * 3600)

    claim = signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)

    assert claim == AckClaim(
        identity=ALICE,
        vendor=VENDOR,
        rule="warn-deepseek",
        return_url=RETURN_URL,
        require_justification=True,
        ttl_seconds=8 * 3600,
        expires=NOW + LIFETIME,
        nonce=claim.nonce,
    )


def test_token_is_url_safe_payload_dot_signature(signer: TokenSigner) -> None:
    token = issue(signer)

    signature = token.split(".")[1]
    assert set(token) <= set(TOKEN_ALPHABET)
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32
    assert payload_of(token)["return_url"] == RETURN_URL


def test_each_token_has_its_own_nonce(signer: TokenSigner) -> None:
    nonces = {payload_of(issue(signer))["nonce"] for _ in range(100)}

    assert len(nonces) == 100


@pytest.mark.parametrize(
    "forged",
    [
        "",
        ".",
        "a.",
        ".a",
        "a.b",
        "a.b.c",
        "not a token",
        base64.urlsafe_b64encode(b'{"identity":"user:alice"}').decode() + ".AAAA",
        "e30." + "A" * 43,
        "e30." + "A" * 43 + "=",
        "\x00.\x00",
    ],
)
def test_forged_token_is_refused(signer: TokenSigner, forged: str) -> None:
    assert reason_of(lambda: signer.verify(forged, identity=ALICE, vendor=VENDOR, rule=RULE))


def test_token_with_a_random_signature_is_refused(signer: TokenSigner) -> None:
    payload = issue(signer).partition(".")[0]
    forged = payload + "." + base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()

    assert reason_of(lambda: signer.verify(forged, identity=ALICE, vendor=VENDOR, rule=RULE)) == (
        "bad signature"
    )


def flip(token: str, index: int) -> str:
    replacement = "B" if token[index] == "A" else "A"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("where", ["payload start", "payload end", "signature start", "last"])
def test_token_with_one_character_flipped_is_refused(signer: TokenSigner, where: str) -> None:
    token = issue(signer)
    dot = token.index(".")
    index = {
        "payload start": 0,
        "payload end": dot - 1,
        "signature start": dot + 1,
        "last": len(token) - 1,
    }[where]

    assert reason_of(
        lambda: signer.verify(flip(token, index), identity=ALICE, vendor=VENDOR, rule=RULE)
    ) == ("bad signature")


def test_every_single_character_substitution_is_refused(signer: TokenSigner) -> None:
    token = issue(signer)

    for index, original in enumerate(token):
        for replacement in TOKEN_ALPHABET.replace(original, ""):
            mutated = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(InvalidToken):
                signer.verify(mutated, identity=ALICE, vendor=VENDOR, rule=RULE)


def test_payloads_swapped_between_two_tokens_are_refused(signer: TokenSigner) -> None:
    alice = issue(signer)
    bob = issue(signer, identity="user:bob")
    alice_payload, alice_signature = alice.split(".")
    bob_payload, bob_signature = bob.split(".")

    assert reason_of(
        lambda: signer.verify(
            f"{bob_payload}.{alice_signature}", identity="user:bob", vendor=VENDOR, rule=RULE
        )
    ) == ("bad signature")
    assert reason_of(
        lambda: signer.verify(
            f"{alice_payload}.{bob_signature}", identity=ALICE, vendor=VENDOR, rule=RULE
        )
    ) == ("bad signature")


@pytest.mark.parametrize(
    "change",
    [
        {"identity": "user:mallory"},
        {"vendor": "openai"},
        {"return_url": "https://evil.example/"},
        {"require_justification": True},
        {"ttl_seconds": 10**9},
        {"expires": NOW + 10**9},
        {"nonce": "fresh"},
    ],
)
def test_token_with_an_edited_claim_is_refused(
    signer: TokenSigner, change: dict[str, object]
) -> None:
    token = issue(signer)
    edited = with_payload(token, payload_of(token) | change)

    assert reason_of(lambda: signer.verify(edited, identity=ALICE, vendor=VENDOR, rule=RULE)) == (
        "bad signature"
    )


def test_token_from_a_signer_with_another_secret_is_refused(wall: FakeClock) -> None:
    token = issue(TokenSigner(OTHER_SECRET, clock=wall))

    assert reason_of(
        lambda: TokenSigner(SECRET, clock=wall).verify(
            token, identity=ALICE, vendor=VENDOR, rule=RULE
        )
    ) == ("bad signature")


def test_random_secrets_differ_between_signers() -> None:
    token = issue(TokenSigner.with_random_secret())

    assert reason_of(
        lambda: TokenSigner.with_random_secret().verify(
            token, identity=ALICE, vendor=VENDOR, rule=RULE
        )
    ) == ("bad signature")


def test_token_verifies_on_another_instance_with_the_same_secret(wall: FakeClock) -> None:
    token = issue(TokenSigner(SECRET, clock=wall))

    claim = TokenSigner(SECRET, clock=wall).verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)

    assert claim.return_url == RETURN_URL


def test_token_is_accepted_until_it_expires(signer: TokenSigner, wall: FakeClock) -> None:
    token = issue(signer)

    wall.now = NOW + LIFETIME - 0.001
    assert signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE).expires == NOW + LIFETIME
    wall.now = NOW + LIFETIME
    assert (
        reason_of(lambda: signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE))
        == "expired"
    )


def test_token_issued_to_another_user_is_refused(signer: TokenSigner) -> None:
    token = issue(signer, identity="user:bob")

    assert reason_of(lambda: signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)) == (
        "issued to another identity"
    )


def test_token_issued_to_an_ip_is_refused_for_a_user_with_that_ip(signer: TokenSigner) -> None:
    token = issue(signer, identity="ip:10.0.0.7")

    assert reason_of(
        lambda: signer.verify(token, identity="user:10.0.0.7", vendor=VENDOR, rule=RULE)
    )


def test_token_for_another_vendor_is_refused(signer: TokenSigner) -> None:
    token = issue(signer, vendor="openai")

    assert reason_of(lambda: signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)) == (
        "issued for another vendor"
    )


def test_token_over_4_kb_is_refused_before_decoding(signer: TokenSigner) -> None:
    token = issue(signer)
    padded = token + "A" * (MAX_TOKEN_CHARS + 1 - len(token))

    assert (
        reason_of(lambda: signer.verify(padded, identity=ALICE, vendor=VENDOR, rule=RULE))
        == "too long"
    )


def test_return_url_too_long_for_a_token_is_refused_at_issue(signer: TokenSigner) -> None:
    with pytest.raises(ValueError, match="longer than 4096"):
        issue(signer, return_url="https://chat.deepseek.com/?q=" + "x" * MAX_TOKEN_CHARS)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"secret": b"short"}, "at least 32"),
        ({"secret": SECRET, "lifetime_seconds": 0}, "lifetime must be positive"),
    ],
)
def test_signer_refuses_a_weak_secret_or_no_lifetime(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TokenSigner(**arguments)  # type: ignore[arg-type]


def test_issue_refuses_an_acknowledgement_without_ttl(signer: TokenSigner) -> None:
    with pytest.raises(ValueError, match="TTL must be positive"):
        issue(signer, ttl_seconds=0)


# Properties


PROPERTY_SIGNER = TokenSigner(SECRET, LIFETIME, clock=lambda: NOW)
PROPERTY_TOKEN = issue(PROPERTY_SIGNER)
PROPERTY_CLAIM = PROPERTY_SIGNER.verify(PROPERTY_TOKEN, identity=ALICE, vendor=VENDOR, rule=RULE)
token_characters = st.one_of(st.sampled_from(TOKEN_ALPHABET + "="), st.characters())


@given(
    index=st.integers(0, len(PROPERTY_TOKEN)),
    replaced=st.integers(0, 4),
    inserted=st.text(token_characters, max_size=8),
)
def test_mutated_token_is_refused_or_yields_exactly_the_original_claim(
    index: int, replaced: int, inserted: str
) -> None:
    mutated = PROPERTY_TOKEN[:index] + inserted + PROPERTY_TOKEN[index + replaced :]

    try:
        claim = PROPERTY_SIGNER.verify(mutated, identity=ALICE, vendor=VENDOR, rule=RULE)
    except InvalidToken:
        return
    assert mutated == PROPERTY_TOKEN
    assert claim == PROPERTY_CLAIM


@given(
    st.one_of(
        st.text(),
        st.binary().map(lambda raw: raw.decode("latin-1")),
        st.text(TOKEN_ALPHABET + "="),
        st.from_regex(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", fullmatch=True),
        st.text(min_size=MAX_TOKEN_CHARS - 2, max_size=MAX_TOKEN_CHARS + 2),
    )
)
def test_verify_raises_only_invalid_token_for_any_text(text: str) -> None:
    with pytest.raises(InvalidToken):
        PROPERTY_SIGNER.verify(text, identity=ALICE, vendor=VENDOR, rule=RULE)
