"""Acknowledgement tokens and stores: the secret, the clocks, the user and the helpers their
tests share."""

import asyncio
import base64
import json
import string
import threading
from collections.abc import Callable, Coroutine

import pytest
from aiwall.ack.errors import InvalidToken
from aiwall.ack.store import MemoryAckStore
from aiwall.ack.tokens import AckClaim, TokenSigner, redeem

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


def redeemed(
    signer: TokenSigner, store: MemoryAckStore, token: str, justification: str, rule: str = RULE
) -> AckClaim:
    """Alice redeems the token for the vendor, and the rule `issue` names unless told another."""
    return run(
        redeem(
            signer,
            store,
            token,
            identity=ALICE,
            vendor=VENDOR,
            rule=rule,
            justification=justification,
        )
    )


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidToken) as refused:
        call()
    return refused.value.reason


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
