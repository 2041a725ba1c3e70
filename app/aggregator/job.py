"""The hourly job: stream one raw partition out of S3, fold it into statistics, write the result.

`aggregate_hour()` is a plain keyword-only function (the CLI and the end-to-end demo both call it)
that takes its S3 client, Settings and metrics from the caller. Each object is streamed line by line
(plain JSON Lines through botocore's chunked reader, `.gz` through `gzip.GzipFile` over the same
stream), so memory holds one chunk, the distinct-identity set and a latency histogram, never an
object or the hour. Output keys depend only on the hour, so a re-run overwrites its own result.

Failures are split by who can fix them:
- a line that is not a record is counted (`invalid_lines`) and logged with its key and line number;
- an object whose gzip stream is corrupt or truncated is counted (`unreadable_objects`) and logged
  at ERROR; the lines read before the damage stay counted, because they are real records;
- an S3 call that fails (permissions, missing bucket, network) stops the run with AggregationError:
  a partial result written as if complete would be worse than none, and a re-run is idempotent.
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from app.aggregator.report import HourlyResult, to_csv, to_json
from app.aggregator.stats import HourAccumulator, InvalidLineError, epoch_ms, parse_instant
from app.errors import AggregationError
from app.observability import Metrics, kv
from app.settings import Settings

log = logging.getLogger(__name__)

#: Bytes read from S3 per chunk for plain objects; gzip reads through its own buffer.
CHUNK_BYTES: Final = 256 * 1024
#: Invalid lines logged one by one per object; beyond that only the object's total is logged.
MAX_INVALID_LOGGED_PER_OBJECT: Final = 5
PLAIN_SUFFIX: Final = ".jsonl"
GZIP_SUFFIX: Final = ".jsonl.gz"
JSON_NAME: Final = "vehicle_stats.json"
CSV_NAME: Final = "vehicle_stats.csv"
METADATA_FLUSHED_AT: Final = "flushed-at"
METADATA_RECORD_COUNT: Final = "record-count"


def floor_hour(value: datetime) -> datetime:
    """The UTC hour that contains `value`; a naive datetime is refused (its zone would be a guess)."""
    if value.tzinfo is None:
        raise ValueError("hour must be timezone-aware")
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def last_complete_hour(now: datetime) -> datetime:
    """The hour before the one `now` falls in: the default the scheduled job aggregates."""
    return floor_hour(now) - timedelta(hours=1)


def hour_path(prefix: str, hour: datetime) -> str:
    """`{prefix}year=YYYY/month=MM/day=DD/hour=HH/`: the consumer's partition layout."""
    return f"{prefix}year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"


def output_keys(settings: Settings, hour: datetime) -> tuple[str, str]:
    """The JSON and CSV keys of `hour`'s result; fixed per hour, which makes re-runs idempotent."""
    base = hour_path(settings.aggregates_prefix, floor_hour(hour))
    return f"{base}{JSON_NAME}", f"{base}{CSV_NAME}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def aggregate_hour(
    *,
    s3: Any,
    settings: Settings,
    hour: datetime,
    metrics: Metrics,
    clock: Callable[[], datetime] = _utc_now,
) -> HourlyResult:
    """Aggregate the raw partition of `hour` (floored to the UTC hour) and write JSON and CSV."""
    hour = floor_hour(hour)
    started = time.perf_counter()
    label = f"{hour:%Y-%m-%dT%H}"
    prefix = hour_path(settings.raw_prefix, hour)
    json_key, csv_key = output_keys(settings, hour)
    accumulator = HourAccumulator()
    objects = unreadable = 0
    try:
        for key in _partition_keys(s3, bucket=settings.bucket, prefix=prefix):
            objects += 1
            if not _fold_object(s3, bucket=settings.bucket, key=key, accumulator=accumulator):
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
        s3.put_object(
            Bucket=settings.bucket,
            Key=csv_key,
            Body=to_csv(result).encode(),
            ContentType="text/csv; charset=utf-8",
        )
        s3.put_object(
            Bucket=settings.bucket, Key=json_key, Body=to_json(result), ContentType="application/json"
        )
    except (BotoCoreError, ClientError) as exc:
        raise AggregationError(f"hour {label}: S3 call failed on bucket {settings.bucket!r}: {exc}") from exc
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


def _partition_keys(s3: Any, *, bucket: str, prefix: str) -> Iterator[str]:
    """Keys of the partition's data objects, in S3's (lexicographic) order; others are logged."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = str(item["Key"])
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
        return epoch_ms(parse_instant(raw, METADATA_FLUSHED_AT))
    except InvalidLineError:
        log.warning(kv("aggregate_bad_metadata", key=key, field=METADATA_FLUSHED_AT))
        return None


def _fold_object(s3: Any, *, bucket: str, key: str, accumulator: HourAccumulator) -> bool:
    """Stream one object into the accumulator; False if its gzip stream turned out to be damaged."""
    response = s3.get_object(Bucket=bucket, Key=key)
    metadata: Mapping[str, str] = response.get("Metadata") or {}
    flushed_at_ms = _flushed_at_ms(metadata, key)
    body = response["Body"]
    lines_read = invalid = 0
    try:
        lines: Iterable[bytes] = (
            gzip.GzipFile(fileobj=body, mode="rb")
            if key.endswith(GZIP_SUFFIX)
            else body.iter_lines(chunk_size=CHUNK_BYTES)
        )
        for number, line in enumerate(lines, start=1):
            if not line or line.isspace():
                continue
            lines_read += 1
            try:
                accumulator.add_line(line, flushed_at_ms=flushed_at_ms)
            except InvalidLineError as exc:
                invalid += 1
                if invalid <= MAX_INVALID_LOGGED_PER_OBJECT:
                    log.warning(
                        kv("aggregate_invalid_line", key=key, line=number, field=exc.field, rule=exc.rule)
                    )
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        log.error(kv("aggregate_unreadable_object", key=key, lines_read=lines_read, error=type(exc).__name__))
        return False
    finally:
        body.close()
    if invalid > MAX_INVALID_LOGGED_PER_OBJECT:
        log.warning(kv("aggregate_invalid_lines", key=key, count=invalid))
    expected = metadata.get(METADATA_RECORD_COUNT)
    if expected is not None and expected != str(lines_read):
        log.warning(kv("aggregate_count_mismatch", key=key, expected=expected, read=lines_read))
    return True
