"""Offline calibration of the anomaly rules: false alarms on healthy fleets, recall and delay on faulty ones.

Everything in event time, in one process, without the pipeline (the integrator's detection
benchmark runs the same rules through the real processes):

1. **Healthy fleets**, no faults: every start mode (mixed, drive, charge, park) x every capacity
   (60, 94, 120 Ah) over the simulator's ambient range, plus hot-day fleets (33-38 degC, the
   climate of the cooling-failure scenario). Any alert here is a false alarm; the target is zero.
2. **Faulty fleets**: `random:5%` (faults in about 5 % of the vehicles, kinds and onsets drawn),
   and, so every kind is measured on more than a handful of cases, `random:100%` fleets. For each
   fault of the ground truth: found or not, and the delay from its onset to the first alert on
   that vehicle (any rule), with the rule that fired first. Alerts on a faulty vehicle before its
   onset count as false alarms too.

Samples go through `Fleet.step_samples` (the readings exactly as the CAN records carry them,
without building frames) and are fed to `RuleEngine.observe` as the two frames of each sample,
in order; `close()` ends each fleet. The figures go to stdout and out/detection_offline.json.

    python -m bench.detection_offline [--part healthy|faulty|all] [--vehicles 42] [--hours 1] [--quick]

On two shared cores the default (about 990 vehicle-hours, 35 million records) takes about six
minutes; `--part` splits it into its healthy and faulty halves.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from app.anomaly import Alert, RuleEngine, Thresholds
from app.simulator import Fleet
from app.simulator.faults import KINDS
from app.simulator.injector import FaultEvent
from app.simulator.usage import START_MODES

START: Final = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)
OUT: Final = Path("out/detection_offline.json")
CAPACITIES: Final = (60.0, 94.0, 120.0)
HOT_DAY_C: Final = (33.0, 38.0)
LIVE_TARGET_MS: Final = 30_000
FRAME_0: Final = ("battery_soc", "battery_voltage", "battery_current")
FRAME_1: Final = ("cell_voltage_min", "cell_voltage_max", "cell_temp_min", "cell_temp_max")


@dataclass(frozen=True, slots=True)
class FleetRun:
    """One simulated fleet: its configuration, and what the engine said about it."""

    label: str
    vehicles: int
    hours: float
    alerts: list[Alert]
    truth: list[FaultEvent]
    records: int
    wall_s: float


@dataclass(slots=True)
class Tally:
    """The figures over many fleets."""

    healthy_vehicle_hours: float = 0.0
    healthy_alerts: Counter[str] = field(default_factory=Counter)
    healthy_alert_examples: list[dict[str, Any]] = field(default_factory=list)
    pre_onset_alerts: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    wall_s: float = 0.0


def configurations(vehicles: int, hours: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, Fleet kwargs) of the healthy fleets: every start mode x capacity, then hot days."""
    first = 1
    for mode in START_MODES:
        for capacity in CAPACITIES:
            yield (
                f"{mode}/{capacity:g}Ah",
                {
                    "vehicles": vehicles,
                    "seed": 101,
                    "first_index": first,
                    "capacity_ah": capacity,
                    "start_mode": mode,
                },
            )
            first += vehicles
    for capacity in CAPACITIES:
        yield (
            f"hot-day/{capacity:g}Ah",
            {
                "vehicles": max(1, vehicles // 2),
                "seed": 102,
                "first_index": first,
                "capacity_ah": capacity,
                "ambient_c": HOT_DAY_C,
            },
        )
        first += vehicles


def run_fleet(label: str, kwargs: dict[str, Any], hours: float, thresholds: Thresholds) -> FleetRun:
    """Simulate one fleet for `hours` and feed every sample, as its two frames, to a fresh engine."""
    duration_s = hours * 3600.0
    fleet = Fleet(start=START, fault_run_s=duration_s, **kwargs)
    engine = RuleEngine(thresholds)
    observe = engine.observe
    alerts: list[Alert] = []
    steps = round(duration_s / 0.2)
    began = time.perf_counter()
    for _ in range(steps):
        for vid, ms, row in fleet.step_samples():
            first = observe(
                vid, ms, ms, {"battery_soc": row[0], "battery_voltage": row[1], "battery_current": row[2]}
            )
            second = observe(
                vid,
                ms,
                ms,
                {
                    "cell_voltage_min": row[3],
                    "cell_voltage_max": row[4],
                    "cell_temp_min": row[5],
                    "cell_temp_max": row[6],
                },
            )
            if first:
                alerts.extend(first)
            if second:
                alerts.extend(second)
    engine.close()
    wall = time.perf_counter() - began
    return FleetRun(label, fleet.vehicles, hours, alerts, fleet.fault_events, engine.stats.records, wall)


def score(run: FleetRun, tally: Tally) -> None:
    """Healthy vehicles: every alert is false. Faulty: alerts before onset are false; the first at
    or after onset is the detection."""
    onset = {e.vehicle_id: e for e in run.truth}
    first_after: dict[str, Alert] = {}
    for alert in sorted(run.alerts, key=lambda a: a.at_ms):
        event = onset.get(alert.vehicle_id)
        if event is None:
            tally.healthy_alerts[alert.rule] += 1
            if len(tally.healthy_alert_examples) < 20:
                tally.healthy_alert_examples.append({"fleet": run.label, **_alert(alert)})
        elif alert.at_ms < event.onset_ms:
            tally.pre_onset_alerts += 1
        else:
            first_after.setdefault(alert.vehicle_id, alert)
    tally.healthy_vehicle_hours += (run.vehicles - len(onset)) * run.hours
    end_ms = int(START.timestamp() * 1000 + run.hours * 3_600_000)
    for vid, event in onset.items():
        hit = first_after.get(vid)
        tally.faults.append(
            {
                "fleet": run.label,
                "vehicle_id": vid,
                "fault": event.fault,
                "onset": event.onset,
                "params": dict(event.params),
                "observable_s": (end_ms - event.onset_ms) / 1000.0,
                "found": hit is not None,
                "delay_s": None if hit is None else (hit.at_ms - event.onset_ms) / 1000.0,
                "first_rule": None if hit is None else hit.rule,
            }
        )
    tally.records += run.records
    tally.wall_s += run.wall_s


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "vehicle_id": alert.vehicle_id,
        "rule": alert.rule,
        "at_ms": alert.at_ms,
        "value": alert.value,
        "threshold": alert.threshold,
        "signal": alert.signal,
    }


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[k]


