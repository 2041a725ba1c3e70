"""`make bench`: every benchmark in one run, one table with its ratios, and out/bench.json.

Parts, each reusing its own module's measuring function:
1. simulator records/s (bench.simulator_bench);
2. receiver: single-record POSTs vs the bare FastAPI ceiling in alternating rounds, 100-record
   batches, SQS requests packed vs one record per message (bench.receiver_bench);
3. consumer: AWS requests per 1,000 records draining a packed and an unpacked queue, every call
   counted (bench.consumer_bench);
4. end to end: offered load stepped until p95 ingest-to-persist passes 1 s, with CPU seconds
   and peak RSS of receiver and consumer (bench.e2e_bench);
5. cost per million records at AWS list prices, from the measured counts above.

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
from pathlib import Path
from typing import Any, Final

import psutil

from bench import consumer_bench, e2e_bench, receiver_bench, simulator_bench
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
TARGETS: Final = {
    "receiver_ratio": 0.70,
    "batch_records_per_s": 30_000,
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
    print("[1/4] simulator", flush=True)
    simulator = simulator_bench.measure(100, 10.0 if args.quick else 30.0, repeat=2)

    print("[2/4] receiver vs bare FastAPI", flush=True)
    rargs = argparse.Namespace(
        rounds=2 if args.quick else 3,
        seconds=3.0 if args.quick else 5.0,
        connections=256,
        batch_connections=32,
    )
    with PipelineStack(work / "receiver-run") as stack:
        receiver = receiver_bench.measure(stack, rargs, {})

    print("[3/4] consumer requests per record, packed and one record per message", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-consumer-") as tmp:
        packed_drain = consumer_bench.drain(Path(tmp) / "packed", records=20_000, per_message=None)
        baseline_drain = consumer_bench.drain(Path(tmp) / "baseline", records=500, per_message=1)

    print("[4/4] end to end, stepping the offered load", flush=True)
    rates = [1000, 5000, 10000] if args.quick else e2e_bench.DEFAULT_RATES
    e2e = e2e_bench.measure(work / "e2e-run", rates=rates, seconds=5.0 if args.quick else 10.0)
    return figures(
        simulator=simulator,
        receiver=receiver,
        packed_drain=packed_drain,
        baseline_drain=baseline_drain,
        e2e=e2e,
        rargs=rargs,
    )


def figures(
    *,
    simulator: dict[str, float],
    receiver: receiver_bench.Figures,
    packed_drain: consumer_bench.DrainResult,
    baseline_drain: consumer_bench.DrainResult,
    e2e: e2e_bench.EndToEnd,
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
            "errors": sum(run.errors for run in [*receiver.ceiling, *receiver.receiver, b]),
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
            "steps": [asdict(s) | {"held": s.held} for s in e2e.steps],
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
    }


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(f: dict[str, Any], wall_s: float) -> tuple[str, dict[str, bool]]:
    t, rc, e2e = f["targets"], f["receiver"], f["e2e"]
    cost, sim = f["cost_per_million_records_usd"], f["simulator"]
    rss = e2e["peak_rss_mb"]
    drain, unpacked = f["consumer_drain"]["packed"], f["consumer_drain"]["one_record_per_message"]
    cpu = e2e["cpu_us_per_record"]
    met = {
        "receiver_ratio": rc["ratio"] >= t["receiver_ratio"],
        "batch": rc["batch_records_per_s"] >= t["batch_records_per_s"],
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
        f"{'receiver 100-record batches (records/s)':<46}{rc['batch_records_per_s']:>16,.0f}  "
        f"{rc['batch_records_per_s'] / t['batch_records_per_s']:.0%} of {t['batch_records_per_s']:,}: {_mark(met['batch'])}; "
        f"p50 {rc['batch_p50_ms']:.0f} ms, p99 {rc['batch_p99_ms']:.0f} ms",
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
