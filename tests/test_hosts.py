"""Host normalisation: one canonical form per host, a reason for every rejection."""

import ipaddress
import time

import idna
import pytest
from aiwall.core.hosts import InvalidHost, is_ip, normalise_host
from hypothesis import given
from hypothesis import strategies as st

SIXTEEN_KB_NAME = "a" * 16 * 1024
LONGEST_NAME = ".".join(["a" * 63] * 3) + "." + "b" * 61
# 253 octets with an A-label in it, so it takes the IDNA path rather than the plain-ASCII one
LONGEST_IDN_NAME = "xn--bcher-kva." + ".".join(["a" * 63] * 3) + "." + "b" * 47


def fullwidth(ascii_text: str) -> str:
    """The fullwidth form (U+FF01..U+FF5E) of printable ASCII, which UTS-46 maps back."""
    return "".join(chr(ord(character) + 0xFEE0) for character in ascii_text)


CANONICAL = [
    # case, one trailing dot, port
    ("chat.deepseek.com", "chat.deepseek.com"),
    ("CHAT.DeepSeek.COM", "chat.deepseek.com"),
    ("chat.deepseek.com.", "chat.deepseek.com"),
    ("chat.deepseek.com:443", "chat.deepseek.com"),
    ("CHAT.DEEPSEEK.COM.:8443", "chat.deepseek.com"),
    ("chat.deepseek.com:0", "chat.deepseek.com"),
    ("chat.deepseek.com:65535", "chat.deepseek.com"),
    ("localhost", "localhost"),
    ("a.b1", "a.b1"),
    ("r4---sn-4g5e6nsz.googlevideo.com", "r4---sn-4g5e6nsz.googlevideo.com"),
    ("a" * 63 + ".com", "a" * 63 + ".com"),
    (LONGEST_NAME, LONGEST_NAME),
    (LONGEST_NAME + ".:65535", LONGEST_NAME),
    # IDN: U-label and A-label forms agree
    ("bücher.de", "xn--bcher-kva.de"),
    ("BÜCHER.de", "xn--bcher-kva.de"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("bücher." + "a" * 63 + ".com", "xn--bcher-kva." + "a" * 63 + ".com"),
    (LONGEST_IDN_NAME, LONGEST_IDN_NAME),
    (LONGEST_IDN_NAME.replace("xn--bcher-kva", "bücher"), LONGEST_IDN_NAME),
    ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
    ("bücher.de.:443", "xn--bcher-kva.de"),
    ("faß.de", "xn--fa-hia.de"),
    ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
    ("xn--r8jz45g.xn--zckzah", "xn--r8jz45g.xn--zckzah"),
    # UTS-46 mappings: fullwidth letters, other full stops, ignored characters
    (fullwidth("chat.deepseek.com"), "chat.deepseek.com"),
    (fullwidth("CHAT") + ".deepseek.com", "chat.deepseek.com"),
    ("chat\u3002deepseek\u3002com", "chat.deepseek.com"),
    ("chat\uff0edeepseek\uff61com", "chat.deepseek.com"),
    ("chat.deepseek.com\u3002", "chat.deepseek.com"),
    ("deep\u00adseek.com", "deepseek.com"),
    # UTS-46 marks U+200B "ignored" (mapped to nothing), like the soft hyphen
    ("deep\u200bseek.com", "deepseek.com"),
    # IPv4 by the WHATWG host parser
    ("127.0.0.1", "127.0.0.1"),
    ("127.0.0.1:8080", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("1234567890", "73.150.2.210"),  # every decimal digit
    ("0.001234567", "0.5.57.119"),  # every octal digit
    ("0xfedcba9", "15.237.203.169"),
    ("0x7f.1", "127.0.0.1"),
    ("0X7F.0X1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0177.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("1.2.3.4.", "1.2.3.4"),
    ("0x.0", "0.0.0.0"),
    ("0", "0.0.0.0"),
    ("00", "0.0.0.0"),
    ("4294967295", "255.255.255.255"),
    ("1.16777215", "1.255.255.255"),
    (fullwidth("127.0.0.1"), "127.0.0.1"),
    ("127\u30020\u30020\u30021", "127.0.0.1"),
    # IPv6, bracketed or bare, IPv4-mapped
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("[::1]:8080", "::1"),
    ("[0:0:0:0:0:0:0:1]", "::1"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("::ffff:7f00:1", "127.0.0.1"),
    ("[::FFFF:7F00:1]:80", "127.0.0.1"),
    ("::127.0.0.1", "::7f00:1"),
]

INVALID = [
    ("", "empty host"),
    (".", "empty host"),
    (":443", "empty host"),
    ("chat..deepseek.com", "empty label"),
    (".chat.deepseek.com", "empty label"),
    ("chat.deepseek.com..", "empty label"),
    ("chat.deepseek.com.\u3002", "empty label"),
    ("chat deepseek.com", "' '"),
    ("chat.deepseek.com ", "' '"),
    ("chat\t.deepseek.com", r"'\t'"),
    ("chat.deepseek.com\r\n", r"'\r'"),
    ("chat\x00.deepseek.com", r"'\x00'"),
    ("chat\x7f.deepseek.com", r"'\x7f'"),
    ("chat_bot.deepseek.com", "'_'"),
    ("chat%2edeepseek.com", "'%'"),
    ("user@chat.deepseek.com", "user:password@"),
    ("allowed.example@chat.deepseek.com", "user:password@"),
    ("chat.deepseek.com/v1", "'/'"),
    ("chat.deepseek.com\\v1", "'\\\\'"),
    ('"chat.deepseek.com"', "'\"'"),
    ("'chat.deepseek.com'", '"\'"'),
    (fullwidth("chat_bot") + ".deepseek.com", "'_'"),
    ("chat.deepseek.com" + fullwidth(":443"), "':'"),
    ("-chat.deepseek.com", "hyphen"),
    ("chat-.deepseek.com", "hyphen"),
    ("a" * 64 + ".com", "longer than 63 octets"),
    (".".join(["a" * 63] * 4), "longer than 253 octets"),
    (".".join(["a" * 63] * 3) + "." + "b" * 62, "longer than 253 octets"),
    ("ü" * 60 + ".de", "Label too long"),
    (SIXTEEN_KB_NAME, "longer than 260 characters"),
    ("a" * 261, "longer than 260 characters"),
    # characters UTS-46 or IDNA 2008 disallow
    ("\ud800.com", r"'\ud800'"),
    ("chat\u202e.deepseek.com", "U+202E"),
    ("chat\u200d.deepseek.com", "Joiner U+200D"),
    ("i\u2764.ws", "U+2764"),
    ("\u0301a.com", "combining"),
    ("ab\u2025cd.com", "U+2025"),
    # A-labels that do not decode to a valid U-label
    ("xn--zz.com", "no valid A-label"),
    ("xn--.com", "hyphen"),
    ("xn--abc-.com", "hyphen"),
    ("xn---bbk.com", "no valid A-label"),
    ("xn--i-7iq.ws", "no valid A-label"),
    ("xn--ü.com", "no valid IDN label"),
    # ports
    ("chat.deepseek.com:", "empty port"),
    ("chat.deepseek.com:99999", "out of range"),
    ("chat.deepseek.com:65536", "out of range"),
    ("chat.deepseek.com:abc", "not a number"),
    ("chat.deepseek.com:+443", "not a number"),
    ("chat.deepseek.com: 443", "not a number"),
    ("chat.deepseek.com:" + fullwidth("443"), "not a number"),
    ("chat.deepseek.com:443:443", "not an IPv6 address"),
    # IPv4 that the WHATWG parser rejects
    ("256.256.256.256", "out of range"),
    ("1.2.3.256", "out of range"),
    ("4294967296", "out of range"),
    ("1.16777216", "out of range"),
    ("0x1.2.3.4.5", "more than four parts"),
    ("1.2.3.4.5", "more than four parts"),
    ("08.1", "no IPv4 number"),
    ("0xg.1", "no IPv4 number"),
    ("chat.deepseek.123", "no IPv4 number"),
    ("chat.deepseek.0x1f", "no IPv4 number"),
    # IPv6
    ("fe80::1%eth0", "zone identifiers"),
    ("[fe80::1%25eth0]", "zone identifiers"),
    ("[127.0.0.1]", "not an IPv6 address"),
    ("[chat.deepseek.com]", "not an IPv6 address"),
    ("[]", "not an IPv6 address"),
    ("1:2:3:4:5:6:7:8:9", "not an IPv6 address"),
    ("[::1", "without ']'"),
    ("[::1]x", "after ']'"),
    ("[::1]:", "empty port"),
    ("::\u0661", "not an IPv6 address"),  # ARABIC-INDIC DIGIT ONE
]


@pytest.mark.parametrize(("raw", "canonical"), CANONICAL)
def test_host_normalises_to_canonical_form(raw: str, canonical: str) -> None:
    assert normalise_host(raw) == canonical


@pytest.mark.parametrize(("raw", "canonical"), CANONICAL)
def test_canonical_form_is_a_fixed_point(raw: str, canonical: str) -> None:
    assert normalise_host(canonical) == canonical


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_invalid_host_is_rejected_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidHost) as caught:
        normalise_host(raw)
    assert reason in caught.value.reason
    assert caught.value.host == raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty host"),
        ("chat..deepseek.com", "empty label"),
        ("user@chat.deepseek.com", "a host name must not carry user:password@"),
        ("[::1", "'[' without ']'"),
        ("[::1]x", "'x' after ']'"),
        ("[::1]]", "']' after ']'"),
        ("[::1]:99999", "port 99999 is out of range"),
        ("[::1]:a1", "port 'a1' is not a number"),
        ("chat.deepseek.com:", "empty port"),
        ("chat.deepseek.com:abc", "port 'abc' is not a number"),
        ("chat.deepseek.com:65536", "port 65536 is out of range"),
        ("fe80::1%eth0", "IPv6 zone identifiers are not allowed"),
        ("[chat.deepseek.com]", "not an IPv6 address"),
        ("chat_bot.deepseek.com", "character '_' (U+005F) is not allowed in a host name"),
        # the first character UTS-46 itself refuses is named, not one only LDH refuses
        (
            "chat_bot\u202e.deepseek.com",
            "character '\\u202e' (U+202E) is not allowed in a host name",
        ),
        ("-chat.deepseek.com", "label '-chat' starts or ends with a hyphen"),
        ("a" * 64 + ".com", "label 'aaaaaaaaaaaaaaaaaaaa'... is longer than 63 octets"),
        (".".join(["a" * 63] * 4), "longer than 253 octets"),
        # 253 characters, but its A-label is longer than its U-label
        ("bücher." + ".".join(["a" * 63] * 3) + "." + "b" * 54, "longer than 253 octets"),
        ("a" * 261, "longer than 260 characters"),
        ("1.2.3.4.5", "ends in a number but has more than four parts"),
        ("08.1", "ends in a number but '08' is no IPv4 number"),
        ("256.1.1.1", "IPv4 address out of range"),
        ("1.256.1.1", "IPv4 address out of range"),
        ("1.2.65536", "IPv4 address out of range"),
    ],
)
def test_a_rejection_gives_its_reason_in_full(raw: str, reason: str) -> None:
    with pytest.raises(InvalidHost) as caught:
        normalise_host(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        ("1:2:3:4:5:6:7:8:9", "not an IPv6 address (Exactly 8 parts"),
        ("xn--zz.com", "label 'xn--zz' is no valid A-label: "),
        ("i\u2764.ws", "label 'i\u2764' is no valid IDN label: "),
    ],
)
def test_a_rejection_by_a_library_quotes_the_library(raw: str, start: str) -> None:
    with pytest.raises(InvalidHost) as caught:
        normalise_host(raw)
    assert caught.value.reason.startswith(start)


