"""Redeeming a token: once, with a justification where the rule asks for one, and nothing
recorded when it fails."""

import pytest
from aiwall.ack.errors import JustificationRequired
from aiwall.ack.store import MemoryAckStore
from aiwall.ack.tokens import (
    MAX_JUSTIFICATION_CHARS,
    AckClaim,
    TokenSigner,
    kept_justification,
    redeem,
    visible_characters,
)
from hypothesis import given
from hypothesis import strategies as st

from .conftest import (
    ALICE,
    GOOD_JUSTIFICATION,
    LIFETIME,
    NOW,
    RULE,
    SECRET,
    VENDOR,
    FakeClock,
    issue,
    race,
    reason_of,
    redeemed,
    run,
)


def test_redeem_records_the_acknowledgement_and_returns_the_claim(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    token = issue(signer)

    claim = redeemed(signer, store, token, "")

    assert claim == signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)
    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))
    assert not run(store.is_acknowledged("user:bob", VENDOR, RULE))
    assert not run(store.is_acknowledged(ALICE, "openai", RULE))


def test_replayed_token_is_refused(signer: TokenSigner, store: MemoryAckStore) -> None:
    token = issue(signer)
    redeemed(signer, store, token, "")

    assert reason_of(lambda: redeemed(signer, store, token, "")) == ("replayed")


def test_replay_on_another_instance_sharing_the_store_is_refused(
    wall: FakeClock, store: MemoryAckStore
) -> None:
    first, second = TokenSigner(SECRET, clock=wall), TokenSigner(SECRET, clock=wall)
    token = issue(first)
    redeemed(second, store, token, "")

    assert reason_of(lambda: redeemed(first, store, token, "")) == ("replayed")


def test_nonce_is_spent_once(store: MemoryAckStore) -> None:
    assert run(store.use_nonce("n1", 60)) is True
    assert run(store.use_nonce("n1", 60)) is False
    assert run(store.use_nonce("n2", 60)) is True


def test_nonce_is_remembered_until_its_token_expires_on_every_clock(
    signer: TokenSigner, store: MemoryAckStore, monotonic: FakeClock
) -> None:
    token = issue(signer)
    redeemed(signer, store, token, "")

    # Another instance whose wall clock is a few minutes behind still accepts the token.
    monotonic.now += LIFETIME + 240
    behind = TokenSigner(SECRET, clock=FakeClock(NOW + LIFETIME - 1))
    assert reason_of(lambda: redeemed(behind, store, token, "")) == ("replayed")


def test_failed_redeem_records_nothing_and_spends_nothing(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    token = issue(signer)

    assert reason_of(
        lambda: run(
            redeem(
                signer,
                store,
                token,
                identity="user:bob",
                vendor=VENDOR,
                rule=RULE,
                justification="",
            )
        )
    )
    assert not run(store.is_acknowledged("user:bob", VENDOR, RULE))
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))
    redeemed(signer, store, token, "")
    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


def refused_for_its_justification(
    signer: TokenSigner, store: MemoryAckStore, justification: str
) -> None:
    """A token that asks for a justification is refused with this one, and nothing recorded."""
    token = issue(signer, require_justification=True)

    with pytest.raises(JustificationRequired):
        redeemed(signer, store, token, justification)
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))


@pytest.mark.parametrize(
    "justification",
    ["", "   ", "because", "a b c d e f g h i", "\n\t123456789\t\n", "          x         "],
)
def test_missing_or_short_justification_is_refused_when_required(
    signer: TokenSigner, store: MemoryAckStore, justification: str
) -> None:
    refused_for_its_justification(signer, store, justification)


def test_token_refused_for_its_justification_works_once_it_is_given(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    token = issue(signer, require_justification=True)
    with pytest.raises(JustificationRequired):
        redeemed(signer, store, token, "x")

    redeemed(signer, store, token, GOOD_JUSTIFICATION)

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


@pytest.mark.parametrize("justification", ["0123456789", "  a b c d e f g h i j  ", "é" * 10])
def test_ten_visible_characters_are_a_justification(
    signer: TokenSigner, store: MemoryAckStore, justification: str
) -> None:
    token = issue(signer, require_justification=True)

    redeemed(signer, store, token, justification)

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_justification_is_not_needed_when_the_rule_does_not_ask(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    redeemed(signer, store, issue(signer), "")

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_long_justification_is_accepted_and_truncated(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    long = "  " + "why " * 1000

    redeemed(signer, store, issue(signer, require_justification=True), long)

    kept = kept_justification(long)
    assert len(kept) == MAX_JUSTIFICATION_CHARS
    assert kept == long.strip()[:MAX_JUSTIFICATION_CHARS]


def test_justification_is_checked_on_what_is_kept(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    # Visible characters beyond the kept 1,000 do not count.
    padded = "a" + " " * MAX_JUSTIFICATION_CHARS + "b" * 20
    token = issue(signer, require_justification=True)

    with pytest.raises(JustificationRequired):
        redeemed(signer, store, token, padded)


def test_racing_redeems_of_one_token_succeed_once(signer: TokenSigner) -> None:
    store = MemoryAckStore()
    token = issue(signer)
    outcomes = race(lambda: redeemed(signer, store, token, ""))

    assert sum(isinstance(outcome, AckClaim) for outcome in outcomes) == 1
    assert all(
        isinstance(outcome, AckClaim) or outcome.reason == "replayed" for outcome in outcomes
    )


# Bound to the rule, justifications counted in visible characters


def test_a_token_of_one_rule_does_not_acknowledge_another_rule_of_the_same_vendor(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    lax = issue(signer, rule="warn-eight-hours", ttl_seconds=8 * 3600)

    assert (
        reason_of(lambda: redeemed(signer, store, lax, "", rule="warn-privileged-material"))
        == "issued for another rule"
    )
    redeemed(signer, store, lax, "", rule="warn-eight-hours")
    assert run(store.is_acknowledged(ALICE, VENDOR, "warn-eight-hours"))
    assert not run(store.is_acknowledged(ALICE, VENDOR, "warn-privileged-material"))


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b" * 12,  # zero-width spaces
        "\u200b\u200c\u200d\u2060" * 4,  # zero-width (non-)joiners, word joiner
        "\u202e\u2066\u2069\u202c" * 4,  # bidi overrides and isolates
        "\ufeff" * 12,  # byte order marks
        " \t\u3000\u00a0" * 4,  # spaces of every width
        "ab\u200b\u200bcd\u200b\u200bef",  # six visible characters padded out to ten
    ],
)
def test_a_justification_of_invisible_characters_is_too_short(
    signer: TokenSigner, store: MemoryAckStore, invisible: str
) -> None:
    refused_for_its_justification(signer, store, invisible)


@given(st.text(max_size=40))
def test_visible_characters_never_count_format_or_space_characters(text: str) -> None:
    import unicodedata

    counted = visible_characters(text)
    assert counted == sum(
        1 for c in text if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc")
    )
    assert visible_characters(text + "\u200b\u202e ") == counted
