"""The hourly (exact) pass of the anomaly rules, on as many CPUs as the task has.

The rules (app/anomaly) are Python, a few microseconds per record: over a 3.6 M-record hour they
were half of the job's time on one core. They keep state per vehicle and nothing across vehicles,
so the vehicles are split into shares by a hash of their id, and each share is run by a process of
its own (spawned: the parent holds a DuckDB connection and its threads, which a fork would copy in
an undefined state). Each process reads the hour's curated Parquet file, already written to the
task's disk, keeps its share's rows in (vehicle, time, CAN id) order (a DuckDB of its own, one
thread, spilling beyond its share of memory) and feeds them to a RuleEngine. The episodes are the
same as one process would find (tests/integration/aggregator check it), sorted the same way.

Small hours run in this process: starting a process costs more than their rules.

Hour boundaries. An hour is the records *ingested* in it, and the windowed rules need the minute
before each sample. So the rules of an hour are first fed, per vehicle, a lead-in from the previous
hour's curated file (`write_lead_in`): its records from 60 s (`window_s`) before the vehicle's cut,
and at least its last one there, so a gap across the boundary is seen. The cut is the vehicle's
first sample of this hour after its last in the previous hour; records of this hour older than
that (a redelivered copy, a redrive) are judged too, but do not move the cut. What is this hour's
(`this_hours`): an episode that began at or after the cut; one going on at it, cut to start there;
a silence across the boundary, unless the previous hour reported the vehicle quiet at its end; and
one made only of records older than the lead-in. An episode that ended within the lead-in was the
previous hour's. So the windows run on across the boundary, an episode is found when it begins
whichever hour it begins in, as the live consumer finds it, and one that goes on for hours is
reported in each of them.

The lead-in is the previous hour's curated file as it stands (a LIST, then one download). Without
it (the first hour, after a quiet hour, for a vehicle not in the previous hour, or if it cannot be
read: job._lead_in), the windows start empty.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from app.aggregator.columnar import connect, quote
from app.aggregator.tables import curated
from app.anomaly import Episode, RuleEngine, Thresholds
from app.anomaly.rules import SILENT

#: Below this many records, one process: spawning costs about a second, the rules ~3 us a record.
SHARD_MIN_RECORDS: Final = 500_000
#: Rows fetched from DuckDB into Python at a time.
BATCH_ROWS: Final = 50_000


def rule_processes(records: int, *, cpus: int) -> int:
    """How many processes the rules of an hour of `records` get."""
    return 1 if records < SHARD_MIN_RECORDS else max(1, cpus)


@dataclass(frozen=True, slots=True)
class LeadIn:
    """The previous hour's records that lead into this one (module docstring), as a Parquet file.

    `bounds` has, per vehicle that has a lead-in, (where its lead-in starts, its cut): the cut is
    its first sample of this hour after its last one in the previous hour, and the lead-in starts
    `window_s` before the cut, or at that last sample if it is older. `reported_until_ms` is where
    the previous hour's rules stopped (job._anomalies): a vehicle quiet for `silence_s` before it
    got its `silent` episode there.
    """

    file: str
    rows: int
    reported_until_ms: int
    bounds: Mapping[str, tuple[int, int]]


def write_lead_in(
    previous_file: Path,
    curated_file: Path,
    out: Path,
    *,
    window_s: int,
    previous_end_ms: int,
    memory_mb: int,
    work_dir: Path,
) -> LeadIn:
    """Select the lead-in from the previous hour's curated file into `out` (module docstring)."""
    previous, this = quote(str(previous_file)), quote(str(curated_file))
    with connect(memory_mb=memory_mb, threads=1, work_dir=work_dir) as con:
        # aggregates and joins on the vehicles: the two hours are streamed, never sorted. The cut
        # skips this hour's records older than the previous hour's last (a redelivered copy, a
        # redrive): they must not pull the previous hour's episodes into this one.
        con.execute(
            'CREATE TEMP TABLE bounds AS WITH last AS (SELECT vehicle_id, max("timestamp") AS last_at '
            f"FROM read_parquet({previous}) GROUP BY vehicle_id), "
            'cut AS (SELECT t.vehicle_id, min(t."timestamp") AS cut_at, any_value(last.last_at) AS last_at '
            f"FROM read_parquet({this}) t JOIN last ON t.vehicle_id = last.vehicle_id "
            'WHERE t."timestamp" > last.last_at GROUP BY t.vehicle_id) '
            f"SELECT vehicle_id, least(cut_at - INTERVAL {int(window_s)} SECOND, last_at) AS since_at, cut_at "
            "FROM cut"
        )
        con.execute(
            f"COPY (SELECT p.* FROM read_parquet({previous}) p JOIN bounds "
            'ON p.vehicle_id = bounds.vehicle_id AND p."timestamp" >= bounds.since_at) '
            f"TO {quote(str(out))} (FORMAT parquet)"
        )
        bounds = {
            vehicle: (int(since), int(cut))
            for vehicle, since, cut in con.execute(
                "SELECT vehicle_id, epoch_ms(since_at), epoch_ms(cut_at) FROM bounds"
            ).fetchall()
        }
        rows, newest = con.execute(
            f'SELECT (SELECT count(*) FROM read_parquet({quote(str(out))})), max(epoch_ms("timestamp")) '
            f"FROM read_parquet({previous})"
        ).fetchone() or (0, None)
    reported = previous_end_ms if newest is None else min(previous_end_ms, int(newest))
    return LeadIn(file=str(out), rows=int(rows), reported_until_ms=reported, bounds=bounds)


