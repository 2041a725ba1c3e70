"""The hourly rules in several processes find exactly what one process finds.

A simulated fleet with faults (app/simulator) is written as a curated Parquet file with the job's
columns that the rules read; the rules then run over it in one process, in three, and directly
through a RuleEngine fed in (vehicle, time, CAN id) order, and the three episode lists must be equal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq

from app.aggregator.rules_pass import SHARD_MIN_RECORDS, hourly_episodes, rule_processes
from app.aggregator.tables import curated
from app.anomaly import RuleEngine, Thresholds
from app.simulator.fleet import Fleet

START = datetime(2025, 10, 19, 12, 0, tzinfo=UTC)
SECONDS = 240


def fleet_file(path: Path) -> list[dict[str, object]]:
    fleet = Fleet(24, 7, start=START, faults="random:40%", fault_run_s=SECONDS)
    rows = []
    for _ in range(round(SECONDS / 0.2)):
        for record in fleet.step():
            moment = datetime.fromisoformat(record["timestamp"])
            rows.append(
                {
                    "vehicle_id": record["vehicle_id"],
                    "timestamp": moment,
                    "ingest_received_at": moment,
                    "can_id": record["can_id"],
                    **{name: record["payload"].get(name) for name in curated().signals},
                }
            )
    stamp = pa.timestamp("ms", tz="UTC")
    schema = pa.schema(
        [
            ("vehicle_id", pa.string()),
            ("timestamp", stamp),
            ("ingest_received_at", stamp),
            ("can_id", pa.string()),
        ]
        + [(name, pa.float64()) for name in curated().signals]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return rows


def test_the_rules_in_three_processes_find_what_one_finds(tmp_path: Path) -> None:
    rows = fleet_file(tmp_path / "records.parquet")
    until_ms = round(START.timestamp() * 1000) + SECONDS * 1000
    one, three = (
        hourly_episodes(
            tmp_path / "records.parquet",
            Thresholds(),
            until_ms=until_ms,
            processes=processes,
            memory_mb=256,
            work_dir=tmp_path,
        )
        for processes in (1, 3)
    )

    engine = RuleEngine(Thresholds())
    for row in sorted(rows, key=lambda r: (r["vehicle_id"], r["timestamp"], r["can_id"])):
        payload = {name: cast(float, row[name]) for name in curated().signals if row[name] is not None}
        ms = round(row["timestamp"].timestamp() * 1000)  # type: ignore[attr-defined]
        engine.observe(str(row["vehicle_id"]), ms, ms, payload)
    direct = sorted(
        engine.close(until_ms=until_ms), key=lambda e: (e.vehicle_id, e.start_ms, e.rule, e.end_ms)
    )

    assert one == three == direct
    assert len({e.vehicle_id for e in one}) >= 3 and len({e.rule for e in one}) >= 2  # faults were found


def test_small_hours_stay_in_one_process() -> None:
    assert rule_processes(SHARD_MIN_RECORDS - 1, cpus=8) == 1
    assert rule_processes(SHARD_MIN_RECORDS, cpus=8) == 8
    assert rule_processes(10**8, cpus=1) == 1
