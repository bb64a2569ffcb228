"""What a mitmproxy flow tells the engine: every name it carries, the identity, the body's size."""

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from mitmproxy import connection, http

from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.rules import Settings, identity_of
from aiwall.core.urls import judged_path

# The client's address as a trusted child proxy forwarded it (proxy/identify.py).
CLIENT_IP = "aiwall_client_ip"


@dataclass(frozen=True)
class Client:
    """Who sent a request: the proxy-auth user if there is one, the address, and the groups
    the directory puts the user in."""

    user: str | None
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    groups: frozenset[str] = frozenset()

    def identity(self, settings: Settings) -> str:
        """`user:alice` or `ip:10.0.0.7`, by the first method of settings.identity that applies."""
        return identity_of(self.user, self.ip, settings.identity)


def client_of(
    flow: http.HTTPFlow, groups_of: Callable[[str | None], frozenset[str]] | None = None
) -> Client:
    auth = flow.metadata.get("proxyauth")
    user = str(auth[0]) if auth else None
    ip = flow.metadata.get(CLIENT_IP) or client_ip(flow.client_conn)
    return Client(user, ip, groups_of(user) if groups_of else frozenset())


def client_ip(client: connection.Client) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return _address(str(client.peername[0]))
    except (ValueError, IndexError, TypeError):
        return None


@functools.lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A client's address, IPv4-mapped IPv6 as the IPv4 it is (clients repeat: parse once)."""
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def authority(host: str, port: int | None) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}" if port else host


def connection_names(connect_target: str | None, sni: str | None) -> tuple[HostName, ...]:
    """The names known before any HTTP request: the CONNECT target and the TLS SNI."""
    names = []
    if connect_target:
        names.append(HostName("connect", connect_target))
    if sni:
        names.append(HostName("sni", sni))
    return tuple(names)


@dataclass(frozen=True)
class BodyHeaders:
    """What the request's headers say of its body, read in one pass over them."""

    hosts: tuple[str, ...]  # every Host header (more than one is refused)
    content_length: str | None
    content_type: str
    transfer_encoding: str

    @classmethod
    def of(cls, headers: http.Headers) -> "BodyHeaders":
        # mitmproxy's Headers.get scans and lower-cases every field on each call; one pass here.
        hosts: list[str] = []
        wanted: dict[bytes, bytes] = {}
        for name, value in headers.fields:
            lowered = name.lower()
            if lowered == b"host":
                hosts.append(value.decode("utf-8", "surrogateescape"))
            elif lowered in _BODY_FIELDS:
                wanted.setdefault(lowered, value)
        length = wanted.get(b"content-length")
        return cls(
            tuple(hosts),
            length.decode("latin-1") if length is not None else None,
            wanted.get(b"content-type", b"").decode("latin-1").lower(),
            wanted.get(b"transfer-encoding", b"").decode("latin-1").lower(),
        )

    @property
    def unknown_length(self) -> bool:
        return self.content_length is None or not self.content_length.isdigit()


_BODY_FIELDS = frozenset((b"content-length", b"content-type", b"transfer-encoding"))


def request_names(
    flow: http.HTTPFlow, connect_target: str | None, host_headers: tuple[str, ...]
) -> tuple[HostName, ...]:
    """Every name the request carries: CONNECT target, SNI, Host or :authority, absolute URL."""
    request = flow.request
    names = list(connection_names(connect_target, flow.client_conn.sni))
    names.extend(HostName("host", value) for value in host_headers)
    if request.authority:  # HTTP/2 :authority, or the URL of an absolute-form HTTP/1 request
        seen_in = "host" if request.is_http2 or request.is_http3 else "url"
        names.append(HostName(seen_in, request.authority))
    if not connect_target:  # a plain proxy request: the host of its absolute-form URL
        names.append(HostName("url", authority(request.host, request.port)))
    return tuple(names)


def request_path(flow: http.HTTPFlow) -> str:
    """The path as the server will route it (no query, dot-segments resolved, `;params` gone):
    what rules match, products are told apart by, and the log shows."""
    return judged_path(flow.request.path)


def request_info(
    flow: http.HTTPFlow,
    names: tuple[HostName, ...],
    path: str,
    client: Client,
    body: BodyHeaders,
) -> RequestInfo:
    method = flow.request.method.upper()
    # HTTP/2 and HTTP/3 carry no Transfer-Encoding: a body without a length is streamed, and
    # only the methods that never carry a body are sure to have none.
    streamed = (
        (flow.request.is_http2 or flow.request.is_http3)
        and body.unknown_length
        and method not in _BODYLESS_METHODS
    )
    return RequestInfo(
        names=names,
        method=method,
        path=path,
        user=client.user,
        client_ip=client.ip,
        groups=client.groups,
        body_size=None if body.unknown_length else int(body.content_length or 0),
        multipart=body.content_type.startswith("multipart/"),
        chunked="chunked" in body.transfer_encoding or streamed,
    )


_BODYLESS_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "CONNECT", "TRACE"))
