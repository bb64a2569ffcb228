"""Text from requests, logs and files, made safe to print for a person at a terminal."""

import functools
import unicodedata

_NAMED = {0x1B: "\\e"}


@functools.lru_cache(maxsize=4096)
def _escape(char: str) -> str:
    code = ord(char)
    if code in _NAMED:
        return _NAMED[code]
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        return (
            f"\\x{code:02x}"
            if code < 0x100
            else f"\\u{code:04x}"
            if code < 0x10000
            else (f"\\U{code:08x}")
        )
    return char


def shown(text: str) -> str:
    """`text` with every control, format (zero-width, bidi override), separator, surrogate and
    unassigned character written as an escape, so that what a terminal shows is what is there:
    a log line cannot move the cursor, reverse the reading order or hide characters."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(c) for c in text)
