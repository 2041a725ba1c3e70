"""The hourly job on an in-memory object store: what it reads, what it writes, how it fails.

The same job against moto's S3 is tests/integration/aggregator/test_job.py; here no AWS stand-in
is needed, because the job only sees the `ObjectStore` seam.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import orjson
import pytest

from app.aggregator import AggregationError, aggregate_hour, output_keys
from app.contract import Hour
from app.observability import InMemoryMetrics
from tests.conftest import SettingsFactory
from tests.support.records import record_line
from tests.support.storage import MemoryStore

HOUR = Hour("2025-10-19T12")
INGEST = datetime(2025, 10, 19, 12, 30, tzinfo=UTC)


def run(store: MemoryStore, settings_factory: SettingsFactory) -> dict[str, object]:
    settings = settings_factory()
    result = aggregate_hour(store=store, settings=settings, hour=HOUR, metrics=InMemoryMetrics())
    json_key, _ = output_keys(settings, HOUR)
    assert result.json_key == json_key
    return dict(orjson.loads(store.body(json_key)))


def put(store: MemoryStore, key: str, lines: list[bytes], *, gz: bool = False) -> None:
    body = b"".join(line + b"\n" for line in lines)
    store.put(key=key, body=gzip.compress(body) if gz else body, metadata={}, content_type="x")


def test_only_the_hours_data_objects_are_read_and_duplicates_count_once(
    settings_factory: SettingsFactory,
) -> None:
    store = MemoryStore()
    first, second = record_line(1, ingest=INGEST), record_line(2, ingest=INGEST)
    put(store, f"{HOUR.partition('raw/')}part-a.jsonl", [first, second])
    put(store, f"{HOUR.partition('raw/')}part-b.jsonl.gz", [first], gz=True)  # redelivered copy
    put(store, f"{HOUR.partition('raw/')}notes.txt", [b"not data"])
    put(store, f"{HOUR.shift(1).partition('raw/')}part-c.jsonl", [record_line(3, ingest=INGEST)])
    fleet = run(store, settings_factory)["fleet"]
    assert isinstance(fleet, dict)
    assert (fleet["records"], fleet["distinct"], fleet["objects"], fleet["invalid_lines"]) == (3, 2, 2, 0)


def test_csv_is_written_before_the_json_it_completes(settings_factory: SettingsFactory) -> None:
    store = MemoryStore()
    put(store, f"{HOUR.partition('raw/')}part-a.jsonl", [record_line(1, ingest=INGEST)])
    run(store, settings_factory)
    json_key, csv_key = output_keys(settings_factory(), HOUR)
    assert store.attempts[-2:] == [csv_key, json_key]


def test_a_truncated_gzip_object_is_counted_unreadable_and_its_lines_before_the_damage_kept(
    settings_factory: SettingsFactory,
) -> None:
    store = MemoryStore()
    lines = [record_line(seq, ingest=INGEST) for seq in range(50)]
    whole = gzip.compress(b"".join(line + b"\n" for line in lines))
    store.put(
        key=f"{HOUR.partition('raw/')}part-a.jsonl.gz",
        body=whole[: len(whole) - 20],
        metadata={},
        content_type="x",
    )
    fleet = run(store, settings_factory)["fleet"]
    assert isinstance(fleet, dict)
    assert fleet["unreadable_objects"] == 1 and 0 < fleet["records"] < 50


def test_a_read_that_fails_stops_the_run_naming_the_hour_and_writes_nothing(
    settings_factory: SettingsFactory,
) -> None:
    key = f"{HOUR.partition('raw/')}part-a.jsonl"
    store = MemoryStore(unreadable=frozenset({key}))
    put(store, key, [record_line(1, ingest=INGEST)])
    with pytest.raises(AggregationError, match=r"^hour 2025-10-19T12: GET memory://.*part-a.jsonl failed"):
        run(store, settings_factory)
    assert store.attempts == [key]  # no result was written as if complete
