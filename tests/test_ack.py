"""Acknowledgement tokens and stores: only the token the proxy issued, once, for its user."""

import asyncio
import base64
import dataclasses
import inspect
import json
import string
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator

import pytest
from aiwall.ack.errors import AckError, InvalidToken, JustificationRequired, StoreUnavailable
from aiwall.ack.store import MemoryAckStore
from aiwall.ack.tokens import (
    ACK_PATH,
    MAX_JUSTIFICATION_CHARS,
    MAX_TOKEN_CHARS,
    AckClaim,
    TokenSigner,
    kept_justification,
    redeem,
    visible_characters,
)
from hypothesis import given
from hypothesis import strategies as st

SECRET = b"a secret shared by all instances"
OTHER_SECRET = b"the secret of some other proxy.."
NOW = 1_800_000_000.0
LIFETIME = 900
ALICE = "user:alice"
VENDOR = "deepseek"
RULE = "warn-deepseek"
RETURN_URL = "https://chat.deepseek.com/a/chat/s/42?mode=r1#latest"
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_."
GOOD_JUSTIFICATION = "Translating a public press release"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def signer(wall: FakeClock) -> TokenSigner:
    return TokenSigner(SECRET, LIFETIME, clock=wall)


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def store(monotonic: FakeClock) -> MemoryAckStore:
    return MemoryAckStore(clock=monotonic)


def issue(signer: TokenSigner, **overrides: object) -> str:
    fields: dict[str, object] = {
        "identity": ALICE,
        "vendor": VENDOR,
        "rule": "warn-deepseek",
        "return_url": RETURN_URL,
        "require_justification": False,
        "ttl_seconds": 3600,
    }
    fields.update(overrides)
    return signer.issue(**fields)  # type: ignore[arg-type]


def payload_of(token: str) -> dict[str, object]:
    payload = token.partition(".")[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


def with_payload(token: str, fields: dict[str, object]) -> str:
    """The token with its payload replaced and its signature kept."""
    text = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
    payload = base64.urlsafe_b64encode(text).rstrip(b"=").decode()
    return f"{payload}.{token.partition('.')[2]}"


def run[T](awaitable: Coroutine[object, object, T]) -> T:
    return asyncio.run(awaitable)


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidToken) as refused:
        call()
    return refused.value.reason


def test_ack_path_is_the_reserved_well_known_path() -> None:
    assert ACK_PATH == "/.well-known/aiwall/ack"


# Issuing and verifying


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


# Return URLs


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

    claim = run(
        redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="")
    )

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

    assert reason_of(
        lambda: run(
            redeem(
                signer, store, edited, identity=ALICE, vendor=VENDOR, rule=RULE, justification=""
            )
        )
    )
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


# Redeeming: single use, justification, nothing recorded on failure


def test_redeem_records_the_acknowledgement_and_returns_the_claim(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    token = issue(signer)

    claim = run(
        redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="")
    )

    assert claim == signer.verify(token, identity=ALICE, vendor=VENDOR, rule=RULE)
    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))
    assert not run(store.is_acknowledged("user:bob", VENDOR, RULE))
    assert not run(store.is_acknowledged(ALICE, "openai", RULE))


def test_replayed_token_is_refused(signer: TokenSigner, store: MemoryAckStore) -> None:
    token = issue(signer)
    run(redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification=""))

    assert reason_of(
        lambda: run(
            redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="")
        )
    ) == ("replayed")


def test_replay_on_another_instance_sharing_the_store_is_refused(
    wall: FakeClock, store: MemoryAckStore
) -> None:
    first, second = TokenSigner(SECRET, clock=wall), TokenSigner(SECRET, clock=wall)
    token = issue(first)
    run(redeem(second, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification=""))

    assert reason_of(
        lambda: run(
            redeem(first, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="")
        )
    ) == ("replayed")


def test_nonce_is_spent_once(store: MemoryAckStore) -> None:
    assert run(store.use_nonce("n1", 60)) is True
    assert run(store.use_nonce("n1", 60)) is False
    assert run(store.use_nonce("n2", 60)) is True


def test_nonce_is_remembered_until_its_token_expires_on_every_clock(
    signer: TokenSigner, store: MemoryAckStore, monotonic: FakeClock
) -> None:
    token = issue(signer)
    run(redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification=""))

    # Another instance whose wall clock is a few minutes behind still accepts the token.
    monotonic.now += LIFETIME + 240
    behind = TokenSigner(SECRET, clock=FakeClock(NOW + LIFETIME - 1))
    assert reason_of(
        lambda: run(
            redeem(behind, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="")
        )
    ) == ("replayed")


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
    run(redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification=""))
    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


