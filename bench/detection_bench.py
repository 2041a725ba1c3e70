"""`make detection`: battery faults found by the running pipeline, scored against the simulator's truth.

    python -m bench.detection_bench                 # 500 vehicles x 1 simulated hour, 5 % faulty
    python -m bench.detection_bench --vehicles 50 --minutes 5 --speed 2   # a quick look

The real processes (moto server, one receiver, one consumer with every live rule on) take a fleet
of simulated vehicles, `random:<percent>%` of them with a fault in the physics or the sensors
(docs/simulator.md). The fleet's clock starts `--minutes` ago and runs `--speed` times faster than
the wall clock (2: an hour of telemetry in 30 minutes), in batches of 500 records, one step (200 ms
of every vehicle) at a time, so no record is ever stamped in the future. Then the
hourly job runs over every hour the records were received in, and the truth (each fault's vehicle,
kind and onset) is held against:

- **live**: the consumer's `event=anomaly` log lines. A fault counts as found live when an alert of
  its vehicle is at or after its onset; its delay is the vehicle time from onset to the sample that
  opened the alert (physics: how much of the car's time the rule needed), plus the pipeline's wall
  time from sending that sample to the alert line, plus what the reorder wait would add in real
  time (the engine holds a sample up to `reorder_s` of vehicle time; at `--speed` s that is
  `reorder_s / speed` of wall time here, `reorder_s` on a real road);
- **hourly**: the episodes in anomalies/.../episodes.jsonl;
- **false alarms**: any live alert or hourly episode of a vehicle without a fault, over the whole run,
  and any of a faulty vehicle before its onset;
- **cost**: the consumer's rules thread CPU per record, from its own accounting in the same run;
  beside it, the same rules alone in this process right after the run (bench/rules_bench.py, live
  order), so the reader can tell the rules' own cost from what sharing two cores with the other
  processes adds, and a slow hour of the machine from a slower engine.

Everything goes to out/detection.json and a table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from app.aggregator import aggregate_hour
from app.anomaly import PER_SAMPLE_RULES, Thresholds
from app.aws import s3_client, sqs_client
from app.contract import Hour
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.receiver.routes import BATCH_PATH
from app.settings import load_settings
from app.simulator.fleet import SAMPLE_PERIOD_S, Fleet
from bench import rules_bench
from loadtest.stack import PipelineStack

TARGETS: Final = {
    "hourly_recall": 1.0,
    "live_recall": 0.95,
    "live_p95_s": 30.0,
    "false_alarms": 0,
    "rule_us": 5.0,
}
BATCH: Final = 500
_ANOMALY: Final = re.compile(r"^time=(\S+) WARNING event=anomaly vehicle_id=(\S+) rule=(\S+) at=(\S+)")
_RULES_STATS: Final = re.compile(r"event=live_rules_stopped records=(\d+) us_per_record=([0-9.]+)")


@dataclass
class Sent:
    """When each simulated step left the sender (wall clock), by its vehicle time."""

    wall_by_step_ms: dict[int, float] = field(default_factory=dict)
    records: int = 0
    refused: int = 0


def send(url: str, key: str, fleet: Fleet, *, steps: int, speed: float, sent: Sent) -> None:
    """Post each step's records as batches, paced so vehicle time runs `speed` times the wall clock."""
    period = SAMPLE_PERIOD_S / speed
    began = time.monotonic()
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30.0) as client:
        for step in range(steps):
            wait = began + step * period - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            records = fleet.step()
            step_ms = fleet.start_ms + (fleet.tick - 1) * int(SAMPLE_PERIOD_S * 1000)
            sent.wall_by_step_ms[step_ms] = time.time() * 1000
            for i in range(0, len(records), BATCH):
                part = records[i : i + BATCH]
                for attempt in range(5):
                    answer = client.post(
                        BATCH_PATH, content=orjson.dumps(part), headers={"Content-Type": "application/json"}
                    )
                    if answer.status_code == 202:
                        sent.records += answer.json()["accepted"]
                        sent.refused += len(answer.json()["rejected"])
                        break
                    time.sleep(0.2 * (attempt + 1))  # 503: SQS (moto) behind; the receiver says retry
                else:
                    raise RuntimeError(
                        f"the receiver refused a batch five times: {answer.status_code} {answer.text}"
                    )


