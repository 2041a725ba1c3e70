"""The JSON document, the CSV beside it and the terminal table, from a hand-built result."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime

import orjson

from app.aggregator.report import HourlyResult, render_table, to_csv, to_document, to_json
from app.aggregator.stats import FleetStats, LatencyPercentiles, SignalStats, VehicleStats
from app.contract import Hour

HOUR = Hour("2025-10-19T12")


def result(*, vehicles: list[VehicleStats], latency: LatencyPercentiles | None = None) -> HourlyResult:
    records = sum(v.records for v in vehicles)
    distinct = sum(v.distinct for v in vehicles)
    return HourlyResult(
        hour=HOUR,
        generated_at=datetime(2025, 10, 19, 13, 5, 0, 250000, tzinfo=UTC),
        fleet=FleetStats(
            records=records,
            distinct=distinct,
            vehicles=len(vehicles),
            objects=3,
            invalid_lines=1,
            unreadable_objects=0,
            ingest_to_persist_ms=latency,
        ),
        vehicles=vehicles,
        json_key="aggregates/x/vehicle_stats.json",
        csv_key="aggregates/x/vehicle_stats.csv",
    )


def vehicle(vehicle_id: str, **signals: SignalStats) -> VehicleStats:
    return VehicleStats(
        vehicle_id=vehicle_id,
        records=4,
        distinct=3,
        first_timestamp=datetime(2025, 10, 19, 12, 0, 0, 1000, tzinfo=UTC),
        last_timestamp=datetime(2025, 10, 19, 12, 59, 59, 999000, tzinfo=UTC),
        signals=signals,
    )


SOC = SignalStats(min=10.0, max=30.0, mean=20.0, count=3)
TEMP = SignalStats(min=-5.5, max=1.5, mean=-2.0, count=2)


def test_document_carries_every_field() -> None:
    latency = LatencyPercentiles(p50=12, p95=40, p99=80, samples=8)
    checked = dataclasses.replace(
        vehicle("veh-a", battery_soc=SOC),
        vehicle_delay_ms=(150, 400),
        clock_offset_ms=-45_000,
        clock_off=True,
        anomalies={"cell_voltage_spread": 1, "silent": 1},
    )
    doc = to_document(result(vehicles=[checked], latency=latency))
    assert doc == {
        "hour": "2025-10-19T12",
        "generated_at": "2025-10-19T13:05:00.250Z",
        "fleet": {
            "records": 4,
            "distinct": 3,
            "duplicates": 1,
            "duplicate_rate": 0.25,
            "vehicles": 1,
            "objects": 3,
            "invalid_lines": 1,
            "unreadable_objects": 0,
            "ingest_to_persist_ms": {"p50": 12, "p95": 40, "p99": 80, "samples": 8},
            "anomalies": 2,
            "clock_off_vehicles": 1,
        },
        "vehicles": [
            {
                "vehicle_id": "veh-a",
                "records": 4,
                "distinct": 3,
                "duplicates": 1,
                "first_timestamp": "2025-10-19T12:00:00.001Z",
                "last_timestamp": "2025-10-19T12:59:59.999Z",
                "signals": {"battery_soc": {"min": 10.0, "max": 30.0, "mean": 20.0, "count": 3}},
                "vehicle_delay_ms": {"p50": 150, "p95": 400},
                "clock_offset_ms": -45000,
                "clock_off": True,
                "anomalies": {"cell_voltage_spread": 1, "silent": 1},
            }
        ],
    }
    assert orjson.loads(to_json(result(vehicles=[checked], latency=latency))) == doc


def test_empty_hour_is_a_valid_document_with_zero_rate_and_no_latency() -> None:
    empty = HourlyResult(
        hour=HOUR,
        generated_at=HOUR.start,
        fleet=FleetStats(
            records=0,
            distinct=0,
            vehicles=0,
            objects=0,
            invalid_lines=0,
            unreadable_objects=0,
            ingest_to_persist_ms=None,
        ),
        vehicles=[],
        json_key="k.json",
        csv_key="k.csv",
    )
    doc = orjson.loads(to_json(empty))
    assert doc["vehicles"] == []
    assert doc["fleet"]["duplicate_rate"] == 0.0
    assert doc["fleet"]["ingest_to_persist_ms"] is None
    assert to_csv(empty) == "vehicle_id,records,distinct,duplicates,first_timestamp,last_timestamp\n"
    assert "0 vehicles, 0 records" in render_table(empty)


def test_csv_has_min_max_mean_per_signal_and_blanks_where_missing() -> None:
    text = to_csv(result(vehicles=[vehicle("veh-a", battery_soc=SOC), vehicle("veh-b", cell_temp_min=TEMP)]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "vehicle_id",
        "records",
        "distinct",
        "duplicates",
        "first_timestamp",
        "last_timestamp",
        "battery_soc_min",
        "battery_soc_max",
        "battery_soc_mean",
        "cell_temp_min_min",
        "cell_temp_min_max",
        "cell_temp_min_mean",
    ]
    assert rows[0]["vehicle_id"] == "veh-a"
    assert (rows[0]["records"], rows[0]["distinct"], rows[0]["duplicates"]) == ("4", "3", "1")
    assert rows[0]["first_timestamp"] == "2025-10-19T12:00:00.001Z"
    assert (rows[0]["battery_soc_min"], rows[0]["battery_soc_max"], rows[0]["battery_soc_mean"]) == (
        "10.0",
        "30.0",
        "20.0",
    )
    assert rows[0]["cell_temp_min_mean"] == ""
    assert (rows[1]["battery_soc_mean"], rows[1]["cell_temp_min_min"]) == ("", "-5.5")


def test_table_has_a_row_per_vehicle_and_a_fleet_summary() -> None:
    latency = LatencyPercentiles(p50=12, p95=40, p99=80, samples=8)
    text = render_table(
        result(
            vehicles=[vehicle("veh-a", battery_soc=SOC), vehicle("veh-b", cell_temp_min=TEMP)],
            latency=latency,
        )
    )
    lines = text.splitlines()
    assert lines[0].split() == [
        "vehicle_id",
        "records",
        "distinct",
        "dups",
        "first_timestamp",
        "last_timestamp",
        "battery_soc",
        "mean",
        "cell_temp_min",
        "mean",
    ]
    assert lines[2].split() == [
        "veh-a",
        "4",
        "3",
        "1",
        "2025-10-19T12:00:00.001Z",
        "2025-10-19T12:59:59.999Z",
        "20.00",
        "-",
    ]
    assert lines[3].split()[-2:] == ["-", "-2.00"]
    assert lines[-1] == (
        "hour 2025-10-19T12: 2 vehicles, 8 records, 6 distinct, duplicate rate 25.00%, 3 objects, "
        "1 invalid lines, ingest-to-persist p50/p95/p99 12/40/80 ms"
    )
    narrow = render_table(result(vehicles=[vehicle("veh-a", battery_soc=SOC)]), signals=[])
    assert "battery_soc" not in narrow.splitlines()[0]
