"""The organisation's rules (rules.yaml): settings, groups, tenants and the ordered rule list."""

import base64
import ipaddress
import string
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ByteSize,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from aiwall.core.colours import MIN_CONTRAST, PAGE_BACKGROUND, WHITE, contrast, parse_colour
from aiwall.core.durations import parse_duration
from aiwall.core.policy import UNKNOWN, Confidence, Identifier, Kind, Strict, Training
from aiwall.core.regions import check_region
from aiwall.core.suggest import did_you_mean


class Action(StrEnum):
    """What happens to a request; later members are stricter."""

    ALLOW = "allow"
    LOG = "log"
    WARN = "warn"
    BLOCK = "block"

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]


_STRICTNESS = {action: rank for rank, action in enumerate(Action)}


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def identity_of(user: str | None, ip: IPAddress | None, methods: "tuple[Identity, ...]") -> str:
    """`user:alice` or `ip:10.0.0.7` by the first method that applies, else `anonymous`: who an
    acknowledgement belongs to and what the log calls a client."""
    for method in methods:
        if method is Identity.PROXY_AUTH and user:
            return f"user:{user}"
        if method is Identity.CLIENT_IP and ip is not None:
            return f"ip:{ip}"
    return "anonymous"


class Mode(StrEnum):
    ENFORCE = "enforce"
    SHADOW = "shadow"  # evaluate and log what would have happened; enforce nothing


class Identity(StrEnum):
    PROXY_AUTH = "proxy-auth"
    CLIENT_IP = "client-ip"


class Intercept(StrEnum):
    AI_ONLY = "ai-only"  # decrypt TLS only for AI hosts; pass everything else through untouched
    ALL = "all"  # decrypt everything, so a vendor named inside any tunnel is caught


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value))
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR network: {error}") from None


def _listed(value: Any) -> Any:
    """A single value where a list is allowed means a list of one."""
    return [value] if isinstance(value, str | int | float | bool | dict) else value


# RFC 9110 and PATCH (RFC 5789): a method outside this set is a typo, not a request to match.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def _http_method(value: str) -> str:
    method = value.upper()
    if method not in HTTP_METHODS:
        hint = did_you_mean(method, HTTP_METHODS)
        raise ValueError(
            f"{value!r} is not an HTTP method{hint} (known: {', '.join(HTTP_METHODS)})"
        )
    return method


def _region_or_unknown(value: str) -> str:
    return UNKNOWN if value == UNKNOWN else check_region(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "description": "ISO 8601 (P30D, PT8H) or 8h, 90d"}),
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Network = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    BeforeValidator(_network),
    WithJsonSchema({"type": "string", "description": "CIDR, e.g. 10.20.0.0/16"}),
]
Known = bool | Literal["unknown"]
AnyOf = BeforeValidator(_listed)
# A region code, or `unknown` to match the records that do not say.
RegionOrUnknown = Annotated[str, AfterValidator(_region_or_unknown)]
HttpMethod = Annotated[str, AfterValidator(_http_method)]


LANGUAGES = ("en", "de", "fr")  # the pages' languages; English is the fallback


class Localized(Strict):
    """A text in the pages' languages: `en` is shown where the reader's language is missing."""

    en: str
    de: str | None = None
    fr: str | None = None

    def text(self, language: str) -> str:
        return str(getattr(self, language, None) or self.en)


Text = str | Localized  # one text for every language, or one per language


def in_language(text: Text, language: str) -> str:
    return text.text(language) if isinstance(text, Localized) else text


class Alternative(Strict):
    """The tool the organisation approves instead."""

    name: Text
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]


HttpUrl = Annotated[str, Field(pattern=r"^https?://\S+$")]
# The variables an exception-request URL may hold; each is percent-encoded where it is put.
URL_VARIABLES = ("url", "host", "vendor", "rule", "user", "reference")
_LOGO_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
MAX_LOGO_BYTES = 64 * 1024


def _logo(value: str, info: ValidationInfo) -> str:
    """The logo file as a data: URI (the pages' CSP allows images from data: only).
    A relative path is read from the rules file's folder."""
    path = Path(value)
    if not path.is_absolute() and info.context and "directory" in info.context:
        path = info.context["directory"] / path
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if len(data) > MAX_LOGO_BYTES:
        raise ValueError(f"{str(path)!r} is {len(data)} bytes; a logo may have {MAX_LOGO_BYTES}")
    kind = next((t for magic, t in _LOGO_TYPES.items() if data.startswith(magic)), None)
    if kind is None and b"<svg" in data[:1024]:
        kind = "image/svg+xml"
    if kind is None:
        raise ValueError(f"{str(path)!r} is not a PNG, JPEG, GIF or SVG image")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _accent(value: str) -> str:
    parse_colour(value)
    for background in (WHITE, PAGE_BACKGROUND):
        ratio = contrast(value, background)
        if ratio < MIN_CONTRAST:
            raise ValueError(
                f"{value} has a contrast of {ratio:.1f}:1 with {background}; buttons and links"
                f" need {MIN_CONTRAST}:1: choose a darker colour"
            )
    return value.lower()