def test_rejection_message_quotes_the_input_and_the_reason() -> None:
    with pytest.raises(InvalidHost) as caught:
        normalise_host("chat_bot.deepseek.com")
    error = caught.value
    assert isinstance(error, ValueError)
    assert str(error) == f"invalid host {'chat_bot.deepseek.com'!r}: {error.reason}"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("user:secret@chat.deepseek.com", "'<redacted>@chat.deepseek.com'"),
        ("u:p@w@chat.deepseek.com", "'<redacted>@chat.deepseek.com'"),
        ("x" * 100, repr("x" * 100)),
        ("x" * 101, repr("x" * 100 + "… (101 characters)")),
    ],
)
def test_rejection_message_redacts_passwords_and_cuts_long_names(raw: str, shown: str) -> None:
    assert str(InvalidHost(raw, "why")) == f"invalid host {shown}: why"


def test_rejection_message_escapes_control_characters() -> None:
    with pytest.raises(InvalidHost) as caught:
        normalise_host("chat\r\nX-Injected: 1")
    assert "\r" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_repeated_rejection_raises_a_fresh_error_each_time() -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(InvalidHost) as caught:
            normalise_host("chat..deepseek.com")
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    assert errors[0].reason == errors[1].reason


def test_cyrillic_look_alike_is_a_different_host() -> None:
    look_alike = normalise_host("de\u0435pseek.com")
    assert look_alike != "deepseek.com"
    assert look_alike.startswith("xn--")
    assert normalise_host(look_alike) == look_alike


