"""One SQS message body (JSON Lines of contract-v1 records) into what a flush needs, or a refusal.

The receiver writes each line as `TelemetryRecord.to_json()`, so almost every line is already in
canonical form. The fast path proves that cheaply: orjson parses the line, every rule of the
contract is checked on the parsed values, and the line must be byte-identical to `orjson.dumps` of
them (same key order, sorted payload, millisecond `Z` timestamps). Such a line is stored as is,
two to three times cheaper than a pydantic round trip. Any line that fails the fast path is not
refused yet: it goes through `parse_record` (the contract's own model, the authority) and is stored
re-serialized by `to_json()`; only when that fails too is the message poison. So the fast path can
only ever accept a subset of what the model accepts (tests/unit/consumer/test_decode.py checks it
against the model, property-based), and what lands in S3 is always canonical.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from pydantic import ValidationError

from app.contract import (
    MAX_CAN_ID,
    MAX_SIGNAL_INT,
    MAX_SIGNALS,
    MAX_STANDARD_CAN_ID,
    MAX_VEHICLE_ID_LENGTH,
    TelemetryRecord,
    parse_record,
)
from app.errors import ContractError

_KEY_ORDER: Final = ("timestamp", "vehicle_id", "can_id", "payload", "ingest_received_at")
# [0-9], not \d: \d matches every Unicode digit.
_TIMESTAMP: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_VEHICLE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]*")
_CANONICAL_CAN_ID: Final = re.compile(r"0x(?:[0-9A-F]{3}|[0-9A-F]{8})")
_SIGNAL_NAME: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_MAX_SIGNAL_NAME: Final = 64
_MAX_RULE_CHARS: Final = 200
#: An hour key is the first 13 characters of a canonical timestamp: "YYYY-MM-DDTHH".
HOUR_KEY_LENGTH: Final = 13


@dataclass(slots=True)
class DecodedBody:
    """The records of one message, grouped by the UTC hour of their `ingest_received_at`.

    Lines are canonical and carry no newline. `event_ms` and `ingest_ms` are the records' vehicle
    and receiver times in epoch milliseconds, for the latency figures of the batch.
    """

    groups: dict[str, list[bytes]] = field(default_factory=dict)
    event_ms: list[float] = field(default_factory=list)
    ingest_ms: list[float] = field(default_factory=list)
    nbytes: int = 0

    @property
    def count(self) -> int:
        return len(self.event_ms)


def decode_body(body: bytes) -> DecodedBody:
    """All records of one message; raises ContractError naming the first bad line (1-based)."""
    decoded = DecodedBody()
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line:
            continue  # a trailing newline or a blank separator is not a record
        canonical, hour, event_ms, ingest_ms = decode_line(line, number=number)
        group = decoded.groups.get(hour)
        if group is None:
            group = decoded.groups[hour] = []
        group.append(canonical)
        decoded.event_ms.append(event_ms)
        decoded.ingest_ms.append(ingest_ms)
        decoded.nbytes += len(canonical) + 1
    if not decoded.event_ms:
        raise ContractError("body", "holds no record")
    return decoded


def decode_line(line: bytes, *, number: int = 1) -> tuple[bytes, str, float, float]:
    """(canonical line, hour key, vehicle time ms, receiver time ms) of one record line."""
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
        raise ContractError(f"line {number}", rule[:_MAX_RULE_CHARS]) from None
    except (orjson.JSONEncodeError, ValueError, TypeError, OverflowError) as exc:  # e.g. int > 64 bits
        raise ContractError(f"line {number}", f"cannot be stored as JSON: {exc}"[:_MAX_RULE_CHARS]) from None
    return (
        canonical,
        _hour_key(record),
        record.timestamp.timestamp() * 1000.0,
        record.ingest_received_at.timestamp() * 1000.0,
    )


def _hour_key(record: TelemetryRecord) -> str:
    return f"{record.ingest_received_at:%Y-%m-%dT%H}"


def _fast_path(line: bytes) -> tuple[bytes, str, float, float] | None:
    """The result when `line` is a canonical, valid record; None means "ask the model"."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not _is_canonical_shape(obj):
        return None
    timestamp, ingest = obj["timestamp"], obj["ingest_received_at"]
    try:
        event_ms = datetime.fromisoformat(timestamp).timestamp() * 1000.0
        ingest_ms = datetime.fromisoformat(ingest).timestamp() * 1000.0
    except (ValueError, OverflowError):
        return None
    if orjson.dumps(obj) != line:
        return None  # valid, but not byte-canonical (spacing, number spelling): re-serialize
    return line, ingest[:HOUR_KEY_LENGTH], event_ms, ingest_ms


def _is_canonical_shape(obj: Any) -> bool:
    """Every contract rule except the calendar (checked by parsing), in canonical form."""
    return (
        type(obj) is dict
        and tuple(obj) == _KEY_ORDER
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
    if len(value) == 5:
        return number <= MAX_STANDARD_CAN_ID
    return MAX_STANDARD_CAN_ID < number <= MAX_CAN_ID


def _is_canonical_payload(value: Any) -> bool:
    if type(value) is not dict or not 1 <= len(value) <= MAX_SIGNALS:
        return False
    names = list(value)
    if names != sorted(names):
        return False
    return all(
        len(name) <= _MAX_SIGNAL_NAME
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
