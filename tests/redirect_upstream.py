"""Test-only mitmproxy script: every upstream connection goes to the local test upstream.

The proxy still decides on the real names (chat.deepseek.com); only the socket it would open
is pointed at 127.0.0.1, so no test ever reaches a real vendor.
"""

import os

from mitmproxy.proxy import server_hooks


class RedirectToTestUpstream:
    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        tls_port = int(os.environ["AIWALL_TEST_TLS_PORT"])
        plain_port = int(os.environ["AIWALL_TEST_PLAIN_PORT"])
        data.server.address = ("127.0.0.1", tls_port if data.server.tls else plain_port)


addons = [RedirectToTestUpstream()]
