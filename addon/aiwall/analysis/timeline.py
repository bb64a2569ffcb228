"""Decisions over time: per hour when the events span at most 72 hours, else per day."""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from aiwall.analysis.logged import ACTIONS
from aiwall.analysis.tally import Tally
from aiwall.telemetry.reader import canonical

HOURLY_UP_TO = timedelta(hours=72)


def timeline(tally: Tally) -> dict[str, Any]:
    hours: dict[datetime, Counter[str]] = {}
    for hour, (per_info, _) in tally.hours.items():
        counter = Counter[str]()
        for info, n in per_info.items():
            d = tally.infos[info]
            if not d.recorded:
                counter[d.action] += n
        if counter:
            hours[hour_start(hour)] = counter
    if not hours:
        return {"bucket": "hour", "buckets": []}
    start, end = min(hours), max(hours)
    step = timedelta(hours=1) if end - start <= HOURLY_UP_TO else timedelta(days=1)
    if step == timedelta(days=1):
        start = start.replace(hour=0)
        days: dict[datetime, Counter[str]] = {}
        for moment, counter in hours.items():
            days.setdefault(moment.replace(hour=0), Counter()).update(counter)
        hours = days
    buckets = []
    moment = start
    while moment <= end:
        counter = hours.get(moment, Counter())
        buckets.append(
            {
                "start": canonical(moment),
                "total": sum(counter.values()),
                "actions": {action: counter.get(action, 0) for action in ACTIONS},
            }
        )
        moment += step
    return {"bucket": "hour" if step == timedelta(hours=1) else "day", "buckets": buckets}


def hour_start(hour: bytes) -> datetime:
    """b"YYYY-MM-DDTHH" as the UTC time the hour starts."""
    return datetime.fromisoformat(hour.decode("ascii") + ":00:00+00:00")
