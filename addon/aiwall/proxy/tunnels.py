"""Connections mitmproxy would relay without looking inside (`ignore_hosts`, `allow_hosts`).

mitmproxy ignores a connection when its CONNECT target, its TLS SNI or the Host of its first
plaintext request matches `ignore_hosts`, and every connection none of whose names matches
`allow_hosts`. aiwall judges such a connection on every name it has before it is ignored: a
tunnel to a blocked or warned vendor is refused, a plaintext one is looked into request by
request instead (a later request in the same tunnel may name another host).
"""

import re
from collections.abc import Sequence

from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.tls import parse_client_hello

from aiwall.core.decision import HostName
from aiwall.proxy.flows import authority

_PLAIN_HTTP = re.compile(rb"[A-Z]{3,}\s+\S+\s+HTTP/", re.IGNORECASE)
_HOST_HEADER = re.compile(rb"\r\nHost:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)


def ignored(names: Sequence[str], ignore_hosts: Sequence[str], allow_hosts: Sequence[str]) -> bool:
    """Whether mitmproxy's options make it relay a connection with these `host:port` names."""
    if allow_hosts and not any(
        re.search(pattern, name, re.IGNORECASE) for name in names for pattern in allow_hosts
    ):
        return True
    return any(
        re.search(pattern, name, re.IGNORECASE) for name in names for pattern in ignore_hosts
    )


def looks_like_plain_http(data: bytes) -> bool:
    return _PLAIN_HTTP.match(data) is not None


def connection_names(context: Context, data: bytes, connect_target: str | None) -> list[HostName]:
    """Every name a connection carries before mitmproxy looks inside: the CONNECT target, the
    destination address, the SNI of a ClientHello and the Host of a first plaintext request."""
    names: list[HostName] = []
    if connect_target:
        names.append(HostName("connect", connect_target))
    address = context.server.address
    if address:
        names.append(HostName("connect", authority(str(address[0]), int(address[1]))))
    if sni := _sni(data) or context.client.sni:
        names.append(HostName("sni", sni))
    if looks_like_plain_http(data) and (host := _HOST_HEADER.search(data)):
        names.append(HostName("host", host.group(1).decode("utf-8", "surrogateescape")))
    return names


def _sni(data: bytes) -> str | None:
    if not starts_like_tls_record(data):
        return None
    try:
        hello = parse_client_hello(data)
    except ValueError:
        return None
    return hello.sni if hello else None
