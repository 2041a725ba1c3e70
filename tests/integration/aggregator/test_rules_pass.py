"""The hourly rules in several processes find exactly what one process finds, and across an hour
boundary what one engine over both hours finds.

A simulated fleet with faults (app/simulator) is written as a curated Parquet file with the job's
columns that the rules read; the rules then run over it in one process, in three, and directly
through a RuleEngine fed in (vehicle, time, CAN id) order, and the three episode lists must be equal.
Split in two hours, the second hour's rules with the first hour's lead-in find every episode where
one engine over both hours (the live consumer) finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq

from app.aggregator.rules_pass import (
    SHARD_MIN_RECORDS,
    LeadIn,
    hourly_episodes,
    rule_processes,
    this_hours,
    write_lead_in,
)
from app.aggregator.tables import curated
from app.anomaly import Episode, RuleEngine, Thresholds
from app.simulator.fleet import Fleet

START = datetime(2025, 10, 19, 12, 0, tzinfo=UTC)
START_MS = round(START.timestamp() * 1000)
SECONDS = 240

Row = dict[str, object]


def fleet_rows(vehicles: int = 24, faults: str = "random:40%", seconds: int = SECONDS) -> list[Row]:
    fleet = Fleet(vehicles, 7, start=START, faults=faults, fault_run_s=seconds)
    rows = []
    for _ in range(round(seconds / 0.2)):
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
    return rows


def fleet_file(path: Path) -> list[Row]:
    rows = fleet_rows()
    write_rows(path, rows)
    return rows


def write_rows(path: Path, rows: list[Row]) -> None:
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


def ms_of(row: Row) -> int:
    return round(cast(datetime, row["timestamp"]).timestamp() * 1000)


def one_engine(rows: Iterable[Row], until_ms: int) -> list[Episode]:
    """What one engine fed every row in (vehicle, time, CAN id) order finds: the hourly pass."""
    engine = RuleEngine(Thresholds())
    for row in sorted(rows, key=lambda r: (r["vehicle_id"], r["timestamp"], r["can_id"])):
        payload = {name: cast(float, row[name]) for name in curated().signals if row[name] is not None}
        engine.observe(str(row["vehicle_id"]), ms_of(row), ms_of(row), payload)
    return sorted(engine.close(until_ms=until_ms), key=lambda e: (e.vehicle_id, e.start_ms, e.rule, e.end_ms))


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

    direct = one_engine(rows, until_ms)

    assert one == three == direct
    assert len({e.vehicle_id for e in one}) >= 3 and len({e.rule for e in one}) >= 2  # faults were found


def test_small_hours_stay_in_one_process() -> None:
    assert rule_processes(SHARD_MIN_RECORDS - 1, cpus=8) == 1
    assert rule_processes(SHARD_MIN_RECORDS, cpus=8) == 8
    assert rule_processes(10**8, cpus=1) == 1


#: Faults before, across and just before the boundary at 120 s: a short that goes on, a dropout of
#: frames from 112 s to 127 s, a voltage reading stuck from 110 s (stuck_signal needs 15 s of it).
ACROSS = (
    "internal_short@veh-00001+20s,dropout(for=15s)@veh-00003+112s,"
    "stuck_sensor(signal=cell_voltage_max,when=any)@veh-00004+110s"
)
#: Vehicles gone quiet (no records at all, not a fault) for a stretch of seconds: veh-00005 long
#: enough before the boundary for the first hour to report it, veh-00002 for 70 s across it.
QUIET = {"veh-00005": (100, 125), "veh-00002": (115, 185)}


def across_rows() -> list[Row]:
    def heard(row: Row) -> bool:
        quiet = QUIET.get(str(row["vehicle_id"]))
        return quiet is None or not START_MS + quiet[0] * 1000 <= ms_of(row) < START_MS + quiet[1] * 1000

    return [r for r in fleet_rows(vehicles=6, faults=ACROSS) if heard(r)]


def test_the_windows_run_on_across_the_hour_boundary(tmp_path: Path) -> None:
    rows = across_rows()
    boundary_ms, end_ms = START_MS + 120_000, START_MS + SECONDS * 1000
    previous, this = tmp_path / "previous.parquet", tmp_path / "this.parquet"
    write_rows(previous, [r for r in rows if ms_of(r) < boundary_ms])
    write_rows(this, [r for r in rows if ms_of(r) >= boundary_ms])
    previous_until = max(ms_of(r) for r in rows if ms_of(r) < boundary_ms)

    def lead_in(hour: Path = this) -> LeadIn:
        return write_lead_in(
            previous,
            hour,
            tmp_path / "lead_in.parquet",
            window_s=Thresholds().window_s,
            previous_end_ms=boundary_ms,
            memory_mb=256,
            work_dir=tmp_path,
        )

    def rules(lead: LeadIn | None, processes: int = 1, hour: Path = this) -> list[Episode]:
        return hourly_episodes(
            hour,
            Thresholds(),
            until_ms=end_ms,
            processes=processes,
            memory_mb=256,
            work_dir=tmp_path,
            lead_in=lead,
        )

    first_hour = hourly_episodes(
        previous, Thresholds(), until_ms=previous_until, processes=1, memory_mb=256, work_dir=tmp_path
    )
    second_hour, alone = rules(lead_in()), rules(None)
    assert rules(lead_in(), processes=3) == second_hour
    assert lead_in().reported_until_ms == previous_until  # the first hour's newest sample, not its end
    both = one_engine(rows, end_ms)
    first_ms = {str(r["vehicle_id"]): ms_of(r) for r in reversed(rows) if ms_of(r) >= boundary_ms}
    assert lead_in().bounds == {
        v: (min(first_ms[v] - 60_000, last), first_ms[v]) for v, last in last_ms(rows, boundary_ms).items()
    }

    # every episode of one engine over both hours opens inside an episode of one of the two hours:
    # where its live alert went out
    for episode in both:
        assert any(
            e.vehicle_id == episode.vehicle_id
            and e.rule == episode.rule
            and e.start_ms <= episode.start_ms <= e.end_ms
            for e in first_hour + second_hour
        ), episode
    # those that begin in the second hour are exactly what the second hour reports from its start on
    begun = [e for e in both if e.start_ms > first_ms[e.vehicle_id]]
    assert begun == [e for e in second_hour if e.start_ms > first_ms[e.vehicle_id]]
    # those that ended in the lead-in were the first hour's, and are not reported again
    ended = [e for e in both if first_ms[e.vehicle_id] - 60_000 <= e.end_ms < first_ms[e.vehicle_id]]
    assert ended and all(e.end_ms >= first_ms[e.vehicle_id] for e in second_hour)
    # one that goes on across the boundary is reported by both hours, the second from its first sample
    (short,) = [
        e
        for e in both
        if e.vehicle_id == "veh-00001"
        and e.rule == "cell_voltage_spread"
        and e.start_ms < boundary_ms <= e.end_ms
    ]
    assert any(e.rule == short.rule and e.vehicle_id == short.vehicle_id for e in first_hour)
    assert (short.rule, short.vehicle_id, first_ms["veh-00001"], short.end_ms) in {
        (e.rule, e.vehicle_id, e.start_ms, e.end_ms) for e in second_hour
    }

    def found(episodes: list[Episode], vehicle: str, rule: str) -> list[tuple[int, int]]:
        return [(e.start_ms, e.end_ms) for e in episodes if e.vehicle_id == vehicle and e.rule == rule]

    # quiet across the boundary: veh-00005 the first hour reported (quiet 10 s before its end), so
    # the second does not; veh-00002's 70 s gap (longer than the window) only the second can see
    assert found(first_hour, "veh-00005", "silent") and not found(second_hour, "veh-00005", "silent")
    (gap,) = found(both, "veh-00002", "silent")
    assert gap[1] - gap[0] > 60_000 and found(second_hour, "veh-00002", "silent") == [gap]
    assert not found(first_hour, "veh-00002", "silent") and not found(alone, "veh-00002", "silent")

    # without the lead-in the second hour's windows start empty: the stuck reading is found 10 s
    # late and the dropout across the boundary not at all
    stuck = found(both, "veh-00004", "stuck_signal")
    assert (
        stuck
        and stuck[0][0] > boundary_ms
        and found(second_hour, "veh-00004", "stuck_signal")[:1] == stuck[:1]
    )
    assert found(alone, "veh-00004", "stuck_signal")[0][0] > stuck[0][0]
    dropout = found(both, "veh-00003", "silent")
    assert dropout and dropout[0][0] < boundary_ms and found(second_hour, "veh-00003", "silent") == dropout
    assert not found(alone, "veh-00003", "silent") and not found(first_hour, "veh-00003", "silent")

    # a copy of an old record of each vehicle stored again in the second hour (a redelivery) is
    # judged, but neither moves the cut nor brings the first hour's episodes back
    late = tmp_path / "late.parquet"
    old = {str(r["vehicle_id"]): r for r in rows if ms_of(r) < START_MS + 30_000}
    write_rows(late, [r for r in rows if ms_of(r) >= boundary_ms] + list(old.values()))
    assert lead_in(late).bounds == lead_in().bounds
    assert rules(lead_in(late), hour=late) == second_hour


def last_ms(rows: list[Row], boundary_ms: int) -> dict[str, int]:
    last: dict[str, int] = {}
    for row in rows:
        if ms_of(row) < boundary_ms:
            last[str(row["vehicle_id"])] = max(last.get(str(row["vehicle_id"]), 0), ms_of(row))
    return last


def test_this_hours_keeps_what_began_or_goes_on_after_the_cut() -> None:
    def ep(rule: str, start: int, end: int, vehicle: str = "v") -> Episode:
        return Episode(vehicle, rule, start, end, 1.0, 0.5)

    bounds = {"v": (40_000, 100_000)}  # lead-in from 40 s, cut at 100 s
    kept = this_hours(
        [
            ep("cell_voltage_spread", 100_000, 110_000),  # begun at the cut: kept
            ep("cell_voltage_spread", 90_000, 120_000),  # going on: from the cut
            ep("spread_growing", 50_000, 99_800),  # ended in the lead-in: the previous hour's
            ep("spread_growing", 10_000, 20_000),  # older than the lead-in: a redrive's own
            ep("silent", 85_000, 100_000),  # quiet from 95 s, the previous hour ran to 95 s: reported there
            ep("silent", 85_200, 100_000),  # quiet from 95.2 s: after it, so this hour's
            ep("silent", 85_000, 100_000, vehicle="w"),  # no lead-in for w: as found
        ],
        bounds,
        silence_ms=10_000,
        reported_until_ms=95_000,
    )
    assert kept == [
        ep("cell_voltage_spread", 100_000, 110_000),
        ep("cell_voltage_spread", 100_000, 120_000),
        ep("spread_growing", 10_000, 20_000),
        ep("silent", 85_200, 100_000),
        ep("silent", 85_000, 100_000, vehicle="w"),
    ]
