"""The receiver's fast path: a body already spelled the way it will be stored.

A record whose timestamp is UTC with milliseconds and a `Z`, whose CAN id is upper case at its
canonical width (3 digits standard, 8 extended) and whose values are plain JSON numbers or booleans
is stored exactly as sent, apart from the order of its payload keys. Our simulator, the Locust
clients and any client that follows docs/receiver.md send that. For such a batch the contract's
model is more than needed: pydantic-core checks the whole array in one pass with no call into
Python (`CanonicalIn`: every rule of the contract that a pattern or a bound can say), and one short
loop checks what needs the request (the time window, as a string comparison of fixed-width UTC
timestamps), the calendar (no 30 February) and the CAN id's range, then writes each stored line
from the validated strings: 2.6 µs per record where the model and `stamped_lines` take 8.2
(a 100-record batch, validated and stamped in process; README, Performance).

Anything else falls through, whole, to the model (app/receiver/intake.py), which accepts every
spelling the contract allows and words every refusal. So this path may only ever accept a subset
of what the model accepts, and must write the same bytes `stamped_lines` would:
tests/unit/receiver/test_canonical.py holds it to both, property-based.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Final

import orjson
from pydantic import ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic reads TypedDicts from here before Python 3.12

from app.contract import (
    CANONICAL_CAN_ID_PATTERN,
    MAX_FUTURE_SKEW,
    MAX_SIGNAL_INT,
    MAX_SIGNALS,
    STORED_TIMESTAMP_PATTERN,
    SignalName,
    ValidationWindow,
    VehicleId,
    format_timestamp,
)

#: A signal value of a kind the contract allows, each kind strict (a JSON 1 stays the integer 1).
#: The integer's range is checked in Python (`_Stamper.line`): bounded here, an integer beyond 64
#: bits would fail this member and pass the float one (strict floats take JSON integers).
CanonicalSignal = StrictBool | StrictInt | Annotated[float, Field(strict=True, allow_inf_nan=False)]


@with_config(ConfigDict(extra="forbid"))
class CanonicalIn(TypedDict):
    """A record as `TelemetryIn` accepts it, in the spelling it is stored in (a dict, not a model)."""

    timestamp: Annotated[str, Field(pattern=f"^{STORED_TIMESTAMP_PATTERN}$")]
    vehicle_id: VehicleId
    can_id: Annotated[str, Field(pattern=f"^{CANONICAL_CAN_ID_PATTERN}$")]
    payload: Annotated[dict[SignalName, CanonicalSignal], Field(min_length=1, max_length=MAX_SIGNALS)]


_ONE: Final = TypeAdapter(CanonicalIn)
#: The canonical CAN ids of each width, as strings that compare like the numbers they spell.
_STANDARD_CAN_IDS: Final = ("0x000", "0x7FF")
_EXTENDED_CAN_IDS: Final = ("0x00000800", "0x1FFFFFFF")
_STANDARD_CAN_ID_CHARS: Final = len("0x7FF")


@functools.cache
def _batch_adapter(max_records: int) -> TypeAdapter[list[CanonicalIn]]:
    # fail_fast: a body that is not canonical stops at its first odd record, not after checking all.
    return TypeAdapter(
        Annotated[list[CanonicalIn], Field(min_length=1, max_length=max_records, fail_fast=True)]
    )


class _Stamper:
    """The per-request half of the checks, and the stored line of a record that passes them."""

    __slots__ = ("_after", "_suffix", "_until")

    def __init__(self, window: ValidationWindow) -> None:
        # The window as canonical timestamps: t is inside when after < t <= until. Truncating the
        # lower bound to milliseconds makes the test strict by up to 1 ms there; such a record goes
        # to the model, which decides to the microsecond.
        self._after = format_timestamp((window.now - window.max_age).astimezone(UTC))
        self._until = format_timestamp((window.now + MAX_FUTURE_SKEW).astimezone(UTC))
        self._suffix = f',"ingest_received_at":"{format_timestamp(window.now.astimezone(UTC))}"}}'.encode()

    def line(self, record: CanonicalIn) -> bytes | None:
        timestamp, can_id, payload = record["timestamp"], record["can_id"], record["payload"]
        if not self._after < timestamp <= self._until:
            return None
        # Two calls in C, not a loop: a float this large is valid, but rare enough to leave to the model.
        if max(payload.values()) > MAX_SIGNAL_INT or min(payload.values()) < -MAX_SIGNAL_INT - 1:
            return None
        low, high = _STANDARD_CAN_IDS if len(can_id) == _STANDARD_CAN_ID_CHARS else _EXTENDED_CAN_IDS
        if not low <= can_id <= high:
            return None
        try:
            datetime.fromisoformat(timestamp)
        except ValueError:  # shaped like a date, but not one (2025-02-30, 24:00)
            return None
        # No escaping needed: the patterns above admit no character JSON would escape.
        head = f'{{"timestamp":"{timestamp}","vehicle_id":"{record["vehicle_id"]}","can_id":"{can_id}","payload":'
        return head.encode() + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS) + self._suffix


def canonical_line(body: bytes, window: ValidationWindow) -> bytes | None:
    """The stored line of a single-record body, or None: ask the model."""
    try:
        record = _ONE.validate_json(body)
    except ValidationError:
        return None
    return _Stamper(window).line(record)


def canonical_lines(body: bytes, window: ValidationWindow, *, max_records: int) -> list[bytes] | None:
    """The stored lines of a batch body, in order, or None: one record is not canonical, ask the model."""
    try:
        records = _batch_adapter(max_records).validate_json(body)
    except ValidationError:
        return None
    stamper = _Stamper(window)
    lines = []
    for record in records:
        line = stamper.line(record)
        if line is None:
            return None
        lines.append(line)
    return lines
