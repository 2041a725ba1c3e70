"""The hourly job against moto's S3: hand-made partitions in, vehicle_stats.json and .csv out."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from app.aggregator import AggregationError, aggregate_hour, output_keys
from app.aws import s3_client
from app.cli import main
from app.contract import Hour, TelemetryIn
from app.embedded_aws import provision
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.settings import Settings
from tests.conftest import SettingsFactory

HOUR = Hour("2025-10-19T12")
PARTITION = "raw/year=2025/month=10/day=19/hour=12/"
JSON_KEY = "aggregates/year=2025/month=10/day=19/hour=12/vehicle_stats.json"
CSV_KEY = "aggregates/year=2025/month=10/day=19/hour=12/vehicle_stats.csv"


def line(vehicle: str, ts: str, received: str, **payload: float | bool) -> bytes:
    """A stored line exactly as the consumer writes it: TelemetryRecord.to_json()."""
    record = TelemetryIn.model_validate(
        {"timestamp": ts, "vehicle_id": vehicle, "can_id": "0x1F0", "payload": payload}
    ).stamp(datetime.fromisoformat(received))
    return record.to_json()


@dataclass
class Bucket:
    settings: Settings
    s3: Any

    def put(self, name: str, lines: list[bytes], *, flushed_at: str | None = None, gz: bool = False) -> None:
        body = b"".join(item + b"\n" for item in lines)
        metadata = {"record-count": str(len(lines))}
        if flushed_at is not None:
            metadata["flushed-at"] = flushed_at
        self.s3.put_object(
            Bucket=self.settings.bucket,
            Key=f"{PARTITION}{name}",
            Body=gzip.compress(body) if gz else body,
            Metadata=metadata,
        )

    def get(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        page = self.s3.list_object_versions(Bucket=self.settings.bucket, Prefix=prefix)
        return sorted(v["Key"] for v in page.get("Versions", []) if v["IsLatest"])

    def run(self, hour: Hour = HOUR, metrics: InMemoryMetrics | None = None) -> dict[str, Any]:
        aggregate_hour(
            store=S3ObjectStore(self.s3, self.settings.bucket),
            settings=self.settings,
            hour=hour,
            metrics=metrics or InMemoryMetrics(),
            clock=lambda: datetime(2025, 10, 19, 13, 5, tzinfo=UTC),
        )
        return dict(json.loads(self.get(JSON_KEY)))


@pytest.fixture
def bucket(mocked_aws: None, settings_factory: SettingsFactory) -> Iterator[Bucket]:
    settings = settings_factory()
    provision(settings)
    s3 = s3_client(settings)
    yield Bucket(settings=settings, s3=s3)


def test_every_statistic_over_plain_and_gzip_objects(
    bucket: Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    a1 = line(
        "veh-a", "2025-10-19T11:59:58.000Z", "2025-10-19T12:00:00.100Z", battery_soc=80.0, cell_temp_max=30
    )
    a2 = line(
        "veh-a", "2025-10-19T12:30:00.000Z", "2025-10-19T12:30:00.200Z", battery_soc=70.0, charging=True
    )
    a3 = line(
        "veh-a", "2025-10-19T12:45:00.000Z", "2025-10-19T12:45:00.300Z", battery_soc=60.0, cell_temp_max=34
    )
    b1 = line("veh-b", "2025-10-19T12:10:00.000Z", "2025-10-19T12:10:00.400Z", battery_soc=50.0)
    # a2 redelivered: same frame, new arrival stamp, persisted again in the gzip object
    a2_again = line(
        "veh-a", "2025-10-19T12:30:00.000Z", "2025-10-19T12:59:00.000Z", battery_soc=70.0, charging=True
    )
    bucket.put("part-1.jsonl", [a1, a2], flushed_at="2025-10-19T12:59:00.500Z")
    bucket.put(
        "part-2.jsonl.gz", [a3, b1, a2_again, a3, b"{broken"], flushed_at="2025-10-19T12:59:01.000Z", gz=True
    )
    # the same frames in the next hour and a stray file in this one are not read
    bucket.s3.put_object(
        Bucket=bucket.settings.bucket,
        Key="raw/year=2025/month=10/day=19/hour=13/part-x.jsonl",
        Body=b1 + b"\n",
    )
    bucket.s3.put_object(Bucket=bucket.settings.bucket, Key=f"{PARTITION}_manifest.txt", Body=b"not data")
    metrics = InMemoryMetrics()

    with caplog.at_level(logging.INFO, logger="app.aggregator"):
        doc = bucket.run(metrics=metrics)

    fleet = doc["fleet"]
    assert {
        k: fleet[k] for k in ("records", "distinct", "duplicates", "vehicles", "objects", "invalid_lines")
    } == {
        "records": 6,
        "distinct": 4,
        "duplicates": 2,
        "vehicles": 2,
        "objects": 2,
        "invalid_lines": 1,
    }
    assert fleet["duplicate_rate"] == pytest.approx(2 / 6)
    assert fleet["unreadable_objects"] == 0
    # latencies (ms) = flushed-at - ingest_received_at, for every stored line:
    # part-1: 12:59:00.500 - {12:00:00.100, 12:30:00.200} = 3540400, 1740300
    # part-2: 12:59:01.000 - {12:45:00.300, 12:10:00.400, 12:59:00.000, 12:45:00.300} = 840700, 2940600, 1000, 840700
    # sorted: 1000, 840700, 840700, 1740300, 2940600, 3540400 -> p50 = 3rd, p95 = p99 = 6th
    assert fleet["ingest_to_persist_ms"] == {"p50": 840700, "p95": 3540400, "p99": 3540400, "samples": 6}

    veh_a, veh_b = doc["vehicles"]
    assert veh_a == {
        "vehicle_id": "veh-a",
        "records": 5,
        "distinct": 3,
        "duplicates": 2,
        "first_timestamp": "2025-10-19T11:59:58.000Z",  # vehicle clock: may precede the partition hour
        "last_timestamp": "2025-10-19T12:45:00.000Z",
        "signals": {
            "battery_soc": {"min": 60.0, "max": 80.0, "mean": 70.0, "count": 3},
            "cell_temp_max": {"min": 30.0, "max": 34.0, "mean": 32.0, "count": 2},
        },
        # receiver minus vehicle time over the 3 distinct records: 2100, 200 and 300 ms
        "vehicle_delay_ms": {"p50": 300, "p95": 2100},
        "clock_offset_ms": 200,
        "clock_off": False,
        # minutes between its records: the hourly rules see the vehicle silent between them
        "anomalies": {"silent": 2},
    }
    assert veh_b == {
        "vehicle_id": "veh-b",
        "records": 1,
        "distinct": 1,
        "duplicates": 0,
        "first_timestamp": "2025-10-19T12:10:00.000Z",
        "last_timestamp": "2025-10-19T12:10:00.000Z",
        "signals": {"battery_soc": {"min": 50.0, "max": 50.0, "mean": 50.0, "count": 1}},
        "vehicle_delay_ms": {"p50": 400, "p95": 400},
        "clock_offset_ms": 400,
        "clock_off": False,
        "anomalies": {"silent": 1},  # one record: silent from it to the fleet's last sample (12:45)
    }
    assert doc["hour"] == "2025-10-19T12"
    assert doc["generated_at"] == "2025-10-19T13:05:00.000Z"

    rows = list(csv.DictReader(io.StringIO(bucket.get(CSV_KEY).decode())))
    assert [r["vehicle_id"] for r in rows] == ["veh-a", "veh-b"]
    assert (rows[0]["records"], rows[0]["distinct"], rows[0]["duplicates"]) == ("5", "3", "2")
    assert (rows[0]["cell_temp_max_min"], rows[0]["cell_temp_max_max"], rows[0]["cell_temp_max_mean"]) == (
        "30.0",
        "34.0",
        "32.0",
    )
    assert rows[1]["cell_temp_max_mean"] == ""

    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=aggregate ")]
    assert len(summary) == 1
    assert summary[0].startswith(
        "event=aggregate hour=2025-10-19T12 records=6 distinct=4 duplicates=2 duplicate_rate=0.3333 "
        "vehicles=2 objects=2 invalid_lines=1"
    )
    assert "runtime_ms=" in summary[0]
    messages = [r.getMessage() for r in caplog.records]
    assert f"event=aggregate_invalid_line key={PARTITION}part-2.jsonl.gz line=5 rule=json_invalid" in messages
    assert f"event=aggregate_skip_object key={PARTITION}_manifest.txt reason=not_jsonl" in messages
    event, *anomaly_events = metrics.events
    assert [(e["metrics"], e["dimensions"]) for e in anomaly_events] == [
        ({"AnomalyEpisodes": 3}, {"Rule": "silent"}),  # 2 of veh-a, 1 of veh-b
        ({"ClockOffVehicles": 0}, {}),
    ]
    assert {k: event["metrics"][k] for k in ("Vehicles", "Records", "DistinctRecords", "InvalidLines")} == {
        "Vehicles": 2,
        "Records": 6,
        "DistinctRecords": 4,
        "InvalidLines": 1,
    }
    assert event["metrics"]["DuplicateRate"] == pytest.approx(2 / 6)
    assert event["metrics"]["RuntimeMs"] > 0
    assert event["units"]["RuntimeMs"] == "Milliseconds"


def test_empty_hour_writes_a_valid_empty_result(bucket: Bucket) -> None:
    doc = bucket.run()
    assert doc["vehicles"] == []
    assert doc["fleet"] == {
        "records": 0,
        "distinct": 0,
        "duplicates": 0,
        "duplicate_rate": 0.0,
        "vehicles": 0,
        "objects": 0,
        "invalid_lines": 0,
        "unreadable_objects": 0,
        "ingest_to_persist_ms": None,
        "anomalies": 0,
        "clock_off_vehicles": 0,
    }
    assert bucket.get(CSV_KEY).decode().splitlines() == [
        "vehicle_id,records,distinct,duplicates,first_timestamp,last_timestamp"
    ]


def test_rerun_overwrites_the_same_keys(bucket: Bucket) -> None:
    first = line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", battery_soc=1.0)
    bucket.put("part-1.jsonl", [first], flushed_at="2025-10-19T12:00:01.000Z")
    before = bucket.run()
    json_bytes, csv_bytes = bucket.get(JSON_KEY), bucket.get(CSV_KEY)

    again = bucket.run()
    assert again == before
    assert (bucket.get(JSON_KEY), bucket.get(CSV_KEY)) == (json_bytes, csv_bytes)
    assert bucket.keys("aggregates/") == [CSV_KEY, JSON_KEY]
    assert output_keys(bucket.settings, HOUR) == (JSON_KEY, CSV_KEY)

    # late data for the hour: the re-run replaces the result instead of adding a second one
    late = line("veh-b", "2025-10-19T12:59:59.000Z", "2025-10-19T12:59:59.500Z", battery_soc=2.0)
    bucket.put("part-2.jsonl", [late], flushed_at="2025-10-19T13:00:00.500Z")
    after = bucket.run()
    assert [v["vehicle_id"] for v in after["vehicles"]] == ["veh-a", "veh-b"]
    assert bucket.keys("aggregates/") == [CSV_KEY, JSON_KEY]


def test_objects_without_flush_time_still_count_but_give_no_latency(bucket: Bucket) -> None:
    bucket.put("part-1.jsonl", [line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", x=1.0)])
    bucket.put(
        "part-2.jsonl",
        [line("veh-a", "2025-10-19T12:00:01.000Z", "2025-10-19T12:00:01.100Z", x=3.0)],
        flushed_at="not a time",
    )
    doc = bucket.run()
    assert doc["fleet"]["records"] == 2
    assert doc["fleet"]["ingest_to_persist_ms"] is None
    assert doc["vehicles"][0]["signals"]["x"]["mean"] == 2.0


def test_damaged_gzip_is_counted_and_the_rest_aggregated(
    bucket: Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    good = line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", x=1.0)
    bucket.put("part-1.jsonl", [good])
    many = [
        line("veh-b", f"2025-10-19T12:00:{i:02d}.000Z", "2025-10-19T12:01:00.000Z", x=float(i))
        for i in range(50)
    ]
    truncated = gzip.compress(b"".join(m + b"\n" for m in many))[:-40]
    bucket.s3.put_object(Bucket=bucket.settings.bucket, Key=f"{PARTITION}part-2.jsonl.gz", Body=truncated)

    with caplog.at_level(logging.INFO, logger="app.aggregator"):
        doc = bucket.run()

    assert doc["fleet"]["objects"] == 2
    assert doc["fleet"]["unreadable_objects"] == 1
    assert doc["vehicles"][0] == {**doc["vehicles"][0], "vehicle_id": "veh-a", "records": 1}
    assert any(
        r.levelno == logging.ERROR and "event=aggregate_unreadable_object" in r.getMessage()
        for r in caplog.records
    )


def test_record_count_mismatch_is_logged(bucket: Bucket, caplog: pytest.LogCaptureFixture) -> None:
    body = line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", x=1.0) + b"\n"
    bucket.s3.put_object(
        Bucket=bucket.settings.bucket,
        Key=f"{PARTITION}part-1.jsonl",
        Body=body,
        Metadata={"record-count": "2"},
    )
    with caplog.at_level(logging.WARNING, logger="app.aggregator"):
        bucket.run()
    assert f"event=aggregate_count_mismatch key={PARTITION}part-1.jsonl expected=2 read=1" in caplog.messages


def test_missing_bucket_is_an_aggregation_error(mocked_aws: None, settings_factory: SettingsFactory) -> None:
    settings = settings_factory(bucket="no-such-bucket")
    with pytest.raises(
        AggregationError, match=r"hour 2025-10-19T12: LIST s3://no-such-bucket/raw/.* failed: .*NoSuchBucket"
    ):
        aggregate_hour(
            store=S3ObjectStore(s3_client(settings), settings.bucket),
            settings=settings,
            hour=HOUR,
            metrics=InMemoryMetrics(),
        )


def test_cli_aggregates_the_given_hour(bucket: Bucket, capsys: pytest.CaptureFixture[str]) -> None:
    bucket.put(
        "part-1.jsonl",
        [line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", battery_soc=42.0)],
        flushed_at="2025-10-19T12:00:00.600Z",
    )
    assert main(["aggregate", "--hour", "2025-10-19T12", "--table"]) == 0
    out, err = capsys.readouterr()
    assert "event=aggregate hour=2025-10-19T12 records=1" in err
    emf = [json.loads(x) for x in out.splitlines() if x.startswith("{") and '"_aws"' in x]
    assert emf and emf[0]["Records"] == 1.0 and emf[0]["Service"] == "aggregator"
    assert any(x.startswith("veh-a ") and "42.00" in x for x in out.splitlines())
    assert orjson.loads(bucket.get(JSON_KEY))["fleet"]["ingest_to_persist_ms"]["p50"] == 500


def test_cli_lookback_reaggregates_earlier_hours_that_got_late_data(
    bucket: Bucket, capsys: pytest.CaptureFixture[str]
) -> None:
    """An hour that filled after its first run (backlog, redrive) is caught by the next runs."""
    bucket.put(
        "part-1.jsonl",
        [line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", battery_soc=42.0)],
    )
    assert main(["aggregate", "--hour", "2025-10-19T13", "--lookback", "1"]) == 0
    err = capsys.readouterr().err
    assert "event=aggregate hour=2025-10-19T12 records=1" in err
    assert "event=aggregate hour=2025-10-19T13 records=0" in err
    assert orjson.loads(bucket.get(JSON_KEY))["fleet"]["records"] == 1


def test_cli_lookback_writes_the_other_hours_when_one_is_refused(
    bucket: Bucket, capsys: pytest.CaptureFixture[str]
) -> None:
    """An hour refused (raw/ gone, curated/ kept) must not keep the newer hours from being written."""
    bucket.put(
        "part-1.jsonl",
        [line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", battery_soc=1.0)],
    )
    assert main(["aggregate", "--hour", "2025-10-19T12"]) == 0
    bucket.s3.delete_object(Bucket=bucket.settings.bucket, Key=f"{PARTITION}part-1.jsonl")
    later = "raw/year=2025/month=10/day=19/hour=14/part-1.jsonl"
    body = line("veh-a", "2025-10-19T14:00:00.000Z", "2025-10-19T14:00:00.100Z", battery_soc=1.0) + b"\n"
    bucket.s3.put_object(Bucket=bucket.settings.bucket, Key=later, Body=body)
    capsys.readouterr()

    assert main(["aggregate", "--hour", "2025-10-19T14", "--lookback", "2"]) == 2
    err = capsys.readouterr().err
    assert "event=aggregate_failed hour=2025-10-19T12" in err
    assert "event=aggregate hour=2025-10-19T13 records=0" in err  # a quiet hour: documents, no tables
    assert "event=aggregate hour=2025-10-19T14 records=1" in err
    assert err.splitlines()[-1] == (
        "telemetry aggregate: error: 1 of 3 hours failed: 2025-10-19T12 (event=aggregate_failed says why; "
        "the other 2 were written); re-run one with --hour"
    )
    assert orjson.loads(bucket.get(JSON_KEY))["fleet"]["records"] == 1  # hour 12 kept as it was
    assert bucket.keys("aggregates/year=2025/month=10/day=19/hour=14/")


def test_cli_lookback_goes_on_past_an_hour_that_crashes(
    bucket: Bucket, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not our error (DuckDB out of memory, a full disk, a bug): logged with its traceback, next hour."""

    def crash_at_noon(**kwargs: Any) -> Any:
        if kwargs["hour"] == HOUR:
            raise RuntimeError("Out of Memory Error: could not allocate block")
        return aggregate_hour(**kwargs)

    monkeypatch.setattr("app.aggregator.cli.aggregate_hour", crash_at_noon)
    bucket.put(
        "part-1.jsonl",
        [line("veh-a", "2025-10-19T12:00:00.000Z", "2025-10-19T12:00:00.100Z", battery_soc=1.0)],
    )
    assert main(["aggregate", "--hour", "2025-10-19T13", "--lookback", "1"]) == 2
    err = capsys.readouterr().err
    assert "event=aggregate_failed hour=2025-10-19T12 error_type=RuntimeError" in err
    assert "Traceback" in err and "event=aggregate hour=2025-10-19T13 records=0" in err
    assert err.splitlines()[-1].startswith("telemetry aggregate: error: 1 of 2 hours failed: 2025-10-19T12 ")


def test_cli_refuses_a_lookback_beyond_a_day(bucket: Bucket, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["aggregate", "--lookback", "25"]) == 2
    assert "--lookback: expected 0..24 hours, got 25" in capsys.readouterr().err
