"""Loaded into the mitmdump under test by bench/load.py: what holds its memory.

Only the standard library and mitmproxy: whatever this imports, the proxy carries, and its
memory is what the load test measures.
"""

import ctypes
import gc
import json
from pathlib import Path
from typing import Any

from mitmproxy import http

MB = 1e6  # memory and sizes are printed in MB of 10^6 bytes


MEMORY_PATH = "/__load_test_memory"  # with Host example.org: answered by MemoryReport below


def own_rss() -> float:
    """This process's resident memory in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MB
    return float("nan")


class MemoryReport:
    """Loaded into the mitmdump under test: what holds its memory, asked once at the end.

    `GET http://example.org/__load_test_memory` is answered here (never forwarded) with the
    finished flows still in memory and their body bytes, then the same after a full garbage
    collection, and the resident memory before, after `gc.collect()` and after glibc's
    `malloc_trim(0)`. This tells memory the proxy still holds from pages the allocator keeps.
    """

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.path != MEMORY_PATH or flow.request.pretty_host != "example.org":
            return
        report: dict[str, Any] = {"rss": own_rss()}
        report["flows"], report["body_bytes"] = self.flows()
        report["collected"] = gc.collect()
        report["flows_after_gc"], report["body_bytes_after_gc"] = self.flows()
        report["rss_after_gc"] = own_rss()
        try:
            ctypes.CDLL(None).malloc_trim(0)
            report["rss_after_trim"] = own_rss()
        except (OSError, AttributeError):  # not glibc
            report["rss_after_trim"] = None
        flow.response = http.Response.make(
            200, json.dumps(report).encode(), {"Content-Type": "application/json"}
        )

    @staticmethod
    def flows() -> tuple[int, int]:
        flows = [o for o in gc.get_objects() if isinstance(o, http.HTTPFlow)]
        body = 0
        for flow in flows:
            body += len(flow.request.raw_content or b"")
            if flow.response is not None:
                body += len(flow.response.raw_content or b"")
        return len(flows), body


addons = [MemoryReport()]
