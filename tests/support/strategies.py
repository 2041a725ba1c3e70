"""Hypothesis strategies for stored records: valid ones, and ones with a field or two gone odd.

Shared by the tests that hold a fast reader to the contract's model: the consumer's (app/stored.py)
and the hourly job's SQL (app/aggregator/columnar.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
from hypothesis import strategies as st

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
def stored_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid canonical record with up to two fields swapped for odd values."""
    record = {name: draw(strategy) for name, strategy in _VALID.items()}
    for name in draw(st.lists(st.sampled_from(sorted(_ODD)), max_size=2, unique=True)):
        record[name] = draw(_ODD[name])
    return record


def stored_line(record: dict[str, Any]) -> bytes:
    """The line a producer would write for `record` (orjson's spelling; the stdlib's beyond 64 bits)."""
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it, a producer still could
        return json.dumps(record, separators=(",", ":")).encode()
