"""Every rule of data contract v1, each with a valid and an invalid example."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from app.contract import (
    HOUR_KEY_LENGTH,
    Hour,
    TelemetryIn,
    TelemetryRecord,
    ValidationWindow,
    parse_record,
    record_identity,
    render_json_schema,
    stored_line_identity,
    validation_context,
)
from tests.conftest import RecordFactory

NOW = datetime(2025, 10, 19, 12, 34, 56, 123000, tzinfo=UTC)
WINDOW = ValidationWindow.around(NOW, max_age_seconds=7 * 24 * 3600)
SCHEMA_PATH = Path(__file__).parents[2] / "docs" / "schema" / "telemetry-record-v1.json"


def validate(data: dict[str, Any], window: ValidationWindow | None = WINDOW) -> TelemetryIn:
    return TelemetryIn.model_validate(data, context=validation_context(window))


def error_locs(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.errors()]


@pytest.fixture
def at_now(record_factory: RecordFactory) -> RecordFactory:
    def make(**overrides: Any) -> dict[str, Any]:
        return record_factory(**{"timestamp": "2025-10-19T12:34:56.000Z", **overrides})

    return make


class TestTimestamp:
    def test_offset_is_normalised_to_utc_with_milliseconds(self, at_now: RecordFactory) -> None:
        record = validate(at_now(timestamp="2025-10-19T14:34:56.123456+02:00"))
        assert record.timestamp == datetime(2025, 10, 19, 12, 34, 56, 123000, tzinfo=UTC)
        stored = record.stamp(NOW)
        assert json.loads(stored.to_json())["timestamp"] == "2025-10-19T12:34:56.123Z"

    def test_naive_timestamp_is_rejected(self, at_now: RecordFactory) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(timestamp="2025-10-19T12:34:56.123"))
        assert error_locs(exc.value) == ["timestamp"]
        assert "timezone" in str(exc.value)

    @pytest.mark.parametrize("timestamp", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00"])
    def test_dates_beyond_the_utc_range_are_rejected_not_crashed(
        self, at_now: RecordFactory, timestamp: str
    ) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(timestamp=timestamp), window=None)
        assert error_locs(exc.value) == ["timestamp"]
        assert exc.value.errors()[0]["type"] == "datetime_range"

    def test_not_a_date_is_rejected(self, at_now: RecordFactory) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(timestamp="yesterday"))
        assert error_locs(exc.value) == ["timestamp"]

    @pytest.mark.parametrize("epoch", [1760877296, 1760877296.123, 1760877296123, "1760877296"])
    def test_epoch_numbers_are_rejected_in_both_parse_paths(
        self, at_now: RecordFactory, epoch: object
    ) -> None:
        # pydantic would read these as a valid recent time; the contract says ISO 8601 text (found by
        # the chaos suite's hostile-input scenario: such records reached S3).
        record = at_now(timestamp=epoch)
        with pytest.raises(ValidationError) as exc:
            validate(record)
        assert exc.value.errors()[0]["type"] == "timestamp_format"
        with pytest.raises(ValidationError):
            TelemetryIn.model_validate_json(json.dumps(record), context=validation_context(WINDOW))

    def test_up_to_five_minutes_ahead_is_accepted(self, at_now: RecordFactory) -> None:
        ahead = NOW + timedelta(minutes=4, seconds=59)
        assert validate(at_now(timestamp=ahead.isoformat())).timestamp > NOW

    def test_more_than_five_minutes_ahead_is_rejected(self, at_now: RecordFactory) -> None:
        ahead = NOW + timedelta(minutes=5, seconds=1)
        with pytest.raises(ValidationError) as exc:
            validate(at_now(timestamp=ahead.isoformat()))
        assert exc.value.errors()[0]["type"] == "timestamp_future"

    def test_older_than_max_age_is_rejected(self, at_now: RecordFactory) -> None:
        old = NOW - timedelta(days=7, seconds=1)
        with pytest.raises(ValidationError) as exc:
            validate(at_now(timestamp=old.isoformat()))
        assert exc.value.errors()[0]["type"] == "timestamp_too_old"
        assert "604800" in str(exc.value)

    def test_max_age_is_configurable(self, at_now: RecordFactory) -> None:
        hour_old = (NOW - timedelta(hours=1)).isoformat()
        assert validate(at_now(timestamp=hour_old))
        with pytest.raises(ValidationError):
            validate(at_now(timestamp=hour_old), ValidationWindow.around(NOW, max_age_seconds=600))

    def test_stored_records_skip_the_window(self, at_now: RecordFactory) -> None:
        ancient = at_now(timestamp="2001-01-01T00:00:00Z")
        assert validate(ancient, window=None).timestamp.year == 2001


class TestVehicleId:
    @pytest.mark.parametrize("vehicle_id", ["veh-00123", "V" * 64, "fleet.a:veh_1"])
    def test_bounded_identifiers_are_accepted(self, at_now: RecordFactory, vehicle_id: str) -> None:
        assert validate(at_now(vehicle_id=vehicle_id)).vehicle_id == vehicle_id

    @pytest.mark.parametrize("vehicle_id", ["veh 1", "veh\x00", "veh\n1", "V" * 65, "", "-veh", "vé"])
    def test_spaces_control_characters_and_long_ids_are_rejected(
        self, at_now: RecordFactory, vehicle_id: str
    ) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(vehicle_id=vehicle_id))
        assert error_locs(exc.value) == ["vehicle_id"]


class TestCanId:
    @pytest.mark.parametrize(
        ("can_id", "canonical"),
        [("0x1f0", "0x1F0"), ("0x7FF", "0x7FF"), ("0x800", "0x00000800"), ("0X1FFFFFFF", "0x1FFFFFFF")],
    )
    def test_hex_ids_in_range_are_accepted_and_normalised(
        self, at_now: RecordFactory, can_id: str, canonical: str
    ) -> None:
        assert validate(at_now(can_id=can_id)).can_id == canonical

    @pytest.mark.parametrize("can_id", ["0x20000000", "1F0", "0x", "0xGG", "0x123456789", 496])
    def test_out_of_range_or_malformed_ids_are_rejected(self, at_now: RecordFactory, can_id: Any) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(can_id=can_id))
        assert error_locs(exc.value) == ["can_id"]


class TestPayload:
    def test_numbers_and_booleans_are_accepted(self, at_now: RecordFactory) -> None:
        payload = {"battery_soc": 85.5, "charging": True, "dtc_count": 3, "cell_2_temp": -4.0}
        assert validate(at_now(payload=payload)).payload == payload

    def test_integers_up_to_signed_64_bits_are_accepted(self, at_now: RecordFactory) -> None:
        assert validate(at_now(payload={"odometer": 2**63 - 1})).payload == {"odometer": 2**63 - 1}

    def test_sixty_four_signals_are_accepted(self, at_now: RecordFactory) -> None:
        assert len(validate(at_now(payload={f"s_{i}": i for i in range(64)})).payload) == 64

    @pytest.mark.parametrize(
        ("payload", "loc"),
        [
            ({}, "payload"),
            ({f"s_{i}": i for i in range(65)}, "payload"),
            ({"BatterySoc": 1.0}, "payload.BatterySoc.[key]"),
            ({"battery__soc": 1.0}, "payload.battery__soc.[key]"),
            ({"soc": float("nan")}, "payload.soc"),
            ({"soc": float("inf")}, "payload.soc"),
            ({"soc": "85.5"}, "payload.soc"),
            ({"soc": {"value": 85.5}}, "payload.soc"),
            ({"soc": [85.5]}, "payload.soc"),
            ({"soc": None}, "payload.soc"),
            ({"odometer": 2**63}, "payload.odometer"),
        ],
    )
    def test_bad_payloads_are_rejected_naming_the_signal(
        self, at_now: RecordFactory, payload: dict[str, Any], loc: str
    ) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(payload=payload))
        assert error_locs(exc.value) == [loc]

    def test_nan_in_json_text_is_rejected(self) -> None:
        body = b'{"timestamp":"2025-10-19T12:34:56Z","vehicle_id":"v","can_id":"0x1","payload":{"a":NaN}}'
        with pytest.raises(ValidationError):
            TelemetryIn.model_validate_json(body)


class TestTopLevel:
    def test_unknown_fields_are_rejected(self, at_now: RecordFactory) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(speed_kmh=50))
        assert error_locs(exc.value) == ["speed_kmh"]

    def test_missing_fields_are_named(self, at_now: RecordFactory) -> None:
        record = at_now()
        del record["payload"]
        with pytest.raises(ValidationError) as exc:
            validate(record)
        assert error_locs(exc.value) == ["payload"]

    def test_client_cannot_send_ingest_received_at(self, at_now: RecordFactory) -> None:
        with pytest.raises(ValidationError) as exc:
            validate(at_now(ingest_received_at="2025-10-19T12:34:56.200Z"))
        assert error_locs(exc.value) == ["ingest_received_at"]
        assert "set by the receiver" in str(exc.value)

    def test_stamp_sets_the_server_time(self, at_now: RecordFactory) -> None:
        stored = validate(at_now()).stamp(NOW + timedelta(microseconds=456789))
        assert stored.ingest_received_at == NOW.replace(microsecond=579000)


class TestSerialisation:
    def test_json_is_compact_stable_and_round_trips(self, at_now: RecordFactory) -> None:
        record = validate(at_now(payload={"z_last": 1.5, "a_first": False})).stamp(NOW)
        line = record.to_json()
        assert b" " not in line and b"\n" not in line
        assert list(json.loads(line)) == [
            "timestamp",
            "vehicle_id",
            "can_id",
            "payload",
            "ingest_received_at",
        ]
        assert list(json.loads(line)["payload"]) == ["a_first", "z_last"]
        assert parse_record(line) == record
        assert parse_record(line).to_json() == line

    def test_stored_record_requires_ingest_received_at(self, at_now: RecordFactory) -> None:
        with pytest.raises(ValidationError) as exc:
            TelemetryRecord.model_validate(at_now())
        assert error_locs(exc.value) == ["ingest_received_at"]


def test_checked_in_schema_matches_the_code() -> None:
    """Fails when the model changes without `make schema` (the schema is what consumers read)."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_json_schema(), "run `make schema`"


