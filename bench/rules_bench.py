"""Cost of the anomaly rules per record, on a realistic simulated stream: the consumer's budget is 5 us.

The stream is a fleet's records (100 vehicles, 5 % of them with a fault, so alerts and episodes
happen too), made before timing starts: epoch milliseconds and payloads, as the consumer has them
after decoding. Three figures, each the best of `repeat` runs (on a shared machine the slower runs
measure the neighbours; the median is printed beside it):

- in order: the hourly job's feed (distinct records sorted by vehicle and time);
- live: the same records with arrival shuffled by up to 2 s, 1 % of them twice, and `tick` once
  per second of ingest time, as the consumer does;
- parse: `event_ms` of the ISO timestamps, the part of the consumer's cost the rules need.

    python -m bench.rules_bench [--vehicles 100] [--seconds 120] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from app.anomaly import RuleEngine, event_ms
from app.simulator import Fleet

BUDGET_US: Final = 5.0
START: Final = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)

Record = tuple[str, int, int, dict[str, Any]]


def make_stream(vehicles: int, seconds: float) -> tuple[list[str], list[Record]]:
    """(the records' timestamps, the records as the engine takes them), in the simulator's order."""
    fleet = Fleet(vehicles, seed=11, start=START, faults="random(from=10s):5%", fault_run_s=seconds)
    stamps: list[str] = []
    records: list[Record] = []
    for record in fleet.records(seconds):
        ms = event_ms(record["timestamp"])
        stamps.append(record["timestamp"])
        records.append((record["vehicle_id"], ms, ms + 120, record["payload"]))
    return stamps, records


def live_order(records: list[Record], *, seed: int = 1) -> list[Record]:
    """Arrival shuffled by up to 2 s and 1 % delivered twice, ingest times following arrival."""
    rng = random.Random(seed)
    copies = [r for r in records for _ in range(2 if rng.random() < 0.01 else 1)]
    arrival = sorted(((r[1] + rng.uniform(0, 2000), r) for r in copies), key=lambda a: a[0])
    return [(vid, ev, round(at) + 120, payload) for at, (vid, ev, _, payload) in arrival]


def _time_in_order(records: list[Record]) -> float:
    engine = RuleEngine()
    observe = engine.observe
    began = time.perf_counter()
    for vid, ev, ingest, payload in records:
        observe(vid, ev, ingest, payload)
    engine.close()
    return time.perf_counter() - began


def _time_live(records: list[Record]) -> float:
    engine = RuleEngine()
    observe = engine.observe
    next_tick = records[0][2] + 1000
    began = time.perf_counter()
    for vid, ev, ingest, payload in records:
        if ingest >= next_tick:
            engine.tick(engine.clock_ms)
            next_tick += 1000
        observe(vid, ev, ingest, payload)
    engine.close()
    return time.perf_counter() - began


def _time_parse(stamps: list[str]) -> float:
    began = time.perf_counter()
    for stamp in stamps:
        event_ms(stamp)
    return time.perf_counter() - began


def measure(vehicles: int = 100, seconds: float = 120.0, *, repeat: int = 5) -> dict[str, float]:
    """Microseconds per record, best and median of `repeat` runs, for each way of feeding."""
    stamps, records = make_stream(vehicles, seconds)
    live = live_order(records)
    walls: dict[str, list[float]] = {"in_order": [], "live": [], "parse": []}
    for _ in range(repeat):
        walls["in_order"].append(_time_in_order(records))
        walls["live"].append(_time_live(live))
        walls["parse"].append(_time_parse(stamps))
    out: dict[str, float] = {"vehicles": vehicles, "records": len(records), "repeat": repeat}
    for name, values in walls.items():
        count = len(live) if name == "live" else len(records)
        out[f"{name}_us"] = min(values) / count * 1e6
        out[f"{name}_us_median"] = statistics.median(values) / count * 1e6
    out["budget_us"] = BUDGET_US
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="anomaly rules: microseconds per record")
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0, help="simulated seconds of records")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best counts")
    args = parser.parse_args(argv)
    m = measure(args.vehicles, args.seconds, repeat=args.repeat)
    worst = max(m["in_order_us"], m["live_us"])
    verdict = "ok" if worst <= BUDGET_US else "OVER BUDGET"
    print(
        f"rules: {m['records']:.0f} records of {m['vehicles']:.0f} vehicles -> "
        f"in order {m['in_order_us']:.2f} us/record (median {m['in_order_us_median']:.2f}), "
        f"live (shuffled <= 2 s, 1 % twice, tick each second) {m['live_us']:.2f} us/record "
        f"(median {m['live_us_median']:.2f}); budget {BUDGET_US:g} us: {verdict}; "
        f"parsing the timestamps adds {m['parse_us']:.2f} us/record; best of {m['repeat']:.0f}"
    )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