def test_u_label_and_a_label_of_one_name_agree() -> None:
    assert normalise_host("例え.テスト") == normalise_host(idna.encode("例え.テスト").decode())


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("2001:db8::1", True),
        ("chat.deepseek.com", False),
        ("localhost", False),
        ("a.b1", False),
        ("xn--bcher-kva.de", False),
    ],
)
def test_is_ip_tells_addresses_from_names(host: str, expected: bool) -> None:
    assert is_ip(normalise_host(host)) is expected


def test_sixteen_kb_host_is_rejected_fast() -> None:
    start = time.perf_counter()
    for _ in range(100):
        with pytest.raises(InvalidHost):
            normalise_host(SIXTEEN_KB_NAME)
    assert time.perf_counter() - start < 0.05


def test_long_input_under_the_limit_is_rejected_fast() -> None:
    # Under the input limit, so every label goes through IDNA before the name is too long.
    hosts = [".".join(["\u00fc" * 56] * 4) + f".x{n:02}" for n in range(100)]
    start = time.perf_counter()
    for host in hosts:
        with pytest.raises(InvalidHost):
            normalise_host(host)
    assert time.perf_counter() - start < 0.5


def assert_canonical(result: str) -> None:
    assert result.isascii()
    assert result == result.lower()
    assert len(result) <= 253
    assert "" not in result.split(".")
    assert normalise_host(result) == result


