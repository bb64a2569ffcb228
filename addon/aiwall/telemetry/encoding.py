"""Every event as exactly one line of ASCII JSON, whatever text a client sends.

Rendering uses `ensure_ascii`, so CR, LF, U+2028, escape codes and NUL can only appear
escaped. Strings are made safe first when the plain dump shows a reason to: lone surrogates
(as surrogateescape makes of invalid UTF-8) become U+FFFD, and a string longer than
`MAX_STRING` characters is cut and ends in `[truncated]`.
"""

import json
import math
from typing import Any

MAX_STRING = 2048
TRUNCATED = "[truncated]"


def safe_text(text: str, limit: int = MAX_STRING) -> str:
    """Text that encodes as UTF-8 (lone surrogates become U+FFFD), at most `limit` characters."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, as surrogateescape makes of invalid UTF-8
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if len(text) > limit:
        return text[: limit - len(TRUNCATED)] + TRUNCATED
    return text


def safe(value: Any) -> Any:
    """A copy of an event made of JSON types only, every string passed through safe_text.

    Keys are aiwall's own names and left as they are. Exact type checks first: this runs on
    every value of every event, and they halve its cost.
    """
    kind = type(value)
    if kind is str:
        return value if value.isascii() and len(value) <= MAX_STRING else safe_text(value)
    if kind is dict:
        return {key: safe(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [safe(item) for item in value]
    if value is None or kind is bool or kind is int or (kind is float and math.isfinite(value)):
        return value
    if isinstance(value, bytes):
        return safe_text(value.decode("utf-8", "replace"))
    return safe_text(str(value))  # enums, addresses, dates: their text


def render_line(fields: dict[str, Any]) -> str:
    """The event as one line of ASCII JSON (every control and non-ASCII character escaped).

    Most events hold nothing to clean, so they are dumped as they are; only when the dump shows
    something, a lone surrogate (or any escaped surrogate), a line long enough to hold an
    over-long string, a value that is not JSON, is the event walked, cleaned and dumped again.
    """
    try:
        line = _dumps(fields)
    except (TypeError, ValueError):
        return _dumps(safe(fields))
    if len(line) > MAX_STRING or "\\ud" in line:
        return _dumps(safe(fields))
    return line


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
