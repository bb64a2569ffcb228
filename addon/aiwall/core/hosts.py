"""Host names as aiwall compares them: normalisation and rejection with a reason."""

import functools
import ipaddress
import re

import idna

_MAX_NAME_OCTETS = 253
# The longest host worth parsing: a 253-octet name, its trailing dot and `:65535`. Longer
# input is rejected before parsing and caching, so neither a 16 KB Host header nor a stream
# of distinct long names costs much time or cache memory.
_MAX_INPUT_CHARS = _MAX_NAME_OCTETS + len(".:65535")
_MAX_LABEL_OCTETS = 63
_MAX_PORT = 65535
_NAME_TOO_LONG = f"longer than {_MAX_NAME_OCTETS} octets"

# A lowercase LDH name whose last label starts with a letter (so it is no IPv4 address).
# Matched only on inputs of at most 253 characters; the label class excludes ".", so
# backtracking stays within one label.
_PLAIN_NAME = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
# After UTS-46 mapping, the ASCII characters a name may contain; non-ASCII is left to idna.
_NOT_LDH = re.compile(r"[^a-z0-9.\-\x80-\U0010ffff]")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}", re.ASCII)
_IPV6_CHARACTERS = re.compile(r"[0-9a-fA-F:.]+")
_RADIX_DIGITS = {
    8: frozenset("01234567"),
    10: frozenset("0123456789"),
    16: frozenset("0123456789abcdef"),
}


class InvalidHost(ValueError):
    """A name that is no valid host; `reason` says why, `host` is the input (repr-safe)."""

    def __init__(self, host: str, reason: str) -> None:
        shown = redacted(host)
        shown = shown if len(shown) <= 100 else f"{shown[:100]}… ({len(shown)} characters)"
        super().__init__(f"invalid host {shown!r}: {reason}")
        self.host = host
        self.reason = reason


