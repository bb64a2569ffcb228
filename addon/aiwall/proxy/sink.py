"""Where a refused upload goes instead of the vendor: a listener of aiwall's own on loopback.

mitmproxy reads the whole body of a request that a hook has answered before it sends the
answer (a 400 MiB upload to a blocked vendor grew the proxy by 790 MiB), and it cannot stream a
request it has answered. So a refused request with a large or open-ended body is sent here
instead: mitmproxy streams it (keeping nothing, aiwall's stream function drops every chunk),
this listener answers with aiwall's page as soon as the request line and headers arrive, and
closes the connection. The vendor is never contacted.
"""

import asyncio
import contextlib
import secrets
import time

from aiwall.pages.answers import Page

HEADER = "x-aiwall-refused"
_MAX_HEAD = 64 * 1024
_PAGE_SECONDS = 30.0  # how long an answer waits for its request to arrive here
_UPLOAD_SECONDS = 60.0  # how long a refused upload may pause before the connection is closed


class Sink:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._pages: dict[str, tuple[Page, float]] = {}
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = int(self._server.sockets[0].getsockname()[1])

    @property
    def ready(self) -> bool:
        return self._server is not None

    def expect(self, page: Page) -> str:
        """A key that, sent in the `x-aiwall-refused` header, is answered with `page` once."""
        now = time.monotonic()
        for key in [k for k, (_, deadline) in self._pages.items() if deadline < now]:
            del self._pages[key]
        key = secrets.token_urlsafe(16)
        self._pages[key] = (page, now + _PAGE_SECONDS)
        return key

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _PAGE_SECONDS)
            page = self._page_for(head)
            if page is not None:
                writer.write(_response(page))
                await writer.drain()
                # Stay until mitmproxy has the whole upload from its client (it sends nothing
                # on): closing first would stop it reading, and a client that sends all of
                # its body before it reads the answer would wait forever.
                while await asyncio.wait_for(reader.read(65536), _UPLOAD_SECONDS):
                    pass
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _page_for(self, head: bytes) -> Page | None:
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == HEADER.encode():
                found = self._pages.pop(value.strip().decode("latin-1"), None)
                return found[0] if found else None
        return None

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def _response(page: Page) -> bytes:
    reason = {400: "Bad Request", 403: "Forbidden"}.get(page.status, "Refused")
    lines = [f"HTTP/1.1 {page.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in page.headers]
    lines += [f"Content-Length: {len(page.body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + page.body


def discard(chunk: bytes) -> list[bytes]:
    """mitmproxy's stream function for a refused upload: nothing is kept or sent on."""
    return []
