"""Durations as written in rules and vendor records: ISO 8601 (`P30D`, `PT8H`) or short (`8h`)."""

import re
from datetime import timedelta

_ISO = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
_SHORT = re.compile(r"(?P<amount>\d+)\s*(?P<unit>s|m|h|d|w)")
_SHORT_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# A year and a month have no fixed length; retention periods are compared, so use the long side.
_DAYS_PER_YEAR = 366
_DAYS_PER_MONTH = 31
# Longer than any retention period or setting means anything; longer would overflow dates.
MAX_DURATION = timedelta(days=100 * _DAYS_PER_YEAR)


def parse_duration(text: str) -> timedelta:
    """Parse `P1Y2M3DT4H`, `P2W` or `90d`/`8h`/`30m`; raise ValueError naming the bad text, and
    for a duration over 100 years."""
    try:
        duration = _parse(text)
    except OverflowError:
        duration = MAX_DURATION * 2
    if duration > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than 100 years")
    return duration


def _parse(text: str) -> timedelta:
    cleaned = text.strip()
    if iso := _ISO.fullmatch(cleaned.upper()):
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        days = (
            parts.pop("years", 0) * _DAYS_PER_YEAR
            + parts.pop("months", 0) * _DAYS_PER_MONTH
            + parts.pop("days", 0)
        )
        return timedelta(days=days, **parts)
    if short := _SHORT.fullmatch(cleaned.lower()):
        return timedelta(**{_SHORT_UNITS[short["unit"]]: int(short["amount"])})
    raise ValueError(f"{text!r} is not a duration (use ISO 8601 like P30D or PT8H, or 8h, 90d)")
