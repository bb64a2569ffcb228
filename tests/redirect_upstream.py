"""Test-only mitmproxy script: every host name resolves to the local test upstream.

The proxy still decides on the real names (chat.deepseek.com); only the address a name
resolves to is the upstream's, so no test ever reaches a real vendor. Port 443 goes to the
upstream's TLS port, any other to its plain port. Resolving, rather than rewriting the server
address, keeps mitmproxy's reuse of upstream connections as it is in production.
"""

import asyncio
import os
from typing import Any


class RedirectToTestUpstream:
    def running(self) -> None:
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo
        tls_port = int(os.environ["AIWALL_TEST_TLS_PORT"])
        plain_port = int(os.environ["AIWALL_TEST_PLAIN_PORT"])

        async def to_upstream(host: object, port: object, **kwargs: Any) -> Any:
            local = tls_port if str(port) == "443" else plain_port
            return await resolve("127.0.0.1", local, **kwargs)

        loop.getaddrinfo = to_upstream  # type: ignore[method-assign]


addons = [RedirectToTestUpstream()]
