"""`make bench`: every benchmark in one run, one table with its ratios, and out/bench.json.

Parts, each reusing its own module's measuring function:
1. simulator records/s (bench.simulator_bench);
2. receiver: single-record POSTs vs the bare FastAPI ceiling in alternating rounds, 100-record
   batches at one and two uvicorn workers with the receiver's CPU per record, SQS requests packed
   vs one record per message (bench.receiver_bench);
3. consumer: AWS requests per 1,000 records draining a packed and an unpacked queue, every call
   counted (bench.consumer_bench);
4. end to end: offered load stepped until a step fails (p95 ingest-to-persist past 1 s, backlog
   not drained, requests refused): the knee, with CPU seconds and peak RSS of receiver and
   consumer (bench.e2e_bench);
5. the hourly job on one hour of 3.6 M records (1,000 msg/s) beside the aggregator it replaced:
   wall time, peak RSS, Parquet vs JSON Lines bytes, one query over curated vs raw (bench.hourly_bench);
6. cost per million records at AWS list prices, from the measured counts above.

docs/capacity.md is generated from the out/bench.json this writes (`make capacity`).

    python -m bench [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import psutil

from bench import consumer_bench, e2e_bench, hourly_bench, receiver_bench, simulator_bench
from loadtest.stack import PipelineStack

OUT: Final = Path("out/bench.json")
#: AWS list prices, us-east-1, as published on the AWS pricing pages (checked 2026-06).
PRICE_DATE: Final = "2026-06"
PRICE_REGION: Final = "us-east-1"
PRICES: Final[dict[str, float]] = {
    "sqs_standard_per_million_requests": 0.40,  # each 64 KiB chunk of a payload is one request
    "s3_put_per_thousand": 0.005,
    "s3_standard_per_gb_month": 0.023,
    "fargate_x86_per_vcpu_hour": 0.04048,
    "fargate_x86_per_gb_hour": 0.004445,
    "fargate_gb_per_vcpu": 2.0,  # infra/: receiver and consumer tasks are 512 CPU units / 1024 MB
}
SQS_CHUNK: Final = 65_536
#: Receiver CPU per record in this benchmark's 100-record batch run (one worker, saturated) with the
#: code before the one-pass batch path (commit 9898359), on the 2-core development machine: 15.8
#: and 16.1 us in two runs. The target is half of it (issue 21). The issue's own "today" figure,
#: 25.3 us, came from the end-to-end step at ~20,000 records/s, a different measure: that row is
#: compared with it.
BATCH_CPU_BEFORE_US: Final = 16.0
E2E_CPU_BEFORE_US: Final = 25.3
E2E_CPU_BEFORE_RATE: Final = 19_874
HOURLY_RECORDS: Final = 3_600_000
TARGETS: Final = {
    "receiver_ratio": 0.70,
    "batch_records_per_s": 30_000,
    "batch_cpu_us_per_record": BATCH_CPU_BEFORE_US / 2,  # or batch_records_per_s: either meets it
    "hourly_speedup": hourly_bench.TARGETS["speedup"],
    "hourly_rss_mb": hourly_bench.TARGETS["rss_mb"],
    "parquet_size_ratio": hourly_bench.TARGETS["size_ratio"],
    "query_speedup": hourly_bench.TARGETS["query_speedup"],
    "e2e_records_per_s": 5_000,
    "e2e_p95_ms": 1_000,
    "sqs_cost_reduction": 50.0,
    "rss_mb": 150.0,
    "simulator_records_per_s": simulator_bench.REQUIRED_RECORDS_PER_S,
    "consumer_drain_records_per_s": 10_000,
}


def billed(calls: float, records: float, bytes_per_record: float) -> float:
    """SQS bills each 64 KiB chunk of a call's payload as one request, and at least one per call."""
    return max(calls, math.ceil(records * bytes_per_record / SQS_CHUNK))


