"""Two consecutive hours through the job against moto's S3: the rules run on across the boundary.

A vehicle is last heard of 5 s before 13:00 and next 7 s after it: a 12 s gap, longer than
`silence_s`, that neither hour holds alone. Hour 12 ends (its newest sample, another vehicle's)
before the vehicle had been quiet for 10 s, so hour 12 cannot report it; hour 13 reads hour 12's
curated file as its lead-in and does, from the last sample before the gap to the first after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.aggregator import aggregate_hour
from app.aws import s3_client
from app.contract import Hour, TelemetryIn
from app.embedded_aws import provision
from app.errors import StorageError
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.settings import Settings
from tests.conftest import SettingsFactory

TWELVE, THIRTEEN = Hour("2025-10-19T12"), Hour("2025-10-19T13")


def stored(vehicle: str, ts: str) -> bytes:
    """A stored line, received 100 ms after the vehicle's timestamp."""
    moment = datetime.fromisoformat(ts)
    received = moment.replace(microsecond=100_000)
    record = TelemetryIn.model_validate(
        {"timestamp": ts, "vehicle_id": vehicle, "can_id": "0x1F0", "payload": {"battery_soc": 80.0}}
    )
    return record.stamp(received).to_json()


@pytest.fixture
def store(mocked_aws: None, settings_factory: SettingsFactory) -> Iterator[tuple[Settings, S3ObjectStore]]:
    settings = settings_factory()
    provision(settings)
    yield settings, S3ObjectStore(s3_client(settings), settings.bucket)


def put_hour(store: S3ObjectStore, hour: Hour, lines: list[bytes]) -> None:
    store.put(
        key=f"{hour.partition('raw/')}part-1.jsonl",
        body=b"".join(line + b"\n" for line in lines),
        metadata={"flushed-at": f"{hour.key}:59:59.000Z"},
        content_type="application/x-ndjson",
    )


def run(settings: Settings, store: S3ObjectStore, hour: Hour) -> list[dict[str, Any]]:
    aggregate_hour(
        store=store,
        settings=settings,
        hour=hour,
        metrics=InMemoryMetrics(),
        clock=lambda: datetime(2025, 10, 19, 14, 5, tzinfo=UTC),
    )
    body = store.get(f"{hour.partition('anomalies/')}episodes.jsonl").body
    return [orjson.loads(line) for line in body.splitlines()]


def test_a_gap_across_the_boundary_is_found_by_the_hour_after_it(
    store: tuple[Settings, S3ObjectStore], caplog: pytest.LogCaptureFixture
) -> None:
    settings, s3 = store
    put_hour(
        s3,
        TWELVE,
        [stored("veh-a", f"2025-10-19T12:59:{s:02d}Z") for s in range(40, 56)]
        + [stored("veh-b", f"2025-10-19T12:59:{s:02d}Z") for s in range(40, 59)],
    )
    put_hour(
        s3,
        THIRTEEN,
        [stored("veh-a", f"2025-10-19T13:00:{s:02d}Z") for s in range(7, 20)]
        + [stored("veh-b", f"2025-10-19T13:00:{s:02d}Z") for s in range(0, 20)],
    )
    with caplog.at_level(logging.INFO, logger="app.aggregator"):
        twelve = run(settings, s3, TWELVE)
        thirteen = run(settings, s3, THIRTEEN)

    assert [e for e in twelve if e["rule"] == "silent"] == []
    assert [(e["vehicle_id"], e["rule"], e["start"], e["end"], e["peak_value"]) for e in thirteen] == [
        ("veh-a", "silent", "2025-10-19T12:59:55.000Z", "2025-10-19T13:00:07.000Z", 12.0)
    ]
    assert "event=rules_lead_in hour=2025-10-19T12 previous=2025-10-19T11 rows=0" in caplog.text
    # veh-a from 12:59:07 (60 s before its first sample of 13) and its last; veh-b from 12:59:00
    assert "event=rules_lead_in hour=2025-10-19T13 previous=2025-10-19T12 rows=35 vehicles=2" in caplog.text


def test_a_previous_hour_that_cannot_be_read_leaves_the_windows_empty_and_the_hour_written(
    store: tuple[Settings, S3ObjectStore], caplog: pytest.LogCaptureFixture
) -> None:
    settings, s3 = store
    s3.put(
        key=f"{TWELVE.partition('curated/')}records.parquet",
        body=b"not parquet",
        metadata={},
        content_type="application/vnd.apache.parquet",
    )
    put_hour(s3, THIRTEEN, [stored("veh-a", f"2025-10-19T13:00:{s:02d}Z") for s in range(7, 20)])
    with caplog.at_level(logging.INFO, logger="app.aggregator"):
        assert run(settings, s3, THIRTEEN) == []
    assert "event=rules_lead_in_failed hour=2025-10-19T13 previous=2025-10-19T12" in caplog.text
    assert s3.get(f"{THIRTEEN.partition('aggregates/')}vehicle_stats.json").body


def test_a_file_that_cannot_be_fetched_is_a_storage_error_naming_it(
    store: tuple[Settings, S3ObjectStore], tmp_path: Path
) -> None:
    settings, s3 = store
    key = "curated/year=2025/month=10/day=19/hour=12/records.parquet"
    with pytest.raises(StorageError, match=f"GET s3://{settings.bucket}/{key} failed"):
        s3.get_file(key, tmp_path / "previous.parquet")
    assert not (tmp_path / "previous.parquet").exists()
