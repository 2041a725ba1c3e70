"""The receiver's fast path held to the contract's model: never more permissive, never other bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.contract import TelemetryIn, ValidationWindow, stamped_lines, validation_context
from app.receiver.canonical import canonical_line, canonical_lines
from tests.support.strategies import canonical_sent_records, sent_records

NOW = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)  # a fixed moment: no test reads the clock
MAX_AGE = timedelta(hours=1)
WINDOW = ValidationWindow.around(NOW, MAX_AGE.total_seconds())


def body(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it, a client still could
        return json.dumps(value).encode()


def model_lines(records: list[Any]) -> list[bytes] | None:
    """What the contract's model stores for these records, or None if it refuses any."""
    try:
        accepted = [
            TelemetryIn.model_validate_json(body(r), context=validation_context(WINDOW)) for r in records
        ]
    except ValidationError:
        return None
    return stamped_lines(accepted, WINDOW.now)


@settings(max_examples=400)
@given(sent_records(NOW, MAX_AGE))
def test_a_record_the_fast_path_takes_is_stored_as_the_model_would(record: Any) -> None:
    fast = canonical_line(body(record), WINDOW)
    if fast is not None:
        assert [fast] == model_lines([record])


@settings(max_examples=200)
@given(st.lists(st.one_of(sent_records(NOW, MAX_AGE), canonical_sent_records(NOW, MAX_AGE)), max_size=5))
def test_a_batch_the_fast_path_takes_is_stored_as_the_model_would(records: list[Any]) -> None:
    fast = canonical_lines(body(records), WINDOW, max_records=4)
    if fast is not None:
        assert 1 <= len(records) <= 4
        assert fast == model_lines(records)


@given(st.lists(canonical_sent_records(NOW, MAX_AGE), min_size=1, max_size=5))
def test_valid_records_in_the_stored_spelling_take_the_fast_path(records: list[Any]) -> None:
    assert canonical_lines(body(records), WINDOW, max_records=5) == model_lines(records)
    assert canonical_line(body(records[0]), WINDOW) is not None


@pytest.mark.parametrize(
    ("timestamp", "taken"),
    [
        ("2026-03-29T00:30:15.123Z", False),  # the window opens at 00:30:15.123456: the model refuses
        ("2026-03-29T00:30:15.124Z", True),
        ("2026-03-29T01:35:15.123Z", True),  # and closes at 01:35:15.123456
        ("2026-03-29T01:35:15.124Z", False),
    ],
)
def test_the_window_edges_are_the_models(timestamp: str, taken: bool) -> None:
    record = {"timestamp": timestamp, "vehicle_id": "v", "can_id": "0x001", "payload": {"a": 1}}
    assert (canonical_line(body(record), WINDOW) is not None) is taken
    assert (model_lines([record]) is not None) is taken


def test_integers_beyond_64_bits_are_left_to_the_model() -> None:
    record = {"timestamp": "2026-03-29T01:00:00.000Z", "vehicle_id": "v", "can_id": "0x001"}
    for value in (2**63, -(2**63) - 1, 10**30):
        assert canonical_line(body(record | {"payload": {"a": value}}), WINDOW) is None
    assert canonical_line(body(record | {"payload": {"a": 2**63 - 1, "b": -(2**63)}}), WINDOW) is not None
