"""The curated layer against moto's S3: distinct, typed records, read back with a second reader.

pyarrow (not DuckDB, which wrote the file) reads curated/.../records.parquet back, and every row
is compared field for field with what the raw hour holds: duplicates once (with their earliest
arrival), records late from their vehicle's clock, booleans and unknown signals kept as sent,
gzip objects and plain ones alike. A re-run replaces the hour's files; it never adds to them.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from app.aggregator import aggregate_hour
from app.aggregator.tables import curated, vehicle_stats
from app.aws import s3_client
from app.contract import Hour, TelemetryIn
from app.embedded_aws import provision
from app.errors import AggregationError
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.settings import Settings
from tests.conftest import SettingsFactory

HOUR = Hour("2025-10-19T12")
CLOCK = datetime(2025, 10, 19, 13, 5, tzinfo=UTC)


def stored(vehicle: str, ts: str, received: str, can_id: str = "0x1F0", **payload: Any) -> bytes:
    return (
        TelemetryIn.model_validate(
            {"timestamp": ts, "vehicle_id": vehicle, "can_id": can_id, "payload": payload}
        )
        .stamp(datetime.fromisoformat(received))
        .to_json()
    )


@dataclass
class Hourly:
    settings: Settings
    s3: Any

    def put(self, name: str, lines: list[bytes], *, gz: bool = False) -> None:
        body = b"".join(line + b"\n" for line in lines)
        self.s3.put_object(
            Bucket=self.settings.bucket,
            Key=f"{HOUR.partition('raw/')}{name}",
            Body=gzip.compress(body) if gz else body,
            Metadata={"flushed-at": "2025-10-19T12:59:59.000Z"},
        )

    def run(self, *, force: bool = False) -> None:
        aggregate_hour(
            store=S3ObjectStore(self.s3, self.settings.bucket),
            settings=self.settings,
            hour=HOUR,
            metrics=InMemoryMetrics(),
            clock=lambda: CLOCK,
            force=force,
        )

    def keys(self, prefix: str) -> list[str]:
        page = self.s3.list_objects_v2(Bucket=self.settings.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in page.get("Contents", []))

    def parquet(self, key: str) -> list[dict[str, Any]]:
        body = self.s3.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()
        return list(pq.read_table(io.BytesIO(body)).to_pylist())


@pytest.fixture
def hourly(mocked_aws: None, settings_factory: SettingsFactory) -> Iterator[Hourly]:
    settings = settings_factory()
    provision(settings)
    yield Hourly(settings=settings, s3=s3_client(settings))


def expected_row(line: bytes, *, copies: int, earliest: str) -> dict[str, Any]:
    """What curated must hold for a stored line: typed known signals, the rest as JSON, as sent."""
    record = orjson.loads(line)
    payload = dict(record["payload"])
    row: dict[str, Any] = {
        "vehicle_id": record["vehicle_id"],
        "timestamp": datetime.fromisoformat(record["timestamp"]),
        "can_id": record["can_id"],
        "ingest_received_at": datetime.fromisoformat(earliest),
    }
    for name in curated().signals:
        value = payload.get(name)
        typed = value if isinstance(value, float | int) and not isinstance(value, bool) else None
        row[name] = None if typed is None else float(typed)
        if typed is not None:
            del payload[name]
    row["other_signals"] = orjson.dumps(payload).decode() if payload else None
    row["copies"] = copies
    return row


def test_curated_rows_are_the_distinct_records_field_for_field(hourly: Hourly) -> None:
    a1 = stored(
        "veh-a", "2025-10-19T12:00:01.000Z", "2025-10-19T12:00:01.200Z", battery_soc=80.5, brake_status=False
    )
    a1_again = stored(
        "veh-a", "2025-10-19T12:00:01.000Z", "2025-10-19T12:40:00.000Z", battery_soc=80.5, brake_status=False
    )
    # late: the vehicle's clock says 11:58, the receiver took it at 12:10 (the partition is the receiver's)
    late = stored("veh-a", "2025-10-19T11:58:00.000Z", "2025-10-19T12:10:00.000Z", battery_soc=81.0)
    cells = stored(
        "veh-b",
        "2025-10-19T12:30:00.000Z",
        "2025-10-19T12:30:00.100Z",
        can_id="0x1F1",
        cell_voltage_min=3.45,
        cell_voltage_max=3.67,
        cell_temp_min=28,
        cell_temp_max=31.2,
        coolant_pump_on=True,
        odometer_m=123456789012345678,  # an integer no DOUBLE holds exactly: kept as sent
    )
    boolean_soc = stored("veh-c", "2025-10-19T12:15:00.000Z", "2025-10-19T12:15:00.050Z", battery_soc=True)
    smoke = stored("smoke-abc", "2025-10-19T12:20:00.000Z", "2025-10-19T12:20:00.010Z", battery_soc=50.0)
    hourly.put("part-1.jsonl", [a1, late, smoke])
    hourly.put("part-2.jsonl.gz", [cells, a1_again, boolean_soc, cells], gz=True)

    hourly.run()

    rows = hourly.parquet(curated().key("curated/", HOUR))
    assert rows == [
        expected_row(late, copies=1, earliest="2025-10-19T12:10:00.000Z"),
        expected_row(a1, copies=2, earliest="2025-10-19T12:00:01.200Z"),
        expected_row(cells, copies=2, earliest="2025-10-19T12:30:00.100Z"),
        expected_row(boolean_soc, copies=1, earliest="2025-10-19T12:15:00.050Z"),
    ]  # sorted by vehicle and time; the smoke test's record is not fleet data
    assert rows[2]["other_signals"] == '{"coolant_pump_on":true,"odometer_m":123456789012345678}'
    assert rows[3]["battery_soc"] is None and rows[3]["other_signals"] == '{"battery_soc":true}'

    schema = pq.read_schema(
        io.BytesIO(
            hourly.s3.get_object(Bucket=hourly.settings.bucket, Key=curated().key("curated/", HOUR))[
                "Body"
            ].read()
        )
    )
    assert schema.names == [c.name for c in curated().columns]
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("copies").type) == "int32"

    stats = hourly.parquet(vehicle_stats().key("vehicle_stats/", HOUR))
    assert [(r["vehicle_id"], r["records"], r["distinct_records"], r["duplicates"]) for r in stats] == [
        ("veh-a", 3, 2, 1),
        ("veh-b", 2, 1, 1),
        ("veh-c", 1, 1, 0),
    ]
    assert dict(stats[0]["signals"])["battery_soc"] == {"min": 80.5, "max": 81.0, "mean": 80.75, "count": 2}
    assert dict(stats[1]["signals"])["odometer_m"]["max"] == pytest.approx(1.2345678901234568e17)


def test_a_rerun_replaces_the_hour_and_never_adds_to_it(hourly: Hourly) -> None:
    first = stored("veh-a", "2025-10-19T12:00:01.000Z", "2025-10-19T12:00:01.200Z", battery_soc=80.0)
    hourly.put("part-1.jsonl", [first])
    hourly.run()
    late_arrival = stored("veh-a", "2025-10-19T12:00:02.000Z", "2025-10-19T12:00:02.200Z", battery_soc=79.0)
    hourly.put("part-2.jsonl", [late_arrival, first])  # the redrive brought a copy of the first along
    hourly.run()
    hourly.run()

    assert hourly.keys("curated/") == [curated().key("curated/", HOUR)]
    assert hourly.keys("vehicle_stats/") == [vehicle_stats().key("vehicle_stats/", HOUR)]
    rows = hourly.parquet(curated().key("curated/", HOUR))
    assert [(r["battery_soc"], r["copies"]) for r in rows] == [(80.0, 2), (79.0, 1)]


def test_a_quiet_hour_writes_its_documents_but_no_tables_and_stays_re_runnable(hourly: Hourly) -> None:
    hourly.run()
    hourly.run()  # the next scheduled run's --lookback: a quiet hour must not be refused as "expired"
    hourly.run(force=True)  # nor made refusable by a forced run: there is nothing to replace
    hourly.run()
    assert hourly.keys("curated/") == [] and hourly.keys("vehicle_stats/") == []
    document = hourly.keys("aggregates/")
    assert len(document) == 2 and hourly.keys("anomalies/")
    # records a redrive brings later fill it like any other hour
    hourly.put(
        "late.jsonl", [stored("veh-1", "2025-10-19T12:00:00Z", "2025-10-19T12:00:01Z", battery_soc=80.0)]
    )
    hourly.run()
    assert [r["vehicle_id"] for r in hourly.parquet(curated().key("curated/", HOUR))] == ["veh-1"]


def test_an_hour_whose_raw_expired_keeps_its_curated_data_unless_forced(hourly: Hourly) -> None:
    hourly.put("a.jsonl", [stored("veh-1", "2025-10-19T12:00:00Z", "2025-10-19T12:00:01Z", battery_soc=80.0)])
    hourly.run()
    curated_key = curated().key("curated/", HOUR)
    for key in hourly.keys("raw/"):  # what the raw/ lifecycle rule does after raw_retention_days
        hourly.s3.delete_object(Bucket=hourly.settings.bucket, Key=key)
    before = {
        key: hourly.s3.head_object(Bucket=hourly.settings.bucket, Key=key)["ETag"] for key in hourly.keys("")
    }

    with pytest.raises(
        AggregationError,
        match=r"raw/ holds no data objects .* kept as it is; --hour 2025-10-19T12 --force replaces it",
    ):
        hourly.run()
    after = {
        key: hourly.s3.head_object(Bucket=hourly.settings.bucket, Key=key)["ETag"] for key in hourly.keys("")
    }
    assert after == before and len(hourly.parquet(curated_key)) == 1

    hourly.run(force=True)  # replaces it with an empty hour: the tables, with their columns
    table = pq.read_table(
        io.BytesIO(hourly.s3.get_object(Bucket=hourly.settings.bucket, Key=curated_key)["Body"].read())
    )
    assert table.num_rows == 0 and table.schema.names == [c.name for c in curated().columns]
    assert hourly.parquet(vehicle_stats().key("vehicle_stats/", HOUR)) == []
