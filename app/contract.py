"""Data contract v1: the one model every part of the pipeline reads and writes.

`TelemetryIn` is what a vehicle may send; `TelemetryRecord` is what we store (the same fields plus
`ingest_received_at`, which only the receiver sets). Rules are strict on purpose: whatever passes
here is written to S3 forever, so a bad record must be refused at the door with a message naming
its field. The time window (no more than 5 minutes in the future, no older than a configurable age)
needs "now", so it is checked only when a `ValidationWindow` is passed as validation context: the
receiver passes one; readers of stored data (consumer, aggregator) do not, because stored records
are legitimately old.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

CONTRACT_VERSION: Final = "v1"

# --- The field rules: defined here once. The model below, the consumer's fast path over stored lines
# (app/stored.py) and the hourly job all derive from these. Patterns are unanchored, for
# `re.fullmatch`; JSON Schema gets them anchored.
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
MAX_SIGNALS: Final = 64
MAX_VEHICLE_ID_LENGTH: Final = 64
MAX_SIGNAL_NAME_LENGTH: Final = 64
MAX_CAN_ID: Final = 0x1FFFFFFF  # 29-bit extended identifier
MAX_STANDARD_CAN_ID: Final = 0x7FF  # 11-bit standard identifier
#: Integers must fit a signed 64-bit integer: orjson (and most readers of the JSON Lines) cannot encode more.
MAX_SIGNAL_INT: Final = 2**63 - 1
#: [0-9], not \d: \d matches every Unicode digit.
VEHICLE_ID_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._:\-]*"
#: What a client may send: 0x-prefixed hex of either case and any width up to 8 digits.
CAN_ID_PATTERN: Final = r"0[xX][0-9A-Fa-f]{1,8}"
#: What is stored: upper-case, 3 digits for a standard id, 8 for an extended one (as candump prints).
CANONICAL_CAN_ID_PATTERN: Final = r"0x(?:[0-9A-F]{3}|[0-9A-F]{8})"
SIGNAL_NAME_PATTERN: Final = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
#: pydantic's datetime also takes epoch numbers and digit strings ("1760000000"); the contract says an
#: ISO 8601 string, so a timestamp must start with a date.
ISO_DATE_PATTERN: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
#: A stored timestamp: UTC, exactly milliseconds, `Z` (what `format_timestamp` writes).
STORED_TIMESTAMP_PATTERN: Final = ISO_DATE_PATTERN + r"T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"

#: Vehicle ids of synthetic traffic (the deploy's smoke test, scripts/smoke.py): stored in raw/ like
#: any record, so the smoke test can find them, and left out of the curated layer and the statistics.
SYNTHETIC_VEHICLE_PREFIX: Final = "smoke-"

SERVER_FIELD: Final = "ingest_received_at"
#: What makes two stored lines the same record: everything the vehicle sent, not when it arrived.
IDENTITY_FIELDS: Final = ("timestamp", "vehicle_id", "can_id", "payload")
#: The key order of a stored line.
STORED_FIELDS: Final = (*IDENTITY_FIELDS, SERVER_FIELD)


@dataclass(frozen=True, slots=True)
class ValidationWindow:
    """The accepted range of vehicle timestamps, relative to the receiver's clock."""

    now: datetime
    max_age: timedelta

    @classmethod
    def around(cls, now: datetime, max_age_seconds: float) -> ValidationWindow:
        return cls(now=now, max_age=timedelta(seconds=max_age_seconds))


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC with exactly millisecond precision and a `Z`, e.g. 2025-10-19T12:34:56.123Z.

    `isoformat` truncates to milliseconds and always writes a 4-digit year; it is about twice as fast
    as strftime, and the receiver formats two timestamps per record.
    """
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


_ISO_DATE_START = re.compile(ISO_DATE_PATTERN)


def _iso_8601_text(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE_START.match(value)):
        return value
    raise PydanticCustomError(
        "timestamp_format", "must be an ISO 8601 date-time string with a UTC offset (no epoch numbers)"
    )


def _to_utc_millis(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:30+01:00: not a ValueError, so pydantic would not catch it
        raise PydanticCustomError("datetime_range", "is outside the representable date range") from None
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _normalise_can_id(value: str) -> str:
    """Canonical form: 3 hex digits for a standard id, 8 for an extended one (as candump prints)."""
    number = int(value[2:], 16)
    if number > MAX_CAN_ID:
        raise PydanticCustomError("can_id_range", "must be within the 29-bit CAN range (<= 0x1FFFFFFF)")
    return f"0x{number:03X}" if number <= MAX_STANDARD_CAN_ID else f"0x{number:08X}"


def _signal_values(payload: dict[str, Any]) -> dict[str, Any]:
    """Every value of a payload checked in one call, each refusal named by its signal.

    One check with one message per value (a union would report a confusing error per member), and
    one call per payload rather than per value: on the receiver's hot path, crossing from
    pydantic's core into Python per value cost more than the checks themselves.
    """
    errors: list[InitErrorDetails] | None = None
    for name, value in payload.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, float):
            if math.isfinite(value):
                continue
            error = PydanticCustomError("finite_number", "must be a finite number (no NaN or Infinity)")
        elif isinstance(value, int):
            if -MAX_SIGNAL_INT - 1 <= value <= MAX_SIGNAL_INT:
                continue
            error = PydanticCustomError("integer_range", "must fit in a signed 64-bit integer")
        else:
            error = PydanticCustomError(
                "signal_value", "must be a number or a boolean (no strings, lists or objects)"
            )
        errors = errors or []
        errors.append(InitErrorDetails(type=error, loc=(name,), input=value))
    if errors:
        raise ValidationError.from_exception_data("payload", errors)
    return payload


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601_text),
    AfterValidator(_to_utc_millis),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
#: The vehicle's timestamp: UTC and milliseconds are applied with the window check, in one call.
VehicleTimestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601_text),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
VehicleId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_VEHICLE_ID_LENGTH,
        pattern=f"^{VEHICLE_ID_PATTERN}$",
        description="Vehicle identifier: letters, digits and . _ : - only (no spaces or control characters).",
        examples=["veh-00123"],
    ),
]
CanId = Annotated[
    str,
    Field(
        pattern=f"^{CAN_ID_PATTERN}$",
        description="CAN identifier as 0x-prefixed hex, standard (11-bit) or extended (29-bit).",
        examples=["0x1F0"],
    ),
    AfterValidator(_normalise_can_id),
]
SignalName = Annotated[str, Field(pattern=f"^{SIGNAL_NAME_PATTERN}$", max_length=MAX_SIGNAL_NAME_LENGTH)]
_PAYLOAD_DESCRIPTION: Final = (
    "Flat map of snake_case signal name to a finite number or a boolean, in standard units."
)
Payload = Annotated[
    dict[SignalName, Any],
    Field(min_length=1, max_length=MAX_SIGNALS, description=_PAYLOAD_DESCRIPTION),
    AfterValidator(_signal_values),
    # pydantic writes the name rule as patternProperties, which lets any other name (and any value)
    # through: a schema-driven client would send what the receiver refuses. Names and values are
    # constrained for every property instead.
    WithJsonSchema(
        {
            "type": "object",
            "description": _PAYLOAD_DESCRIPTION,
            "minProperties": 1,
            "maxProperties": MAX_SIGNALS,
            "propertyNames": {"pattern": f"^{SIGNAL_NAME_PATTERN}$", "maxLength": MAX_SIGNAL_NAME_LENGTH},
            "additionalProperties": {"anyOf": [{"type": "boolean"}, {"type": "number"}]},
        }
    ),
]


class TelemetryIn(BaseModel):
    """One decoded CAN frame as a vehicle sends it."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="TelemetryIn")

    timestamp: VehicleTimestamp = Field(
        description="When the vehicle sampled the frame (ISO 8601 with offset)."
    )
    vehicle_id: VehicleId
    can_id: CanId
    payload: Payload

    @model_validator(mode="before")
    @classmethod
    def _refuse_server_field(cls, data: Any) -> Any:
        if cls is TelemetryIn and isinstance(data, dict) and SERVER_FIELD in data:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "server_field", "is set by the receiver; clients must not send it"
                        ),
                        loc=(SERVER_FIELD,),
                        input=data[SERVER_FIELD],
                    )
                ],
            )
        return data

    @field_validator("timestamp")
    @classmethod
    def _within_window(cls, value: datetime, info: ValidationInfo) -> datetime:
        value = _to_utc_millis(value)
        window = info.context.get("window") if isinstance(info.context, dict) else None
        if isinstance(window, ValidationWindow):
            if value > window.now + MAX_FUTURE_SKEW:
                raise PydanticCustomError("timestamp_future", "is more than 5 minutes in the future")
            if value < window.now - window.max_age:
                raise PydanticCustomError(
                    "timestamp_too_old",
                    "is older than the accepted age ({max_age_seconds} s)",
                    {"max_age_seconds": int(window.max_age.total_seconds())},
                )
        return value

    def stamp(self, received_at: datetime) -> TelemetryRecord:
        """The stored record: this one plus the receiver's authoritative arrival time."""
        return TelemetryRecord.model_construct(
            timestamp=self.timestamp,
            vehicle_id=self.vehicle_id,
            can_id=self.can_id,
            payload=self.payload,
            ingest_received_at=_to_utc_millis(received_at),
        )


