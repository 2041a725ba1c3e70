"""Hypothesis strategies for stored records: valid ones, and ones with a field or two gone odd.

Shared by the tests that hold a fast path to the contract's model: the consumer's reader
(app/stored.py), the hourly job's SQL (app/aggregator/columnar.py) and the receiver's canonical
bodies (app/receiver/canonical.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from app.contract import MAX_FUTURE_SKEW

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


def _near(now: datetime, max_age: timedelta) -> st.SearchStrategy[datetime]:
    """Moments around the receiver's window, its edges included (to the millisecond)."""
    low = -int(max_age.total_seconds() * 1000) - 2
    high = int(MAX_FUTURE_SKEW.total_seconds() * 1000) + 2
    edges = st.sampled_from([low, low + 1, low + 2, low + 3, high - 3, high - 2, high - 1, high])
    offsets = st.one_of(edges, st.integers(low, high))
    return offsets.map(
        lambda ms: now.replace(microsecond=now.microsecond // 1000 * 1000) + timedelta(milliseconds=ms)
    )


def _spellings(moment: datetime) -> st.SearchStrategy[str]:
    canonical = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    return st.sampled_from(
        [
            canonical,
            moment.isoformat(),
            moment.astimezone(timezone(timedelta(hours=-3))).isoformat(timespec="milliseconds"),
            canonical.replace("Z", "+00:00"),
            canonical[:-5] + "Z",
        ]
    )


@st.composite
def sent_records(draw: st.DrawFn, now: datetime, max_age: timedelta) -> dict[str, Any]:
    """A record as a client may send it near `now`: valid and canonical, spelled otherwise, or odd.

    For the receiver's fast path (app/receiver/canonical.py), held to the contract's model.
    """
    record = draw(stored_records())
    if draw(st.booleans()):
        del record["ingest_received_at"]  # kept, it is a field no client may send
    record["timestamp"] = draw(st.one_of(_near(now, max_age).flatmap(_spellings), _ODD["timestamp"]))
    if draw(st.booleans()):
        record["can_id"] = record["can_id"].lower()
    if draw(st.booleans()):
        record["payload"] = (
            dict(reversed(record["payload"].items()))
            if isinstance(record["payload"], dict)
            else record["payload"]
        )
    return record


@st.composite
def canonical_sent_records(draw: st.DrawFn, now: datetime, max_age: timedelta) -> dict[str, Any]:
    """A valid record in the stored spelling, well inside the window: the fast path's to take."""
    record = {name: draw(_VALID[name]) for name in ("vehicle_id", "can_id")}
    values = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(-1e18, 1e18))
    record["payload"] = draw(st.dictionaries(_names, values, min_size=1, max_size=8))
    moment = now + timedelta(
        milliseconds=draw(st.integers(-int(max_age.total_seconds() * 1000) + 1, 299_000))
    )
    record["timestamp"] = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    return record