def _url_template(value: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as error:
        raise ValueError(f"{value!r}: {error}") from None
    if unknown := names - set(URL_VARIABLES):
        known = ", ".join(f"{{{name}}}" for name in URL_VARIABLES)
        raise ValueError(f"unknown variable {{{sorted(unknown)[0]}}}; known: {known}")
    return value


class PageSettings(Strict):
    """What the block and warn pages show of the organisation, and where they send people."""

    organisation: str = Field(default="", description="the organisation's name, on every page")
    logo: (
        Annotated[
            str,
            AfterValidator(_logo),
            WithJsonSchema(
                {
                    "type": "string",
                    "description": "PNG, JPEG, GIF or SVG file (relative: to this file)",
                }
            ),
        ]
        | None
    ) = None
    accent: Annotated[str, AfterValidator(_accent)] | None = Field(
        default=None, description="#rrggbb for buttons and links; 4.5:1 against white"
    )
    acceptable_use_url: HttpUrl | None = None
    privacy_url: HttpUrl | None = None
    contact_url: Annotated[str, Field(pattern=r"^(mailto:|tel:|https?://)\S+$")] | None = Field(
        default=None,
        description="mailto:, tel: or http(s) link for settings.contact; mailto: gets a subject,"
        " an http(s) link the variables of exception_url",
    )
    exception_url: (
        Annotated[str, Field(pattern=r"^https?://\S+$"), AfterValidator(_url_template)] | None
    ) = Field(
        default=None,
        description="where to ask for an exception; may hold {url} {host} {vendor} {rule}"
        " {user} {reference}",
    )
    justification_readers: str = Field(
        default="", description="who reads warn-page justifications, e.g. 'the security team'"
    )


class Directory(Strict):
    """An LDAP directory (or Active Directory) that groups can be read from (`groups.*.directory`).

    Read in the background every `refresh`, never while a request waits; when it cannot be
    read, the membership last read keeps serving."""

    url: Annotated[str, Field(pattern=r"^ldaps?://\S+$")] = Field(
        description="ldap://dc1.corp.example.com:389 or ldaps://..."
    )
    start_tls: bool = Field(default=False, description="upgrade ldap:// with StartTLS")
    bind_dn: str = Field(default="", description="who aiwall reads as; empty: anonymous")
    bind_password_file: str = Field(
        default="", description="file holding bind_dn's password (kept out of the rules file)"
    )
    base_dn: str = Field(description="where members are searched (membership: memberOf)")
    user_attribute: str = Field(
        default="uid", description="the attribute holding the user name: uid, sAMAccountName"
    )
    membership: Literal["member", "memberOf"] = Field(
        default="member",
        description="member: groups list their members; memberOf: members name their groups",
    )
    refresh: PositiveDuration = Field(
        default=timedelta(minutes=5), description="how often membership is read again"
    )
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=10), description="for connecting and for each search"
    )


def _no_default_warning(action: Action) -> Action:
    if action is Action.WARN:
        raise ValueError(
            "a warning needs a rule (its message, how long an acknowledgement lasts): end the"
            " rules with one that has no match and `action: warn` instead"
        )
    return action


class Settings(Strict):
    default_action: Annotated[Action, AfterValidator(_no_default_warning)] = Field(
        default=Action.LOG, description="for AI traffic that no rule matches: allow, log or block"
    )
    ack_ttl: PositiveDuration = Field(
        default=timedelta(hours=8), description="how long an acknowledged warning lasts"
    )
    stale_after: PositiveDuration = Field(
        default=timedelta(days=365), description="a record older than this counts as stale"
    )
    failure_mode: Literal["closed"] = Field(
        default="closed",
        description="an internal error answers AI traffic with an error page; no open mode",
    )
    identity: tuple[Identity, ...] = Field(
        default=(Identity.PROXY_AUTH, Identity.CLIENT_IP),
        min_length=1,
        description="how a client is identified, first that applies",
    )
    contact: str = Field(default="your IT service desk", description="shown on every page")
    upload_size: ByteSize = Field(
        default=ByteSize(1 << 20), description="a body above this is an upload (`upload: true`)"
    )
    intercept: Intercept = Intercept.AI_ONLY
    pages: PageSettings = Field(default_factory=PageSettings)
    directory: Directory | None = Field(
        default=None, description="the LDAP directory groups with `directory:` are read from"
    )
    ack_requires_user: bool = Field(
        default=False,
        description="only an authenticated user may acknowledge a warning; a client known by"
        " its address alone sees the warning without a way to continue",
    )


class Group(Strict):
    """Named users and client networks; a client in either belongs to the group, and so does a
    member of the directory group named by `directory` (nested groups included)."""

    users: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()
    directory: str | None = Field(
        default=None, description="DN of a directory group: cn=ai-users,ou=groups,dc=corp,..."
    )

    def has(self, user: str | None, ip: IPAddress | None) -> bool:
        """Whether a client with this user name (if known) and address belongs to the group."""
        if user is not None and user in self.users:
            return True
        return ip is not None and any(ip in network for network in self.networks)


