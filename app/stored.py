"""A stored line (JSON Lines, as the receiver writes them into SQS and the consumer into S3) read back.

Everyone who reads stored lines reads them here, so there is one answer to "is this a record":
the consumer for every SQS message, the hourly job for every raw object, the load-test verifier.

The receiver writes each line as `TelemetryRecord.to_json()`, so almost every line is already in
canonical form. The fast path proves that cheaply: orjson parses the line, every rule of the
contract is checked on the parsed values with the contract's own patterns and bounds, and the line
must be byte-identical to `orjson.dumps` of them (same key order, sorted payload, millisecond `Z`
timestamps). Such a line is used as is, two to three times cheaper than a pydantic round trip. A
line that fails the fast path is not refused yet: it goes through `parse_record` (the contract's
model, the authority) and comes back re-serialized by `to_json()`; only when that fails too is it
refused, with a ContractError naming the line, the field and the rule. So the fast path can only
ever accept a subset of what the model accepts (tests/unit/test_stored.py checks it against the
model, property-based), and every line handed on is canonical.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Final, NamedTuple

import orjson
from pydantic import ValidationError

from app.contract import (
    CANONICAL_CAN_ID_PATTERN,
    HOUR_KEY_LENGTH,
    MAX_CAN_ID,
    MAX_SIGNAL_INT,
    MAX_SIGNAL_NAME_LENGTH,
    MAX_SIGNALS,
    MAX_STANDARD_CAN_ID,
    MAX_VEHICLE_ID_LENGTH,
    SIGNAL_NAME_PATTERN,
    STORED_FIELDS,
    STORED_TIMESTAMP_PATTERN,
    VEHICLE_ID_PATTERN,
    parse_record,
)
from app.errors import ContractError

_TIMESTAMP: Final = re.compile(STORED_TIMESTAMP_PATTERN)
_VEHICLE_ID: Final = re.compile(VEHICLE_ID_PATTERN)
_CANONICAL_CAN_ID: Final = re.compile(CANONICAL_CAN_ID_PATTERN)
_SIGNAL_NAME: Final = re.compile(SIGNAL_NAME_PATTERN)
_STANDARD_CAN_ID_DIGITS: Final = 3
#: A refusal quotes pydantic's message up to this length.
_MAX_RULE_CHARS: Final = 200


class StoredRecord(NamedTuple):
    """One valid record: its canonical line (no newline), its parsed fields and its two times.

    `event_ms` and `ingest_ms` are the vehicle's and the receiver's times in epoch milliseconds
    (exact: both carry whole milliseconds).
    """

    line: bytes
    fields: dict[str, Any]
    event_ms: int
    ingest_ms: int

    @property
    def hour_key(self) -> str:
        """The `Hour` key of the record's partition: the first 13 characters of ingest_received_at."""
        return str(self.fields["ingest_received_at"][:HOUR_KEY_LENGTH])


def decode_line(line: bytes, *, number: int = 1) -> StoredRecord:
    """The record one stored line holds; ContractError names the line (1-based), the field and the rule."""
    fast = _fast_path(line)
    if fast is not None:
        return fast
    try:
        record = parse_record(line)
        canonical = record.to_json()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        rule = f"{where}: {first['msg']}" if where else str(first["msg"])
        raise ContractError(f"line {number}", rule[:_MAX_RULE_CHARS], kind=first["type"]) from None
    except (orjson.JSONEncodeError, ValueError, TypeError, OverflowError) as exc:  # e.g. int > 64 bits
        raise ContractError(
            f"line {number}", f"cannot be stored as JSON: {exc}"[:_MAX_RULE_CHARS], kind="not_serializable"
        ) from None
    return StoredRecord(
        canonical,
        orjson.loads(canonical),
        _epoch_ms(record.timestamp),
        _epoch_ms(record.ingest_received_at),
    )


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _fast_path(line: bytes) -> StoredRecord | None:
    """The record when `line` is canonical and valid; None means "ask the model"."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not _is_canonical_shape(obj):
        return None
    try:
        event_ms = round(datetime.fromisoformat(obj["timestamp"]).timestamp() * 1000)
        ingest_ms = round(datetime.fromisoformat(obj["ingest_received_at"]).timestamp() * 1000)
    except (ValueError, OverflowError):
        return None  # shaped like a date but not one (month 13): the model words the refusal
    if orjson.dumps(obj) != line:
        return None  # valid, but not byte-canonical (spacing, number spelling): re-serialize
    return StoredRecord(line, obj, event_ms, ingest_ms)


def _is_canonical_shape(obj: Any) -> bool:
    """Every contract rule except the calendar (checked by parsing), in canonical form."""
    return (
        type(obj) is dict
        and tuple(obj) == STORED_FIELDS
        and _is_timestamp(obj["timestamp"])
        and _is_timestamp(obj["ingest_received_at"])
        and _is_vehicle_id(obj["vehicle_id"])
        and _is_canonical_can_id(obj["can_id"])
        and _is_canonical_payload(obj["payload"])
    )


def _is_timestamp(value: Any) -> bool:
    return type(value) is str and _TIMESTAMP.fullmatch(value) is not None


def _is_vehicle_id(value: Any) -> bool:
    return (
        type(value) is str
        and len(value) <= MAX_VEHICLE_ID_LENGTH
        and _VEHICLE_ID.fullmatch(value) is not None
    )


def _is_canonical_can_id(value: Any) -> bool:
    if type(value) is not str or _CANONICAL_CAN_ID.fullmatch(value) is None:
        return False
    number = int(value[2:], 16)
    if len(value) == 2 + _STANDARD_CAN_ID_DIGITS:
        return number <= MAX_STANDARD_CAN_ID
    return MAX_STANDARD_CAN_ID < number <= MAX_CAN_ID


def _is_canonical_payload(value: Any) -> bool:
    if type(value) is not dict or not 1 <= len(value) <= MAX_SIGNALS:
        return False
    names = list(value)
    if names != sorted(names):
        return False
    return all(
        len(name) <= MAX_SIGNAL_NAME_LENGTH
        and _SIGNAL_NAME.fullmatch(name) is not None
        and _is_signal_value(signal)
        for name, signal in value.items()
    )


def _is_signal_value(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is int:  # orjson reads unsigned 64-bit integers too; the contract stops at signed
        return bool(-MAX_SIGNAL_INT - 1 <= value <= MAX_SIGNAL_INT)
    return kind is bool