def drain(settings_env: dict[str, str], timeout: float = 300.0) -> None:
    """Wait until the queue holds nothing, visible or in flight."""
    settings = load_settings()
    sqs = sqs_client(settings)
    url = sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if all(int(v) == 0 for v in attributes.values()):
            return
        time.sleep(1.0)
    raise RuntimeError("the queue did not drain")


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def score(
    *,
    truth: Sequence[dict[str, Any]],
    vehicles: Sequence[str],
    live: Sequence[tuple[float, str, str, int]],
    hourly: Sequence[dict[str, Any]],
    sent: Sent,
    speed: float,
    reorder_s: float,
) -> dict[str, Any]:
    """Recall, delays and false alarms from the truth and what the pipeline said."""
    onset = {t["vehicle_id"]: t for t in truth}
    steps = sorted(sent.wall_by_step_ms)
    found: list[dict[str, Any]] = []
    false_live = [a for a in live if a[1] not in onset or a[3] < _ms(onset[a[1]]["onset"])]
    false_hourly = [
        e
        for e in hourly
        if e["vehicle_id"] not in onset or _ms(e["end"]) < _ms(onset[e["vehicle_id"]]["onset"])
    ]
    for vehicle_id, fault in onset.items():
        start = _ms(fault["onset"])
        alerts = sorted((a for a in live if a[1] == vehicle_id and a[3] >= start), key=lambda a: a[3])
        episodes = [e for e in hourly if e["vehicle_id"] == vehicle_id and _ms(e["end"]) >= start]
        row: dict[str, Any] = {
            "vehicle_id": vehicle_id,
            "fault": fault["fault"],
            "onset": fault["onset"],
            "hourly": bool(episodes),
            "hourly_rules": sorted({e["rule"] for e in episodes}),
            "live": bool(alerts),
        }
        if alerts:
            wall_ms, _, rule, at_ms = alerts[0]
            step = steps[max(0, _bisect(steps, at_ms))]
            physics_s = (at_ms - start) / 1000
            pipeline_s = max(0.0, (wall_ms - sent.wall_by_step_ms[step]) / 1000)
            real_s = physics_s + pipeline_s + reorder_s * (1 - 1 / speed)
            row |= {
                "live_rule": rule,
                "physics_s": physics_s,
                "pipeline_s": pipeline_s,
                "live_delay_s": real_s,
            }
        found.append(row)
    faulty = len(found)
    # live and hourly agree: every live alert lies inside an hourly episode of its vehicle and rule
    matched = sum(
        any(
            e["vehicle_id"] == vehicle and e["rule"] == rule and _ms(e["start"]) <= at <= _ms(e["end"])
            for e in hourly
        )
        for _, vehicle, rule, at in live
    )
    delays = sorted(r["live_delay_s"] for r in found if r["live"])
    within = [r for r in found if r["live"] and r["live_delay_s"] < TARGETS["live_p95_s"]]
    kinds = sorted({r["fault"] for r in found})
    return {
        "vehicles": len(vehicles),
        "faulty": faulty,
        "hourly_recall": sum(r["hourly"] for r in found) / faulty if faulty else None,
        "live_recall": sum(r["live"] for r in found) / faulty if faulty else None,
        "live_recall_within_30s": len(within) / faulty if faulty else None,
        "live_delay_s": {"p50": _pct(delays, 50), "p95": _pct(delays, 95)} if delays else None,
        "pipeline_s": {"p50": _pct(sorted(r["pipeline_s"] for r in found if r["live"]), 50)}
        if delays
        else None,
        "false_alarms": {"live": len(false_live), "hourly": len(false_hourly)},
        "live_alerts": len(live),
        "live_alerts_in_an_hourly_episode": matched,
        "false_alarm_examples": [list(a) for a in false_live[:5]] + false_hourly[:5],
        "per_fault": {
            kind: {
                "injected": sum(r["fault"] == kind for r in found),
                "hourly": sum(r["hourly"] for r in found if r["fault"] == kind),
                "live": sum(r["live"] for r in found if r["fault"] == kind),
                "live_within_30s": sum(r in within for r in found if r["fault"] == kind),
            }
            for kind in kinds
        },
        "faults": found,
    }


