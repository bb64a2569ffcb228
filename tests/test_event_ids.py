"""Event ids: unique, `<instance>-<sequence>`; a reader counts each event once however often
overlapping files repeat it, and remembers what it read as runs, not one id at a time."""

import json
import re
from pathlib import Path

import pytest
from aiwall.core.config import Config
from aiwall.telemetry.events import EventLog
from aiwall.telemetry.ids import NONE_AFTER, SeenIds, new_event_id, parse_event_id
from aiwall.telemetry.reader import LogReader
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eventcheck import context, decide


def test_an_id_is_an_instance_and_a_sequence() -> None:
    first, second = new_event_id(), new_event_id()
    assert re.fullmatch(r"[a-z2-7]{8}-[1-9][0-9]*", first)
    one, two = parse_event_id(first), parse_event_id(second)
    assert one and two and one.instance == two.instance and two.sequence == one.sequence + 1
    assert str(one) == first


@pytest.mark.parametrize("text", ["", "abc", "abc-", "-12", "abc-1x", "abc-١٢"])
def test_other_text_is_no_aiwall_id(text: str) -> None:
    assert parse_event_id(text) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"aaaa", b"bbbb"]), st.integers(1, 60)), max_size=200))
def test_seen_ids_answer_as_a_set_would(pairs: list[tuple[bytes, int]]) -> None:
    seen, reference = SeenIds(), set()
    for pair in pairs:
        assert seen.first_time(*pair) == (pair not in reference)
        reference.add(pair)
    assert seen.runs <= len(reference)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 80), st.integers(0, 15)), max_size=30),
    st.integers(1, 80),
)
def test_claims_and_runs_agree_with_a_set(runs: list[tuple[int, int]], probe: int) -> None:
    seen, reference = SeenIds(), set()
    for first, length in runs:
        limit = seen.claim(b"x", first)
        assert bool(limit) == (first not in reference)
        if not limit:
            continue
        reference.add(first)
        # The ids after `first` below `limit` are new: a reader may take them unasked.
        taken = [
            n for n in range(first + 1, first + 1 + length) if n < limit and n not in reference
        ]
        assert all(n not in reference for n in range(first + 1, min(limit, first + 1 + length)))
        last = first + len(taken)
        seen.add_run(b"x", first + 1, last)
        reference.update(range(first + 1, last + 1))
    assert seen.first_time(b"x", probe) == (probe not in reference)
    assert NONE_AFTER > 10**12


@pytest.fixture(scope="module")
def lines(test_config: Config, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """60 decision lines of one instance, and a session, an ack and a config event among them."""
    path = tmp_path_factory.mktemp("ids") / "events.log"
    events = EventLog(str(path))
    for number in range(60):
        host = ("cnchat.test", "api.usbot.test", "usbot.test")[number % 3]
        events.decision(decide(test_config, host), context(user=f"u{number % 7}"))
        if number in (10, 40):
            events.internal_error(error="x", where="y", host=None, client_ip=None)
    return [line + b"\n" for line in path.read_bytes().splitlines()]


def events_read(*files: list[bytes]) -> tuple[list[str], LogReader]:
    reader = LogReader(lambda aiwall, name: 1)
    ids = []
    for number, content in enumerate(files):
        for item in reader.read(content, f"file{number}"):
            if isinstance(item, tuple) and len(item) == 4:  # a decision, the fast way
                ids.append(f"d{item[1].decode()}")
            else:
                ids.append(item.fields["event"]["id"])
    return ids, reader


@settings(max_examples=60, deadline=None, print_blob=False)
@given(cuts=st.lists(st.tuples(st.integers(0, 62), st.integers(0, 62)), min_size=1, max_size=4))
def test_overlapping_files_give_each_event_once(
    lines: list[bytes], cuts: list[tuple[int, int]]
) -> None:
    """Any pieces of the log, overlapping or not, in any order: each event counted once."""
    files = [lines[min(a, b) : max(a, b) + 1] for a, b in cuts]
    wanted = {line for piece in files for line in piece}
    _, reader = events_read(*files)
    read = sum(len(piece) for piece in files)
    assert reader.duplicates == read - len(wanted)
    assert reader.read_lines == read


def test_copytruncate_rotation_reads_as_one_log(lines: list[bytes]) -> None:
    rotated, live = lines[:45], lines[38:]  # copytruncate: the copy and the file overlap
    one, _ = events_read(lines)
    both, reader = events_read(rotated, live)
    assert both == one
    assert reader.duplicates == 7


def test_a_log_read_twice_is_read_once(lines: list[bytes], tmp_path: Path) -> None:
    once, _ = events_read(lines)
    twice, reader = events_read(lines, lines)
    assert twice == once and reader.duplicates == len(lines)


def test_events_of_two_instances_are_told_apart(lines: list[bytes]) -> None:
    other = [
        re.sub(rb'"id":"[a-z2-7]{8}-', b'"id":"otherins-', line).replace(b"\n", b"\n")
        for line in lines
    ]
    assert json.loads(other[0])["event"]["id"].startswith("otherins-")
    ids, reader = events_read(lines, other)
    assert reader.duplicates == 0 and len(ids) == 2 * len(lines)
