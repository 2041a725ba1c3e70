#!/usr/bin/env python3
"""Post-deploy smoke test: POST one record to the receiver, then wait until it is in S3.

    SMOKE_API_KEY=... python3 scripts/smoke.py --ingest-url URL --bucket BUCKET

URL and BUCKET are the main module's outputs `ingest_url` and `bucket_name` (terraform output).

deploy.yml runs it after the ECS services are stable; anyone can run it by hand against a
deployment (README, "Deploying"; docs/operations.md). It passes only when the whole path worked:
receiver (auth, validation, SQS publish), consumer (receive, flush, PUT) and the S3 layout.

- The API key comes from the environment (SMOKE_API_KEY), never from the command line.
- AWS access is the usual boto3 chain (the deploy role in CI); AWS_ENDPOINT_URL is honoured, which
  is how `make test` runs this script against the embedded AWS stack.
- The record's vehicle_id starts with `smoke-`: the prefix is how smoke records are told from fleet
  data, and what the aggregates skip (docs/operations.md, "Smoke test by hand"); keep it.
- The key is the smoke test's own (TELEMETRY_SMOKE_API_KEYS on the receiver, secret
  `smoke_api_key_secret_arn`), never one of the fleet's: the deploy role may not read those.
- Exit 0 when the record was found; 1, with a `::error::` line GitHub Actions shows as an annotation,
  when the receiver refused it or it did not reach S3 in time; 2 on bad usage.
Only the standard library and boto3 are needed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

#: S3 LastModified has a one-second resolution and clocks drift a little.
CLOCK_SLACK = timedelta(seconds=30)


def _log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def _fail(message: str) -> int:
    print(f"::error title=smoke test failed::{message}", file=sys.stderr, flush=True)
    return 1


def make_record(run_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "timestamp": f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z",
        "vehicle_id": f"smoke-{run_id}",
        "can_id": "0x1F0",
        "payload": {"battery_soc": 50.0, "battery_voltage": 400.0, "battery_current": 0.0},
    }


def post(url: str, api_key: str, record: dict[str, Any], *, attempts: int, timeout: float) -> tuple[int, str]:
    """POST the record; retries connection errors and 503 (the service may still be warming up)."""
    body = json.dumps(record).encode()
    status, text = 0, ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own endpoint
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-API-Key": api_key},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return int(response.status), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
            if status != 503:
                return status, text
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            status, text = 0, str(exc)
        _log(f"attempt {attempt}/{attempts} failed ({status or text}); retrying")
        time.sleep(min(2 * attempt, 10))
    return status, text


def hour_prefixes(raw_prefix: str, around: datetime) -> list[str]:
    """The hour partitions the record can be in: the receiver's clock picks the hour."""
    hours = {around - timedelta(hours=1), around, around + timedelta(hours=1)}
    return [f"{raw_prefix}year={h:%Y}/month={h:%m}/day={h:%d}/hour={h:%H}/" for h in sorted(hours)]


def find(
    s3: Any, *, bucket: str, prefixes: list[str], needle: bytes, since: datetime, seen: set[str]
) -> str | None:
    """The key of an object written since `since` that contains `needle`, if any."""
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key in seen or item["LastModified"] < since:
                    continue
                seen.add(key)
                data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if key.endswith(".gz"):
                    data = gzip.decompress(data)
                if needle in data:
                    return str(key)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ingest-url", required=True, help="where records are POSTed, e.g. https://HOST/v1/telemetry"
    )
    parser.add_argument("--bucket", required=True, help="the pipeline's S3 bucket")
    parser.add_argument("--raw-prefix", default="raw/", help="raw data prefix (TELEMETRY_RAW_PREFIX)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the record in S3")
    parser.add_argument("--post-attempts", type=int, default=5, help="POST attempts (503, connection errors)")
    parser.add_argument(
        "--run-id", default=os.environ.get("GITHUB_RUN_ID", ""), help="tag for the vehicle_id"
    )
    args = parser.parse_args(argv)
    api_key = os.environ.get("SMOKE_API_KEY", "")
    if not api_key:
        parser.error(
            "SMOKE_API_KEY is not set (the smoke key: TELEMETRY_SMOKE_API_KEYS, secret smoke_api_key_secret_arn)"
        )

    import boto3  # after argument parsing, so --help works without it

    run_id = f"{args.run_id}-{uuid.uuid4().hex[:12]}" if args.run_id else uuid.uuid4().hex
    record = make_record(run_id)
    posted_at = datetime.now(UTC)
    status, text = post(args.ingest_url, api_key, record, attempts=args.post_attempts, timeout=10.0)
    if status != 202:
        return _fail(f"POST {args.ingest_url} answered {status or 'nothing'}: {text[:300]}")
    _log(f"posted vehicle_id={record['vehicle_id']} status=202")

    s3 = boto3.client("s3")
    needle = json.dumps(record["vehicle_id"]).encode()
    prefixes = hour_prefixes(args.raw_prefix, posted_at)
    seen: set[str] = set()
    deadline = time.monotonic() + args.timeout
    while True:
        key = find(
            s3, bucket=args.bucket, prefixes=prefixes, needle=needle, since=posted_at - CLOCK_SLACK, seen=seen
        )
        if key is not None:
            elapsed = (datetime.now(UTC) - posted_at).total_seconds()
            _log(f"found in s3://{args.bucket}/{key} after {elapsed:.1f} s")
            return 0
        if time.monotonic() >= deadline:
            return _fail(
                f"vehicle_id={record['vehicle_id']} was accepted (202) but is not under "
                f"s3://{args.bucket}/{args.raw_prefix} after {args.timeout:.0f} s; check the consumer "
                "(docs/operations.md, 'Backlog')"
            )
        time.sleep(2.0)


if __name__ == "__main__":
    sys.exit(main())
