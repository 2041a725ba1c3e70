"""Receiver throughput against its ceiling, and SQS requests per 1,000 records, packed vs unpacked.

Everything runs in one process tree on loopback: the embedded AWS stack (moto server) and the
receivers as `telemetry serve` processes (loadtest.stack), the ceiling as its own uvicorn process,
and the load generator as a separate process. Every server is uvicorn with one worker, uvloop and
httptools, access log off.

- **Ceiling**: a bare FastAPI endpoint that validates the same `TelemetryIn` model as a body
  parameter and answers 202; nothing else. Our receiver additionally checks the key, stamps,
  serialises and waits until SQS (moto, on the same cores) acknowledged the record.
- **Load**: a small asyncio HTTP/1.1 client on keep-alive connections (the `load` sub-command),
  the same for both servers, in rounds that alternate ceiling and receiver so that whatever else
  runs on the machine hits both alike; the best round of each counts. 256 connections by default:
  a fleet is many clients, and a receiver that answers only after SQS acknowledged needs
  concurrency to fill its CPU (throughput <= connections / latency).
- **CPU per request**: process CPU time of each server over its runs, divided by the requests it
  answered; for the receiver also moto's share. Less sensitive to other load than requests/s.
- **SQS requests per 1,000 records**: read from the receivers' own EMF output (`SqsRequests`,
  `RecordsAccepted`), for the default packed mode under the throughput load and for the baseline
  (records per message 1, linger 0: one SendMessageBatch per request) under the same load, each
  on a queue of its own.
- **Batches**: 100-record batches to the receiver, in records/s and receiver CPU per record, with
  one uvicorn worker and with two (`TELEMETRY_WORKERS`, what a task with 2 vCPUs runs); the SQS
  requests per 1,000 records of the one-worker run.

    python -m bench.receiver_bench [--seconds 5] [--rounds 3] [--connections 256] [--set VAR=VALUE]

Prints a table and writes out/bench/receiver.json. moto is far slower per call than SQS, so the
receiver's figures are a floor; the ratio to the ceiling is the number to watch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import boto3
import orjson
import psutil
from fastapi import FastAPI

from app.contract import TelemetryIn
from app.receiver.routes import BATCH_PATH, SINGLE_PATH
from loadtest.stack import DEFAULT_API_KEY, ManagedProcess, PipelineStack, free_port

TARGET_RATIO: Final = 0.60
TARGET_REQUEST_REDUCTION: Final = 20.0
OUT_DIR: Final = Path("out/bench")
BATCH_SIZE: Final = 100
#: uvicorn workers of the batch runs: one, and what a task with 2 vCPUs runs.
BATCH_WORKERS: Final = (1, 2)
DISTINCT_BODIES: Final = 64
QUIET: Final = {"TELEMETRY_LOG_LEVEL": "WARNING", "TELEMETRY_METRICS_INTERVAL_SECONDS": "5"}


# -- the ceiling ------------------------------------------------------------------------------
def ceiling_app() -> FastAPI:
    """The bare endpoint: FastAPI validates `TelemetryIn` from the body and answers 202."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(SINGLE_PATH, status_code=202)
    async def ingest(record: TelemetryIn) -> dict[str, int]:
        return {"accepted": 1}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# -- the load generator (runs as its own process) ---------------------------------------------