@pytest.mark.parametrize(
    "justification",
    ["", "   ", "because", "a b c d e f g h i", "\n\t123456789\t\n", "          x         "],
)
def test_missing_or_short_justification_is_refused_when_required(
    signer: TokenSigner, store: MemoryAckStore, justification: str
) -> None:
    token = issue(signer, require_justification=True)

    with pytest.raises(JustificationRequired):
        run(
            redeem(
                signer,
                store,
                token,
                identity=ALICE,
                vendor=VENDOR,
                rule=RULE,
                justification=justification,
            )
        )
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_token_refused_for_its_justification_works_once_it_is_given(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    token = issue(signer, require_justification=True)
    with pytest.raises(JustificationRequired):
        run(
            redeem(
                signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="x"
            )
        )

    run(
        redeem(
            signer,
            store,
            token,
            identity=ALICE,
            vendor=VENDOR,
            rule=RULE,
            justification=GOOD_JUSTIFICATION,
        )
    )

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


@pytest.mark.parametrize("justification", ["0123456789", "  a b c d e f g h i j  ", "é" * 10])
def test_ten_visible_characters_are_a_justification(
    signer: TokenSigner, store: MemoryAckStore, justification: str
) -> None:
    token = issue(signer, require_justification=True)

    run(
        redeem(
            signer,
            store,
            token,
            identity=ALICE,
            vendor=VENDOR,
            rule=RULE,
            justification=justification,
        )
    )

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_justification_is_not_needed_when_the_rule_does_not_ask(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    run(
        redeem(
            signer, store, issue(signer), identity=ALICE, vendor=VENDOR, rule=RULE, justification=""
        )
    )

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_long_justification_is_accepted_and_truncated(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    long = "  " + "why " * 1000

    run(
        redeem(
            signer,
            store,
            issue(signer, require_justification=True),
            identity=ALICE,
            vendor=VENDOR,
            rule=RULE,
            justification=long,
        )
    )

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
        run(
            redeem(
                signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification=padded
            )
        )


def test_racing_redeems_of_one_token_succeed_once(signer: TokenSigner) -> None:
    store = MemoryAckStore()
    token = issue(signer)
    outcomes = race(
        lambda: run(
            redeem(signer, store, token, identity=ALICE, vendor=VENDOR, rule=RULE, justification="")
        )
    )

    assert sum(isinstance(outcome, AckClaim) for outcome in outcomes) == 1
    assert all(
        isinstance(outcome, AckClaim) or outcome.reason == "replayed" for outcome in outcomes
    )


# Stores: TTL, bounds, threads


def test_acknowledgement_expires_after_its_ttl(store: MemoryAckStore, monotonic: FakeClock) -> None:
    run(store.acknowledge(ALICE, VENDOR, RULE, 3600))

    monotonic.now += 3599
    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))
    monotonic.now += 1
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))
    assert len(store) == 0


def test_redeemed_acknowledgement_lasts_the_rule_ttl(
    signer: TokenSigner, store: MemoryAckStore, monotonic: FakeClock
) -> None:
    run(
        redeem(
            signer,
            store,
            issue(signer, ttl_seconds=600),
            identity=ALICE,
            vendor=VENDOR,
            rule=RULE,
            justification="",
        )
    )

    monotonic.now += 599
    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))
    monotonic.now += 1
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))


def test_acknowledging_again_restarts_the_ttl(store: MemoryAckStore, monotonic: FakeClock) -> None:
    run(store.acknowledge(ALICE, VENDOR, RULE, 100))
    monotonic.now += 90
    run(store.acknowledge(ALICE, VENDOR, RULE, 100))
    monotonic.now += 90

    assert run(store.is_acknowledged(ALICE, VENDOR, RULE))
    assert len(store) == 1


def test_spent_nonce_is_forgotten_after_its_ttl(
    store: MemoryAckStore, monotonic: FakeClock
) -> None:
    run(store.use_nonce("n", 60))
    monotonic.now += 60

    assert run(store.use_nonce("n", 60)) is True


def test_store_holds_at_most_max_entries_acknowledgements(monotonic: FakeClock) -> None:
    store = MemoryAckStore(max_entries=100, clock=monotonic)

    for number in range(150):
        run(store.acknowledge(f"user:{number}", VENDOR, RULE, 3600))

    assert len(store) == 100
    assert not run(store.is_acknowledged("user:49", VENDOR, RULE))
    assert all(
        run(store.is_acknowledged(f"user:{number}", VENDOR, RULE)) for number in range(50, 150)
    )


NAMES_BY_AGE = ["oldest", "short", "third", "fourth", "fifth"]


