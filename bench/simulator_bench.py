"""Simulator throughput: contract-v1 records per second for a fleet, CAN round trip included.

The load test and the demo replay the simulator, so it must never be what limits them: the
requirement is 20,000 records/s for 100 vehicles. Two figures are measured in one run on the same
fleet: records made (physics, sensor noise, cantools encode and decode, record dicts), and the same
plus JSON Lines serialisation (what `telemetry simulate --out` does). Simulated time is fixed, so
every run does the same work; the first step is excluded as warm-up. Each figure is the best of
`repeat` runs, as `timeit` reports it: on a shared machine the slower runs measure the neighbours;
the median is printed beside it so a noisy run is visible.

    python -m bench.simulator_bench [--vehicles 100] [--seconds 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import orjson

from app.simulator import Fleet

REQUIRED_RECORDS_PER_S: Final = 20_000
START: Final = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)


def _run(vehicles: int, seconds: float, *, serialise: bool) -> tuple[int, float]:
    fleet = Fleet(vehicles, seed=1, start=START)
    fleet.step()  # warm-up: first cantools calls, caches
    records = 0
    dumps = orjson.dumps
    began = time.perf_counter()
    for tick in fleet.ticks(seconds):
        records += len(tick)
        if serialise:
            b"".join(dumps(r) + b"\n" for r in tick)
    return records, time.perf_counter() - began


def measure(vehicles: int = 100, seconds: float = 30.0, *, repeat: int = 3) -> dict[str, float]:
    """Records/s for `vehicles` over `seconds` of simulated time, best and median of `repeat` runs."""
    walls, walls_jsonl = [], []
    records = 0
    for _ in range(repeat):
        records, wall = _run(vehicles, seconds, serialise=False)
        walls.append(wall)
        walls_jsonl.append(_run(vehicles, seconds, serialise=True)[1])
    wall = min(walls)
    per_s = records / wall
    return {
        "vehicles": vehicles,
        "simulated_s": seconds,
        "records": records,
        "repeat": repeat,
        "wall_s": wall,
        "records_per_s": per_s,
        "records_per_s_median": records / statistics.median(walls),
        "records_per_s_jsonl": records / min(walls_jsonl),
        "realtime_factor": seconds / wall,
        "required_records_per_s": REQUIRED_RECORDS_PER_S,
        "ratio_to_required": per_s / REQUIRED_RECORDS_PER_S,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="simulator records/s")
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0, help="simulated seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best counts")
    args = parser.parse_args(argv)
    m = measure(args.vehicles, args.seconds, repeat=args.repeat)
    verdict = "ok" if m["records_per_s"] >= REQUIRED_RECORDS_PER_S else "BELOW REQUIREMENT"
    print(
        f"simulator: {m['vehicles']:.0f} vehicles x {m['simulated_s']:g} s simulated = {m['records']:.0f} records "
        f"in {m['wall_s']:.2f} s -> {m['records_per_s']:,.0f} records/s, best of {m['repeat']:.0f} "
        f"(median {m['records_per_s_median']:,.0f}; {m['ratio_to_required']:.1f}x the "
        f"{REQUIRED_RECORDS_PER_S:,} required: {verdict}); "
        f"with JSON Lines {m['records_per_s_jsonl']:,.0f} records/s; "
        f"{m['realtime_factor']:.0f}x faster than real time"
    )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
