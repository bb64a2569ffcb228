"""What the proxy does to a flow once the outcome is known: answer it, or let it stream on."""

from mitmproxy import ctx, http

from aiwall.core.decision import RequestInfo
from aiwall.pages import answers as pages
from aiwall.proxy.enforce import Seen
from aiwall.proxy.flows import BodyHeaders
from aiwall.proxy.sink import HEADER as SINK_HEADER
from aiwall.proxy.sink import Sink, discard
from aiwall.telemetry.ids import new_event_id

ANSWERED = "aiwall_answered"
_STREAM_ABOVE = 256 * 1024  # bytes
_HELD_BODY = 64 * 1024  # a refused body up to this size is read and dropped, a larger one is not


def seen(flow: http.HTTPFlow) -> Seen:
    request = flow.request
    host = request.host_header or request.host
    return Seen(request.scheme, host, request.url, request.headers, new_event_id())


def stream_body(flow: http.HTTPFlow, body: BodyHeaders) -> None:
    """A large upload that goes upstream is sent on as it arrives (aiwall never reads it)."""
    if ctx.options.aiwall_stream and worth_streaming(body.content_length):
        flow.request.stream = True


def large_body(request: RequestInfo) -> bool:
    """A body too large (or of unknown length) to read only to drop it."""
    return request.chunked or (request.body_size or 0) > _HELD_BODY


def worth_streaming(content_length: str | None) -> bool:
    """A body of unknown length (server-sent events, chunked, HTTP/2 without a length) or a
    large one. Small bodies are cheaper held whole: streaming costs mitmproxy more per message.
    """
    length = content_length
    return length is None or not length.isdigit() or int(length) > _STREAM_ABOVE


def answer(flow: http.HTTPFlow, page: pages.Page) -> None:
    """The proxy answers the request itself; it never goes upstream."""
    headers = [(name.encode(), value.encode()) for name, value in page.headers]
    flow.response = http.Response.make(page.status, page.body, headers)
    flow.metadata[ANSWERED] = True
    # No "100 Continue": a client that waits for one need not send a body nobody will read.
    flow.request.headers.pop("expect", None)


def answer_without_reading(flow: http.HTTPFlow, page: pages.Page, sink: Sink) -> None:
    """A refused upload goes to aiwall's own listener, which answers at once; mitmproxy
    streams the body there and this stream function drops every chunk (proxy/sink.py)."""
    request = flow.request
    request.headers[SINK_HEADER] = sink.expect(page)
    request.scheme, request.host, request.port = "http", "127.0.0.1", sink.port
    request.stream = discard
    flow.metadata[ANSWERED] = True
    request.headers.pop("expect", None)
