"""Prometheus metrics, and the health endpoints, on a port of their own.

/metrics   decisions by action, vendor and rule; acknowledgements; reloads and rejections;
           internal errors; a histogram of decision time
/healthz   liveness: the process answers
/readyz    readiness: a configuration is loaded and the acknowledgement store is reachable
"""

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from aiwall.core.decision import Decision

# Decisions take microseconds; the slow tail (a cold cache, a reload) reaches milliseconds.
_DECISION_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "aiwall_decisions",
            "AI requests decided, by action, vendor and the rule that decided (- for the default)",
            ["action", "vendor", "rule"],
            registry=self.registry,
        )
        self.acknowledgements = Counter(
            "aiwall_acknowledgements",
            "Acknowledgements of warnings, accepted or refused",
            ["vendor", "outcome"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "aiwall_reloads",
            "Configuration loads: loaded, or rejected (the last good one kept serving)",
            ["outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "aiwall_internal_errors",
            "Internal errors, each answered by failing closed",
            ["where"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "aiwall_decision_seconds",
            "Time to decide one request",
            buckets=_DECISION_BUCKETS,
            registry=self.registry,
        )
        self.store_up = Gauge(
            "aiwall_ack_store_up",
            "Whether the acknowledgement store answers (1) or not (0)",
            registry=self.registry,
        )
        self.store_up.set(1)
        self.directory_up = Gauge(
            "aiwall_directory_up",
            "Whether the last read of the directory groups succeeded (1) or failed (0); while 0"
            " the membership read last keeps serving",
            registry=self.registry,
        )
        self.directory_up.set(1)
        self.directory_read_at = Gauge(
            "aiwall_directory_last_read_timestamp_seconds",
            "When the membership now serving was read (Unix time; 0: never)",
            registry=self.registry,
        )
        self._server: ThreadingHTTPServer | None = None
        self._decision_counters: dict[tuple[str, str, str], Counter] = {}

    def watch_store(self, healthy: Callable[[], bool] | None) -> None:
        """Report the store's health at each scrape (a memory store is always up)."""
        self.store_up.set_function(lambda: float(healthy()) if healthy else 1.0)

    def decided(self, decision: Decision, seconds: float) -> None:
        vendor = decision.vendor.id if decision.vendor else "-"
        rule = decision.rule.id if decision.rule else "-"
        key = (str(decision.action), vendor, rule)
        counter = self._decision_counters.get(key)
        if counter is None:  # labels() takes a lock each time: keep the child it returns
            counter = self._decision_counters[key] = self.decisions.labels(*key)
        counter.inc()
        self.decision_seconds.observe(seconds)

    def directory_read(self, ok: bool, read_at: float | None) -> None:
        self.directory_up.set(1 if ok else 0)
        self.directory_read_at.set(read_at or 0)

    def acknowledged(self, vendor: str, accepted: bool) -> None:
        self.acknowledgements.labels(vendor, "accepted" if accepted else "refused").inc()

    def reloaded(self, accepted: bool) -> None:
        self.reloads.labels("loaded" if accepted else "rejected").inc()

    def failed(self, where: str) -> None:
        self.errors.labels(where).inc()

    def serve(self, host: str, port: int, ready: Callable[[], bool]) -> tuple[str, int]:
        """Start the endpoint in a daemon thread; returns the address it listens on."""
        self.close()
        handler = _handler(self.registry, ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        address = self._server.server_address
        return str(address[0]), int(address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler(
    registry: CollectorRegistry, ready: Callable[[], bool]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b"ok\n")
            elif path == "/readyz":
                is_ready = ready()
                self._answer(200 if is_ready else 503, b"ready\n" if is_ready else b"not ready\n")
            else:
                self._answer(404, b"not found\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