class _Rejected(Exception):
    """Raised while parsing; normalise_host turns it into InvalidHost quoting the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_host(raw: str) -> str:
    """The canonical form of a host name or IP literal, or InvalidHost."""
    if len(raw) > _MAX_INPUT_CHARS:
        raise InvalidHost(raw, f"longer than {_MAX_INPUT_CHARS} characters")
    outcome = _cached_outcome(raw)
    if isinstance(outcome, _Rejected):
        raise InvalidHost(raw, outcome.reason)
    return outcome


def redacted(raw: str) -> str:
    """A name as seen, fit for a log or a page: any `user:password@` replaced."""
    return f"<redacted>@{raw.rpartition('@')[2]}" if "@" in raw else raw


def is_ip(host: str) -> bool:
    """Whether an already-normalised host is an IP address rather than a name."""
    return ":" in host or _DOTTED_QUAD.fullmatch(host) is not None


@functools.lru_cache(maxsize=65536)
def _cached_outcome(raw: str) -> str | _Rejected:
    try:
        return _canonical(raw)
    except _Rejected as rejected:
        # A fresh instance: the raised one holds its traceback, and with it the parser's frames.
        return _Rejected(rejected.reason)


def _canonical(raw: str) -> str:
    if "@" in raw:  # `user:password@host`: never echoed, it may carry a password
        raise _Rejected("a host name must not carry user:password@")
    host = _without_port(raw)
    if host.startswith("["):
        return _ipv6(host[1:-1])
    if ":" in host:
        return _ipv6(host)
    if host.isascii():
        name = host.lower()
        plain = name.removesuffix(".")
        if len(plain) <= _MAX_NAME_OCTETS and _PLAIN_NAME.fullmatch(plain) and "xn--" not in plain:
            return plain
        return _name_or_ipv4(name)
    return _name_or_ipv4(_uts46_mapped(host))


def _without_port(raw: str) -> str:
    """The host part of `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 has no port."""
    if raw.startswith("["):
        end = raw.find("]")
        if end == -1:
            raise _Rejected("'[' without ']'")
        host, rest = raw[: end + 1], raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise _Rejected(f"{rest!r} after ']'")
            _check_port(rest[1:])
        return host
    if raw.count(":") == 1:
        host, _, port = raw.partition(":")
        _check_port(port)
        return host
    return raw


def _check_port(port: str) -> None:
    if not port:
        raise _Rejected("empty port")
    if not (port.isascii() and port.isdigit()):
        raise _Rejected(f"port {port!r} is not a number")
    if int(port) > _MAX_PORT:
        raise _Rejected(f"port {port} is out of range")


def _ipv6(literal: str) -> str:
    if "%" in literal:
        raise _Rejected("IPv6 zone identifiers are not allowed")
    if not _IPV6_CHARACTERS.fullmatch(literal):
        raise _Rejected("not an IPv6 address")
    try:
        address = ipaddress.IPv6Address(literal)
    except ValueError as err:
        raise _Rejected(f"not an IPv6 address ({err})") from None
    # An IPv4-mapped address reaches the IPv4 host, so IPv4 rules must see it as one.
    return str(address.ipv4_mapped or address)


def _uts46_mapped(host: str) -> str:
    try:
        return idna.uts46_remap(host, std3_rules=False)
    except idna.IDNAError:
        # UTS-46 maps character by character, so the one at fault also fails on its own.
        culprit = next(character for character in host if not _uts46_allows(character))
        raise _Rejected(_character_reason(culprit)) from None


def _uts46_allows(character: str) -> bool:
    try:
        idna.uts46_remap(character, std3_rules=False)
    except idna.IDNAError:
        return False
    return True


def _character_reason(character: str) -> str:
    return f"character {character!r} (U+{ord(character):04X}) is not allowed in a host name"


def _name_or_ipv4(mapped: str) -> str:
    """Check a lowercase, UTS-46-mapped name; return its A-label form or the IPv4 it spells."""
    if forbidden := _NOT_LDH.search(mapped):
        raise _Rejected(_character_reason(forbidden.group()))
    # One trailing dot marks a fully qualified name, also on an IPv4 address (as WHATWG does).
    name = mapped.removesuffix(".")
    if not name:
        raise _Rejected("empty host")
    labels = name.split(".")
    if "" in labels:
        raise _Rejected("empty label")
    if _ends_in_number(labels[-1]):
        return _ipv4(labels)
    # An A-label is never shorter than its U-label, so an over-long name is rejected before
    # the costly IDNA checks run on it.
    if len(name) > _MAX_NAME_OCTETS:
        raise _Rejected(_NAME_TOO_LONG)
    canonical = ".".join(_a_label(label) for label in labels)
    if len(canonical) > _MAX_NAME_OCTETS:
        raise _Rejected(_NAME_TOO_LONG)
    return canonical


def _a_label(label: str) -> str:
    if not label.isascii():
        try:
            return idna.alabel(label).decode("ascii")
        except idna.IDNAError as err:
            raise _Rejected(f"label {label!r} is no valid IDN label: {err}") from None
    # ASCII labels skip idna's hyphen rule for positions 3-4: names like
    # `r4---sn-abc.googlevideo.com` are in use, and only `xn--` marks an A-label.
    if label.startswith("-") or label.endswith("-"):
        raise _Rejected(f"label {label!r} starts or ends with a hyphen")
    if len(label) > _MAX_LABEL_OCTETS:
        raise _Rejected(f"label {label[:20]!r}... is longer than {_MAX_LABEL_OCTETS} octets")
    if label.startswith("xn--"):
        try:
            idna.ulabel(label)
        except idna.IDNAError as err:
            raise _Rejected(f"label {label!r} is no valid A-label: {err}") from None
    return label


def _ends_in_number(label: str) -> bool:
    """WHATWG's test for a name that must parse as IPv4: `1.2.3.4`, `0x7f.1`, `x.0x`."""
    return (label.isascii() and label.isdigit()) or _ipv4_number(label) is not None


def _ipv4_number(part: str) -> int | None:
    if part.startswith("0x"):
        digits, radix = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, radix = part[1:], 8
    else:
        digits, radix = part, 10
    if not set(digits) <= _RADIX_DIGITS[radix]:
        return None
    return int(digits, radix) if digits else 0


def _ipv4(parts: list[str]) -> str:
    """WHATWG IPv4 parsing: up to four parts, the last one filling the remaining bytes."""
    if len(parts) > 4:
        raise _Rejected("ends in a number but has more than four parts")
    numbers: list[int] = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            raise _Rejected(f"ends in a number but {part!r} is no IPv4 number")
        numbers.append(number)
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        raise _Rejected("IPv4 address out of range")
    address = last + sum(number << (8 * (3 - index)) for index, number in enumerate(leading))
    return str(ipaddress.IPv4Address(address))
