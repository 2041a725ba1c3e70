"""End to end: the highest offered load that receiver -> SQS -> consumer -> S3 holds at p95 < 1 s.

One embedded AWS stack (moto server), one `telemetry serve` and one `telemetry consume`, each a
process of its own with default settings, as in `make demo`. A separate, paced load generator (the
`load` sub-command) offers 100-record batch POSTs at a fixed rate for `seconds` per step; the rate
steps up (the given steps, then 25 % more each time) until a step fails: p95 ingest-to-persist
passes the budget, the backlog does not drain, a request fails, or the receiver stops taking what
is offered. The last step that held and the first that did not are the knee. The generator opens
enough connections that a request may take 250 ms without it falling behind, so the knee is the
pipeline's, not the generator's.

Per step, after the load stops, the new S3 objects are read back until every accepted record is
there (the backlog drained) or `drain_wait` runs out; ingest-to-persist is each object's
`flushed-at` metadata minus each record's `ingest_received_at`, as loadtest/verify.py measures it.
CPU seconds of receiver, consumer and moto are taken from psutil over the loaded window; RSS of
receiver and consumer is sampled every 100 ms over the whole run and its peak kept.

    python -m bench.e2e_bench [--rates 1000,2500,5000,7500,10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import psutil

from app.aws import s3_client
from app.receiver.routes import BATCH_PATH
from app.settings import load_settings
from bench.receiver_bench import BATCH_SIZE, records, request_bytes
from loadtest.stack import PipelineStack
from loadtest.verify import S3Reader

BUDGET_MS: Final = 1000.0
DEFAULT_RATES: Final = [1000, 2500, 5000, 7500, 10000, 12500, 15000, 20000]
#: After the given steps, each next one offers this much more, until a step fails or the cap.
STEP_FACTOR: Final = 1.25
MAX_RATE: Final = 400_000.0
#: A step whose accepted rate falls below this share of the offered one is not held.
HELD_SHARE: Final = 0.95
MIN_CONNECTIONS: Final = 16
#: Each connection waits for its answer: this many seconds of request latency are covered.
LATENCY_ALLOWANCE_S: Final = 0.25


def connections_for(rate: float) -> int:
    """Connections that keep `rate` offered while each request takes up to LATENCY_ALLOWANCE_S."""
    return max(MIN_CONNECTIONS, math.ceil(rate / BATCH_SIZE * LATENCY_ALLOWANCE_S))


def rates_until_knee(first: Sequence[float]) -> Iterator[float]:
    """The given steps, then STEP_FACTOR more each time (rounded to 500 records/s) up to MAX_RATE."""
    yield from first
    rate = first[-1]
    while (rate := round(rate * STEP_FACTOR / 500) * 500) <= MAX_RATE:
        yield rate


# -- the paced load generator (its own process) ------------------------------------------------
@dataclass
class PacedResult:
    offered_requests: int
    ok_requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float


async def _paced(url: str, rate: float, seconds: float, connections: int) -> PacedResult:
    host, port_text = url.removeprefix("http://").split(":")
    port = int(port_text)
    bodies = [
        request_bytes(host, port, BATCH_PATH, orjson.dumps(records(BATCH_SIZE, prefix=f"e{n}")))
        for n in range(8)
    ]
    interval = BATCH_SIZE / rate  # seconds between requests over all connections
    total = int(seconds / interval)
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    errors = 0

    async def worker(first: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in range(first, total, connections):
                delay = start + i * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.perf_counter()
                writer.write(bodies[i % len(bodies)])
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                if int(head[9:12]) == 202:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(n) for n in range(connections)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies) or [0.0]
    return PacedResult(
        offered_requests=total,
        ok_requests=len(latencies),
        errors=errors,
        seconds=max(elapsed, seconds),
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[int(len(ordered) * 0.99)] * 1000,
    )


def load_main(args: argparse.Namespace) -> int:
    import uvloop

    print(json.dumps(asdict(uvloop.run(_paced(args.url, args.rate, args.seconds, args.connections)))))
    return 0


# -- measuring ----------------------------------------------------------------------------------
class RssSampler(threading.Thread):
    """Peak RSS of named processes, sampled every 100 ms until stopped."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.peak_mb = dict.fromkeys(processes, 0.0)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.1):
            for name, process in self.processes.items():
                try:
                    rss = process.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.peak_mb[name] = max(self.peak_mb[name], rss)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)


