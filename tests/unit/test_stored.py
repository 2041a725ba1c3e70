"""Reading stored lines back: the fast path must agree with the contract's model on every line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from app.contract import parse_record, stored_line_identity
from app.errors import ContractError
from app.stored import _fast_path, decode_line
from tests.support.records import record_line
from tests.support.strategies import stored_line, stored_records

INGEST = datetime(2025, 10, 19, 12, 34, 56, 200_000, tzinfo=UTC)


def _record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp": "2025-10-19T12:34:56.123Z",
        "vehicle_id": "veh-00123",
        "can_id": "0x1F0",
        "payload": {"battery_soc": 85.5, "battery_voltage": 400.2},
        "ingest_received_at": "2025-10-19T12:34:56.200Z",
    }
    record.update(overrides)
    return record


def test_canonical_line_is_kept_byte_for_byte_with_hour_and_times() -> None:
    line = record_line(7, ingest=INGEST)
    record = decode_line(line)
    assert record.line is line
    assert record.hour_key == "2025-10-19T12"
    assert record.ingest_ms == 1760877296200  # exact whole milliseconds, no float rounding
    assert record.ingest_ms - record.event_ms == 150
    assert record.fields == orjson.loads(line)


def test_valid_but_not_canonical_line_is_stored_canonical() -> None:
    raw = orjson.dumps(
        {
            "ingest_received_at": "2025-10-19T14:34:56.2+02:00",
            "payload": {"battery_voltage": 400.2, "battery_soc": 85.5},
            "can_id": "0x1f0",
            "vehicle_id": "veh-00123",
            "timestamp": "2025-10-19T12:34:56.123Z",
        },
        option=orjson.OPT_INDENT_2,
    ).replace(b"\n", b" ")
    record = decode_line(raw)
    assert record.line == parse_record(raw).to_json() == orjson.dumps(_record())
    assert record.hour_key == "2025-10-19T12"  # the hour of the UTC instant, not of the local clock
    assert record.fields == _record()


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"not json", "line 3"),
        (orjson.dumps(_record(extra=1)), "extra"),
        (
            orjson.dumps({k: v for k, v in _record().items() if k != "ingest_received_at"}),
            "ingest_received_at",
        ),
        (orjson.dumps(_record(can_id="0x20000000")), "can_id"),
        (orjson.dumps(_record(payload={})), "payload"),
        (orjson.dumps(_record(payload={"soc": "85"})), "payload"),
        (orjson.dumps(_record(timestamp="2025-10-19T12:34:56")), "timestamp"),
        (orjson.dumps(_record(vehicle_id="veh 1")), "vehicle_id"),
        (orjson.dumps(_record(payload={"x": 2**63})), "payload"),
        (
            b'{"timestamp":"2025-10-19T12:34:56.123Z","vehicle_id":"v","can_id":"0x1F0","payload":{"x":123456789012345678901234567890},"ingest_received_at":"2025-10-19T12:34:56.200Z"}',
            "line 3",
        ),
    ],
)
def test_a_bad_line_is_refused_naming_the_line(line: bytes, fragment: str) -> None:
    with pytest.raises(ContractError) as exc:
        decode_line(line, number=3)
    assert "line 3" in str(exc.value) and fragment in str(exc.value)


@settings(max_examples=500, deadline=None)
@given(record=stored_records())
def test_fast_path_and_model_agree_on_accept_and_refuse(record: dict[str, Any]) -> None:
    """On a canonical line the fast path accepts exactly what the model accepts; on any line it
    accepts nothing the model refuses; and what is handed on is always the model's canonical line."""
    line = stored_line(record)
    fast = _fast_path(line)
    try:
        model_line = parse_record(line).to_json()
    except (ValueError, orjson.JSONEncodeError):
        assert fast is None, "the fast path accepted a line the contract model refuses"
        with pytest.raises(ContractError):
            decode_line(line)
        return
    if model_line == line:
        assert fast is not None, "the fast path refused a canonical line the model accepts"
    if fast is not None:
        assert fast.line == line == model_line
    assert decode_line(line).line == model_line
    assert stored_line_identity(decode_line(line).line) == stored_line_identity(model_line)


def test_a_date_beyond_the_utc_range_is_refused_not_raised() -> None:
    """It used to escape as OverflowError and kill the poller thread that decoded it."""
    line = orjson.dumps(_record(timestamp="0001-01-01T00:30:00+01:00"))
    with pytest.raises(ContractError, match="timestamp"):
        decode_line(line)
