"""What the engine is asked (a request description) and what it answers (a decision)."""

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from aiwall.core.policy import Product, VendorRecord
from aiwall.core.rules import Action, Rule


@dataclass(frozen=True)
class HostName:
    """One name a request carries, and where it was seen: connect, sni, host, url."""

    seen_in: str
    raw: str


@dataclass(frozen=True)
class RequestInfo:
    """Everything the rules may look at, known by the time the request headers arrive."""

    names: tuple[HostName, ...]
    method: str = "GET"
    path: str = "/"
    user: str | None = None
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    groups: frozenset[str] = frozenset()  # rules-file groups the directory puts the user in
    body_size: int | None = None  # None: unknown (chunked) or no body
    multipart: bool = False
    chunked: bool = False


@dataclass(frozen=True)
class NameOutcome:
    """What one name of the request resolved to."""

    seen_in: str
    raw: str
    host: str | None  # normalised; None when invalid
    ai: bool = False  # a registry vendor's host, or one a rule names
    vendor: str | None = None
    product: str | None = None
    invalid: str | None = None  # the reason the name was refused


@dataclass(frozen=True)
class RuleTrial:
    """One rule tried, for `aiwall explain`: whether it matched and, if not, on which field."""

    rule: Rule
    matched: bool
    failed_on: str | None = None


@dataclass(frozen=True)
class ShadowOutcome:
    rule: Rule
    action: Action


@dataclass(frozen=True)
class TenantHeader:
    name: str
    value: str


@dataclass(frozen=True)
class Decision:
    """The answer for one request: the action, and why."""

    action: Action
    ai: bool  # False: not AI traffic; it passes untouched and unlogged
    reason: str
    host: str | None = None  # the name that decided
    vendor: VendorRecord | None = None
    product: Product | None = None
    rule: Rule | None = None  # None: the default action (or no AI traffic)
    facts: dict[str, Any] = field(default_factory=dict)  # the vendor facts the rule used
    shadow: tuple[ShadowOutcome, ...] = ()
    stale: bool = False
    names: tuple[NameOutcome, ...] = ()
    tenant_headers: tuple[TenantHeader, ...] = ()
    invalid: str | None = None  # a name was invalid: answer 400, never match loosely
    trace: tuple[RuleTrial, ...] = ()
    # With a warning: every warned destination among the names, each with its own rule. The
    # request goes on only when the client has acknowledged all of them.
    warned: tuple["Decision", ...] = ()
    # Where this destination keeps data: a data-residency host's region, else the product's.
    residency: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.invalid is not None or self.action is Action.BLOCK

    @property
    def product_ref(self) -> str | None:
        """`vendor/product`, or None for a host only the rules name."""
        if self.vendor is None or self.product is None:
            return None
        return self.vendor.ref(self.product)

    @property
    def ack_scope(self) -> str:
        """What an acknowledgement covers: the vendor, or the host for one only a rule names."""
        return self.vendor.id if self.vendor else f"host:{self.host}"