def sqs_requests_per_million(
    *, sent_calls: float, accepted: float, drain: consumer_bench.DrainResult, bytes_per_record: float
) -> dict[str, float]:
    """Billed SQS requests per million records: send (receiver) + receive, delete, visibility (consumer)."""
    scale = 1e6 / accepted
    drain_scale = 1e6 / drain.records
    send = billed(sent_calls * scale, 1e6, bytes_per_record)
    receive = billed(drain.calls["ReceiveMessage"] * drain_scale, 1e6, bytes_per_record)
    delete = drain.calls["DeleteMessageBatch"] * drain_scale
    visibility = drain.calls["ChangeMessageVisibilityBatch"] * drain_scale
    return {
        "send": send,
        "receive": receive,
        "delete": delete,
        "visibility": visibility,
        "total": send + receive + delete + visibility,
    }


def fargate_per_million(cpu_s_per_record: float) -> float:
    vcpu_hours = cpu_s_per_record * 1e6 / 3600
    per_vcpu_hour = (
        PRICES["fargate_x86_per_vcpu_hour"]
        + PRICES["fargate_gb_per_vcpu"] * PRICES["fargate_x86_per_gb_hour"]
    )
    return vcpu_hours * per_vcpu_hour


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path("out/bench")
    work.mkdir(parents=True, exist_ok=True)
    print("[1/5] simulator", flush=True)
    simulator = simulator_bench.measure(100, 10.0 if args.quick else 30.0, repeat=2)

    print("[2/5] receiver vs bare FastAPI; batches at 1 and 2 workers", flush=True)
    rargs = argparse.Namespace(
        rounds=2 if args.quick else 3,
        seconds=3.0 if args.quick else 5.0,
        connections=256,
        batch_connections=32,
    )
    with PipelineStack(work / "receiver-run") as stack:
        receiver = receiver_bench.measure(stack, rargs, {})

    print("[3/5] consumer requests per record, packed and one record per message", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-consumer-") as tmp:
        packed_drain = consumer_bench.drain(Path(tmp) / "packed", records=20_000, per_message=None)
        baseline_drain = consumer_bench.drain(Path(tmp) / "baseline", records=500, per_message=1)

    print("[4/5] end to end, stepping the offered load until a step fails", flush=True)
    rates = [1000, 5000, 10000] if args.quick else e2e_bench.DEFAULT_RATES
    e2e = e2e_bench.measure(work / "e2e-run", rates=rates, seconds=5.0 if args.quick else 10.0)
    print(f"  {e2e_bench.knee_text(e2e)}", flush=True)

    print("[5/5] the hourly job on one hour in moto S3, beside the aggregator it replaced", flush=True)
    hourly = hourly_bench.measure(
        work / "hourly-run",
        records=HOURLY_RECORDS // 18 if args.quick else HOURLY_RECORDS,
        per_object=1_000,
        memory_limit_mb=None,
        reference=True,
        task_memory_mb=1024,  # configured as for a 1 GiB task (DuckDB 512 MB): the RSS target's size
    )
    return figures(
        simulator=simulator,
        receiver=receiver,
        packed_drain=packed_drain,
        baseline_drain=baseline_drain,
        e2e=e2e,
        hourly=hourly,
        rargs=rargs,
    )


def figures(
    *,
    simulator: dict[str, float],
    receiver: receiver_bench.Figures,
    packed_drain: consumer_bench.DrainResult,
    baseline_drain: consumer_bench.DrainResult,
    e2e: e2e_bench.EndToEnd,
    hourly: dict[str, Any],
    rargs: argparse.Namespace,
) -> dict[str, Any]:
    c, r, b = receiver.best_ceiling, receiver.best_receiver, receiver.batch
    bpr = e2e.bytes_per_record
    best = e2e.best
    packed_sqs = sqs_requests_per_million(
        sent_calls=receiver.packed_totals["SqsRequests"],
        accepted=receiver.packed_totals["RecordsAccepted"],
        drain=packed_drain,
        bytes_per_record=bpr,
    )
    baseline_sqs = sqs_requests_per_million(
        sent_calls=receiver.baseline_totals["SqsRequests"],
        accepted=receiver.baseline_totals["RecordsAccepted"],
        drain=baseline_drain,
        bytes_per_record=bpr,
    )
    price = PRICES["sqs_standard_per_million_requests"] / 1e6
    put_price = PRICES["s3_put_per_thousand"] / 1000
    cpu_per_record = e2e.cpu_s_per_record(best, "receiver", "consumer") if best else float("nan")
    cost = {
        "packed": {
            "sqs": packed_sqs["total"] * price,
            "s3_put": packed_drain.per_1k("PutObject") * 1000 * put_price,
            "s3_storage_month": bpr * 1e6 / 2**30 * PRICES["s3_standard_per_gb_month"],
            "fargate": fargate_per_million(cpu_per_record),
        },
        "one_record_per_message": {
            "sqs": baseline_sqs["total"] * price,
            "s3_put": baseline_drain.per_1k("PutObject") * 1000 * put_price,
        },
    }
    cost["packed"]["total"] = sum(cost["packed"].values())
    return {
        "machine": {
            "date": datetime.now(UTC).date().isoformat(),
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "prices": {"date": PRICE_DATE, "region": PRICE_REGION, **PRICES},
        "targets": TARGETS,
        "simulator": simulator,
        "receiver": {
            "connections": rargs.connections,
            "rounds": rargs.rounds,
            "seconds_per_round": rargs.seconds,
            "ceiling_rps": c.rps,
            "ceiling_p50_ms": c.p50_ms,
            "ceiling_p99_ms": c.p99_ms,
            "single_rps": r.rps,
            "single_p50_ms": r.p50_ms,
            "single_p99_ms": r.p99_ms,
            "ratio": receiver.ratio,
            "cpu_us_per_request": {
                "ceiling": receiver.cpu_us(receiver.ceiling, "server"),
                "receiver": receiver.cpu_us(receiver.receiver, "server"),
                "moto_for_receiver": receiver.cpu_us(receiver.receiver, "moto"),
            },
            "batch_records_per_s": b.rps * receiver_bench.BATCH_SIZE,
            "batch_p50_ms": b.p50_ms,
            "batch_p99_ms": b.p99_ms,
            "batch_cpu_us_per_record": receiver.batch_cpu_us_per_record(1),
            "batch_moto_cpu_us_per_record": receiver.batch_cpu_us_per_record(1, "moto"),
            "batch_cpu_us_per_record_before": BATCH_CPU_BEFORE_US,
            "e2e_cpu_us_per_record_before": {
                "receiver": E2E_CPU_BEFORE_US,
                "at_records_per_s": E2E_CPU_BEFORE_RATE,
            },
            "batch_sqs_send_calls_per_1000": receiver.batch_sqs_per_k,
            "workers": {
                str(w): {
                    "records_per_s": run.rps * receiver_bench.BATCH_SIZE,
                    "cpu_us_per_record": receiver.batch_cpu_us_per_record(w),
                    "p50_ms": run.p50_ms,
                    "p99_ms": run.p99_ms,
                    "connections": rargs.batch_connections * w,
                }
                for w, run in receiver.batch_by_workers.items()
            },
            "body_bytes": {
                "single": sum(map(len, singles := receiver_bench.single_bodies())) / len(singles),
                "batch": sum(map(len, batches := receiver_bench.batch_bodies())) / len(batches),
            },
            "errors": sum(
                run.errors
                for run in [*receiver.ceiling, *receiver.receiver, *receiver.batch_by_workers.values()]
            ),
            "sqs_send_calls_per_1000": {
                "packed": receiver.packed_per_k,
                "one_record_per_message": receiver.baseline_per_k,
            },
        },
        "consumer_drain": {
            name: {
                "records": d.records,
                "messages": d.messages,
                "records_per_s": d.records_per_s,
                "calls_per_1000": {op: 1000 * n / d.records for op, n in d.calls.items()},
                "consumer_cpu_us_per_record": 1e6 * d.consumer_cpu_s / d.records,
                "stored_records": d.stored_records,
            }
            for name, d in (("packed", packed_drain), ("one_record_per_message", baseline_drain))
        },
        "e2e": {
            "steps": [step_dict(s) for s in e2e.steps],
            "knee": {
                "last_held": step_dict(e2e.knee[0]) if e2e.knee[0] else None,
                "first_failed": step_dict(e2e.knee[1]) if e2e.knee[1] else None,
            },
            "sustained_records_per_s": best.accepted_records_per_s if best else 0.0,
            "p95_ms_at_sustained": best.p95_ms if best else None,
            "peak_rss_mb": e2e.peak_rss_mb,
            "bytes_per_record": bpr,
            "objects": e2e.objects,
            "records_persisted": e2e.records_persisted,
            "cpu_us_per_record": {
                name: 1e6 * e2e.cpu_s_per_record(best, name) if best else None
                for name in ("receiver", "consumer", "moto")
            },
        },
        "sqs_billed_requests_per_million": {"packed": packed_sqs, "one_record_per_message": baseline_sqs},
        "cost_per_million_records_usd": cost,
        "sqs_cost_reduction": baseline_sqs["total"] / packed_sqs["total"],
        "hourly": hourly,
    }


def step_dict(step: e2e_bench.Step) -> dict[str, Any]:
    return asdict(step) | {"held": step.held, "failed_because": step.failed_because}


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(f: dict[str, Any], wall_s: float) -> tuple[str, dict[str, bool]]:
    t, rc, e2e = f["targets"], f["receiver"], f["e2e"]
    cost, sim = f["cost_per_million_records_usd"], f["simulator"]
    rss = e2e["peak_rss_mb"]
    drain, unpacked = f["consumer_drain"]["packed"], f["consumer_drain"]["one_record_per_message"]
    cpu = e2e["cpu_us_per_record"]
    hourly = f["hourly"]
    columnar = next(r for r in hourly["runs"] if r["engine"] == "columnar")
    best_batch = max(w["records_per_s"] for w in rc["workers"].values())
    met = {
        "receiver_ratio": rc["ratio"] >= t["receiver_ratio"],
        "batch": best_batch >= t["batch_records_per_s"]
        or rc["batch_cpu_us_per_record"] <= t["batch_cpu_us_per_record"],
        "hourly_speedup": hourly["speedup"] >= t["hourly_speedup"],
        "hourly_rss": columnar["peak_rss_mb"] <= t["hourly_rss_mb"],
        "parquet_size": hourly["size_ratio"] >= t["parquet_size_ratio"],
        "query_speedup": hourly["query_speedup"] >= t["query_speedup"],
        "e2e": e2e["sustained_records_per_s"] >= t["e2e_records_per_s"],
        "sqs_cost": f["sqs_cost_reduction"] >= t["sqs_cost_reduction"],
        "rss": max(rss.values()) < t["rss_mb"],
        "simulator": sim["records_per_s"] >= t["simulator_records_per_s"],
        "consumer_drain": drain["records_per_s"] >= t["consumer_drain_records_per_s"],
    }
    m = f["machine"]
    rows = [
        f"make bench: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, {wall_s / 60:.1f} min; "
        f"load average at the end {m['load_average_at_end'][0]:.1f}",
        f"{'figure':<46}{'measured':>16}  {'ratio / target':<40}",
        "-" * 104,
        f"{'simulator, 100 vehicles (records/s)':<46}{sim['records_per_s']:>16,.0f}  "
        f"{sim['ratio_to_required']:.1f}x the {t['simulator_records_per_s']:,} needed: {_mark(met['simulator'])}",
        f"{'receiver ceiling: bare FastAPI (POSTs/s)':<46}{rc['ceiling_rps']:>16,.0f}  "
        f"p50 {rc['ceiling_p50_ms']:.0f} ms, p99 {rc['ceiling_p99_ms']:.0f} ms",
        f"{'receiver single-record POSTs (records/s)':<46}{rc['single_rps']:>16,.0f}  "
        f"{rc['ratio']:.0%} of the ceiling (>= {t['receiver_ratio']:.0%}): {_mark(met['receiver_ratio'])}; "
        f"p50 {rc['single_p50_ms']:.0f} ms, p99 {rc['single_p99_ms']:.0f} ms",
        *(
            f"{f'receiver 100-record batches, {n} worker' + ('s' if n != '1' else '') + ' (records/s)':<46}"
            f"{w['records_per_s']:>16,.0f}  {w['records_per_s'] / t['batch_records_per_s']:.0%} of "
            f"{t['batch_records_per_s']:,}; CPU {w['cpu_us_per_record']:.1f} us per record; "
            f"p50 {w['p50_ms']:.0f} ms, p99 {w['p99_ms']:.0f} ms ({w['connections']} connections)"
            for n, w in rc["workers"].items()
        ),
        f"{'receiver CPU per record, 100-record batches (us)':<46}{rc['batch_cpu_us_per_record']:>16,.1f}  "
        f"{rc['batch_cpu_us_per_record'] / BATCH_CPU_BEFORE_US:.0%} of the {BATCH_CPU_BEFORE_US} us measured the same "
        f"way before the one-pass batch path (<= 50 %, or >= {t['batch_records_per_s']:,} records/s): "
        f"{_mark(met['batch'])}; moto {rc['batch_moto_cpu_us_per_record']:.1f} us",
        f"{'receiver CPU per single POST (us)':<46}{rc['cpu_us_per_request']['receiver']:>16,.0f}  "
        f"ceiling {rc['cpu_us_per_request']['ceiling']:.0f} us; moto {rc['cpu_us_per_request']['moto_for_receiver']:.0f} us",
        f"{'consumer drain, pre-filled queue (records/s)':<46}{drain['records_per_s']:>16,.0f}  "
        f"{drain['records_per_s'] / t['consumer_drain_records_per_s']:.1f}x the "
        f"{t['consumer_drain_records_per_s']:,} target ({drain['records']:,} records in {drain['messages']} messages): "
        f"{_mark(met['consumer_drain'])}",
        f"{'consumer AWS calls per 1,000 records':<46}{sum(drain['calls_per_1000'].values()):>16,.2f}  "
        + ", ".join(f"{op} {n:.2f}" for op, n in sorted(drain["calls_per_1000"].items()) if n)
        + f"; one record per message {sum(unpacked['calls_per_1000'].values()):,.0f}",
        f"{'end to end sustained (records/s)':<46}{e2e['sustained_records_per_s']:>16,.0f}  "
        f"{e2e['sustained_records_per_s'] / t['e2e_records_per_s']:.1f}x the {t['e2e_records_per_s']:,} target "
        f"at p95 {e2e['p95_ms_at_sustained'] or float('nan'):.0f} ms (< {t['e2e_p95_ms']} ms): {_mark(met['e2e'])}",
    ]
    for step in e2e["steps"]:
        rows.append(
            f"{'  step offered ' + format(step['offered_records_per_s'], ',.0f'):<46}{step['accepted_records_per_s']:>16,.0f}  "
            f"p50/p95/p99 {step['p50_ms']:.0f}/{step['p95_ms']:.0f}/{step['p99_ms']:.0f} ms, "
            f"drained {step['drain_s']:.1f} s{'' if step['held'] else ', not held'}"
        )
    knee_held, knee_failed = e2e["knee"]["last_held"], e2e["knee"]["first_failed"]
    rows.append(
        f"{'knee: last step held (records/s offered)':<46}"
        f"{knee_held['offered_records_per_s'] if knee_held else 0:>16,.0f}  "
        + (
            f"first not held: {knee_failed['offered_records_per_s']:,.0f} offered ("
            + "; ".join(knee_failed["failed_because"])
            + ")"
            if knee_failed
            else "every step held"
        )
    )
    near = min(e2e["steps"], key=lambda s: abs(s["offered_records_per_s"] - E2E_CPU_BEFORE_RATE))
    near_cpu = 1e6 * near["cpu_s"].get("receiver", 0.0) / max(1, near["accepted"])
    rows.append(
        f"{'receiver CPU per record, e2e near 20,000/s (us)':<46}{near_cpu:>16,.1f}  "
        f"at {near['offered_records_per_s']:,.0f} offered: {near_cpu / E2E_CPU_BEFORE_US:.0%} of the "
        f"{E2E_CPU_BEFORE_US} us the issue measured at {E2E_CPU_BEFORE_RATE:,} records/s before the one-pass path"
    )
    rows += [
        f"{'CPU per record at that rate (us)':<46}{(cpu['receiver'] or 0) + (cpu['consumer'] or 0):>16,.1f}  "
        f"receiver {cpu['receiver'] or 0:.1f} + consumer {cpu['consumer'] or 0:.1f} (moto {cpu['moto'] or 0:.1f}, not billed)",
        f"{'peak RSS receiver / consumer (MB)':<46}{rss['receiver']:>9,.0f} / {rss['consumer']:<4,.0f}  "
        f"< {t['rss_mb']:.0f} MB each: {_mark(met['rss'])}",
        f"{'bytes per stored record':<46}{e2e['bytes_per_record']:>16,.0f}",
        f"{'SQS billed requests per million records':<46}{f['sqs_billed_requests_per_million']['packed']['total']:>16,.0f}  "
        f"vs {f['sqs_billed_requests_per_million']['one_record_per_message']['total']:,.0f} one record per message",
        f"{'SQS cost per million records (USD)':<46}{cost['packed']['sqs']:>16,.5f}  "
        f"vs {cost['one_record_per_message']['sqs']:.4f}: {f['sqs_cost_reduction']:.0f}x lower (>= "
        f"{t['sqs_cost_reduction']:.0f}x): {_mark(met['sqs_cost'])}",
        f"{'S3 PUT cost per million records (USD)':<46}{cost['packed']['s3_put']:>16,.5f}  "
        f"vs {cost['one_record_per_message']['s3_put']:.4f} one record per message",
        f"{'S3 Standard storage per million, month (USD)':<46}{cost['packed']['s3_storage_month']:>16,.5f}",
        f"{'Fargate share per million records (USD)':<46}{cost['packed']['fargate']:>16,.5f}  "
        f"measured CPU s x (vCPU-h + {PRICES['fargate_gb_per_vcpu']:.0f} GB-h)",
        f"{'total per million records (USD)':<46}{cost['packed']['total']:>16,.5f}  "
        f"AWS list prices {PRICE_REGION}, {PRICE_DATE}",
        f"{'hourly job, ' + format(hourly['records'], ',') + ' records (s)':<46}{columnar['wall_s']:>16,.1f}  "
        f"{hourly['speedup']:.1f}x faster than the Python aggregator's {hourly['reference_wall_s']:.1f} s "
        f"(>= {t['hourly_speedup']:.0f}x): {_mark(met['hourly_speedup'])}; {hourly['speedup_without_rules']:.1f}x "
        f"without the anomaly rules (the old job had none); same counts: {hourly['same_counts']}",
        f"{'hourly job peak RSS (MB)':<46}{columnar['peak_rss_mb']:>16,.0f}  "
        f"<= {t['hourly_rss_mb']:,.0f} MB: {_mark(met['hourly_rss'])}",
        f"{'curated Parquet vs JSON Lines (MB)':<46}{hourly['curated_bytes'] / 2**20:>16,.1f}  "
        f"{hourly['raw_bytes'] / 2**20:,.0f} MB raw: {hourly['size_ratio']:.0f}x smaller (>= "
        f"{t['parquet_size_ratio']:.0f}x): {_mark(met['parquet_size'])}",
        f"{'query over curated vs raw (s)':<46}{hourly['queries_s']['curated']:>16,.2f}  "
        f"raw {hourly['queries_s']['raw']:.2f} s: {hourly['query_speedup']:.0f}x faster (>= "
        f"{t['query_speedup']:.0f}x): {_mark(met['query_speedup'])}",
    ]
    return "\n".join(rows), met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke check, not figures)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # pollers abandoned at a stack's shutdown warn; not news
    began = time.perf_counter()
    result = run(args)
    wall = time.perf_counter() - began
    text, met = table(result, wall)
    result["wall_s"] = wall
    result["targets_met"] = met
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
    print(text)
    print(f"wrote {OUT}; targets met: {sum(met.values())} of {len(met)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
