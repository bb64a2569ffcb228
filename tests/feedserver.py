"""A local HTTP server for the feed tests: pages and bundles on 127.0.0.1, set per test.

Each path answers what `serve` last put there; with an ETag it honours If-None-Match (304).
Every request's path and headers are kept, so tests can see what was asked and how.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    etag: str | None = None


@dataclass
class FeedServer:
    port: int
    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        etag: str | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.answers[path] = Answer(status, data, content_type, etag)


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    feed = FeedServer(server.server_address[1])
    server.feed = feed  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield feed
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        feed: FeedServer = self.server.feed  # type: ignore[attr-defined]
        feed.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        answer = feed.answers.get(self.path, Answer(404, b"not found", "text/plain"))
        if answer.etag and self.headers.get("If-None-Match") == answer.etag:
            self.send_response(304)
            self.send_header("ETag", answer.etag)
            self.end_headers()
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        if answer.etag:
            self.send_header("ETag", answer.etag)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        pass
