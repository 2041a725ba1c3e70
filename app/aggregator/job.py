"""The hourly job: one raw hour in; the curated Parquet, the statistics and their Parquet out.

`aggregate_hour()` is a plain keyword-only function (the CLI and the demo call it) that takes its
object store (app/object_store.py: S3 in production, memory in unit tests), Settings and metrics
from the caller. It reads the hour's raw objects once (app/aggregator/staging.py: several GETs at
a time, onto the task's disk) and hands them to DuckDB (app/aggregator/columnar.py), which spills
to that disk beyond `hourly_memory_mb`: memory does not grow with the hour.

What it writes, each to a key that depends only on the hour, so a re-run replaces it in one PUT
(S3 makes an object visible only once it is complete: a reader sees the old file or the new one,
never a mix):
- curated/.../hour=HH/records.parquet       one row per distinct record, typed (Athena: curated)
- vehicle_stats/.../hour=HH/vehicle_stats.parquet  per-vehicle statistics (Athena: vehicle_stats)
- aggregates/.../hour=HH/vehicle_stats.csv, then .json  the same statistics as documents; the JSON
  last, so a present JSON means everything of the hour is current.

Failures are split by who can fix them:
- a line that is not a record is counted (`invalid_lines`) and logged with its key and line number;
- an object whose gzip stream is corrupt or truncated is counted (`unreadable_objects`) and logged
  at ERROR; the lines read before the damage stay counted, because they are real records;
- a store call that fails (permissions, missing bucket, network) stops the run with AggregationError:
  a partial result written as if complete would be worse than none, and a re-run is idempotent.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import orjson

from app.aggregator.columnar import HourEngine, HourTotals, connect, cpus, row_group_rows
from app.aggregator.report import HourlyResult, to_csv, to_json
from app.aggregator.rules_pass import LeadIn, hourly_episodes, rule_processes, write_lead_in
from app.aggregator.staging import StagedHour, stage_hour
from app.aggregator.stats import from_epoch_ms
from app.aggregator.tables import curated as curated_table
from app.aggregator.tables import vehicle_stats
from app.anomaly import Episode
from app.contract import Hour, format_timestamp
from app.errors import AggregationError, StorageError
from app.object_store import ObjectStore
from app.observability import Metrics, kv
from app.settings import Settings

log = logging.getLogger(__name__)

#: Invalid lines logged one by one per object; beyond that only the object's total is logged.
MAX_INVALID_LOGGED_PER_OBJECT: Final = 5
JSON_NAME: Final = "vehicle_stats.json"
EPISODES_NAME: Final = "episodes.jsonl"
CSV_NAME: Final = "vehicle_stats.csv"
PARQUET_CONTENT_TYPE: Final = "application/vnd.apache.parquet"


def last_complete_hour(now: datetime) -> Hour:
    """The hour before the one `now` falls in: the default the scheduled job aggregates."""
    return Hour.of(now).shift(-1)


def output_keys(settings: Settings, hour: Hour) -> tuple[str, str]:
    """The JSON and CSV keys of `hour`'s result; fixed per hour, which makes re-runs idempotent."""
    base = hour.partition(settings.aggregates_prefix)
    return f"{base}{JSON_NAME}", f"{base}{CSV_NAME}"


