"""Bounds on an HTTP/1 request head: how large it may grow and how long it may take to arrive.

mitmproxy 12 buffers a request head until it is complete, however large it grows and however
slowly it comes (its HTTP/1 server says "FIXME: protect against header size DoS"): a 200 MiB
head was held in memory, and 400 connections trickling a head held their slots for as long as
the clients liked. aiwall puts its own HTTP/1 server class in mitmproxy's place. It answers 431
when a head grows past `aiwall_head_max_bytes`, 408 when a head is not complete
`aiwall_head_timeout` seconds after its first byte, and closes the connection either way.

A connection that sends nothing is mitmproxy's `tcp_timeout` (600 s). HTTP/2 heads are bounded
by h2 (64 KiB of decoded fields); the time an HTTP/2 head may take is not (deploy/GUIDE.md,
"Limits on request heads, and in front of aiwall").
"""

import re
from collections.abc import Callable
from typing import ClassVar

from mitmproxy import connection
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import _http1

HEAD_MAX_BYTES = 64 * 1024
_BLANK_LINE = re.compile(rb"\n\r?\n")  # where a head ends, as h11 (mitmproxy's reader) finds it
HEAD_TIMEOUT = 15.0  # seconds

# (client, status, reason): told of each head refused, for the log and the metrics.
Refusal = Callable[[connection.Client, int, str], None]


class BoundedHttp1Server(_http1.Http1Server):
    """mitmproxy's HTTP/1 server, with a size and a time limit on each request head."""

    max_bytes: ClassVar[int] = HEAD_MAX_BYTES
    timeout: ClassVar[float] = HEAD_TIMEOUT  # 0: no time limit
    refused: ClassVar[Refusal | None] = None
    _deadline: commands.RequestWakeup | None = None  # the wake-up of the head being read

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.Wakeup):  # in any state: the other states expect none
            if event.command is self._deadline and self.state == self.read_headers:
                reason = f"the request head was not complete within {self.timeout:g} s"
                yield from self._refuse(408, reason)
            return
        yield from super()._handle_event(event)

    def read_headers(self, event: events.ConnectionEvent) -> layer.CommandGenerator[None]:
        if isinstance(event, events.DataReceived):
            if self._deadline is None and self.timeout:
                self._deadline = commands.RequestWakeup(self.timeout)
                yield self._deadline
            # Whether it trickles in or comes whole in one read, a head must end (at its blank
            # line) within the first max_bytes bytes; a body may follow in the same read.
            if len(self.buf) > self.max_bytes and not _BLANK_LINE.search(
                bytes(self.buf), 0, self.max_bytes
            ):
                yield from self._refuse(431, f"the request head is over {self.max_bytes} bytes")
                return
        yield from super().read_headers(event)
        if self.state != self.read_headers:
            self._deadline = None  # complete (or the connection is done): the next head starts anew

    def _refuse(self, status: int, reason: str) -> layer.CommandGenerator[None]:
        self._deadline = None
        yield commands.SendData(self.conn, _http1.make_error_response(status, reason))
        yield commands.CloseConnection(self.conn)
        self.state = self.done
        if (refused := type(self).refused) is not None:  # a plain function, not a method
            refused(self.context.client, status, reason)


def install(max_bytes: int, timeout: float, refused: Refusal | None) -> None:
    """Serve HTTP/1 clients with `BoundedHttp1Server`, with these limits, from now on."""
    BoundedHttp1Server.max_bytes = max_bytes
    BoundedHttp1Server.timeout = timeout
    BoundedHttp1Server.refused = refused
    http_layers.Http1Server = BoundedHttp1Server  # type: ignore[attr-defined]