def test_full_store_evicts_expired_before_oldest(monotonic: FakeClock) -> None:
    store = MemoryAckStore(max_entries=3, clock=monotonic)
    run(store.acknowledge("user:oldest", VENDOR, RULE, 1000))
    run(store.acknowledge("user:short", VENDOR, RULE, 10))
    run(store.acknowledge("user:third", VENDOR, RULE, 1000))
    monotonic.now += 20

    run(store.acknowledge("user:fourth", VENDOR, RULE, 1000))
    assert run(store.is_acknowledged("user:oldest", VENDOR, RULE))
    assert len(store) == 3

    run(store.acknowledge("user:fifth", VENDOR, RULE, 1000))
    held = [run(store.is_acknowledged(f"user:{name}", VENDOR, RULE)) for name in NAMES_BY_AGE]
    assert held == [False, False, True, True, True]


def test_store_holds_at_most_max_entries_nonces(monotonic: FakeClock) -> None:
    store = MemoryAckStore(max_entries=100, clock=monotonic)

    for number in range(250):
        monotonic.now += 1
        assert run(store.use_nonce(f"n{number}", 10_000))

    assert len(store._spent_nonces) == 100
    assert len(store) == 0


def test_nonce_evicted_before_it_expires_cannot_be_replayed(monotonic: FakeClock) -> None:
    store = MemoryAckStore(max_entries=2, clock=monotonic)
    run(store.use_nonce("first", 100))
    run(store.use_nonce("second", 100))
    monotonic.now += 5
    run(store.use_nonce("third", 100))  # evicts "first", which would live until 1100

    assert run(store.use_nonce("first", 95)) is False
    assert run(store.use_nonce("first", 96)) is False
    monotonic.now += 5
    assert run(store.use_nonce("fourth", 100)) is True


def test_refreshing_one_acknowledgement_keeps_memory_bounded(monotonic: FakeClock) -> None:
    small = MemoryAckStore(max_entries=4, clock=monotonic)

    for _ in range(1000):
        run(small.acknowledge(ALICE, VENDOR, RULE, 3600))

    assert len(small._acknowledgements._soonest) <= 2 * 4 + 1
    assert run(small.is_acknowledged(ALICE, VENDOR, RULE))


def test_store_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        MemoryAckStore(max_entries=0)


@pytest.fixture
def eager_thread_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def race[T](call: Callable[[], T], threads: int = 8) -> list[T | InvalidToken]:
    """Run `call` in `threads` threads released at once; each outcome or InvalidToken."""
    start = threading.Barrier(threads)
    outcomes: list[T | InvalidToken] = []

    def run() -> None:
        start.wait()
        try:
            outcomes.append(call())
        except InvalidToken as refused:
            outcomes.append(refused)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


@pytest.mark.usefixtures("eager_thread_switching")
def test_racing_threads_spend_a_nonce_exactly_once(monotonic: FakeClock) -> None:
    store = MemoryAckStore(clock=monotonic)

    for round_number in range(20):
        # A thousand nonces expire just before the race: the first thread to spend drops them,
        # which gives the others time to slip in if spending were not atomic.
        for filler in range(1000):
            run(store.use_nonce(f"filler {round_number} {filler}", 1))
        monotonic.now += 2
        nonce = f"raced {round_number}"
        outcomes = race(lambda nonce=nonce: run(store.use_nonce(nonce, 60)))
        assert sorted(outcomes, key=bool) == [False] * 7 + [True]


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


# Bound to the rule, counted in visible characters, one error hierarchy


def test_a_token_of_one_rule_does_not_acknowledge_another_rule_of_the_same_vendor(
    signer: TokenSigner, store: MemoryAckStore
) -> None:
    lax = issue(signer, rule="warn-eight-hours", ttl_seconds=8 * 3600)

    assert (
        reason_of(
            lambda: run(
                redeem(
                    signer,
                    store,
                    lax,
                    identity=ALICE,
                    vendor=VENDOR,
                    rule="warn-privileged-material",
                    justification="",
                )
            )
        )
        == "issued for another rule"
    )
    run(
        redeem(
            signer,
            store,
            lax,
            identity=ALICE,
            vendor=VENDOR,
            rule="warn-eight-hours",
            justification="",
        )
    )
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
    token = issue(signer, require_justification=True)

    with pytest.raises(JustificationRequired):
        run(
            redeem(
                signer,
                store,
                token,
                identity=ALICE,
                vendor=VENDOR,
                rule=RULE,
                justification=invisible,
            )
        )
    assert not run(store.is_acknowledged(ALICE, VENDOR, RULE))


@given(st.text(max_size=40))
def test_visible_characters_never_count_format_or_space_characters(text: str) -> None:
    import unicodedata

    counted = visible_characters(text)
    assert counted == sum(
        1 for c in text if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc")
    )
    assert visible_characters(text + "\u200b\u202e ") == counted


def test_a_store_outage_is_not_an_invalid_token() -> None:
    assert issubclass(StoreUnavailable, AckError)
    assert not issubclass(StoreUnavailable, InvalidToken)
    assert StoreUnavailable().reason == "acknowledgement store unavailable"
