"""The hourly job on one hour of telemetry in moto S3, beside the Python aggregator it replaced.

    python -m bench.hourly_bench                       # 3.6 M records (1,000 msg/s for an hour)
    python -m bench.hourly_bench --records 20000000 --task-memory-mb 2048 --memory-limit-mb 2048 --skip-reference

The hour is generated as the consumer writes it: canonical stored lines of 100 vehicles sending
both CAN frames every 200 ms (1,000 records/s), values walking as a pack's do and quantised as the
DBC quantises them, 1 % of records stored twice (redeliveries, a later arrival), in plain JSON
Lines objects of `--per-object` records (1,000: a consumer flushing every second at this rate).
moto server, a separate process, holds it. Each engine then runs in a process of its own, reading
the same hour through S3; its wall time is measured around it and its peak RSS sampled by psutil:

- `columnar`  the hourly job (`aggregate_hour`: DuckDB; curated + statistics + documents, and the
  anomaly rules over the hour, which the reference does not run: the speed-up is shown with and without them);
- `reference` the previous job: objects read one after another and folded line by line
  (app/aggregator/reference.py), statistics only.

Then one question is asked of the hour through `telemetry query`'s code, once of `curated` and once
of `raw` (per-vehicle max cell temperature), end to end: fetching from S3 included.

`--memory-limit-mb` runs the columnar job inside a cgroup (v1 memory controller, swap included
where the kernel accounts it) with that limit: it must finish, not be OOM-killed, and the cgroup's
own high-water mark is reported. Without a writable cgroup the run says so and is not counted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
import psutil

from app.aws import s3_client
from app.contract import Hour
from app.object_store import S3ObjectStore
from app.settings import load_settings
from loadtest.stack import PipelineStack

HOUR: Final = Hour("2025-10-19T12")
VEHICLES: Final = 100
SAMPLE_MS: Final = 200
DUPLICATE_EVERY: Final = 100
CGROUP_ROOT: Final = Path("/sys/fs/cgroup/memory")
QUERY_CURATED: Final = "SELECT vehicle_id, max(cell_temp_max) AS hottest FROM curated GROUP BY vehicle_id"
QUERY_RAW: Final = (
    "SELECT vehicle_id, max(CAST(payload['cell_temp_max'] AS DOUBLE)) AS hottest FROM raw GROUP BY vehicle_id"
)
TARGETS: Final = {"speedup": 5.0, "rss_mb": 1024.0, "size_ratio": 10.0, "query_speedup": 10.0}


def lines(records: int, *, seed: int = 7) -> Iterator[bytes]:
    """`records` stored lines in arrival order, 1 % of them a second, later copy of an earlier one."""
    import random

    rng = random.Random(seed)
    state = [
        [rng.uniform(20, 95), rng.uniform(-20, 150), rng.uniform(20, 30), rng.uniform(0.005, 0.04)]
        for _ in range(VEHICLES)
    ]
    start = HOUR.start
    prefixes: dict[int, str] = {}

    def stamp(ms: int) -> str:
        second, milli = divmod(ms, 1000)
        prefix = prefixes.get(second)
        if prefix is None:
            prefix = prefixes[second] = (start + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{prefix}.{milli:03d}Z"

    made = 0
    held: list[bytes] = []
    tick = 0
    while made < records:
        base = tick * SAMPLE_MS
        for v in range(VEHICLES):
            soc, current, temp, spread = state[v]
            current = max(-200.0, min(300.0, current + rng.gauss(0, 8)))
            soc = max(0.0, min(100.0, soc - current * 0.2 / 3600 / 94 * 100))
            temp = temp + max(0.0, current) * 2e-5 - (temp - 25) * 1e-4 + rng.gauss(0, 0.01)
            state[v] = [soc, current, temp, spread]
            ts = stamp(base + (v * 7) % SAMPLE_MS)
            ingest = stamp(base + (v * 7) % SAMPLE_MS + 80 + v % 50)
            cell = 3.4 + soc / 100 * 0.75 - current * 0.0009
            frames = (
                {
                    "timestamp": ts,
                    "vehicle_id": f"veh-{v + 1:05d}",
                    "can_id": "0x1F0",
                    "payload": {
                        "battery_current": round(current, 1),
                        "battery_soc": round(soc, 2),
                        "battery_voltage": round(cell * 96, 1),
                    },
                },
                {
                    "timestamp": ts,
                    "vehicle_id": f"veh-{v + 1:05d}",
                    "can_id": "0x1F1",
                    "payload": {
                        "cell_temp_max": round(temp + 1.5, 1),
                        "cell_temp_min": round(temp, 1),
                        "cell_voltage_max": round(cell + spread, 3),
                        "cell_voltage_min": round(cell, 3),
                    },
                },
            )
            for frame in frames:
                line = orjson.dumps({**frame, "ingest_received_at": ingest})
                yield line
                made += 1
                if made % DUPLICATE_EVERY == 0:
                    held.append(line)
                if len(held) > 20:  # redelivered some seconds later, stamped anew
                    old = held.pop(0)
                    yield old[:-26] + stamp(min(base + 900, 3_599_999)).encode() + b'"}'
                    made += 1
                if made >= records:
                    return
        tick += 1


def fill(store: S3ObjectStore, *, records: int, per_object: int) -> tuple[int, int]:
    """Write the hour as objects of `per_object` lines; returns (objects, bytes)."""
    prefix = HOUR.partition("raw/")
    flushed = (HOUR.start + timedelta(minutes=59)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    batch: list[bytes] = []
    count = size = 0

    def put(number: int, body: bytes, n: int) -> None:
        store.put(
            key=f"{prefix}part-{number:06d}.jsonl",
            body=body,
            metadata={"record-count": str(n), "flushed-at": flushed},
            content_type="application/x-ndjson",
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for line in lines(records):
            batch.append(line)
            if len(batch) == per_object:
                body = b"\n".join(batch) + b"\n"
                futures.append(pool.submit(put, count, body, len(batch)))
                count, size, batch = count + 1, size + len(body), []
                if len(futures) > 64:
                    futures.pop(0).result()
        if batch:
            body = b"\n".join(batch) + b"\n"
            futures.append(pool.submit(put, count, body, len(batch)))
            count, size = count + 1, size + len(body)
        for future in futures:
            future.result()
    return count, size


@dataclass
class Run:
    engine: str
    wall_s: float
    peak_rss_mb: float
    records: int
    distinct: int
    phases_s: dict[str, float] | None = None
    cgroup_peak_mb: float | None = None
    cgroup_limit_mb: float | None = None
    returncode: int = 0


def run_engine(engine: str, env: Mapping[str, str], *, memory_limit_mb: int | None = None) -> Run:
    """One engine in its own process; wall time around it, peak RSS sampled every 50 ms."""
    cgroup = _cgroup(memory_limit_mb) if memory_limit_mb else None
    command = [sys.executable, "-m", "bench.hourly_bench", "job", engine]
    began = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        preexec_fn=(lambda: _join(cgroup)) if cgroup else None,  # noqa: PLW1509 - joins before the job allocates
    )
    peak = _sample_rss(child.pid, until=child)
    out, _ = child.communicate()
    wall = time.perf_counter() - began
    figures = json.loads(out or b"{}") if child.returncode == 0 else {}
    run = Run(
        engine=engine,
        wall_s=wall,
        peak_rss_mb=peak,
        records=int(figures.get("records", 0)),
        distinct=int(figures.get("distinct", 0)),
        phases_s=figures.get("phases_s"),
        returncode=child.returncode,
    )
    if cgroup is not None:
        run.cgroup_peak_mb = int((cgroup / "memory.max_usage_in_bytes").read_text()) / 2**20
        run.cgroup_limit_mb = int((cgroup / "memory.limit_in_bytes").read_text()) / 2**20
        _remove(cgroup)
    return run


def _sample_rss(pid: int, *, until: subprocess.Popen[bytes]) -> float:
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        job = psutil.Process(pid)
        while not stop.is_set():
            try:
                rss = job.memory_info().rss
                children = job.children(recursive=True)
            except psutil.Error:
                break  # the job has exited
            for child in children:  # the rules' processes come and go
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    continue
            peak = max(peak, rss / 2**20)
            stop.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    until.wait()
    stop.set()
    thread.join()
    return peak


def _cgroup(limit_mb: int) -> Path | None:
    """A memory cgroup with `limit_mb` (and no swap beyond it), or None where it cannot be made."""
    path = CGROUP_ROOT / f"hourly-bench-{os.getpid()}"
    try:
        path.mkdir()
        (path / "memory.limit_in_bytes").write_text(str(limit_mb * 2**20))
        swap = path / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(limit_mb * 2**20))
    except OSError as exc:
        print(f"no memory cgroup here ({exc}): the limit is NOT enforced", file=sys.stderr)
        return None
    return path


def _remove(cgroup: Path) -> None:
    """Remove the cgroup once its last process is gone (multiprocessing's helpers outlive the job briefly)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cgroup.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                print(f"note: {cgroup} still busy; remove it by hand", file=sys.stderr)
                return
            time.sleep(0.5)


def _join(cgroup: Path) -> None:
    (cgroup / "cgroup.procs").write_text(str(os.getpid()))


def job(engine: str) -> dict[str, Any]:
    """The child: one engine over the hour, through the S3 the environment names."""
    from app.aggregator import aggregate_hour
    from app.observability import InMemoryMetrics

    settings = load_settings()
    store = S3ObjectStore(s3_client(settings), settings.bucket)
    if engine == "columnar":
        logged: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("app.aggregator").addHandler(handler)
        logging.getLogger("app.aggregator").setLevel(logging.INFO)
        result = aggregate_hour(
            store=store, settings=settings, hour=HOUR, metrics=InMemoryMetrics(keep=False)
        )
        summary = next(line for line in logged if line.startswith("event=aggregate "))
        fields = dict(part.split("=", 1) for part in summary.split()[1:])
        # the log's read_ms=... in milliseconds; here seconds, named by phase
        phases = {k: float(fields[f"{k}_ms"]) / 1000 for k in ("read", "engine", "rules", "write")}
        return {"records": result.fleet.records, "distinct": result.fleet.distinct, "phases_s": phases}
    from app.aggregator.reference import HourAccumulator

    accumulator = HourAccumulator()
    for key in store.keys(HOUR.partition(settings.raw_prefix)):
        stored = store.get(key)
        flushed = round(datetime.fromisoformat(stored.metadata["flushed-at"]).timestamp() * 1000)
        for line in stored.body.split(b"\n"):
            if line:
                accumulator.add_line(line, flushed_at_ms=flushed)
    fleet = accumulator.fleet(objects=0, unreadable_objects=0)
    return {"records": fleet.records, "distinct": fleet.distinct}


def query_seconds(env: Mapping[str, str]) -> dict[str, float]:
    """The same question of curated and of raw, end to end (S3 fetch included), in this process."""
    from app.query import run_query

    os.environ.update(env)
    settings = load_settings()
    store = S3ObjectStore(s3_client(settings), settings.bucket)
    times: dict[str, float] = {}
    answers = {}
    for table, sql in (("curated", QUERY_CURATED), ("raw", QUERY_RAW)):
        began = time.perf_counter()
        _, rows = run_query(sql, store=store, settings=settings, hours=[HOUR])
        times[table] = time.perf_counter() - began
        answers[table] = sorted(rows)
    if answers["curated"] != answers["raw"]:
        raise RuntimeError("curated and raw disagree on the benchmark question")
    return times


def curated_bytes(env: Mapping[str, str]) -> int:
    settings = load_settings(**{})
    s3 = s3_client(settings)
    key = f"{HOUR.partition(settings.curated_prefix)}records.parquet"
    return int(s3.head_object(Bucket=settings.bucket, Key=key)["ContentLength"])


def measure(
    workdir: Path,
    *,
    records: int,
    per_object: int,
    memory_limit_mb: int | None,
    reference: bool,
    task_memory_mb: int = 1024,
) -> dict[str, Any]:
    """Generate the hour into moto server, run the engines and the queries; every figure in a dict.

    The job is configured as infra/ configures it for a task of `task_memory_mb`: DuckDB gets half
    (TELEMETRY_HOURLY_MEMORY_MB), unless the environment already sets it.
    """
    with PipelineStack(workdir) as stack:
        env = stack.start_aws()
        os.environ.update(env)
        settings = load_settings()
        store = S3ObjectStore(s3_client(settings), settings.bucket)
        began = time.perf_counter()
        objects, raw_bytes = fill(store, records=records, per_object=per_object)
        generated_s = time.perf_counter() - began
        duckdb_mb = int(os.environ.get("TELEMETRY_HOURLY_MEMORY_MB", task_memory_mb // 2))
        job_env = {**env, "TELEMETRY_HOURLY_MEMORY_MB": str(duckdb_mb)}
        runs = [run_engine("columnar", job_env, memory_limit_mb=memory_limit_mb)]
        if reference:
            runs.append(run_engine("reference", env))
        parquet_bytes = curated_bytes(env) if runs[0].returncode == 0 else 0
        queries = query_seconds(env) if reference else {}
    new = runs[0]
    figures: dict[str, Any] = {
        "records": records,
        "objects": objects,
        "records_per_object": per_object,
        "raw_bytes": raw_bytes,
        "curated_bytes": parquet_bytes,
        "size_ratio": raw_bytes / parquet_bytes if parquet_bytes else 0.0,
        "generated_s": generated_s,
        "runs": [asdict(r) for r in runs],
        "memory_limit_mb": memory_limit_mb,
        "task_memory_mb": task_memory_mb,
        "duckdb_memory_mb": duckdb_mb,
        "queries_s": queries,
    }
    if reference:
        old = runs[1]
        figures["speedup"] = old.wall_s / new.wall_s
        figures["reference_wall_s"] = old.wall_s
        rules_s = (new.phases_s or {}).get("rules", 0.0)
        figures["speedup_without_rules"] = old.wall_s / max(1e-9, new.wall_s - rules_s)
        figures["query_speedup"] = queries["raw"] / queries["curated"]
        figures["same_counts"] = (old.records, old.distinct) == (new.records, new.distinct)
    return figures


def table(f: Mapping[str, Any]) -> str:
    runs = {r["engine"]: r for r in f["runs"]}
    new = runs["columnar"]
    rows = [
        f"hourly job, one hour of {f['records']:,} records in {f['objects']:,} objects "
        f"({f['raw_bytes'] / 2**20:,.0f} MB of JSON Lines) in moto S3",
        f"  columnar (DuckDB)  {new['wall_s']:7.1f} s   peak RSS {new['peak_rss_mb']:6.0f} MB"
        + ("" if new["returncode"] == 0 else f"   FAILED (exit {new['returncode']})")
        + (
            "   (read {read:.1f} s, engine {engine:.1f} s, rules {rules:.1f} s, write {write:.1f} s)".format(
                **new["phases_s"]
            )
            if new.get("phases_s")
            else ""
        ),
    ]
    if new.get("cgroup_limit_mb"):
        rows.append(
            f"  under a {new['cgroup_limit_mb']:,.0f} MB cgroup limit: high-water mark {new['cgroup_peak_mb']:,.0f} MB"
        )
    if "reference" in runs:
        old = runs["reference"]
        rows += [
            f"  reference (Python) {old['wall_s']:7.1f} s   peak RSS {old['peak_rss_mb']:6.0f} MB",
            f"  speed-up {f['speedup']:.1f}x (target >= {TARGETS['speedup']:.0f}x), {f['speedup_without_rules']:.1f}x for "
            f"the same work (without the rules, which the reference does not run); same counts: {f['same_counts']}",
            f"  curated Parquet {f['curated_bytes'] / 2**20:,.1f} MB: {f['size_ratio']:.0f}x smaller than the JSON Lines "
            f"(target >= {TARGETS['size_ratio']:.0f}x)",
            f"  per-vehicle max over curated {f['queries_s']['curated']:.2f} s vs raw {f['queries_s']['raw']:.2f} s: "
            f"{f['query_speedup']:.0f}x (target >= {TARGETS['query_speedup']:.0f}x; S3 fetch included)",
        ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hourly_bench", description=__doc__)
    sub = parser.add_subparsers(dest="mode")
    child = sub.add_parser("job", help="(internal) run one engine over the hour and print its counts")
    child.add_argument("engine", choices=("columnar", "reference"))
    parser.add_argument("--records", type=int, default=3_600_000)
    parser.add_argument("--per-object", type=int, default=1_000)
    parser.add_argument("--memory-limit-mb", type=int, default=None)
    parser.add_argument(
        "--task-memory-mb",
        type=int,
        default=1024,
        help="the task size the job is configured for: DuckDB gets half, as infra/ sets it (default 1024)",
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("out/bench-hourly.json"))
    args = parser.parse_args(argv)
    if args.mode == "job":
        print(json.dumps(job(args.engine)))
        return 0
    figures = measure(
        Path("out/bench/hourly-run"),
        records=args.records,
        per_object=args.per_object,
        memory_limit_mb=args.memory_limit_mb,
        task_memory_mb=args.task_memory_mb,
        reference=not args.skip_reference,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(table(figures))
    return 0 if all(r["returncode"] == 0 for r in figures["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