class PersistedReader:
    """Reads each new raw object once: records, bytes and ingest-to-persist latencies."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self._objects = S3Reader(s3, bucket)
        self.prefix = prefix
        self.records = 0
        self.bytes = 0
        self.objects = 0

    def read_new(self) -> list[float]:
        latencies: list[float] = []
        for stored in self._objects.new_objects([self.prefix]):
            if stored.flushed_at is None:
                raise RuntimeError(f"{stored.key} carries no flushed-at metadata")
            self.objects += 1
            self.bytes += stored.size
            for line in stored.lines:
                received = datetime.fromisoformat(orjson.loads(line)["ingest_received_at"])
                latencies.append((stored.flushed_at - received).total_seconds() * 1000)
        self.records += len(latencies)
        return latencies


@dataclass
class Step:
    offered_records_per_s: float
    accepted_records_per_s: float
    accepted: int
    errors: int
    request_p50_ms: float
    request_p99_ms: float
    persisted: int
    drain_s: float
    drained: bool
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return not self.failed_because

    @property
    def failed_because(self) -> list[str]:
        """Each rule of a held step that this one broke, in words (empty: it held)."""
        reasons = []
        if not self.drained:
            reasons.append(f"backlog not drained ({self.persisted:,} of {self.accepted:,} persisted)")
        elif self.p95_ms >= BUDGET_MS:
            reasons.append(f"p95 ingest-to-persist {self.p95_ms:,.0f} ms >= {BUDGET_MS:,.0f} ms")
        if self.errors:
            reasons.append(f"{self.errors} requests not accepted")
        if self.accepted_records_per_s < HELD_SHARE * self.offered_records_per_s:
            reasons.append(
                f"accepted {self.accepted_records_per_s:,.0f} records/s < {HELD_SHARE:.0%} of offered"
            )
        return reasons


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _moto(stack: PipelineStack) -> psutil.Process:
    pid = stack._aws.pid if stack._aws is not None else None
    if pid is None:
        raise RuntimeError("the embedded AWS process is not running")
    return psutil.Process(pid)


def run_step(
    url: str,
    *,
    rate: float,
    seconds: float,
    processes: dict[str, psutil.Process],
    reader: PersistedReader,
    drain_wait: float,
) -> Step:
    before = {name: _cpu(p) for name, p in processes.items()}
    command = [sys.executable, "-m", "bench.e2e_bench", "load", "--url", url, "--rate", str(rate)]
    command += ["--seconds", str(seconds), "--connections", str(connections_for(rate))]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)  # noqa: S603
    load = PacedResult(**json.loads(done.stdout.strip().splitlines()[-1]))
    accepted = load.ok_requests * BATCH_SIZE
    ended = time.perf_counter()
    target = reader.records + accepted
    latencies: list[float] = []
    while True:
        latencies += reader.read_new()
        if reader.records >= target or time.perf_counter() - ended > drain_wait:
            break
        time.sleep(0.25)
    drain_s = time.perf_counter() - ended
    after = {name: _cpu(p) for name, p in processes.items()}
    p50, p95, p99 = np.percentile(np.asarray(latencies or [float("inf")]), [50, 95, 99])
    return Step(
        offered_records_per_s=rate,
        accepted_records_per_s=accepted / load.seconds,
        accepted=accepted,
        errors=load.errors,
        request_p50_ms=load.p50_ms,
        request_p99_ms=load.p99_ms,
        persisted=len(latencies),
        drain_s=drain_s,
        drained=reader.records >= target,
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        cpu_s={name: after[name] - before[name] for name in processes},
    )


@dataclass
class EndToEnd:
    steps: list[Step]
    peak_rss_mb: dict[str, float]
    bytes_per_record: float
    objects: int
    records_persisted: int

    @property
    def best(self) -> Step | None:
        held = [s for s in self.steps if s.held]
        return max(held, key=lambda s: s.accepted_records_per_s) if held else None

    @property
    def knee(self) -> tuple[Step | None, Step | None]:
        """The last step that held and the first that did not (None: all held up to MAX_RATE)."""
        failed = next((s for s in self.steps if not s.held), None)
        held = [
            s
            for s in self.steps
            if s.held and (failed is None or s.offered_records_per_s < failed.offered_records_per_s)
        ]
        return (held[-1] if held else None), failed

    def cpu_s_per_record(self, step: Step, *names: str) -> float:
        return sum(step.cpu_s.get(n, 0.0) for n in names) / max(1, step.accepted)


def measure(workdir: Path, *, rates: Sequence[float], seconds: float, drain_wait: float = 15.0) -> EndToEnd:
    with PipelineStack(workdir) as stack:
        env = stack.start_aws()
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto takes any; boto3 must sign
            os.environ.setdefault(key, env.get(key, "testing"))
        quiet = {"TELEMETRY_LOG_LEVEL": "WARNING"}
        url = stack.start_receiver(**quiet)
        consumer = stack.start_consumer(**quiet)
        processes = {
            "receiver": psutil.Process(stack.receivers()[-1].pid),
            "consumer": psutil.Process(consumer.pid),
            "moto": _moto(stack),
        }
        settings = load_settings(
            aws_endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_region=env["AWS_REGION"],
            bucket=env["TELEMETRY_BUCKET"],
        )
        reader = PersistedReader(s3_client(settings), settings.bucket, settings.raw_prefix)
        sampler = RssSampler({k: v for k, v in processes.items() if k != "moto"})
        sampler.start()
        steps: list[Step] = []
        try:
            for rate in rates_until_knee(rates):
                step = run_step(
                    url, rate=rate, seconds=seconds, processes=processes, reader=reader, drain_wait=drain_wait
                )
                steps.append(step)
                print(
                    f"  e2e step {rate:>7,.0f} records/s offered: {step.accepted_records_per_s:>7,.0f} accepted, "
                    f"p95 ingest-to-persist {step.p95_ms:6.0f} ms, drained in {step.drain_s:4.1f} s"
                    f"{'' if step.held else '  (not held: ' + '; '.join(step.failed_because) + ')'}",
                    flush=True,
                )
                if not step.held:
                    break
        finally:
            sampler.stop()
    return EndToEnd(
        steps=steps,
        peak_rss_mb=sampler.peak_mb,
        bytes_per_record=reader.bytes / max(1, reader.records),
        objects=reader.objects,
        records_persisted=reader.records,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e_bench", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    load = sub.add_parser("load", help="(internal) the paced load generator; prints JSON")
    load.add_argument("--url", required=True)
    load.add_argument("--rate", type=float, required=True, help="records/s offered")
    load.add_argument("--seconds", type=float, default=10.0)
    load.add_argument("--connections", type=int, default=MIN_CONNECTIONS)
    parser.add_argument(
        "--rates",
        type=lambda t: [float(n) for n in t.split(",")],
        default=DEFAULT_RATES,
        help="records/s of the first steps; then 25 %% more per step until one fails",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per step")
    args = parser.parse_args(argv)
    if args.command == "load":
        return load_main(args)
    result = measure(Path("out/bench/e2e-run"), rates=args.rates, seconds=args.seconds)
    best = result.best
    print(f"sustained: {best.accepted_records_per_s:,.0f} records/s" if best else "no step held")
    print(knee_text(result))
    return 0 if best else 1


def knee_text(result: EndToEnd) -> str:
    last, first = result.knee
    held = (
        f"last held {last.offered_records_per_s:,.0f} records/s offered "
        f"({last.accepted_records_per_s:,.0f} accepted, p95 {last.p95_ms:,.0f} ms)"
        if last
        else "no step held"
    )
    failed = (
        f"first not held {first.offered_records_per_s:,.0f} offered: {'; '.join(first.failed_because)}"
        if first
        else f"every step held up to {MAX_RATE:,.0f} records/s"
    )
    return f"knee: {held}; {failed}"


if __name__ == "__main__":
    sys.exit(main())
