"""Times as `aiwall report --since/--until` take them."""

from datetime import UTC, datetime

from aiwall.core.durations import parse_duration


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """`2026-11-23` (midnight UTC), `2026-11-23T08:00[:00][+01:00|Z]` (no offset: UTC, like
    the log), or a duration before `now` (`24h`, `7d`, `2w`, `P30D`). Raise ValueError naming
    the text."""
    cleaned = text.strip()
    try:
        ago = parse_duration(cleaned)
    except ValueError:
        pass
    else:
        return (now or datetime.now(UTC)) - ago
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 2026-11-23, 2026-11-23T08:00[+01:00], or 24h / 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