class Match(Strict):
    """All given fields must hold; a list means any of its values."""

    vendor: Annotated[tuple[Identifier, ...], AnyOf] = ()
    product: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$")], ...],
        AnyOf,
    ] = Field(default=(), description="vendor/product, e.g. openai/chatgpt-enterprise")
    kind: Annotated[tuple[Kind, ...], AnyOf] = ()
    training: Annotated[tuple[Training, ...], AnyOf] = ()
    residency: Annotated[tuple[RegionOrUnknown, ...], AnyOf] = Field(
        default=(),
        description="data stored or processed in any of these; `unknown` matches the records"
        " that do not say (without it they never match)",
    )
    residency_outside: Annotated[tuple[RegionOrUnknown, ...], AnyOf] = Field(
        default=(), description="data stored or processed anywhere else (unknown matches)"
    )
    jurisdiction: Annotated[tuple[RegionOrUnknown, ...], AnyOf] = Field(
        default=(),
        description="the law of any of these countries governs the operator; `unknown` matches"
        " the records that do not say (without it they never match)",
    )
    zero_retention: Annotated[tuple[Known, ...], AnyOf] = ()
    dpa: Annotated[tuple[Known, ...], AnyOf] = ()
    retention_over: Duration | None = Field(
        default=None, description="kept longer than this; open-ended and unknown count as over"
    )
    confidence: Annotated[tuple[Confidence, ...], AnyOf] = ()
    stale: bool | None = None
    under_review: bool | None = Field(
        default=None,
        description="true: a page that some of the product's facts rest on changed since it was"
        " verified (`aiwall sources check`), and nobody has re-verified it yet",
    )
    group: Annotated[tuple[Identifier, ...], AnyOf] = ()
    user: Annotated[tuple[str, ...], AnyOf] = Field(
        default=(),
        description="proxy-auth user names; known only when settings.identity has proxy-auth",
    )
    network: Annotated[tuple[Network, ...], AnyOf] = ()
    method: Annotated[tuple[HttpMethod, ...], AnyOf] = ()
    path: Annotated[tuple[str, ...], AnyOf] = Field(
        default=(), description="glob on the path without query: /api/*/upload*"
    )
    upload: bool | ByteSize | None = Field(
        default=None,
        description="true: multipart or a body above settings.upload_size; a size: above it",
    )
    host: Annotated[tuple[str, ...], AnyOf] = Field(
        default=(), description="host names (and subdomains); makes unlisted hosts AI traffic"
    )

    @field_validator("residency_outside")
    @classmethod
    def _outside_names_regions(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        if UNKNOWN in regions:
            raise ValueError("unknown residency always counts as outside: list regions only")
        return regions

    @field_validator("path")
    @classmethod
    def _paths_are_absolute(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not path.startswith(("/", "*")):
                raise ValueError(f"{path!r} must start with / or *")
        return paths


class Rule(Strict):
    id: Identifier
    description: str
    match: Match = Field(default_factory=Match, description="omitted: all AI traffic")
    action: Action
    mode: Mode = Mode.ENFORCE
    message: Text = ""
    alternative: Alternative | None = None
    require_justification: bool = False
    ack_ttl: PositiveDuration | None = Field(
        default=None, description="how long an acknowledgement of this rule lasts; unset: settings"
    )
    record: bool = Field(
        default=False,
        description="allow only: record the allowed use as per-session counts (session events)",
    )

    @model_validator(mode="after")
    def _warn_options_need_warn(self) -> "Rule":
        if self.action is not Action.WARN:
            for option in ("require_justification", "ack_ttl"):
                if getattr(self, option) not in (None, False):
                    raise ValueError(f"{option} only applies to action warn")
        if self.record and self.action is not Action.ALLOW:
            raise ValueError("record only applies to action allow (the others are logged)")
        return self


class PolicyTest(Strict):
    """One request and what the rules must do with it; `aiwall check` and every reload run them."""

    url: str = Field(
        min_length=1, description="what the client asks for, e.g. https://chat.deepseek.com/"
    )
    user: str | None = Field(default=None, description="proxy-auth user name")
    ip: IPAddress | None = Field(default=None, description="client address")
    method: HttpMethod = "GET"
    upload: bool | ByteSize = Field(
        default=False, description="true: a multipart upload; a size: a body of that many bytes"
    )
    # The actions, and none: one closed set, so a typo gets one message naming all five.
    expect: Literal["allow", "log", "warn", "block", "none"] = Field(
        description="the action, or none for traffic that is not AI (it passes untouched)"
    )
    rule: Identifier | None = Field(
        default=None, description="the id of the rule that must decide; unset: any (or none)"
    )
    note: str = Field(default="", description="why: what the case documents")


class RulesFile(Strict):
    settings: Settings = Field(default_factory=Settings)
    groups: dict[Identifier, Group] = Field(default_factory=dict)
    tenants: dict[Identifier, dict[str, Annotated[tuple[str, ...], AnyOf]]] = Field(
        default_factory=dict,
        description="vendor → restriction header → the organisation's tenant ids",
    )
    rules: tuple[Rule, ...] = ()
    tests: tuple[PolicyTest, ...] = Field(
        default=(), description="requests and the outcome the rules must give them"
    )
