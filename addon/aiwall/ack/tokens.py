"""Acknowledgements of warnings: signed single-use tokens and the stores that remember them."""

import base64
import dataclasses
import hashlib
import heapq
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

ACK_PATH = "/.well-known/aiwall/ack"

MAX_TOKEN_CHARS = 4096
MIN_JUSTIFICATION_CHARS = 10
MAX_JUSTIFICATION_CHARS = 1000
_MIN_SECRET_BYTES = 32
_NONCE_BYTES = 16
# Prefixed to every signed payload, so that a value signed with the same secret for another
# purpose (a cookie, a later token format) is never accepted as this token.
_MAC_CONTEXT = b"aiwall.ack.v1\n"
_TOKEN = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
# Printable ASCII except `\`: browsers read `\` as `/` in http(s) URLs and drop tabs and
# newlines, so such a URL may not go where it seems to; and a Location header takes ASCII.
_URL_CHARACTERS = re.compile(r"[!-\[\]-~]+")
# Every instance compares expiry with its own wall clock: a spent nonce is kept this much
# longer than its token lives, so an instance whose clock is behind cannot accept a replay.
_CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class AckClaim:
    """What a token says: who may acknowledge which vendor's warning, and where to go next."""

    identity: str
    vendor: str
    rule: str
    return_url: str
    require_justification: bool
    ttl_seconds: int
    expires: float
    nonce: str


_CLAIM_FIELD_COUNT = len(dataclasses.fields(AckClaim))


class InvalidToken(ValueError):
    """A token that was refused; `reason` says why (malformed, expired, replayed...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JustificationRequired(InvalidToken):
    """The token is good but the rule wants a justification and the one given is too short.

    The nonce is not spent: the page can ask again and post the same token.
    """


class TokenSigner:
    """Issues and verifies acknowledgement tokens: a JSON claim and its HMAC-SHA256.

    Tokens carry all their state, so every instance holding the same secret verifies them;
    single use is the store's job (see `redeem`).
    """

    def __init__(
        self, secret: bytes, lifetime_seconds: int = 900, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(
                f"token secret has {len(secret)} bytes; it needs at least {_MIN_SECRET_BYTES}"
            )
        if lifetime_seconds <= 0:
            raise ValueError(f"token lifetime must be positive, not {lifetime_seconds!r}")
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds
        self.clock = clock

    @classmethod
    def with_random_secret(
        cls, lifetime_seconds: int = 900, clock: Callable[[], float] = time.time
    ) -> "TokenSigner":
        """A signer for a single instance: its tokens die with it."""
        return cls(secrets.token_bytes(_MIN_SECRET_BYTES), lifetime_seconds, clock)

    def issue(
        self,
        *,
        identity: str,
        vendor: str,
        rule: str,
        return_url: str,
        require_justification: bool,
        ttl_seconds: int,
    ) -> str:
        """A token for the warning page's form; ValueError for a return URL that is not an
        absolute http(s) URL, or one too long to fit in a token."""
        if not _is_absolute_http_url(return_url):
            raise ValueError(f"return URL {return_url!r} is not an absolute http(s) URL")
        if ttl_seconds <= 0:
            raise ValueError(f"acknowledgement TTL must be positive, not {ttl_seconds!r}")
        claim = AckClaim(
            identity=identity,
            vendor=vendor,
            rule=rule,
            return_url=return_url,
            require_justification=require_justification,
            ttl_seconds=ttl_seconds,
            expires=float(self.clock() + self.lifetime_seconds),
            nonce=secrets.token_urlsafe(_NONCE_BYTES),
        )
        token = self._seal(dataclasses.asdict(claim))
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(
                f"return URL of {len(return_url)} characters makes the token longer than "
                f"{MAX_TOKEN_CHARS}"
            )
        return token

    def verify(self, token: str, *, identity: str, vendor: str) -> AckClaim:
        """The claim of a token signed with this secret, unexpired, for this identity and vendor.

        Raises InvalidToken. Does not check single use: `redeem` does, through the store.
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("too long")
        parts = _TOKEN.fullmatch(token)
        if parts is None:
            raise InvalidToken("malformed")
        payload, signature = parts.groups()
        # Both sides are the canonical text, so no second spelling of a signature is accepted.
        if not hmac.compare_digest(signature, _b64encode(self._mac(payload))):
            raise InvalidToken("bad signature")
        claim = _claim_from(payload)
        if self.clock() >= claim.expires:
            raise InvalidToken("expired")
        if claim.identity != identity:
            raise InvalidToken("issued to another identity")
        if claim.vendor != vendor:
            raise InvalidToken("issued for another vendor")
        if not _is_absolute_http_url(claim.return_url):
            raise InvalidToken("return URL is not an absolute http(s) URL")
        return claim

    def _seal(self, fields: dict[str, object]) -> str:
        text = json.dumps(fields, separators=(",", ":"), sort_keys=True, allow_nan=False)
        payload = _b64encode(text.encode("ascii"))
        return f"{payload}.{_b64encode(self._mac(payload))}"

    def _mac(self, payload: str) -> bytes:
        message = _MAC_CONTEXT + payload.encode("ascii")
        return hmac.new(self._secret, message, hashlib.sha256).digest()