def hourly_episodes(
    curated_file: Path,
    thresholds: Thresholds,
    *,
    until_ms: int,
    processes: int,
    memory_mb: int,
    work_dir: Path,
    lead_in: LeadIn | None = None,
) -> list[Episode]:
    """Every episode of the hour, sorted by vehicle, start, rule and end.

    `until_ms` is where the data ends: a vehicle silent from its last sample to it gets a `silent`
    episode (RuleEngine.close). With a `lead_in`, the windows start where the previous hour's
    ended rather than empty (module docstring).
    """
    shares = max(1, processes)
    jobs = [
        Share(
            curated_file=str(curated_file),
            number=number,
            of=shares,
            thresholds=thresholds,
            until_ms=until_ms,
            memory_mb=max(64, memory_mb // shares),
            work_dir=str(work_dir),
            lead_in=lead_in if lead_in is not None and lead_in.rows else None,
        )
        for number in range(shares)
    ]
    if shares == 1:
        found = [share_episodes(jobs[0])]
    else:
        with ProcessPoolExecutor(shares, mp_context=multiprocessing.get_context("spawn")) as pool:
            found = list(pool.map(share_episodes, jobs))
    return sorted(
        (episode for episodes in found for episode in episodes),
        key=lambda e: (e.vehicle_id, e.start_ms, e.rule, e.end_ms),
    )


@dataclass(frozen=True, slots=True)
class Share:
    """One process's part of the hour: the vehicles whose id hashes to `number` of `of`."""

    curated_file: str
    number: int
    of: int
    thresholds: Thresholds
    until_ms: int
    memory_mb: int
    work_dir: str
    lead_in: LeadIn | None = None


def share_episodes(share: Share) -> list[Episode]:
    """The rules over one share of the vehicles (in a process of its own when there are several)."""
    signals = curated().signals
    columns = ", ".join(f'"{name}"' for name in signals)
    mine = f"hash(vehicle_id) % {share.of} = {share.number}"
    engine = RuleEngine(share.thresholds)
    lead_in = share.lead_in
    files = [share.curated_file] if lead_in is None else [lead_in.file, share.curated_file]
    with (
        tempfile.TemporaryDirectory(prefix=f"rules-{share.number}-", dir=share.work_dir) as tmp,
        connect(memory_mb=share.memory_mb, threads=1, work_dir=Path(tmp)) as con,
    ):
        # union_by_name: the previous hour may have been written by a release with other columns
        cursor = con.execute(
            f'SELECT vehicle_id, epoch_ms("timestamp"), epoch_ms(ingest_received_at), {columns} '
            f"FROM read_parquet([{', '.join(quote(f) for f in files)}], union_by_name = true) WHERE {mine} "
            'ORDER BY vehicle_id, "timestamp", can_id'
        )
        observe = engine.observe
        while rows := cursor.fetchmany(BATCH_ROWS):
            for row in rows:
                observe(
                    row[0],
                    row[1],
                    row[2],
                    {name: value for name, value in zip(signals, row[3:], strict=True) if value is not None},
                )
    episodes = engine.close(until_ms=share.until_ms)
    if lead_in is None:
        return episodes
    return this_hours(
        episodes,
        lead_in.bounds,
        silence_ms=round(share.thresholds.silence_s * 1000),
        reported_until_ms=lead_in.reported_until_ms,
    )


def this_hours(
    episodes: Iterable[Episode],
    bounds: Mapping[str, tuple[int, int]],
    *,
    silence_ms: int,
    reported_until_ms: int,
) -> list[Episode]:
    """The part of `episodes` (found over lead-in and hour) that is this hour's: per vehicle with a
    lead-in, from its cut on (`LeadIn.bounds`, module docstring)."""
    kept = []
    for found in episodes:
        bound = bounds.get(found.vehicle_id)
        if bound is None or found.start_ms >= bound[1]:
            kept.append(found)  # no lead-in for this vehicle, or begun in this hour
            continue
        since, cut = bound
        if found.end_ms < cut:
            if found.end_ms < since:
                kept.append(found)  # only this hour's records older than the lead-in (a redrive)
            # else it ended in the lead-in: the previous hour's, reported there
        elif found.rule != SILENT:
            kept.append(replace(found, start_ms=cut))  # going on at the cut
        elif found.start_ms + silence_ms > reported_until_ms:
            kept.append(found)  # a gap across the boundary: from the last sample before it, as within an hour
        # else the previous hour saw this vehicle quiet at its end and reported it
    return kept
