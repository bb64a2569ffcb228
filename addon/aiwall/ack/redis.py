"""The acknowledgement store that several aiwall instances share: one Redis, spoken to with
redis-py's asyncio client so that a slow Redis never blocks mitmproxy's event loop."""

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from aiwall.ack.errors import StoreUnavailable

logger = logging.getLogger("aiwall")


class RedisAckStore:
    """Acknowledgements and spent nonces in one Redis, so every instance using it honours them.

    - `acknowledge`: `SET <prefix>ack:<hash> 1 EX ttl`; `is_acknowledged`: `EXISTS` of that key.
    - `use_nonce`: `SET <prefix>nonce:<hash> 1 NX EX ttl`, so of all the instances, one wins.
    - Keys hold a SHA-256 of identity, scope and rule (or of the nonce), never the text itself:
      any string, with newlines, NUL or lone surrogates, makes one short key, and two
      different triples never share one.

    When Redis is unreachable, slower than `timeout_seconds`, or answers with an error:

    - `is_acknowledged` is False: the warning is shown again (fails closed, never open).
    - `use_nonce` and `acknowledge` raise StoreUnavailable: the acknowledgement is refused
      with the reason "acknowledgement store unavailable", never accepted unrecorded.
    - For `retry_seconds` after a failure, calls fail the same way without trying Redis, so
      an outage where connections hang costs the proxy one timeout per interval at most.
    - The logger "aiwall" says so once when the outage begins (an error) and once when Redis
      answers again (info), not once per request.

    `up` is whether the last call was answered; `ping()` asks Redis now, whatever the last
    failure (the proxy pings in the background so the gauge follows an idle Redis too).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "aiwall:",
        timeout_seconds: float = 0.25,
        retry_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """ValueError for a URL that redis-py cannot read; does not connect yet."""
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),  # redis-py retries with a backoff of seconds otherwise
        )
        self._timeout = timeout_seconds
        self._prefix = prefix
        self._retry_seconds = retry_seconds
        self._clock = clock
        self.location = redacted(url)
        self._failing = False
        self._retry_at = -float("inf")

    @property
    def up(self) -> bool:
        return not self._failing

    async def acknowledge(self, identity: str, scope: str, rule: str, ttl_seconds: int) -> None:
        key = self._key("ack", identity, scope, rule)
        await self._run(lambda client: client.set(key, 1, ex=max(1, ttl_seconds)))

    async def is_acknowledged(self, identity: str, scope: str, rule: str) -> bool:
        key = self._key("ack", identity, scope, rule)
        try:
            return bool(await self._run(lambda client: client.exists(key)))
        except StoreUnavailable:
            return False

    async def use_nonce(self, nonce: str, ttl_seconds: int) -> bool:
        key = self._key("nonce", nonce)
        spent = await self._run(lambda client: client.set(key, 1, nx=True, ex=max(1, ttl_seconds)))
        return bool(spent)

    async def ping(self) -> bool:
        """Whether Redis answers a PING now."""
        try:
            return bool(await self._run(lambda client: client.ping(), even_if_failing=True))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._client.aclose()

    def _key(self, kind: str, *parts: str) -> str:
        # JSON with ensure_ascii spells every string one way, lone surrogates included.
        digest = hashlib.sha256(json.dumps(parts).encode("ascii")).hexdigest()
        return f"{self._prefix}{kind}:{digest}"

    async def _run[T](
        self, command: Callable[[aioredis.Redis], Awaitable[T]], even_if_failing: bool = False
    ) -> T:
        if not even_if_failing and self._clock() < self._retry_at:
            raise StoreUnavailable()
        try:
            # socket_timeout bounds each read; this bounds the whole call, connecting included.
            result = await asyncio.wait_for(command(self._client), self._timeout * 2)
        except (RedisError, OSError, TimeoutError) as error:
            if not even_if_failing:  # a probe that fails does not hold back the next request
                self._retry_at = self._clock() + self._retry_seconds
            first, self._failing = not self._failing, True
            if first:
                logger.error(
                    "aiwall: acknowledgement store %s unavailable (%s: %s); warned requests "
                    "show the warning again and acknowledgements are refused until it answers",
                    self.location,
                    type(error).__name__,
                    error,
                )
            raise StoreUnavailable() from error
        recovered, self._failing = self._failing, False
        self._retry_at = -float("inf")
        if recovered:
            logger.info("aiwall: acknowledgement store %s answers again", self.location)
        return result


def redacted(url: str) -> str:
    """The URL without user name, password or query, fit for a log line."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"
