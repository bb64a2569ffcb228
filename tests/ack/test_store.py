"""Acknowledgement stores: TTLs, bounded memory, nonces spent once across threads, and an
outage that is no invalid token."""

import sys
from collections.abc import Iterator

import pytest
from aiwall.ack.errors import AckError, InvalidToken, StoreUnavailable
from aiwall.ack.store import MemoryAckStore
from aiwall.ack.tokens import TokenSigner

from .conftest import ALICE, RULE, VENDOR, FakeClock, issue, race, redeemed, run


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
    redeemed(signer, store, issue(signer, ttl_seconds=600), "")

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


def test_a_store_outage_is_not_an_invalid_token() -> None:
    assert issubclass(StoreUnavailable, AckError)
    assert not issubclass(StoreUnavailable, InvalidToken)
    assert StoreUnavailable().reason == "acknowledgement store unavailable"
