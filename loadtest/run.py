"""`make loadtest`: Locust replaying the simulator, then a zero-loss check against S3.

Without `--target` it starts the whole pipeline locally (embedded AWS, receiver, consumer as real
processes on loopback); with `--target https://ingest.example --api-key ...` it loads a deployed
ALB and verifies against the bucket that the environment's AWS credentials and `TELEMETRY_BUCKET`
point at. Exit code 0 only when every accepted record is in S3, the DLQ is empty and p95
ingest-to-persist is within the budget.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from app.settings import load_settings
from loadtest.accepted import read_accepted
from loadtest.stack import PipelineStack
from loadtest.verify import DEFAULT_BUDGET_MS, Verification, verify_run, write_run_meta

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class LoadOptions:
    users: int = 50
    messages: int = 10_000
    mode: str = "single"
    seed: int = 42
    budget_ms: float = DEFAULT_BUDGET_MS
    max_minutes: int = 10
    drain_wait_seconds: float = 120.0


@dataclass
class LoadResult:
    run_dir: Path
    verification: Verification
    locust_seconds: float
    locust_exit: int

    @property
    def passed(self) -> bool:
        return self.verification.passed and self.verification.accepted >= 1


def run_locust(*, host: str, api_key: str, run_dir: Path, options: LoadOptions) -> tuple[int, float]:
    """Locust headless in its own process; returns its exit code and wall time."""
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", host, "--users", str(options.users), "--spawn-rate", str(options.users),
        "--run-time", f"{options.max_minutes}m", "--stop-timeout", "10",
        "--html", str(run_dir / "locust.html"), "--csv", str(run_dir / "locust"),
        "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
        "--messages", str(options.messages), "--mode", options.mode, "--seed", str(options.seed),
        "--run-dir", str(run_dir),
    ]  # fmt: skip
    env = {**os.environ, "TELEMETRY_LOADTEST_API_KEY": api_key}
    started = time.monotonic()
    code = subprocess.call(cmd, env=env, stdin=subprocess.DEVNULL)
    return code, time.monotonic() - started


def run_against(host: str, *, api_key: str, run_dir: Path, options: LoadOptions) -> LoadResult:
    """Load `host`, then verify with Settings from this process's environment."""
    run_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    write_run_meta(run_dir, started_at=started_at.isoformat(), host=host, **options.__dict__)
    code, seconds = run_locust(host=host, api_key=api_key, run_dir=run_dir, options=options)
    accepted = set(read_accepted(run_dir))
    verification = verify_run(
        settings=load_settings(),
        accepted=accepted,
        since=started_at,
        wait_seconds=options.drain_wait_seconds,
        budget_ms=options.budget_ms,
    )
    summary: dict[str, Any] = {"locust_seconds": round(seconds, 1), **verification.summary()}
    (run_dir / "verify.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return LoadResult(run_dir=run_dir, verification=verification, locust_seconds=seconds, locust_exit=code)


def run_local(run_dir: Path, options: LoadOptions, **receiver_env: str) -> LoadResult:
    """The same run against the pipeline started here as real processes."""
    with PipelineStack(run_dir / "processes") as stack:
        aws_env = stack.start_aws()
        os.environ.update(aws_env)
        url = stack.start_receiver(**receiver_env)
        stack.start_consumer()
        return run_against(url, api_key=stack.api_key, run_dir=run_dir, options=options)


def print_result(result: LoadResult) -> None:
    v = result.verification
    rate = v.accepted / result.locust_seconds if result.locust_seconds else 0.0
    print(
        f"accepted by the receiver : {v.accepted:,} records in {result.locust_seconds:.1f} s ({rate:,.0f}/s)"
    )
    print(f"distinct found in S3     : {v.found:,} (missing {v.missing:,}, duplicates {v.duplicates:,})")
    print(f"DLQ messages             : {v.dlq_messages}")
    for name, figures in (("ingest-to-persist", v.ingest_to_persist_ms), ("end-to-end", v.end_to_end_ms)):
        if figures:
            print(
                f"{name:<25}: p50 {figures['p50']:.0f} ms  p95 {figures['p95']:.0f} ms  p99 {figures['p99']:.0f} ms"
            )
    print(
        f"verdict                  : {'PASS' if result.passed else 'FAIL'} (p95 budget {v.budget_ms:.0f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.run", description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="receiver base URL (default: start the pipeline locally)")
    parser.add_argument("--api-key", default=os.environ.get("TELEMETRY_LOADTEST_API_KEY"), help="X-API-Key")
    parser.add_argument("--users", type=int, default=LoadOptions.users, help="simulated vehicles")
    parser.add_argument("--messages", type=int, default=LoadOptions.messages, help="records to get accepted")
    parser.add_argument("--mode", choices=["single", "batch"], default=LoadOptions.mode)
    parser.add_argument("--budget-ms", type=float, default=LoadOptions.budget_ms)
    parser.add_argument("--out", type=Path, default=Path("out/loadtest"), help="run folder")
    args = parser.parse_args(argv)
    options = LoadOptions(users=args.users, messages=args.messages, mode=args.mode, budget_ms=args.budget_ms)
    run_dir = args.out / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.target:
        if not args.api_key:
            parser.error("--api-key (or TELEMETRY_LOADTEST_API_KEY) is required with --target")
        result = run_against(args.target, api_key=args.api_key, run_dir=run_dir, options=options)
    else:
        result = run_local(run_dir, options)
    print_result(result)
    print(f"reports in {run_dir}/ (locust.html, verify.json)")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