def _bisect(values: Sequence[int], x: int) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _pct(values: Sequence[float], p: int) -> float:
    return values[min(len(values) - 1, max(0, -(-p * len(values) // 100) - 1))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path("out/bench/detection-run")
    began = time.perf_counter()
    with PipelineStack(workdir) as stack:
        env = stack.start_aws()
        import os

        os.environ.update(env)
        url = stack.start_receiver(TELEMETRY_PUBLISH_MAX_PENDING_RECORDS="200000")
        consumer = stack.start_consumer(TELEMETRY_LIVE_RULES="all")
        steps = round(args.minutes * 60 / SAMPLE_PERIOD_S)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=args.minutes)
        fleet = Fleet(
            args.vehicles,
            args.seed,
            start=start,
            faults=f"random:{args.faulty_percent}%",
            fault_run_s=args.minutes * 60,
        )
        sent = Sent()
        send(url, stack.api_key, fleet, steps=steps, speed=args.speed, sent=sent)
        drain(env)
        time.sleep(3.0)  # the last flush, and a tick for vehicles that went silent at the end
        consumer.stop()
        log = consumer.log()
        settings = load_settings()
        store = S3ObjectStore(s3_client(settings), settings.bucket)
        hours = Hour.covering(
            datetime.fromtimestamp(min(sent.wall_by_step_ms.values()) / 1000, UTC), datetime.now(UTC)
        )
        job_began = time.perf_counter()
        episodes: list[dict[str, Any]] = []
        for hour in hours:
            aggregate_hour(store=store, settings=settings, hour=hour, metrics=InMemoryMetrics(keep=False))
            body = store.get(f"{hour.partition(settings.anomalies_prefix)}episodes.jsonl").body
            episodes += [orjson.loads(line) for line in body.splitlines() if line]
        job_s = time.perf_counter() - job_began
    live = [
        (_ms(m.group(1)), m.group(2), m.group(3), _ms(m.group(4)))
        for m in map(_ANOMALY.match, log.splitlines())
        if m is not None
    ]
    rules = _RULES_STATS.search(log)
    truth = [e.to_json() for e in fleet.fault_events]
    figures = score(
        truth=truth,
        vehicles=fleet.vehicle_ids,
        live=live,
        hourly=episodes,
        sent=sent,
        speed=args.speed,
        reorder_s=Thresholds().reorder_s,
    )
    figures |= {
        "records": sent.records,
        "refused": sent.refused,
        "vehicle_hours": args.vehicles * args.minutes / 60,
        "speed": args.speed,
        "live_rules_judged": int(rules.group(1)) if rules else None,
        "rule_us_per_record": float(rules.group(2)) if rules else None,
        "rule_us_alone": rules_bench.measure(100, 120.0, repeat=3)["live_us"],
        "hourly_job_s": job_s,
        "wall_s": time.perf_counter() - began,
        "per_sample_rules": sorted(PER_SAMPLE_RULES),
        "truth": truth,
        # what the pipeline said, kept so the run can be scored again without running it again
        "live_alerts_seen": [list(a) for a in live],
        "hourly_episodes_seen": episodes,
    }
    return figures


def table(f: dict[str, Any]) -> str:
    t = TARGETS
    rows = [
        f"detection: {f['vehicles']} vehicles x {f['vehicle_hours'] / f['vehicles'] * 60:.0f} simulated minutes "
        f"({f['vehicle_hours']:.0f} vehicle-hours, {f['records']:,} records at {f['speed']}x real time), "
        f"{f['faulty']} with a fault; {f['wall_s'] / 60:.1f} min",
        f"  hourly pass found        {f['hourly_recall']:.0%} of the faults (target {t['hourly_recall']:.0%})",
        f"  live alerts found        {f['live_recall']:.0%}; within 30 s {f['live_recall_within_30s']:.0%} "
        f"(target >= {t['live_recall']:.0%})",
    ]
    if f["live_delay_s"]:
        rows.append(
            f"  live delay from onset    p50 {f['live_delay_s']['p50']:.1f} s, p95 {f['live_delay_s']['p95']:.1f} s "
            f"(target p95 < {t['live_p95_s']:.0f} s); pipeline p50 {f['pipeline_s']['p50']:.1f} s"
        )
    rows += [
        f"  false alarms             live {f['false_alarms']['live']}, hourly {f['false_alarms']['hourly']} (target 0)",
        f"  live and hourly agree    {f['live_alerts_in_an_hourly_episode']} of {f['live_alerts']} live alerts "
        "lie in an hourly episode of the same vehicle and rule",
        f"  rules in the consumer    {f['rule_us_per_record'] or float('nan'):.2f} us per record "
        f"over {f['live_rules_judged'] or 0:,} records (target <= {t['rule_us']:.0f} us); "
        f"alone after the run {f.get('rule_us_alone') or float('nan'):.2f} us (bench.rules_bench, live order)",
        "  per fault (injected / hourly / live / live within 30 s):",
    ]
    for kind, n in f["per_fault"].items():
        rows.append(
            f"    {kind:<18} {n['injected']:>3} / {n['hourly']:>3} / {n['live']:>3} / {n['live_within_30s']:>3}"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection_bench", description=__doc__)
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated minutes of each vehicle")
    parser.add_argument("--speed", type=float, default=2.0, help="vehicle time per wall time")
    parser.add_argument("--faulty-percent", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("out/detection.json"))
    args = parser.parse_args(argv)
    figures = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
