"""The hourly job: read one raw partition, fold it into statistics, write the result.

`aggregate_hour()` is a plain keyword-only function (the CLI and the end-to-end demo both call it)
that takes its object store (app/object_store.py: S3 in production, memory in unit tests), Settings
and metrics from the caller. Objects are read one at a time (`.gz` decompressed as a stream), so
memory holds one object (at most the consumer's flush size), the distinct-identity set and a
latency histogram, never the hour. Output keys depend only on the hour, so a re-run overwrites its
own result.

Failures are split by who can fix them:
- a line that is not a record is counted (`invalid_lines`) and logged with its key and line number;
- an object whose gzip stream is corrupt or truncated is counted (`unreadable_objects`) and logged
  at ERROR; the lines read before the damage stay counted, because they are real records;
- a store call that fails (permissions, missing bucket, network) stops the run with AggregationError:
  a partial result written as if complete would be worse than none, and a re-run is idempotent.
"""

from __future__ import annotations

import gzip
import io
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Final

from app.aggregator.report import HourlyResult, to_csv, to_json
from app.aggregator.stats import HourAccumulator
from app.contract import Hour
from app.errors import AggregationError, ContractError, StorageError
from app.object_store import ObjectStore
from app.observability import Metrics, kv
from app.settings import Settings

log = logging.getLogger(__name__)

#: Invalid lines logged one by one per object; beyond that only the object's total is logged.
MAX_INVALID_LOGGED_PER_OBJECT: Final = 5
PLAIN_SUFFIX: Final = ".jsonl"
GZIP_SUFFIX: Final = ".jsonl.gz"
JSON_NAME: Final = "vehicle_stats.json"
CSV_NAME: Final = "vehicle_stats.csv"
METADATA_FLUSHED_AT: Final = "flushed-at"
METADATA_RECORD_COUNT: Final = "record-count"


def last_complete_hour(now: datetime) -> Hour:
    """The hour before the one `now` falls in: the default the scheduled job aggregates."""
    return Hour.of(now).shift(-1)


def output_keys(settings: Settings, hour: Hour) -> tuple[str, str]:
    """The JSON and CSV keys of `hour`'s result; fixed per hour, which makes re-runs idempotent."""
    base = hour.partition(settings.aggregates_prefix)
    return f"{base}{JSON_NAME}", f"{base}{CSV_NAME}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def aggregate_hour(
    *,
    store: ObjectStore,
    settings: Settings,
    hour: Hour,
    metrics: Metrics,
    clock: Callable[[], datetime] = _utc_now,
) -> HourlyResult:
    """Aggregate the raw partition of `hour` and write JSON and CSV."""
    started = time.perf_counter()
    label = hour.key
    json_key, csv_key = output_keys(settings, hour)
    accumulator = HourAccumulator()
    objects = unreadable = 0
    try:
        for key in _partition_keys(store, prefix=hour.partition(settings.raw_prefix)):
            objects += 1
            if not _fold_object(store, key=key, accumulator=accumulator):
                unreadable += 1
        result = HourlyResult(
            hour=hour,
            generated_at=clock(),
            fleet=accumulator.fleet(objects=objects, unreadable_objects=unreadable),
            vehicles=accumulator.vehicles(),
            json_key=json_key,
            csv_key=csv_key,
        )
        # CSV first: the JSON is the primary result, so once it exists both are current.
        store.put(
            key=csv_key, body=to_csv(result).encode(), metadata={}, content_type="text/csv; charset=utf-8"
        )
        store.put(key=json_key, body=to_json(result), metadata={}, content_type="application/json")
    except StorageError as exc:
        raise AggregationError(f"hour {label}: {exc}") from exc
    runtime_ms = (time.perf_counter() - started) * 1000
    fleet = result.fleet
    log.info(
        kv(
            "aggregate",
            hour=label,
            records=fleet.records,
            distinct=fleet.distinct,
            duplicates=fleet.duplicates,
            duplicate_rate=f"{fleet.duplicate_rate:.4f}",
            vehicles=fleet.vehicles,
            objects=fleet.objects,
            invalid_lines=fleet.invalid_lines,
            unreadable_objects=fleet.unreadable_objects,
            runtime_ms=runtime_ms,
            key=json_key,
        )
    )
    metrics.emit(
        {
            "RuntimeMs": runtime_ms,
            "Vehicles": fleet.vehicles,
            "Records": fleet.records,
            "DistinctRecords": fleet.distinct,
            # a fraction (0.005 = 0.5%), as infra/alarms.tf's duplicate-rate threshold expects
            "DuplicateRate": fleet.duplicate_rate,
            "InvalidLines": fleet.invalid_lines,
            "Objects": fleet.objects,
        },
        units={
            "RuntimeMs": "Milliseconds",
            "Vehicles": "Count",
            "Records": "Count",
            "DistinctRecords": "Count",
            "DuplicateRate": "None",
            "InvalidLines": "Count",
            "Objects": "Count",
        },
        properties={"hour": label, "key": json_key},
    )
    return result


def _partition_keys(store: ObjectStore, *, prefix: str) -> Iterator[str]:
    """Keys of the partition's data objects, in S3's (lexicographic) order; others are logged."""
    for key in store.keys(prefix):
        if key.endswith((PLAIN_SUFFIX, GZIP_SUFFIX)):
            yield key
        else:
            log.warning(kv("aggregate_skip_object", key=key, reason="not_jsonl"))


def _flushed_at_ms(metadata: Mapping[str, str], key: str) -> int | None:
    """The object's flush time in epoch ms, or None (no latency figures from it) if absent or bad."""
    raw = metadata.get(METADATA_FLUSHED_AT)
    if raw is None:
        return None
    try:
        flushed = datetime.fromisoformat(raw)
        if flushed.tzinfo is None:
            raise ValueError("no UTC offset")
    except ValueError:
        log.warning(kv("aggregate_bad_metadata", key=key, field=METADATA_FLUSHED_AT))
        return None
    return round(flushed.timestamp() * 1000)


def _fold_object(store: ObjectStore, *, key: str, accumulator: HourAccumulator) -> bool:
    """Fold one object into the accumulator; False if its gzip stream turned out to be damaged."""
    stored = store.get(key)
    flushed_at_ms = _flushed_at_ms(stored.metadata, key)
    lines_read = invalid = 0
    try:
        lines: Iterable[bytes] = (
            gzip.GzipFile(fileobj=io.BytesIO(stored.body), mode="rb")
            if key.endswith(GZIP_SUFFIX)
            else stored.body.splitlines()
        )
        for number, line in enumerate(lines, start=1):
            if not line or line.isspace():
                continue
            lines_read += 1
            try:
                accumulator.add_line(line.rstrip(b"\r\n"), flushed_at_ms=flushed_at_ms)
            except ContractError as exc:
                invalid += 1
                if invalid <= MAX_INVALID_LOGGED_PER_OBJECT:
                    log.warning(kv("aggregate_invalid_line", key=key, line=number, rule=exc.kind))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        log.error(kv("aggregate_unreadable_object", key=key, lines_read=lines_read, error=type(exc).__name__))
        return False
    if invalid > MAX_INVALID_LOGGED_PER_OBJECT:
        log.warning(kv("aggregate_invalid_lines", key=key, count=invalid))
    expected = stored.metadata.get(METADATA_RECORD_COUNT)
    if expected is not None and expected != str(lines_read):
        log.warning(kv("aggregate_count_mismatch", key=key, expected=expected, read=lines_read))
    return True
