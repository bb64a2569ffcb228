"""Who sent a flow, before the engine is asked: Kerberos (Negotiate) with a Basic fallback at
aiwall itself, or the identity a trusted child proxy forwards.

Cases it handles:
- `aiwall_trusted_proxies`: a request (or CONNECT) from one of these addresses names its user
  in `X-Authenticated-User` and its client in `X-Forwarded-For`. From anyone else the
  headers are ignored. Either way aiwall removes them: vendors never see them.
- Inside a tunnel only the CONNECT counts: the requests in it come from the client itself,
  whatever headers they carry. A plain proxied request is judged on its own headers, since a
  child proxy sends requests of several users over one connection.
- `aiwall_negotiate_keytab`: every client authenticates. No or a bad credential gets
  `407 Proxy-Authenticate: Negotiate` (and `Basic` when `aiwall_negotiate_basic` names a
  fallback). A CONNECT's identity holds for its tunnel; a Kerberos identity holds for the
  client connection (Negotiate authenticates connections), a Basic one for its request.
- mitmproxy's own `proxyauth` (Basic with htpasswd or LDAP) needs nothing here: its user is
  in `flow.metadata["proxyauth"]` already. It cannot be combined with Negotiate (it would
  answer the Negotiate header with its own 407): the fallback takes its place.

What this step concludes goes into `flow.metadata` (`proxyauth`, `aiwall_client_ip`), which
`proxy/flows.py` reads into the request description.
"""

import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import connection, ctx, exceptions, http
from mitmproxy.addonmanager import Loader
from mitmproxy.addons import proxyauth

from aiwall.identity import forwarded
from aiwall.identity.kerberos import NegotiateAcceptor, NegotiateError, negotiate_token
from aiwall.proxy.flows import CLIENT_IP, client_ip

logger = logging.getLogger("aiwall")

REALM = "aiwall"
_OWN_HEADERS = (forwarded.USER_HEADER, forwarded.FORWARDED_FOR_HEADER)


@dataclass(frozen=True)
class Identified:
    """Who a connection or request is, as this step found out."""

    user: str | None
    ip: forwarded.IPAddress | None


