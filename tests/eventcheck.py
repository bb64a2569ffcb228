"""Checks on written event logs, for every test that produces one: each line is one event that
validates against events.schema.json."""

import json
from functools import cache
from typing import Any

from aiwall.telemetry.events import EVENT_SCHEMA_PATH
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


@cache
def event_validator() -> Draft202012Validator:
    schema = json.loads(EVENT_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_event_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Parse and validate every line; fail naming the line and what is wrong with it."""
    events = []
    for number, line in enumerate(lines, 1):
        assert line.isascii(), f"event line {number} is not ASCII: {line!r}"
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssertionError(f"event line {number} is not JSON ({error}): {line!r}") from None
        problem = best_match(event_validator().iter_errors(event))
        if problem is not None:
            where = ".".join(map(str, problem.absolute_path)) or "(event)"
            raise AssertionError(f"event line {number}: {where}: {problem.message}\n{line}")
        events.append(event)
    return events
