"""Every statistic of one hour as the reference fold defines it, on hand-made stored lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from app.aggregator.reference import HourAccumulator, parse_line
from app.aggregator.stats import LatencyPercentiles, latency_percentiles, nearest_rank
from app.errors import ContractError

T0 = "2025-10-19T12:00:01.000Z"


def stored(
    *,
    vehicle: str = "veh-1",
    ts: str = T0,
    can_id: str = "0x1F0",
    received: str = "2025-10-19T12:00:01.500Z",
    **payload: Any,
) -> bytes:
    """A line shaped exactly like TelemetryRecord.to_json() output."""
    return orjson.dumps(
        {
            "timestamp": ts,
            "vehicle_id": vehicle,
            "can_id": can_id,
            "payload": dict(sorted((payload or {"battery_soc": 50.0}).items())),
            "ingest_received_at": received,
        }
    )


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000 + 0.5)


def test_identity_ignores_arrival_time_and_spelling() -> None:
    first = parse_line(stored(battery_soc=1.0, battery_voltage=2.0))
    redelivered = parse_line(
        stored(battery_soc=1.0, battery_voltage=2.0, received="2025-10-19T12:30:00.000Z")
    )
    respelled = orjson.dumps(
        {
            "payload": {"battery_voltage": 2.0, "battery_soc": 1.0},
            "vehicle_id": "veh-1",
            "timestamp": "2025-10-19T12:00:01.000+00:00",
            "can_id": "0x1F0",
            "ingest_received_at": "2025-10-19T12:00:01.500Z",
        }
    )
    assert first.identity == redelivered.identity == parse_line(respelled).identity
    assert len(first.identity) == 32  # hex of 128 bits


@pytest.mark.parametrize(
    "changed",
    [
        {"vehicle": "veh-2"},
        {"ts": "2025-10-19T12:00:01.001Z"},
        {"can_id": "0x1F1"},
        {"battery_soc": 50.5},
    ],
)
def test_identity_changes_with_each_identity_field(changed: dict[str, Any]) -> None:
    assert parse_line(stored()).identity != parse_line(stored(**changed)).identity


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[1, 2]", "Input should be an object"),
        (orjson.dumps({"timestamp": T0, "can_id": "0x1", "payload": {"a": 1}}), "vehicle_id: Field required"),
        (stored(vehicle=""), "vehicle_id: String should have at least 1 character"),
        (stored(vehicle="veh 1"), "vehicle_id: String should match pattern"),
        (stored(can_id=""), "can_id: String should match pattern"),
        (stored(can_id="0x20000000"), "can_id: must be within the 29-bit CAN range"),
        (stored(ts="yesterday"), "timestamp: must be an ISO 8601 date-time string"),
        (stored(ts="2025-10-19T12:00:01"), "timestamp: Input should have timezone info"),
        (stored(received=""), "ingest_received_at: must be an ISO 8601 date-time string"),
        (stored(battery_soc="85"), "payload.battery_soc: must be a number or a boolean"),
        (stored(battery_soc=[1]), "payload.battery_soc: must be a number or a boolean"),
        (stored(Battery_SOC=1.0), "payload.Battery_SOC.[key]: String should match pattern"),
    ],
)
def test_broken_lines_name_the_contract_rule(line: bytes, rule: str) -> None:
    """The hourly job accepts exactly what the contract accepts (it used to take looser lines)."""
    with pytest.raises(ContractError) as exc:
        parse_line(line)
    assert exc.value.field == "line 1" and exc.value.rule.startswith(rule)


def test_empty_payload_is_invalid() -> None:
    line = orjson.dumps(
        {"timestamp": T0, "vehicle_id": "v", "can_id": "0x1", "payload": {}, "ingest_received_at": T0}
    )
    with pytest.raises(ContractError, match="payload"):
        parse_line(line)


def test_vehicle_statistics_use_distinct_records_only() -> None:
    acc = HourAccumulator()
    lines = [
        stored(ts="2025-10-19T12:10:00.000Z", battery_soc=10.0, battery_voltage=400),
        stored(ts="2025-10-19T12:05:00.000Z", battery_soc=20.0),
        # the first record again, redelivered: must not pull the mean of battery_soc to 13.3
        stored(
            ts="2025-10-19T12:10:00.000Z",
            battery_soc=10.0,
            battery_voltage=400,
            received="2025-10-19T12:11:00.000Z",
        ),
        stored(ts="2025-10-19T12:20:00.000Z", battery_soc=30.0, charging=True),
        stored(vehicle="veh-0", ts="2025-10-19T12:59:59.999Z", battery_soc=-1.5),
    ]
    for line in lines:
        acc.add_line(line, flushed_at_ms=None)

    veh0, veh1 = acc.vehicles()
    assert (veh0.vehicle_id, veh1.vehicle_id) == ("veh-0", "veh-1")
    assert (veh1.records, veh1.distinct, veh1.duplicates) == (4, 3, 1)
    assert veh1.first_timestamp == datetime(2025, 10, 19, 12, 5, tzinfo=UTC)
    assert veh1.last_timestamp == datetime(2025, 10, 19, 12, 20, tzinfo=UTC)
    soc = veh1.signals["battery_soc"]
    assert (soc.min, soc.max, soc.mean, soc.count) == (10.0, 30.0, 20.0, 3)
    volts = veh1.signals["battery_voltage"]
    assert (volts.min, volts.max, volts.mean, volts.count) == (400.0, 400.0, 400.0, 1)
    assert "charging" not in veh1.signals  # booleans are not numeric signals
    assert list(veh1.signals) == ["battery_soc", "battery_voltage"]
    assert (veh0.records, veh0.distinct, veh0.duplicates) == (1, 1, 0)
    assert veh0.signals["battery_soc"].mean == -1.5
    assert (
        veh0.first_timestamp == veh0.last_timestamp == datetime(2025, 10, 19, 12, 59, 59, 999000, tzinfo=UTC)
    )

    fleet = acc.fleet(objects=2, unreadable_objects=0)
    assert (fleet.records, fleet.distinct, fleet.duplicates, fleet.vehicles) == (5, 4, 1, 2)
    assert fleet.duplicate_rate == pytest.approx(0.2)
    assert fleet.objects == 2
    assert fleet.ingest_to_persist_ms is None


def test_same_frame_from_two_vehicles_is_not_a_duplicate() -> None:
    acc = HourAccumulator()
    acc.add_line(stored(vehicle="a"), flushed_at_ms=None)
    acc.add_line(stored(vehicle="b"), flushed_at_ms=None)
    assert acc.fleet(objects=1, unreadable_objects=0).duplicates == 0


def test_invalid_line_is_counted_and_changes_nothing_else() -> None:
    acc = HourAccumulator()
    acc.add_line(stored(), flushed_at_ms=None)
    with pytest.raises(ContractError):
        acc.add_line(b'{"vehicle_id": "veh-1"}', flushed_at_ms=None)
    fleet = acc.fleet(objects=1, unreadable_objects=0)
    assert (fleet.invalid_lines, fleet.records, fleet.vehicles) == (1, 1, 1)


def test_latency_is_flush_time_minus_ingest_time_for_every_stored_line() -> None:
    acc = HourAccumulator()
    flushed = ms("2025-10-19T12:00:02.000Z")
    for i in range(100):  # received 12:00:01.000 ... .099, so latencies 1000 ms down to 901 ms
        line = stored(ts=f"2025-10-19T12:00:00.{i:03d}Z", received=f"2025-10-19T12:00:01.{i:03d}Z")
        acc.add_line(line, flushed_at_ms=flushed)
    acc.add_line(
        stored(ts="2025-10-19T12:00:00.001Z", received="2025-10-19T12:00:01.000Z"), flushed_at_ms=None
    )

    latency = acc.fleet(objects=2, unreadable_objects=0).ingest_to_persist_ms
    # 100 samples 901..1000 ms: nearest rank p50 = 50th = 950, p95 = 995, p99 = 999
    assert latency == LatencyPercentiles(p50=950, p95=995, p99=999, samples=100)


def test_nearest_rank_is_exact_on_a_histogram() -> None:
    assert nearest_rank({7: 1}, [50, 95, 99]) == [7, 7, 7]
    assert nearest_rank({10: 50, 20: 45, 30: 4, 40: 1}, [50, 95, 99, 100]) == [10, 20, 30, 40]
    assert nearest_rank({-5: 1, 5: 1}, [50, 51]) == [-5, 5]
    with pytest.raises(ValueError, match="no samples"):
        nearest_rank({}, [50])
    assert latency_percentiles({}) is None
