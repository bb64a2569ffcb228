"""Loaded into every proxy of bench/proxy.py as a script: every name resolves to the local upstream.

Only mitmproxy and the standard library are imported here: the proxies must not carry the
benchmark's own modules, or their memory would be misstated.
"""

import asyncio
from typing import Any

from mitmproxy import ctx
from mitmproxy.addonmanager import Loader


class ResolveToUpstream:
    """Loaded into every mitmdump of the benchmark: every name resolves to the local upstream.

    Port 443 goes to the upstream's HTTPS port, any other port to its plain HTTP port. The
    server connection keeps the name it was asked for, so mitmproxy reuses it for the next
    request of a kept-alive client connection as it would in production.
    (tests/redirect_upstream.py rewrites the server address instead: mitmproxy then opens a
    new upstream connection for every request and, after five of them on one client
    connection, waits forever for its per-address limit.)
    """

    def load(self, loader: Loader) -> None:
        loader.add_option("bench_upstream_http", int, 0, "Port of the local upstream's HTTP.")
        loader.add_option("bench_upstream_https", int, 0, "Port of the local upstream's HTTPS.")

    def running(self) -> None:
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def to_upstream(host: object, port: object, **kwargs: Any) -> Any:
            https = str(port) == "443"
            local = ctx.options.bench_upstream_https if https else ctx.options.bench_upstream_http
            return await resolve("127.0.0.1", local, **kwargs)

        loop.getaddrinfo = to_upstream  # type: ignore[method-assign]


addons = [ResolveToUpstream()]
