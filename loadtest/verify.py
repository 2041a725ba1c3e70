"""Check a load-test run against S3: every accepted record is there, and how fast it got there.

`python -m loadtest.verify --run-dir out/loadtest/<run>` reads the identities the load generator
saw accepted (202) and the run's time window from `run.json`, then reads back the raw partitions of
those hours until every identity is found or `--wait` runs out. It exits non-zero when a record is
missing or p95 ingest-to-persist is over the budget (default 5 s, the original requirement).
Latencies come from the persisted data itself: the `flushed-at` metadata the consumer writes on
each object, minus each record's `ingest_received_at` (ingest-to-persist) or `timestamp` (end to end).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from app.aws import resolve_queue_url, s3_client, sqs_client
from app.contract import Hour, TelemetryRecord, parse_record, record_identity
from app.settings import Settings, load_settings
from loadtest.accepted import read_accepted

DEFAULT_BUDGET_MS = 5_000.0


def hour_prefixes(raw_prefix: str, since: datetime, until: datetime) -> list[str]:
    """The raw partitions an interval touches, one per UTC hour."""
    return [hour.partition(raw_prefix) for hour in Hour.covering(since, until)]


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


@dataclass
class Verification:
    accepted: int
    found: int = 0
    missing: int = 0
    duplicates: int = 0
    records_in_s3: int = 0
    objects: int = 0
    dlq_messages: int = 0
    ingest_to_persist_ms: dict[str, float] | None = None
    end_to_end_ms: dict[str, float] | None = None
    budget_ms: float = DEFAULT_BUDGET_MS
    ingest_latencies_ms: list[float] = field(default_factory=list, repr=False)
    e2e_latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def passed(self) -> bool:
        p95 = (self.ingest_to_persist_ms or {}).get("p95")
        return self.missing == 0 and self.dlq_messages == 0 and p95 is not None and p95 <= self.budget_ms

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("ingest_latencies_ms")
        out.pop("e2e_latencies_ms")
        out["passed"] = self.passed
        return out


@dataclass(frozen=True)
class StoredObject:
    """One raw object as the consumer wrote it: its JSON Lines (gunzipped) and its flush time."""

    key: str
    size: int  # bytes as stored, compressed when the key ends in .gz
    flushed_at: datetime | None
    lines: list[bytes]


class S3Reader:
    """Reads each raw object once, however often it is polled (the load test, chaos and bench)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.seen: set[str] = set()

    def new_objects(self, prefixes: Iterable[str]) -> Iterator[StoredObject]:
        for prefix in prefixes:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    if obj["Key"] in self.seen:
                        continue
                    stored = self._read(obj["Key"], obj["Size"])
                    self.seen.add(obj["Key"])  # only once read: a failed GET is tried on the next poll
                    yield stored

    def new_records(self, prefixes: Iterable[str]) -> Iterator[tuple[TelemetryRecord, datetime | None]]:
        for stored in self.new_objects(prefixes):
            for line in stored.lines:
                yield parse_record(line), stored.flushed_at

    def _read(self, key: str, size: int) -> StoredObject:
        response = self.s3.get_object(Bucket=self.bucket, Key=key)
        flushed = response.get("Metadata", {}).get("flushed-at")
        body = response["Body"].read()
        if key.endswith(".gz"):
            body = gzip.decompress(body)
        return StoredObject(
            key=key,
            size=size,
            flushed_at=datetime.fromisoformat(flushed) if flushed else None,
            lines=[line for line in body.splitlines() if line.strip()],
        )


def verify_run(
    *,
    settings: Settings,
    accepted: set[str],
    since: datetime,
    wait_seconds: float = 60.0,
    budget_ms: float = DEFAULT_BUDGET_MS,
) -> Verification:
    """Poll S3 until every accepted identity is found (or the wait runs out), then measure."""
    s3 = s3_client(settings)
    reader = S3Reader(s3, settings.bucket)
    copies: Counter[str] = Counter()
    ingest_ms: list[float] = []
    e2e_ms: list[float] = []
    result = Verification(accepted=len(accepted), budget_ms=budget_ms)
    deadline = time.monotonic() + wait_seconds
    while True:
        prefixes = hour_prefixes(settings.raw_prefix, since - timedelta(minutes=5), datetime.now(UTC))
        for record, flushed_at in reader.new_records(prefixes):
            key = record_identity(record)
            result.records_in_s3 += 1
            if key not in accepted:
                continue
            copies[key] += 1
            if copies[key] == 1 and flushed_at is not None:
                ingest_ms.append((flushed_at - record.ingest_received_at).total_seconds() * 1000)
                e2e_ms.append((flushed_at - record.timestamp).total_seconds() * 1000)
        if len(copies) >= len(accepted) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    result.objects = len(reader.seen)
    result.found = len(copies)
    result.missing = len(accepted) - len(copies)
    result.duplicates = sum(n - 1 for n in copies.values())
    result.ingest_to_persist_ms = percentiles(ingest_ms)
    result.end_to_end_ms = percentiles(e2e_ms)
    result.ingest_latencies_ms = ingest_ms
    result.e2e_latencies_ms = e2e_ms
    result.dlq_messages = dlq_depth(settings)
    return result


def dlq_depth(settings: Settings) -> int:
    sqs = sqs_client(settings)
    url = resolve_queue_url(sqs, url=settings.dlq_url, name=settings.dlq_name)
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def write_run_meta(run_dir: Path, **meta: Any) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    if not path.exists():
        raise SystemExit(f"verify: {path} not found; pass the --run-dir of a load-test run")
    meta: dict[str, Any] = orjson.loads(path.read_bytes())
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="the load-test run's folder")
    parser.add_argument(
        "--budget-ms", type=float, default=DEFAULT_BUDGET_MS, help="p95 ingest-to-persist budget"
    )
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the last records")
    args = parser.parse_args(argv)
    meta = read_run_meta(args.run_dir)
    result = verify_run(
        settings=load_settings(),
        accepted=set(read_accepted(args.run_dir)),
        since=datetime.fromisoformat(meta["started_at"]),
        wait_seconds=args.wait,
        budget_ms=args.budget_ms,
    )
    summary = result.summary()
    (args.run_dir / "verify.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(summary).decode())
    if result.missing:
        print(f"verify: FAILED: {result.missing} accepted records are missing from S3", file=sys.stderr)
    elif not result.passed:
        print(
            f"verify: FAILED: p95 ingest-to-persist over {args.budget_ms:.0f} ms or DLQ not empty",
            file=sys.stderr,
        )
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