def test_stamped_lines_match_stamp_then_to_json() -> None:
    """The receiver's fast path writes exactly the bytes of the model path."""
    from app.contract import TelemetryIn, stamped_lines

    record = TelemetryIn.model_validate(
        {
            "timestamp": "2025-10-19T14:34:56.123456+02:00",
            "vehicle_id": "veh-1",
            "can_id": "0x1f0",
            "payload": {"b": 1.5, "a": True},
        }
    )
    received_at = datetime(2025, 10, 19, 12, 34, 57, 987654, tzinfo=UTC)
    assert stamped_lines([record], received_at) == [record.stamp(received_at).to_json()]
    assert b'"ingest_received_at":"2025-10-19T12:34:57.987Z"' in stamped_lines([record], received_at)[0]


# --- the hour and its partition (moved here from tests/unit/aggregator/test_cli.py with `Hour`) ---


def test_hour_is_floored_in_utc_and_must_be_aware() -> None:
    berlin = datetime.fromisoformat("2025-10-19T14:30:00+02:00")
    assert Hour.of(berlin) == Hour("2025-10-19T12")
    assert Hour.of(berlin).start == datetime(2025, 10, 19, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        Hour.of(datetime(2025, 10, 19, 12))


def test_partition_path_matches_the_consumer_layout() -> None:
    assert (
        Hour.of(datetime(2025, 3, 4, 5, tzinfo=UTC)).partition("raw/")
        == "raw/year=2025/month=03/day=04/hour=05/"
    )


def test_hour_shifts_across_days_and_orders_in_time() -> None:
    assert Hour("2025-01-01T00").shift(-1) == Hour("2024-12-31T23")
    assert Hour("2024-02-28T23").shift(1) == Hour("2024-02-29T00")
    assert sorted([Hour("2025-10-19T12"), Hour("2025-10-19T03"), Hour("2024-12-31T23")]) == [
        Hour("2024-12-31T23"),
        Hour("2025-10-19T03"),
        Hour("2025-10-19T12"),
    ]


def test_a_stored_line_starts_with_the_hour_key_of_its_partition() -> None:
    received = datetime(2025, 10, 19, 12, 59, 59, 999_000, tzinfo=UTC)
    record = TelemetryIn.model_validate(
        {"timestamp": "2025-10-19T12:59:00Z", "vehicle_id": "v", "can_id": "0x1", "payload": {"a": 1}}
    ).stamp(received)
    stored = orjson.loads(record.to_json())
    assert Hour(stored["ingest_received_at"][:HOUR_KEY_LENGTH]) == Hour.of(received)


# --- record identity (one definition: used by the hourly job, the load-test verifier, chaos) ---


def test_identity_ignores_arrival_time_and_spelling() -> None:
    sent = {
        "timestamp": "2025-10-19T12:00:01Z",
        "vehicle_id": "veh-1",
        "can_id": "0x1f0",
        "payload": {"b": 2.0, "a": 1},
    }
    respelled = {
        **sent,
        "timestamp": "2025-10-19T14:00:01.000+02:00",
        "can_id": "0x1F0",
        "payload": {"a": 1, "b": 2.0},
    }
    first, second = TelemetryIn.model_validate(sent), TelemetryIn.model_validate(respelled)
    assert record_identity(first) == record_identity(second)
    for arrival in (datetime(2025, 10, 19, 12, 0, 2, tzinfo=UTC), datetime(2025, 10, 19, 13, tzinfo=UTC)):
        assert stored_line_identity(first.stamp(arrival).to_json()) == record_identity(first)
    assert re.fullmatch(r"[0-9a-f]{32}", record_identity(first))


@pytest.mark.parametrize(
    "changed",
    [
        {"vehicle_id": "veh-2"},
        {"timestamp": "2025-10-19T12:00:01.001Z"},
        {"can_id": "0x1F1"},
        {"payload": {"a": 1.5}},
    ],
)
def test_identity_changes_with_each_identity_field(changed: dict[str, Any]) -> None:
    base = {
        "timestamp": "2025-10-19T12:00:01Z",
        "vehicle_id": "veh-1",
        "can_id": "0x1F0",
        "payload": {"a": 1},
    }
    assert record_identity(TelemetryIn.model_validate(base)) != record_identity(
        TelemetryIn.model_validate({**base, **changed})
    )
