"""Reading stored lines back: the fast path must agree with the contract's model on every line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.contract import parse_record, stored_line_identity
from app.errors import ContractError
from app.stored import _fast_path, decode_line
from tests.support.records import record_line

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


_text = st.text(max_size=12)
_canonical_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda d: f"{d:%Y-%m-%dT%H:%M:%S}.{d.microsecond // 1000:03d}Z"
)
_names = st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,4}){0,2}", fullmatch=True)
_numbers = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
#: Valid, canonical values per field ...
_VALID: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": _canonical_times,
    "vehicle_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True),
    "can_id": st.one_of(
        st.integers(0, 0x7FF).map(lambda n: f"0x{n:03X}"),
        st.integers(0x800, 0x1FFFFFFF).map(lambda n: f"0x{n:08X}"),
    ),
    "payload": st.dictionaries(_names, _numbers, min_size=1, max_size=4).map(
        lambda p: dict(sorted(p.items()))
    ),
    "ingest_received_at": _canonical_times,
}
#: ... and values that break a rule, or only the canonical form, or both.
_ODD: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": st.one_of(
        st.sampled_from(
            [
                "2025-02-30T00:00:00.000Z",
                "2025-10-19T24:00:00.000Z",
                "2025-10-19T12:00:00.000+00:00",
                "2025-10-19T12:00:00Z",
                "\uff12\uff10\uff12\uff15-10-19T12:00:00.000Z",
            ]
        ),
        _text,
    ),
    "vehicle_id": st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{60,70}", fullmatch=True), _text),
    "can_id": st.one_of(
        st.integers(0, 0x3FFFFFFF).map(lambda n: f"0x{n:03X}"),
        st.integers(0, 0x3FFFFFFF).map(lambda n: f"0x{n:08x}"),
        st.integers(0, 0x7FF).map(lambda n: f"0X{n:x}"),
        _text,
    ),
    "payload": st.one_of(
        st.dictionaries(st.one_of(_names, _text), st.one_of(_numbers, _text, st.none()), max_size=4),
        st.dictionaries(_names, _numbers, min_size=65, max_size=66),
        st.dictionaries(_names, st.integers(2**63 - 2, 2**64 + 1), min_size=1, max_size=2),
        st.lists(_numbers, max_size=2),
    ),
    "ingest_received_at": st.one_of(
        st.sampled_from(["2025-10-19T12:00:00.000-01:00", "0000-01-01T00:00:00.000Z"]), _text
    ),
}


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid canonical record with up to two fields swapped for odd values."""
    record = {name: draw(strategy) for name, strategy in _VALID.items()}
    for name in draw(st.lists(st.sampled_from(sorted(_ODD)), max_size=2, unique=True)):
        record[name] = draw(_ODD[name])
    return record


@settings(max_examples=500, deadline=None)
@given(record=_records())
def test_fast_path_and_model_agree_on_accept_and_refuse(record: dict[str, Any]) -> None:
    """On a canonical line the fast path accepts exactly what the model accepts; on any line it
    accepts nothing the model refuses; and what is handed on is always the model's canonical line."""
    try:
        line = orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it, a producer still could
        line = json.dumps(record, separators=(",", ":")).encode()
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
