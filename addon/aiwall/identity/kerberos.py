"""Kerberos single sign-on at the proxy: the server side of HTTP Negotiate (RFC 4559).

A browser on a domain-joined machine answers `407 Proxy-Authenticate: Negotiate` with a
SPNEGO token holding a Kerberos service ticket for `HTTP/<proxy host>`; `NegotiateAcceptor`
checks it with the service's keys from a keytab (GSSAPI: MIT krb5 or Heimdal through
python-gssapi) and names the user. Only Kerberos is taken: a client that offers NTLM inside
SPNEGO needs a second round trip on the same connection, which this acceptor refuses, so such
a client falls back to Basic where the proxy offers it.
"""

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

SCHEME = "Negotiate"
# A Kerberos ticket with a large PAC (many AD groups) reaches tens of kilobytes.
MAX_TOKEN = 64 * 1024


class NegotiateError(Exception):
    """A Negotiate token that does not authenticate anyone; the message says why."""


@dataclass(frozen=True)
class Accepted:
    """Who a valid token names."""

    principal: str  # alice@CORP.EXAMPLE.COM
    user: str  # as the rules and the log name them: the principal, or without the realm
    reply: str | None  # base64 token for mutual authentication, when GSSAPI produced one


def negotiate_token(header: str) -> str | None:
    """The base64 token of `Negotiate <token>`, or None for another scheme."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower():
        return None
    return token.strip()


class NegotiateAcceptor:
    """Accepts Kerberos tickets for the service principals in one keytab."""

    def __init__(self, keytab: Path, principal: str = "", keep_realm: bool = False) -> None:
        """`principal` (`HTTP/proxy.corp.example.com@CORP.EXAMPLE.COM`) restricts which of the
        keytab's keys are used; empty: any. Raises NegotiateError when the keytab cannot
        serve (missing, unreadable, no such principal) or GSSAPI is not installed."""
        try:
            import gssapi
            from gssapi.raw.misc import GSSError
        except ImportError:
            raise NegotiateError(
                "Kerberos needs python-gssapi: pip install 'aiwall[kerberos]'"
                " (it builds against the system's Kerberos headers, e.g. libkrb5-dev)"
            ) from None
        if not keytab.is_file():
            raise NegotiateError(f"no keytab at {keytab}")
        self.keep_realm = keep_realm
        self._gssapi = gssapi
        self._error = GSSError
        name = gssapi.Name(principal, gssapi.NameType.kerberos_principal) if principal else None
        try:
            self._credentials = gssapi.Credentials(
                name=name, usage="accept", store={"keytab": str(keytab)}
            )
            # Acquiring is lazy in MIT krb5: asking for the name reads the keytab now.
            self._credentials.inquire(name=True, lifetime=False, usage=False, mechs=False)
        except GSSError as error:
            raise NegotiateError(f"keytab {keytab}: {_message(error)}") from None

    def accept(self, token: str) -> Accepted:
        """Check one token (base64, as it follows `Negotiate `). Raises NegotiateError."""
        gssapi = self._gssapi
        if len(token) > MAX_TOKEN:
            raise NegotiateError("token too long")
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise NegotiateError("token is not base64") from None
        if not raw:
            raise NegotiateError("empty token")
        context = gssapi.SecurityContext(creds=self._credentials, usage="accept")
        try:
            reply = context.step(raw)
            # python-gssapi keeps a failed step's error and raises it on the next access.
            complete = context.complete
            anonymous = gssapi.RequirementFlag.anonymity in context.actual_flags
            principal = str(context.initiator_name) if complete else ""
        except self._error as error:
            raise NegotiateError(_message(error)) from None
        if not complete:
            raise NegotiateError("the client needs another round trip (NTLM?); only Kerberos")
        if anonymous:
            raise NegotiateError("anonymous tickets identify nobody")
        return Accepted(
            principal=principal,
            user=principal if self.keep_realm else user_of(principal),
            reply=base64.b64encode(reply).decode("ascii") if reply else None,
        )


def user_of(principal: str) -> str:
    """`alice@CORP.EXAMPLE.COM` → `alice`: the name a directory and Basic know her by."""
    name, at, _realm = principal.rpartition("@")
    return name if at else principal


def _message(error: Exception) -> str:
    return " ".join(str(error).split())