class TelemetryRecord(TelemetryIn):
    """A record as stored in SQS and S3: contract v1."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="TelemetryRecord")

    ingest_received_at: Timestamp = Field(
        description="When the receiver accepted the record (UTC); authoritative, it picks the S3 hour."
    )

    def to_json(self) -> bytes:
        """Compact, stable JSON: fixed key order, payload keys sorted, timestamps in ms with Z."""
        return _stored_line(self, format_timestamp(self.ingest_received_at))


def _identity_fields(record: TelemetryIn) -> dict[str, Any]:
    """The identity fields in stored order and spelling; a stored line is these plus SERVER_FIELD."""
    return {
        "timestamp": format_timestamp(record.timestamp),
        "vehicle_id": record.vehicle_id,
        "can_id": record.can_id,
        "payload": dict(sorted(record.payload.items())),
    }


def _stored_line(record: TelemetryIn, ingest_received_at: str) -> bytes:
    fields = _identity_fields(record)
    fields[SERVER_FIELD] = ingest_received_at
    return orjson.dumps(fields)


def stamped_lines(records: Iterable[TelemetryIn], received_at: datetime) -> list[bytes]:
    """`[r.stamp(received_at).to_json() for r in records]`, byte for byte, without a model per record.

    The receiver's hot path: the arrival time is formatted once per request, not once per record.
    """
    ingest_received_at = format_timestamp(_to_utc_millis(received_at))
    return [_stored_line(record, ingest_received_at) for record in records]


# --- Record identity --------------------------------------------------------------------------
#: Hex characters kept of the SHA-256: 128 bits, collision-free for any fleet's lifetime of records.
IDENTITY_HEX_CHARS: Final = 32
#: A canonical stored line ends with `,"ingest_received_at":"<24-character timestamp>"}`.
_STORED_SUFFIX_BYTES: Final = len(f',"{SERVER_FIELD}":"') + len("2025-10-19T12:34:56.123Z") + len('"}')


def identity_bytes(record: TelemetryIn) -> bytes:
    """The canonical JSON of the identity fields: exactly how a stored line of the record begins."""
    return orjson.dumps(_identity_fields(record))


def identity_digest(canonical: bytes) -> str:
    """SHA-256 (which DuckDB also computes, so SQL over raw lines can dedupe the same way), shortened."""
    return hashlib.sha256(canonical).hexdigest()[:IDENTITY_HEX_CHARS]


def record_identity(record: TelemetryIn) -> str:
    """A record's identity: the same for a client retry, an SQS redelivery and a redrive of it.

    `ingest_received_at` is not part of it (each copy is stamped anew); the spelling is (the canonical
    one), so `0x1f0` and `0x1F0`, or `+00:00` and `Z`, are the same record once validated.
    """
    return identity_digest(identity_bytes(record))


def stored_line_identity(line: bytes) -> str:
    """`record_identity` of a canonical stored line (app/stored.py), taken from its bytes unparsed."""
    return identity_digest(line[:-_STORED_SUFFIX_BYTES] + b"}")


# --- Partitions ---------------------------------------------------------------------------------
#: The hour key is the first 13 characters of a stored timestamp: "YYYY-MM-DDTHH".
HOUR_KEY_LENGTH: Final = 13
_HOUR_KEY = re.compile(ISO_DATE_PATTERN + r"T[0-9]{2}")
_HOUR_FORMAT: Final = "%Y-%m-%dT%H"


@dataclass(frozen=True, order=True, slots=True)
class Hour:
    """One UTC hour, named by its key `YYYY-MM-DDTHH`: the unit every S3 layer is partitioned by.

    A record belongs to the hour of its `ingest_received_at` (the receiver's clock, never the
    vehicle's). The key is a prefix of the stored timestamp, so the consumer takes it from a line
    without parsing a date; the hourly job, the load-test verifier and the CLI use the same type.
    """

    key: str

    @classmethod
    def of(cls, moment: datetime) -> Hour:
        """The hour containing `moment`; a naive datetime is refused (its zone would be a guess)."""
        if moment.tzinfo is None:
            raise ValueError("an hour needs a timezone-aware datetime")
        return cls(moment.astimezone(UTC).strftime(_HOUR_FORMAT))

    @classmethod
    def parse(cls, text: str) -> Hour:
        """`YYYY-MM-DDTHH` as typed by a user; ValueError says what is wrong with it."""
        if not _HOUR_KEY.fullmatch(text):
            raise ValueError(f"expected YYYY-MM-DDTHH (a UTC hour, e.g. 2025-10-19T12), got {text!r}")
        try:
            datetime.strptime(text, _HOUR_FORMAT)
        except ValueError:
            raise ValueError(f"{text!r} is not a real date and hour") from None
        return cls(text)

    @classmethod
    def covering(cls, since: datetime, until: datetime) -> list[Hour]:
        """Every hour from the one holding `since` to the one holding `until`, in order."""
        hours, hour, last = [], cls.of(since), cls.of(until)
        while hour <= last:
            hours.append(hour)
            hour = hour.shift(1)
        return hours

    @property
    def start(self) -> datetime:
        return datetime.strptime(self.key, _HOUR_FORMAT).replace(tzinfo=UTC)

    def shift(self, hours: int) -> Hour:
        return Hour.of(self.start + timedelta(hours=hours))

    def partition(self, prefix: str) -> str:
        """`{prefix}year=YYYY/month=MM/day=DD/hour=HH/`: Hive-style, so Athena projects the columns."""
        k = self.key
        return f"{prefix}year={k[0:4]}/month={k[5:7]}/day={k[8:10]}/hour={k[11:13]}/"

    def __str__(self) -> str:
        return self.key


def validation_context(window: ValidationWindow | None) -> dict[str, Any] | None:
    """The context `model_validate*` expects; None checks only the time-independent rules."""
    return {"window": window} if window is not None else None


def parse_record(line: bytes | str) -> TelemetryRecord:
    """Parse one stored JSON line (no time window: stored records may be old)."""
    return TelemetryRecord.model_validate_json(line)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the stored record, as checked in under docs/schema/."""
    schema = TelemetryRecord.model_json_schema(mode="serialization")
    schema["$id"] = "https://fleet-telemetry.example/schema/telemetry-record-v1.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "Fleet telemetry data contract v1: one decoded CAN frame from one vehicle, as stored in SQS "
        "and S3 (JSON Lines). Generated from app/contract.py; do not edit by hand."
    )
    return schema


def render_json_schema() -> str:
    return orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