@dataclass(frozen=True, slots=True)
class HourOutputs:
    """Where one run put its tables; the defaults are a quiet hour's, which writes none."""

    curated_key: str | None = None
    curated_rows: int = 0
    curated_bytes: int = 0
    vehicle_stats_key: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def aggregate_hour(
    *,
    store: ObjectStore,
    settings: Settings,
    hour: Hour,
    metrics: Metrics,
    clock: Callable[[], datetime] = _utc_now,
    force: bool = False,
) -> HourlyResult:
    """Read the raw partition of `hour` once; write its curated Parquet, statistics and documents.

    An hour with no raw objects (a quiet night) gets its documents, with zero records, but no
    Parquet, forced or not: there is nothing to keep, and a later run (the next ones' `--lookback`,
    or records a redrive brings) may still fill it. An hour whose raw/ is empty but whose curated/
    is not is refused unless `force`: raw/ expires after `raw_retention_days` and curated/ is then
    the only copy, so re-running an old hour would replace it with nothing; `force` writes the
    empty tables over it.
    """
    started = time.perf_counter()
    json_key, csv_key = output_keys(settings, hour)
    try:
        with tempfile.TemporaryDirectory(prefix=f"hourly-{hour.key}-", dir=settings.hourly_work_dir) as tmp:
            work = Path(tmp)
            phase = time.perf_counter()
            staged = stage_hour(
                store,
                prefix=hour.partition(settings.raw_prefix),
                directory=work,
                fetchers=settings.hourly_fetchers,
            )
            phases = {"read_ms": _since(phase)}
            # a quiet hour writes tables only over kept ones, and only when forced (docstring)
            tables = bool(staged.objects) or _replace_kept_hour(
                store, settings=settings, hour=hour, force=force
            )
            phase = time.perf_counter()
            with connect(
                memory_mb=settings.hourly_memory_mb, threads=settings.hourly_threads, work_dir=work
            ) as con:
                engine = HourEngine(con, staged, work)
                engine.load()
                phases["engine_ms"] = _since(phase)
                phase = time.perf_counter()
                curated_file, stats_file = work / "records.parquet", work / "vehicle_stats.parquet"
                distinct = engine.distinct_records()
                rows = engine.write_curated(curated_file, row_group_rows=row_group_rows(distinct))
                phases["write_ms"] = _since(phase)
                phase = time.perf_counter()
                lead_in = (
                    _lead_in(store, settings, hour=hour, curated_file=curated_file, work=work)
                    if distinct
                    else None
                )
                episodes = _anomalies(
                    engine, settings, hour=hour, curated_file=curated_file, work=work, lead_in=lead_in
                )
                engine.record_anomalies(episodes)
                phases["rules_ms"] = _since(phase)
                phase = time.perf_counter()
                totals = engine.totals(
                    objects=len(staged.objects),
                    unreadable_objects=staged.unreadable_objects,
                    clock_limit_ms=round(settings.clock_offset_limit_seconds * 1000),
                )
                engine.write_vehicle_stats(stats_file)
                outputs = (
                    _upload_tables(
                        store,
                        settings=settings,
                        hour=hour,
                        curated=(curated_file, rows),
                        stats_file=stats_file,
                    )
                    if tables
                    else HourOutputs()
                )
                phases["write_ms"] += _since(phase)
            _log_objects(staged, totals)
        result = HourlyResult(
            hour=hour,
            generated_at=clock(),
            fleet=totals.fleet,
            vehicles=totals.vehicles,
            json_key=json_key,
            csv_key=csv_key,
        )
        store.put(
            key=f"{hour.partition(settings.anomalies_prefix)}{EPISODES_NAME}",
            body=episodes_jsonl(episodes),
            metadata={"episodes": str(len(episodes))},
            content_type="application/x-ndjson",
        )
        # CSV first: the JSON is the primary result, so once it exists everything is current.
        store.put(
            key=csv_key, body=to_csv(result).encode(), metadata={}, content_type="text/csv; charset=utf-8"
        )
        store.put(key=json_key, body=to_json(result), metadata={}, content_type="application/json")
    except StorageError as exc:
        raise AggregationError(f"hour {hour.key}: {exc}") from exc
    _report(metrics, result, outputs, totals, runtime_ms=_since(started), phases=phases)
    _report_anomalies(metrics, hour, episodes, clock_off=sum(1 for v in result.vehicles if v.clock_off))
    return result


