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
"""

from __future__ import annotations

import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.aggregator.columnar import connect, quote
from app.aggregator.tables import curated
from app.anomaly import Episode, RuleEngine, Thresholds

#: Below this many records, one process: spawning costs about a second, the rules ~3 us a record.
SHARD_MIN_RECORDS: Final = 500_000
#: Rows fetched from DuckDB into Python at a time.
BATCH_ROWS: Final = 50_000


def rule_processes(records: int, *, cpus: int) -> int:
    """How many processes the rules of an hour of `records` get."""
    return 1 if records < SHARD_MIN_RECORDS else max(1, cpus)


def hourly_episodes(
    curated_file: Path,
    thresholds: Thresholds,
    *,
    until_ms: int,
    processes: int,
    memory_mb: int,
    work_dir: Path,
) -> list[Episode]:
    """Every episode of the hour, sorted by vehicle, start, rule and end.

    `until_ms` is where the data ends: a vehicle silent from its last sample to it gets a `silent`
    episode (RuleEngine.close).
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


def share_episodes(share: Share) -> list[Episode]:
    """The rules over one share of the vehicles (in a process of its own when there are several)."""
    signals = curated().signals
    columns = ", ".join(f'"{name}"' for name in signals)
    engine = RuleEngine(share.thresholds)
    with (
        tempfile.TemporaryDirectory(prefix=f"rules-{share.number}-", dir=share.work_dir) as tmp,
        connect(memory_mb=share.memory_mb, threads=1, work_dir=Path(tmp)) as con,
    ):
        cursor = con.execute(
            f'SELECT vehicle_id, epoch_ms("timestamp"), epoch_ms(ingest_received_at), {columns} '
            f"FROM read_parquet({quote(share.curated_file)}) WHERE hash(vehicle_id) % {share.of} = {share.number} "
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
    return engine.close(until_ms=share.until_ms)