class AckStore(Protocol):
    """Where acknowledgements and spent nonces live: in memory, or shared by several instances."""

    def acknowledge(self, identity: str, vendor: str, ttl_seconds: int) -> None:
        """Remember for `ttl_seconds` that `identity` acknowledged the warning for `vendor`."""

    def is_acknowledged(self, identity: str, vendor: str) -> bool:
        """Whether `identity` acknowledged `vendor` and the acknowledgement has not expired."""

    def use_nonce(self, nonce: str, ttl_seconds: int) -> bool:
        """Spend a nonce atomically: True the first time, False on a replay within `ttl_seconds`."""


class MemoryAckStore:
    """The acknowledgement store of a single instance: bounded, expiring, thread-safe.

    It holds at most `max_entries` acknowledgements and as many spent nonces; when full, it
    evicts expired entries first, then the oldest. Losing an acknowledgement only shows the
    warning again. Losing a nonce would let its token be replayed, so the store remembers the
    latest deadline it evicted and refuses nonces that expire no later: their tokens are older
    than the evicted one, and reloading the warning page gives a fresh one.
    """

    # `redeem` rounds a token's remaining lifetime up to whole seconds, so the deadlines of two
    # attempts with one token differ by less than this.
    _DEADLINE_ROUNDING = 1.0

    def __init__(
        self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._acknowledgements = _Deadlines[tuple[str, str]](max_entries)
        self._spent_nonces = _Deadlines[str](max_entries)
        self._latest_evicted_nonce = -math.inf
        self._clock = clock
        self._lock = threading.Lock()

    def acknowledge(self, identity: str, vendor: str, ttl_seconds: int) -> None:
        with self._lock:
            now = self._clock()
            self._acknowledgements.put((identity, vendor), now + ttl_seconds, now)

    def is_acknowledged(self, identity: str, vendor: str) -> bool:
        with self._lock:
            return self._acknowledgements.holds((identity, vendor), self._clock())

    def use_nonce(self, nonce: str, ttl_seconds: int) -> bool:
        with self._lock:
            now = self._clock()
            deadline = now + ttl_seconds
            if self._spent_nonces.holds(nonce, now) or (
                deadline <= self._latest_evicted_nonce + self._DEADLINE_ROUNDING
            ):
                return False
            evicted = self._spent_nonces.put(nonce, deadline, now)
            if evicted is not None:
                self._latest_evicted_nonce = max(self._latest_evicted_nonce, evicted)
            return True

    def __len__(self) -> int:
        """The number of acknowledgements held that have not expired."""
        with self._lock:
            self._acknowledgements.drop_expired(self._clock())
            return len(self._acknowledgements)


class _Deadlines[K: Hashable]:
    """Keys with deadlines, at most `max_entries` of them; not thread-safe on its own."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"a store needs room for at least one entry, not {max_entries!r}")
        self._max_entries = max_entries
        # key → (deadline, serial), oldest first
        self._entries: OrderedDict[K, tuple[float, int]] = OrderedDict()
        # The same entries soonest deadline first, so expired ones are found without a scan.
        # Rows whose serial no longer matches were replaced or evicted and are skipped.
        self._soonest: list[tuple[float, int, K]] = []
        self._serial = 0

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, key: K, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and now < entry[0]

    def put(self, key: K, deadline: float, now: float) -> float | None:
        """Set the deadline of `key`; returns that of a live entry evicted for room, if any."""
        self.drop_expired(now)
        self._entries.pop(key, None)
        evicted = None
        if len(self._entries) >= self._max_entries:
            _, (evicted, _) = self._entries.popitem(last=False)
        self._serial += 1
        self._entries[key] = (deadline, self._serial)
        heapq.heappush(self._soonest, (deadline, self._serial, key))
        if len(self._soonest) > 2 * self._max_entries:
            self._soonest = [(d, serial, k) for k, (d, serial) in self._entries.items()]
            heapq.heapify(self._soonest)
        return evicted

    def drop_expired(self, now: float) -> None:
        while self._soonest and self._soonest[0][0] <= now:
            _, serial, key = heapq.heappop(self._soonest)
            entry = self._entries.get(key)
            if entry is not None and entry[1] == serial:
                del self._entries[key]


def kept_justification(text: str) -> str:
    """The justification as checked and logged: trimmed, at most 1,000 characters."""
    return text.strip()[:MAX_JUSTIFICATION_CHARS]


def redeem(
    signer: TokenSigner,
    store: AckStore,
    token: str,
    *,
    identity: str,
    vendor: str,
    justification: str,
) -> AckClaim:
    """The acknowledgement step: check the posted token, spend it, record the acknowledgement.

    Raises InvalidToken (JustificationRequired when only the justification is missing) and then
    records nothing. The justification is checked before the nonce is spent, so the same token
    can be posted again with one. The caller redirects to `claim.return_url`, never to a URL
    from the request.
    """
    claim = signer.verify(token, identity=identity, vendor=vendor)
    if claim.require_justification:
        visible = len("".join(kept_justification(justification).split()))
        if visible < MIN_JUSTIFICATION_CHARS:
            raise JustificationRequired(
                f"justification needs at least {MIN_JUSTIFICATION_CHARS} characters"
            )
    remaining = math.ceil(claim.expires - signer.clock())
    if not store.use_nonce(claim.nonce, remaining + _CLOCK_SKEW_SECONDS):
        raise InvalidToken("replayed")
    store.acknowledge(identity, vendor, claim.ttl_seconds)
    return claim


def _claim_from(payload: str) -> AckClaim:
    """The claim in a payload whose MAC has been checked; InvalidToken if it is not one."""
    try:
        fields = json.loads(_b64decode(payload))
    except ValueError:
        raise InvalidToken("malformed") from None
    match fields:
        case {
            "identity": str(identity),
            "vendor": str(vendor),
            "rule": str(rule),
            "return_url": str(return_url),
            "require_justification": bool(require_justification),
            "ttl_seconds": int(ttl_seconds),
            "expires": float(expires),
            "nonce": str(nonce),
        } if (
            len(fields) == _CLAIM_FIELD_COUNT
            and not isinstance(ttl_seconds, bool)
            and ttl_seconds > 0
            and math.isfinite(expires)
        ):
            return AckClaim(
                identity=identity,
                vendor=vendor,
                rule=rule,
                return_url=return_url,
                require_justification=require_justification,
                ttl_seconds=ttl_seconds,
                expires=expires,
                nonce=nonce,
            )
    raise InvalidToken("malformed")


def _is_absolute_http_url(url: str) -> bool:
    """Whether `url` is `http://` or `https://` and a host, with nothing a browser reads otherwise.

    Refuses `//evil.com`, `/\\evil.com`, `javascript:...`, relative URLs and userinfo
    (`https://chat.deepseek.com@evil.com`).
    """
    if not _URL_CHARACTERS.fullmatch(url) or not url.lower().startswith(("http://", "https://")):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it raises ValueError for a bad or out-of-range port
    except ValueError:
        return False
    return bool(parts.hostname) and "@" not in parts.netloc


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def open_ack_store(spec: str) -> AckStore:
    """`memory` (this process only) or a `redis://`, `rediss://` or `unix://` URL of a Redis
    that several instances share. ValueError names the spec (a URL without its password)."""
    if spec == "memory":
        return MemoryAckStore()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from aiwall.ack.redis import RedisAckStore, redacted  # only those who use it need it

        try:
            return RedisAckStore(spec)
        except ValueError as error:
            raise ValueError(f"{redacted(spec)!r}: {error}") from None
    raise ValueError(f"{spec!r} is not an acknowledgement store (use memory or a redis:// URL)")