@given(st.text())
def test_normalisation_is_idempotent_for_any_text(raw: str) -> None:
    try:
        result = normalise_host(raw)
    except InvalidHost:
        return
    assert_canonical(result)


LABEL_CHARACTERS = "abcxyzABCXYZ019-üßÄ例\u0435\uff43\u00ad\u200b"
labels = st.text(alphabet=LABEL_CHARACTERS, min_size=1, max_size=70)
separators = st.sampled_from([".", "\u3002", "\uff0e"])
host_names = st.builds(
    lambda parts, separator, trailing_dot, port: (
        separator.join(parts) + ("." if trailing_dot else "") + port
    ),
    st.lists(labels, min_size=1, max_size=5),
    separators,
    st.booleans(),
    st.sampled_from(["", ":443", ":8080", ":", ":99999"]),
)


@given(host_names)
def test_normalisation_is_idempotent_for_host_names(raw: str) -> None:
    try:
        result = normalise_host(raw)
    except InvalidHost:
        return
    assert_canonical(result)


@given(host_names)
def test_u_label_form_of_a_result_normalises_to_the_same_result(raw: str) -> None:
    try:
        result = normalise_host(raw)
        unicode_form = idna.decode(result)
    except (InvalidHost, idna.IDNAError):
        return
    assert normalise_host(unicode_form) == result


@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=1, max_value=4),
    st.lists(st.sampled_from(["{:d}", "0{:o}", "0x{:x}", "0X{:X}"]), min_size=4, max_size=4),
)
def test_every_whatwg_spelling_of_an_ipv4_address_is_that_address(
    address: int, part_count: int, spellings: list[str]
) -> None:
    octets = address.to_bytes(4, "big")
    leading = list(octets[: part_count - 1])
    last = int.from_bytes(octets[part_count - 1 :], "big")
    parts = [spelling.format(n) for spelling, n in zip(spellings, [*leading, last], strict=False)]
    assert normalise_host(".".join(parts)) == str(ipaddress.IPv4Address(address))


@given(st.ip_addresses(v=6))
def test_ipv6_address_normalises_to_its_compressed_or_mapped_form(
    address: ipaddress.IPv6Address,
) -> None:
    expected = str(address.ipv4_mapped or address)
    assert normalise_host(address.exploded.upper()) == expected
    assert normalise_host(f"[{address}]:443") == expected
