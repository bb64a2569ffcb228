"""Acknowledgement tokens: what the warning page's form carries, signed so any instance can
check it, and `redeem`, the one step that turns a posted token into a stored acknowledgement."""

import base64
import dataclasses
import hashlib
import hmac
import json
import math
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiwall.ack.errors import InvalidToken, JustificationRequired
from aiwall.ack.store import AckStore

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

    def open(self, token: str) -> AckClaim:
        """The claim of a token signed with this secret and unexpired, whoever it binds.

        Raises InvalidToken. `verify` also checks what the claim is bound to."""
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
        if not _is_absolute_http_url(claim.return_url):
            raise InvalidToken("return URL is not an absolute http(s) URL")
        return claim

    def verify(self, token: str, *, identity: str, vendor: str, rule: str) -> AckClaim:
        """The claim of a token signed with this secret, unexpired, for this identity, vendor and
        the rule that warns now (a token from a laxer rule of the same vendor is not enough).

        Raises InvalidToken. Does not check single use: `redeem` does, through the store.
        """
        claim = self.open(token)
        if claim.identity != identity:
            raise InvalidToken("issued to another identity")
        if claim.vendor != vendor:
            raise InvalidToken("issued for another vendor")
        if claim.rule != rule:
            raise InvalidToken("issued for another rule")
        return claim

    def _seal(self, fields: dict[str, object]) -> str:
        text = json.dumps(fields, separators=(",", ":"), sort_keys=True, allow_nan=False)
        payload = _b64encode(text.encode("ascii"))
        return f"{payload}.{_b64encode(self._mac(payload))}"

    def _mac(self, payload: str) -> bytes:
        message = _MAC_CONTEXT + payload.encode("ascii")
        return hmac.new(self._secret, message, hashlib.sha256).digest()


def kept_justification(text: str) -> str:
    """The justification as checked and logged: trimmed, at most 1,000 characters."""
    return text.strip()[:MAX_JUSTIFICATION_CHARS]


def visible_characters(text: str) -> int:
    """How many characters of `text` a reader sees: no spaces, no format characters (Unicode
    Cf: zero-width spaces and joiners, bidi controls), no other controls."""
    return sum(1 for c in text if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc"))


async def redeem(
    signer: TokenSigner,
    store: AckStore,
    token: str,
    *,
    identity: str,
    vendor: str,
    rule: str,
    justification: str,
) -> AckClaim:
    """The acknowledgement step: check the posted token, spend it, record the acknowledgement.

    Raises InvalidToken (JustificationRequired when only the justification is missing) or
    StoreUnavailable, and then records nothing. The justification is checked before the nonce
    is spent, so the same token can be posted again with one. The acknowledgement is stored for
    the identity, the vendor and the rule that warned. The caller redirects to
    `claim.return_url`, never to a URL from the request.
    """
    claim = signer.verify(token, identity=identity, vendor=vendor, rule=rule)
    visible = visible_characters(kept_justification(justification))
    if claim.require_justification and visible < MIN_JUSTIFICATION_CHARS:
        raise JustificationRequired(
            f"justification needs at least {MIN_JUSTIFICATION_CHARS} visible characters"
        )
    remaining = math.ceil(claim.expires - signer.clock())
    if not await store.use_nonce(claim.nonce, remaining + _CLOCK_SKEW_SECONDS):
        raise InvalidToken("replayed")
    await store.acknowledge(identity, vendor, rule, claim.ttl_seconds)
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