def _replace_kept_hour(store: ObjectStore, *, settings: Settings, hour: Hour, force: bool) -> bool:
    """For an hour without raw objects: whether to write empty tables over a kept curated/ hour."""
    curated_hour = hour.partition(settings.curated_prefix)
    if next(iter(store.keys(curated_hour)), None) is None:
        return False  # a quiet hour: nothing to keep, nothing to write
    if not force:
        raise AggregationError(
            f"hour {hour.key}: raw/ holds no data objects (expired after raw_retention_days, or "
            f"deleted) but {curated_hour} does: kept as it is; --hour {hour.key} --force replaces it "
            "with an empty hour"
        )
    return True


def episodes_jsonl(episodes: Sequence[Episode]) -> bytes:
    """One line per episode, in (vehicle, start) order: what anomalies/.../episodes.jsonl holds."""
    lines = [
        orjson.dumps(
            {
                "vehicle_id": e.vehicle_id,
                "rule": e.rule,
                "start": format_timestamp(from_epoch_ms(e.start_ms)),
                "end": format_timestamp(from_epoch_ms(e.end_ms)),
                "peak_value": e.peak_value,
                "threshold": e.threshold,
                "signal": e.signal,
            }
        )
        for e in sorted(episodes, key=lambda e: (e.vehicle_id, e.start_ms, e.rule))
    ]
    return b"".join(line + b"\n" for line in lines)


def _report_anomalies(metrics: Metrics, hour: Hour, episodes: Sequence[Episode], *, clock_off: int) -> None:
    """One EMF event per rule that had episodes (dimension Rule), and the vehicles with a clock off."""
    per_rule: dict[str, int] = {}
    for episode in episodes:
        per_rule[episode.rule] = per_rule.get(episode.rule, 0) + 1
    for rule, count in sorted(per_rule.items()):
        log.warning(kv("anomaly_episodes", hour=hour.key, rule=rule, episodes=count))
        metrics.emit(
            {"AnomalyEpisodes": count},
            units={"AnomalyEpisodes": "Count"},
            dimensions={"Rule": rule},
            properties={"hour": hour.key},
        )
    metrics.emit(
        {"ClockOffVehicles": clock_off}, units={"ClockOffVehicles": "Count"}, properties={"hour": hour.key}
    )


