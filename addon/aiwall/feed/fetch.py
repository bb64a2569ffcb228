"""Fetching pages and bundles: concurrent, bounded, conditional, and honest about who asks.

httpx takes the proxy from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, as curl does. A request
carries the validators of the copy already held (`If-None-Match`, `If-Modified-Since`), so an
unchanged page or bundle costs a 304. Whatever goes wrong (no answer, a timeout, an error
status, a body over the size limit) makes the URL unreachable with a reason, never an
exception.
"""

import asyncio
import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

USER_AGENT = (
    f"aiwall/{importlib.metadata.version('aiwall')}"
    " (checks the vendor policy pages and record bundles an aiwall proxy relies on)"
)
MAX_BYTES = 20 << 20


@dataclass(frozen=True)
class Validators:
    """What the server said about the copy held, to ask only for something newer."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Fetched:
    url: str
    status: Literal["ok", "not-modified", "unreachable"]
    body: bytes = b""
    content_type: str = ""
    validators: Validators = Validators()
    error: str = ""


def fetch_all(
    wanted: Sequence[tuple[str, Validators]],
    *,
    concurrency: int = 8,
    timeout: float = 20.0,
    max_bytes: int = MAX_BYTES,
) -> list[Fetched]:
    """Fetch every URL, at most `concurrency` at a time; answers in the order asked."""
    return asyncio.run(_fetch_all(wanted, concurrency, timeout, max_bytes))


async def _fetch_all(
    wanted: Sequence[tuple[str, Validators]], concurrency: int, timeout: float, max_bytes: int
) -> list[Fetched]:
    gate = asyncio.Semaphore(max(1, concurrency))
    limits = httpx.Limits(max_connections=max(1, concurrency))
    async with httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        timeout=timeout,
        limits=limits,
        follow_redirects=True,
        trust_env=True,
    ) as client:

        async def one(url: str, validators: Validators) -> Fetched:
            async with gate:
                return await _fetch(client, url, validators, max_bytes)

        return list(await asyncio.gather(*(one(url, v) for url, v in wanted)))


async def _fetch(
    client: httpx.AsyncClient, url: str, validators: Validators, max_bytes: int
) -> Fetched:
    try:
        async with client.stream("GET", url, headers=validators.headers()) as response:
            if response.status_code == 304:
                return Fetched(url, "not-modified", validators=validators)
            if response.status_code != 200:
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                return Fetched(url, "unreachable", error=reason)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    return Fetched(url, "unreachable", error=f"larger than {max_bytes} bytes")
            return Fetched(
                url,
                "ok",
                bytes(body),
                response.headers.get("content-type", ""),
                Validators(response.headers.get("etag"), response.headers.get("last-modified")),
            )
    except (httpx.HTTPError, OSError) as error:
        return Fetched(url, "unreachable", error=f"{type(error).__name__}: {error}".rstrip(": "))
