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
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.tls import parse_client_hello

from aiwall.core.decision import HostName
from aiwall.proxy.flows import authority

_PLAIN_HTTP = re.compile(rb"[A-Z]{3,}\s+\S+\s+HTTP/", re.IGNORECASE)
_HOST_HEADER = re.compile(rb"\r\nHost:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)


class Refused(layer.Layer):
    """The layer of a refused connection: the client's side is closed at once, and nothing is
    opened to the destination (a TCP layer would open it even for a killed flow)."""

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.Start):
            yield commands.CloseConnection(self.context.client)


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


def incomplete(data: bytes) -> bool:
    """Whether mitmproxy would wait for more data before deciding (a partial ClientHello or
    request head): aiwall waits too, so that it judges the names mitmproxy will see."""
    if starts_like_tls_record(data):
        try:
            return parse_client_hello(data) is None
        except ValueError:
            return False
    return looks_like_plain_http(data) and b"\r\n\r\n" not in data


def would_ignore(
    context: Context, data: bytes, ignore_hosts: Sequence[str], allow_hosts: Sequence[str]
) -> bool:
    """mitmproxy's own test (addons/next_layer.py) for relaying a connection unseen, on the
    same `host:port` spellings of the destination, first Host and SNI."""
    if not (ignore_hosts or allow_hosts) or not context.server.address:
        return False
    host, port = context.server.address[:2]
    names = [f"{host}:{port}"]
    if context.server.peername:
        names.append("{}:{}".format(*context.server.peername[:2]))
    if looks_like_plain_http(data) and (found := _HOST_HEADER.search(data)):
        header = found.group(1).decode("utf-8", "surrogateescape")
        names.append(header if re.search(r":\d+$", header) else f"{header}:{port}")
    for sni in (_sni(data), context.client.sni):
        if sni:
            names.append(f"{sni}:{port}")
    return ignored(names, ignore_hosts, allow_hosts)


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