def _since(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def _lead_in(
    store: ObjectStore, settings: Settings, *, hour: Hour, curated_file: Path, work: Path
) -> LeadIn | None:
    """The previous hour's records that lead into this one, from its curated file, so that the
    windowed rules run on across the boundary (app/aggregator/rules_pass.py). None if that hour has
    no curated file (the first hour, a quiet one, one not aggregated yet) or it cannot be read: the
    windows then start empty, as they did before lead-ins. A failure here does not fail the hour:
    the lead-in only sharpens the rules at its first minute, and the hour's own outputs matter more.
    """
    previous = hour.shift(-1)
    key = curated_table().key(settings.curated_prefix, previous)
    previous_file = work / "previous.parquet"
    try:
        if key not in set(store.keys(key)):
            log.info(
                kv("rules_lead_in", hour=hour.key, previous=previous.key, rows=0, reason="no curated hour")
            )
            return None
        store.get_file(key, previous_file)
        lead_in = write_lead_in(
            previous_file,
            curated_file,
            work / "lead_in.parquet",
            window_s=settings.thresholds().window_s,
            previous_end_ms=round(hour.start.timestamp() * 1000),
            memory_mb=settings.hourly_memory_mb // 2,
            work_dir=work,
        )
    except (StorageError, duckdb.Error) as exc:
        log.warning(kv("rules_lead_in_failed", hour=hour.key, previous=previous.key, error=str(exc)))
        return None
    finally:
        previous_file.unlink(missing_ok=True)
    log.info(
        kv(
            "rules_lead_in",
            hour=hour.key,
            previous=previous.key,
            rows=lead_in.rows,
            vehicles=len(lead_in.bounds),
        )
    )
    return lead_in


def _anomalies(
    engine: HourEngine,
    settings: Settings,
    *,
    hour: Hour,
    curated_file: Path,
    work: Path,
    lead_in: LeadIn | None,
) -> list[Episode]:
    # Silence at the end of the data is measured to the fleet's newest sample, not to the hour's
    # end: an hour run before it is over (a demo, a late replay) must not make every car silent.
    until_ms = round(hour.shift(1).start.timestamp() * 1000)
    newest = engine.newest_event_ms()
    return hourly_episodes(
        curated_file,
        settings.thresholds(),
        until_ms=until_ms if newest is None else min(until_ms, newest),
        processes=rule_processes(engine.distinct_records(), cpus=settings.hourly_threads or cpus()),
        memory_mb=settings.hourly_memory_mb // 2,
        work_dir=work,
        lead_in=lead_in,
    )


def _upload_tables(
    store: ObjectStore, *, settings: Settings, hour: Hour, curated: tuple[Path, int], stats_file: Path
) -> HourOutputs:
    curated_file, rows = curated
    curated_key = curated_table().key(settings.curated_prefix, hour)
    stats_key = vehicle_stats().key(settings.vehicle_stats_prefix, hour)
    store.put_file(key=curated_key, path=curated_file, content_type=PARQUET_CONTENT_TYPE)
    store.put_file(key=stats_key, path=stats_file, content_type=PARQUET_CONTENT_TYPE)
    return HourOutputs(
        curated_key=curated_key,
        curated_rows=rows,
        curated_bytes=curated_file.stat().st_size,
        vehicle_stats_key=stats_key,
    )


def _log_objects(staged: StagedHour, totals: HourTotals) -> None:
    """Per object: its invalid lines (the first few by number, then a count), and a count mismatch."""
    keys = {o.number: o.key for o in staged.objects}
    per_object: dict[int, int] = {}
    for invalid in totals.invalid:
        per_object[invalid.obj] = per_object.get(invalid.obj, 0) + 1
        if per_object[invalid.obj] <= MAX_INVALID_LOGGED_PER_OBJECT:
            log.warning(
                kv(
                    "aggregate_invalid_line",
                    key=keys[invalid.obj],
                    line=invalid.line_number or "?",
                    rule=invalid.error.kind,
                )
            )
    for obj, count in per_object.items():
        if count > MAX_INVALID_LOGGED_PER_OBJECT:
            log.warning(kv("aggregate_invalid_lines", key=keys[obj], count=count))
    for stored in staged.objects:
        if stored.record_count is not None and stored.record_count != stored.lines:
            log.warning(
                kv(
                    "aggregate_count_mismatch",
                    key=stored.key,
                    expected=stored.record_count,
                    read=stored.lines,
                )
            )


def _report(
    metrics: Metrics,
    result: HourlyResult,
    outputs: HourOutputs,
    totals: HourTotals,
    *,
    runtime_ms: float,
    phases: dict[str, float],
) -> None:
    fleet = result.fleet
    log.info(
        kv(
            "aggregate",
            hour=result.hour_label,
            records=fleet.records,
            distinct=fleet.distinct,
            duplicates=fleet.duplicates,
            duplicate_rate=f"{fleet.duplicate_rate:.4f}",
            vehicles=fleet.vehicles,
            objects=fleet.objects,
            invalid_lines=fleet.invalid_lines,
            unreadable_objects=fleet.unreadable_objects,
            synthetic_records=totals.synthetic_records,
            curated_rows=outputs.curated_rows,
            curated_bytes=outputs.curated_bytes,
            runtime_ms=runtime_ms,
            **phases,
            key=result.json_key,
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
            "CuratedBytes": outputs.curated_bytes,
        },
        units={
            "RuntimeMs": "Milliseconds",
            "Vehicles": "Count",
            "Records": "Count",
            "DistinctRecords": "Count",
            "DuplicateRate": "None",
            "InvalidLines": "Count",
            "Objects": "Count",
            "CuratedBytes": "Bytes",
        },
        properties={"hour": result.hour_label, "key": result.json_key, "curated_key": outputs.curated_key},
    )