def records(count: int, *, prefix: str = "veh") -> list[dict[str, Any]]:
    now = datetime.now(UTC) - timedelta(seconds=1)
    return [
        {
            "timestamp": (now - timedelta(milliseconds=i))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "vehicle_id": f"{prefix}-{i % 1000:05d}",
            "can_id": "0x1F0",
            "payload": {
                "battery_soc": 85.5 - i % 50 / 10,
                "battery_voltage": 400.2,
                "battery_current": -15.3,
                "cell_voltage_min": 3.45,
                "cell_voltage_max": 3.67,
                "cell_temp_min": 28.5,
                "cell_temp_max": 31.2,
            },
        }
        for i in range(count)
    ]


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {DEFAULT_API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class LoadResult:
    """One run: requests answered inside the measured window, and over the whole run."""

    ok: int
    errors: int
    answered: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    def cpu_us_per_request(self, name: str) -> float:
        return 1e6 * self.cpu_seconds.get(name, 0.0) / max(1, self.answered)


@dataclass
class _Window:
    """The measured window and what the workers saw in it (one event loop: no locks needed)."""

    start: float
    stop: float
    latencies: list[float] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    answered: int = 0


async def _worker(host: str, port: int, requests: Sequence[bytes], offset: int, window: _Window) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while (sent := time.perf_counter()) < window.stop:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            window.answered += 1
            if sent >= window.start:  # only requests sent inside the measured window count
                if status == 202:
                    window.latencies.append(time.perf_counter() - sent)
                else:
                    window.bad.append(status)
    finally:
        writer.close()


async def _load(url: str, path: str, bodies: Sequence[bytes], args: argparse.Namespace) -> LoadResult:
    host, port_text = url.removeprefix("http://").split(":")
    port = int(port_text)
    requests = [request_bytes(host, port, path, body) for body in bodies]
    start = time.perf_counter() + args.warmup
    window = _Window(start=start, stop=start + args.seconds)
    await asyncio.gather(*(_worker(host, port, requests, n, window) for n in range(args.connections)))
    ordered = sorted(window.latencies) or [0.0]
    return LoadResult(
        ok=len(window.latencies),
        errors=len(window.bad),
        answered=window.answered,
        seconds=args.seconds,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[int(len(ordered) * 0.99)] * 1000,
    )


def load_main(args: argparse.Namespace) -> int:
    import uvloop

    bodies = batch_bodies() if args.batch else single_bodies()
    result = uvloop.run(_load(args.url, BATCH_PATH if args.batch else SINGLE_PATH, bodies, args))
    print(json.dumps(asdict(result)))
    return 0


def run_load(
    url: str, *, seconds: float, connections: int, batch: bool = False, watch: Mapping[str, int] | None = None
) -> LoadResult:
    """One load run in a separate process; `watch` names server pids whose CPU time to account."""
    command = [
        sys.executable, "-m", "bench.receiver_bench", "load", "--url", url,
        "--seconds", str(seconds), "--connections", str(connections), "--warmup", "1",
    ]  # fmt: skip
    if batch:
        command.append("--batch")
    processes = {name: psutil.Process(pid) for name, pid in (watch or {}).items()}
    before = {name: cpu_seconds(p) for name, p in processes.items()}
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 90)  # noqa: S603
    after = {name: cpu_seconds(p) for name, p in processes.items()}
    result = LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))
    result.cpu_seconds = {name: after[name] - before[name] for name in processes}
    return result


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of a process and its live children (a receiver's worker processes)."""
    total = float(sum(process.cpu_times()[:2]))
    for child in process.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:  # pragma: no cover - a worker restarting mid-measurement
            continue
    return total


def batch_bodies() -> list[bytes]:
    return [orjson.dumps(records(BATCH_SIZE, prefix=f"b{n}")) for n in range(8)]


def single_bodies() -> list[bytes]:
    return [orjson.dumps(r) for r in records(DISTINCT_BODIES)]


# -- servers ----------------------------------------------------------------------------------
def start_ceiling(stack: PipelineStack) -> tuple[str, ManagedProcess]:
    """The ceiling app under uvicorn, configured like `telemetry serve` (one worker, uvloop, httptools)."""
    port = free_port()
    log_path = stack.workdir / "ceiling.log"
    log = log_path.open("wb")
    command = [sys.executable, "-m", "uvicorn", "bench.receiver_bench:ceiling_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    popen = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    proc = ManagedProcess(name="ceiling", popen=popen, log_path=log_path, _log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_http(f"{url}/healthz", proc)
    except RuntimeError:
        proc.kill()
        raise
    return url, proc


def new_queue(env: Mapping[str, str], name: str) -> str:
    sqs = boto3.client(
        "sqs",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def emf_totals(log: str) -> dict[str, float]:
    """Sum the receiver's main EMF events (dimension Service only) from its log."""
    totals: dict[str, float] = {}
    for line in log.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        event = json.loads(line)
        if event["_aws"]["CloudWatchMetrics"][0]["Dimensions"] != [["Service"]]:
            continue
        for name in ("RecordsAccepted", "SqsRequests", "MessagesSent", "RecordsFailed"):
            totals[name] = totals.get(name, 0.0) + float(event.get(name, 0.0))
    return totals


def sqs_requests_per_thousand(receiver: ManagedProcess) -> tuple[float, dict[str, float]]:
    """Stop the receiver (it emits its last interval on the way out) and read its EMF totals."""
    receiver.stop()
    totals = emf_totals(receiver.log())
    accepted = totals.get("RecordsAccepted", 0.0)
    return (1000 * totals.get("SqsRequests", 0.0) / accepted if accepted else float("nan")), totals


# -- the phases -------------------------------------------------------------------------------
@dataclass
class Figures:
    ceiling: list[LoadResult]
    receiver: list[LoadResult]
    packed_per_k: float
    packed_totals: dict[str, float]
    baseline_per_k: float
    baseline_totals: dict[str, float]
    #: 100-record batches by uvicorn workers (1 and 2), and the SQS requests per 1,000 records of 1.
    batch_by_workers: dict[int, LoadResult]
    batch_sqs_per_k: float

    @property
    def batch(self) -> LoadResult:
        return self.batch_by_workers[1]

    def batch_cpu_us_per_record(self, workers: int, name: str = "server") -> float:
        run = self.batch_by_workers[workers]
        return run.cpu_us_per_request(name) / BATCH_SIZE

    @property
    def best_ceiling(self) -> LoadResult:
        return max(self.ceiling, key=lambda r: r.rps)

    @property
    def best_receiver(self) -> LoadResult:
        return max(self.receiver, key=lambda r: r.rps)

    @property
    def ratio(self) -> float:
        return self.best_receiver.rps / self.best_ceiling.rps

    @property
    def reduction(self) -> float:
        return self.baseline_per_k / self.packed_per_k

    def cpu_us(self, runs: list[LoadResult], name: str) -> float:
        return 1e6 * sum(r.cpu_seconds.get(name, 0.0) for r in runs) / max(1, sum(r.answered for r in runs))


def measure(stack: PipelineStack, args: argparse.Namespace, tuned: Mapping[str, str]) -> Figures:
    env = stack.start_aws()
    aws_pid = stack._aws.pid if stack._aws is not None else os.getpid()
    ceiling_url, ceiling = start_ceiling(stack)
    try:
        packed_url = stack.start_receiver(
            **QUIET, **tuned, TELEMETRY_QUEUE_URL=new_queue(env, "bench-packed")
        )
        packed = stack.receivers()[-1]
        ceiling_runs, receiver_runs = [], []
        for _ in range(args.rounds):
            ceiling_runs.append(
                run_load(
                    ceiling_url,
                    seconds=args.seconds,
                    connections=args.connections,
                    watch={"server": ceiling.pid},
                )
            )
            receiver_runs.append(
                run_load(
                    packed_url,
                    seconds=args.seconds,
                    connections=args.connections,
                    watch={"server": packed.pid, "moto": aws_pid},
                )
            )
    finally:
        ceiling.stop()
    packed_per_k, packed_totals = sqs_requests_per_thousand(packed)

    baseline_url = stack.start_receiver(
        **QUIET,
        TELEMETRY_QUEUE_URL=new_queue(env, "bench-baseline"),
        TELEMETRY_RECORDS_PER_MESSAGE="1",
        TELEMETRY_PUBLISH_LINGER_MS="0",
    )
    run_load(baseline_url, seconds=min(args.seconds, 3.0), connections=args.connections)
    baseline_per_k, baseline_totals = sqs_requests_per_thousand(stack.receivers()[-1])

    batch_by_workers: dict[int, LoadResult] = {}
    batch_sqs_per_k = float("nan")
    for workers in BATCH_WORKERS:
        batch_url = stack.start_receiver(
            **QUIET,
            **tuned,
            TELEMETRY_WORKERS=str(workers),
            TELEMETRY_QUEUE_URL=new_queue(env, f"bench-batch-{workers}"),
        )
        batch_receiver = stack.receivers()[-1]
        batch_by_workers[workers] = run_load(
            batch_url,
            seconds=args.seconds,
            connections=args.batch_connections * workers,
            batch=True,
            watch={"server": batch_receiver.pid, "moto": aws_pid},
        )
        per_k, _ = sqs_requests_per_thousand(batch_receiver)
        if workers == 1:
            batch_sqs_per_k = per_k
    return Figures(
        ceiling_runs,
        receiver_runs,
        packed_per_k,
        packed_totals,
        baseline_per_k,
        baseline_totals,
        batch_by_workers,
        batch_sqs_per_k,
    )


def report(figures: Figures, args: argparse.Namespace) -> bool:
    c, r = figures.best_ceiling, figures.best_receiver
    print(
        f"receiver benchmark: {os.cpu_count()} cores, {args.connections} keep-alive connections, "
        f"{args.rounds} x {args.seconds:g} s per server alternating, one uvicorn worker each"
    )
    print(
        f"  single-record POSTs/s  ceiling (bare FastAPI) {c.rps:7.0f}  p50 {c.p50_ms:6.1f} ms  p99 {c.p99_ms:6.1f} ms"
    )
    print(
        f"                         receiver (SQS acked)   {r.rps:7.0f}  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms"
    )
    print(f"  receiver / ceiling     {figures.ratio:.0%}  (target >= {TARGET_RATIO:.0%})")
    print(
        f"  CPU per request        ceiling {figures.cpu_us(figures.ceiling, 'server'):4.0f} us   receiver "
        f"{figures.cpu_us(figures.receiver, 'server'):4.0f} us + moto {figures.cpu_us(figures.receiver, 'moto'):4.0f} us"
    )
    print(
        f"  SQS requests per 1,000 records  packed {figures.packed_per_k:.2f}  one record per message "
        f"{figures.baseline_per_k:.0f}  -> {figures.reduction:.0f}x fewer (target >= {TARGET_REQUEST_REDUCTION:.0f}x)"
    )
    for workers, b in figures.batch_by_workers.items():
        print(
            f"  100-record batches, {workers} worker{'s' if workers > 1 else ''}  {b.rps * BATCH_SIZE:7.0f} records/s  "
            f"({b.rps:.0f} requests/s, {args.batch_connections * workers} connections, p50 {b.p50_ms:.1f} ms); "
            f"receiver CPU {figures.batch_cpu_us_per_record(workers):.1f} us per record"
        )
    errors = sum(
        run.errors for run in [*figures.ceiling, *figures.receiver, *figures.batch_by_workers.values()]
    )
    if errors:
        print(f"  non-202 answers during the measured runs: {errors}")
    met = figures.ratio >= TARGET_RATIO and figures.reduction >= TARGET_REQUEST_REDUCTION and not errors
    print("  targets met" if met else "  TARGETS MISSED")
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.receiver_bench", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    load = sub.add_parser("load", help="(internal) run the load generator and print JSON")
    load.add_argument("--url", required=True)
    load.add_argument("--seconds", type=float, default=5.0)
    load.add_argument("--warmup", type=float, default=1.0)
    load.add_argument("--connections", type=int, default=256)
    load.add_argument("--batch", action="store_true")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling/receiver rounds, alternating")
    parser.add_argument(
        "--connections", type=int, default=256, help="keep-alive connections of the generator"
    )
    parser.add_argument(
        "--batch-connections", type=int, default=32, help="connections for 100-record batches"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="VAR=VALUE", help="packed receiver setting"
    )
    args = parser.parse_args(argv)
    if args.command == "load":
        return load_main(args)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    tuned = dict(item.split("=", 1) for item in args.set)
    with PipelineStack(OUT_DIR / "receiver-run") as stack:
        figures = measure(stack, args, tuned)
    met = report(figures, args)
    summary = {
        "machine": f"{os.cpu_count()} cores",
        "connections": args.connections,
        "ceiling": [asdict(run) | {"rps": run.rps} for run in figures.ceiling],
        "receiver": [asdict(run) | {"rps": run.rps} for run in figures.receiver],
        "ratio": figures.ratio,
        "cpu_us_per_request": {
            "ceiling": figures.cpu_us(figures.ceiling, "server"),
            "receiver": figures.cpu_us(figures.receiver, "server"),
            "moto_for_receiver": figures.cpu_us(figures.receiver, "moto"),
        },
        "sqs_requests_per_1000_records": {
            "packed": figures.packed_per_k,
            "one_record_per_message": figures.baseline_per_k,
        },
        "packed_totals": figures.packed_totals,
        "baseline_totals": figures.baseline_totals,
        "batch_records_per_s": figures.batch.rps * BATCH_SIZE,
        "batch_by_workers": {
            str(w): asdict(run) | {"records_per_s": run.rps * BATCH_SIZE}
            for w, run in figures.batch_by_workers.items()
        },
        "settings": tuned,
    }
    (OUT_DIR / "receiver.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