def summary(tally: Tally) -> dict[str, Any]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fault in tally.faults:
        by_kind[fault["fault"]].append(fault)
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        cases = by_kind.get(kind, [])
        delays = [c["delay_s"] for c in cases if c["found"]]
        kinds[kind] = {
            "injected": len(cases),
            "found": len(delays),
            "recall": len(delays) / len(cases) if cases else None,
            "recall_30s": sum(d <= LIVE_TARGET_MS / 1000 for d in delays) / len(cases) if cases else None,
            "delay_p50_s": _percentile(delays, 50),
            "delay_p95_s": _percentile(delays, 95),
            "delay_max_s": max(delays) if delays else None,
            "first_rules": dict(Counter(c["first_rule"] for c in cases if c["found"])),
        }
    all_delays = [f["delay_s"] for f in tally.faults if f["found"]]
    return {
        "healthy_vehicle_hours": tally.healthy_vehicle_hours,
        "healthy_alerts": sum(tally.healthy_alerts.values()),
        "healthy_alerts_by_rule": dict(tally.healthy_alerts),
        "healthy_alert_examples": tally.healthy_alert_examples,
        "pre_onset_alerts": tally.pre_onset_alerts,
        "faults_injected": len(tally.faults),
        "faults_found": len(all_delays),
        "recall": len(all_delays) / len(tally.faults) if tally.faults else None,
        "recall_30s": (sum(d <= 30 for d in all_delays) / len(tally.faults)) if tally.faults else None,
        "delay_p50_s": _percentile(all_delays, 50),
        "delay_p95_s": _percentile(all_delays, 95),
        "by_kind": kinds,
        "records": tally.records,
        "engine_and_simulator_wall_s": tally.wall_s,
        "missed": [f for f in tally.faults if not f["found"]],
        "faults": tally.faults,
    }


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def report(result: dict[str, Any]) -> str:
    lines = [
        f"healthy: {result['healthy_vehicle_hours']:.0f} vehicle-hours, "
        f"{result['healthy_alerts']} alerts (target 0) {result['healthy_alerts_by_rule']}; "
        f"alerts before onset on faulty vehicles: {result['pre_onset_alerts']}",
        f"faulty: {result['faults_found']}/{result['faults_injected']} found within the run "
        f"(recall {_fmt(result['recall'], '.1%')}), {_fmt(result['recall_30s'], '.1%')} within 30 s; "
        f"delay p50 {_fmt(result['delay_p50_s'])} s, p95 {_fmt(result['delay_p95_s'])} s",
        f"{'fault':<16} {'injected':>8} {'found':>6} {'recall':>7} {'<=30s':>7} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  first rule",
    ]
    for kind, k in result["by_kind"].items():
        lines.append(
            f"{kind:<16} {k['injected']:>8} {k['found']:>6} {_fmt(k['recall'], '.0%'):>7} "
            f"{_fmt(k['recall_30s'], '.0%'):>7} {_fmt(k['delay_p50_s']):>7} {_fmt(k['delay_p95_s']):>7} "
            f"{_fmt(k['delay_max_s']):>7}  {k['first_rules']}"
        )
    lines.append(
        f"{result['records']:,} records through the engine in {result['engine_and_simulator_wall_s']:.0f} s "
        "(simulator included)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="anomaly rules: false alarms, recall, delay (offline)")
    parser.add_argument("--vehicles", type=int, default=42, help="vehicles per healthy configuration")
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours per fleet")
    parser.add_argument(
        "--five-percent-vehicles", type=int, default=300, help="vehicles of the random:5%% fleets"
    )
    parser.add_argument(
        "--faulty-vehicles", type=int, default=120, help="vehicles of the random:100%% fleets"
    )
    parser.add_argument("--part", choices=("healthy", "faulty", "all"), default="all", help="which fleets")
    parser.add_argument("--quick", action="store_true", help="a small run to check the script")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.vehicles, args.hours, args.five_percent_vehicles, args.faulty_vehicles = 2, 0.05, 20, 12
    thresholds = Thresholds()
    tally = Tally()
    runs: list[tuple[str, dict[str, Any]]] = []
    if args.part in {"healthy", "all"}:
        runs.extend(configurations(args.vehicles, args.hours))
    faulty = (("random:5%", args.five_percent_vehicles, 201), ("random:100%", args.faulty_vehicles, 202))
    first = 100_000
    for spec, count, seed in faulty if args.part in {"faulty", "all"} else ():
        per_capacity = max(1, count // len(CAPACITIES))
        for capacity in CAPACITIES:
            runs.append(
                (
                    f"{spec}/{capacity:g}Ah",
                    {
                        "vehicles": per_capacity,
                        "seed": seed,
                        "first_index": first,
                        "capacity_ah": capacity,
                        "faults": spec,
                    },
                )
            )
            first += per_capacity
    for label, kwargs in runs:
        run = run_fleet(label, kwargs, args.hours, thresholds)
        score(run, tally)
        print(
            f"  {label:<22} {run.vehicles:>4} vehicles x {run.hours:g} h: {len(run.alerts)} alerts, "
            f"{len(run.truth)} faults, {run.wall_s:.0f} s",
            flush=True,
        )
    result = summary(tally)
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"thresholds": _thresholds(thresholds), **result}, indent=2, default=str))
    print(f"details in {args.out}")
    return 0 if result["healthy_alerts"] == 0 and result["pre_onset_alerts"] == 0 else 1


def _thresholds(th: Thresholds) -> dict[str, Any]:
    return {name: getattr(th, name) for name in th.__dataclass_fields__}


if __name__ == "__main__":
    raise SystemExit(main())