class Identify:
    """Options and state of the identification step; the addon calls it first in each hook."""

    def __init__(self) -> None:
        self.trusted: tuple[forwarded.Network, ...] = ()
        self.negotiate: NegotiateAcceptor | None = None
        self.basic: proxyauth.Validator | None = None
        # Identity of each client connection: a tunnel's CONNECT, or a Kerberos login.
        self._connections: weakref.WeakKeyDictionary[connection.Client, Identified] = (
            weakref.WeakKeyDictionary()
        )
        self._tunnels: weakref.WeakSet[connection.Client] = weakref.WeakSet()

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "aiwall_trusted_proxies",
            str,
            "",
            "Comma-separated CIDRs of child proxies whose X-Authenticated-User and"
            " X-Forwarded-For are believed (from anyone else they are ignored; always removed).",
        )
        loader.add_option(
            "aiwall_negotiate_keytab",
            str,
            "",
            "Keytab holding HTTP/<proxy host>: clients must authenticate with Kerberos"
            " (Proxy-Authenticate: Negotiate). Empty: off.",
        )
        loader.add_option(
            "aiwall_negotiate_principal",
            str,
            "",
            "The service principal to accept tickets for (empty: any in the keytab).",
        )
        loader.add_option(
            "aiwall_negotiate_keep_realm",
            bool,
            False,
            "Name Kerberos users alice@REALM instead of alice.",
        )
        loader.add_option(
            "aiwall_negotiate_basic",
            str,
            "",
            "Basic fallback beside Negotiate, as mitmproxy's proxyauth takes it:"
            " @htpasswd-file or ldap[s]:host[:port]:bind-dn:password:subtree. Empty: none.",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        if "aiwall_trusted_proxies" in updated:
            try:
                self.trusted = forwarded.parse_trusted_proxies(options.aiwall_trusted_proxies)
            except ValueError as error:
                raise exceptions.OptionsError(f"aiwall_trusted_proxies: {error}") from None
        negotiate_options = {
            "aiwall_negotiate_keytab",
            "aiwall_negotiate_principal",
            "aiwall_negotiate_keep_realm",
        }
        if negotiate_options & updated:
            self.negotiate = _acceptor(
                options.aiwall_negotiate_keytab,
                options.aiwall_negotiate_principal,
                options.aiwall_negotiate_keep_realm,
            )
        if "aiwall_negotiate_basic" in updated:
            self.basic = _basic_validator(options.aiwall_negotiate_basic)
        if (
            {"proxyauth", "aiwall_negotiate_keytab"} & updated
            and options.aiwall_negotiate_keytab
            and options.proxyauth
        ):
            raise exceptions.OptionsError(
                "proxyauth cannot be combined with aiwall_negotiate_keytab:"
                f" give the Basic fallback as aiwall_negotiate_basic={options.proxyauth}"
            )

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """Identify a tunnel; answer 407 when aiwall authenticates and the client did not."""
        self._tunnels.add(flow.client_conn)
        identified = self._identify(flow)
        if identified is not None:
            self._connections[flow.client_conn] = identified
            _note(flow, identified)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        client = flow.client_conn
        known = self._connections.get(client)
        if client in self._tunnels:
            _strip(flow)  # inside a tunnel: written by the client, never believed
            if known is not None:
                _note(flow, known)
            return
        identified = self._identify(flow)
        if identified is not None:
            _note(flow, identified)

    def _identify(self, flow: http.HTTPFlow) -> Identified | None:
        """The identity of a CONNECT or plain proxied request; None when not established (a
        407 is set when aiwall requires authentication)."""
        headers = flow.request.headers
        peer = client_ip(flow.client_conn)
        if self.trusted and forwarded.is_trusted(peer, self.trusted):
            said = forwarded.forwarded_identity(
                headers.get_all(forwarded.USER_HEADER),
                headers.get_all(forwarded.FORWARDED_FOR_HEADER),
                self.trusted,
            )
            _strip(flow)
            return Identified(said.user, said.ip or peer)
        _strip(flow)
        if self.negotiate is None:
            return None
        known = self._connections.get(flow.client_conn)
        if known is not None and known.user is not None:
            return known
        credential = headers.get("proxy-authorization", "")
        headers.pop("proxy-authorization", None)  # never forwarded
        user = self._authenticate(flow, credential)
        if user is None:
            flow.response = _challenge(self.basic is not None)
            return None
        return Identified(user, peer)

    def _authenticate(self, flow: http.HTTPFlow, credential: str) -> str | None:
        assert self.negotiate is not None
        token = negotiate_token(credential)
        if token is not None:
            try:
                accepted = self.negotiate.accept(token)
            except NegotiateError as error:
                logger.info("aiwall: Negotiate refused from %s: %s", _peer(flow), error)
                return None
            # Kerberos authenticates the connection: later requests on it need no token.
            peer = client_ip(flow.client_conn)
            self._connections[flow.client_conn] = Identified(accepted.user, peer)
            return accepted.user
        if self.basic is not None and credential:
            try:
                _, user, password = proxyauth.parse_http_basic_auth(credential)
                if self.basic(user, password):
                    return user
            except Exception as error:  # the validators raise whatever their backend raises
                logger.info("aiwall: Basic refused from %s: %s", _peer(flow), error)
        return None


def _note(flow: http.HTTPFlow, identified: Identified) -> None:
    if identified.user is not None:
        flow.metadata["proxyauth"] = (identified.user, "")
    if identified.ip is not None:
        flow.metadata[CLIENT_IP] = identified.ip


def _strip(flow: http.HTTPFlow) -> None:
    # One pass over the fields to see whether any is there: most requests carry none, and each
    # pop would scan (and lower-case) every field again.
    headers = flow.request.headers
    if any(name.lower() in _OWN_FIELDS for name, _ in headers.fields):
        for name in _OWN_HEADERS:
            headers.pop(name, None)


_OWN_FIELDS = frozenset(name.lower().encode() for name in _OWN_HEADERS)


def _challenge(basic: bool) -> http.Response:
    headers = [(b"Proxy-Authenticate", b"Negotiate")]
    if basic:
        headers.append((b"Proxy-Authenticate", f'Basic realm="{REALM}"'.encode()))
    headers.append((b"Content-Type", b"text/plain; charset=utf-8"))
    body = b"Proxy authentication required: sign in to use this proxy.\n"
    return http.Response.make(407, body, headers)


def _acceptor(keytab: str, principal: str, keep_realm: bool) -> NegotiateAcceptor | None:
    if not keytab:
        return None
    try:
        return NegotiateAcceptor(Path(keytab), principal, keep_realm)
    except NegotiateError as error:
        raise exceptions.OptionsError(f"aiwall_negotiate_keytab: {error}") from None


def _basic_validator(spec: str) -> proxyauth.Validator | None:
    """The same specifications mitmproxy's proxyauth takes, through its own validators."""
    if not spec:
        return None
    if spec.startswith("@"):
        return proxyauth.Htpasswd(spec)
    if spec.startswith("ldap"):
        return proxyauth.Ldap(spec)
    raise exceptions.OptionsError(
        f"aiwall_negotiate_basic: {spec!r} is neither @htpasswd-file nor ldap[s]:..."
    )


def _peer(flow: http.HTTPFlow) -> str:
    ip = client_ip(flow.client_conn)
    return str(ip) if ip else "-"
