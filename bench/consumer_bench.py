"""Consumer drain rate from a pre-filled queue, and what it costs in AWS requests per 1,000 records.

The queue is filled the way the receiver fills it (canonical JSON Lines packed up to 64 KiB per
message, one SQS billing chunk), on the embedded AWS stack started as its own process, as in
`make demo`. Then the consumer, in this process with its default settings (4 pollers, 2 writers,
flush at 100 records / 5 MB / 2 s), drains it; the clock runs from start to the last delete. Every
API call of its two boto3 clients is counted by botocore's `before-call` event, so the request
figures are counted, not estimated. The bucket is read back at the end: a figure for records that
are not all there would be worthless. moto is the server, so the rate is a floor for the
consumer's own cost rather than a forecast for AWS.

moto's ReceiveMessage costs time in proportion to the messages in the queue for every message it
returns (it recomputes the queue's attributes), so the drain rate falls as the backlog deepens:
it is measured at two depths, and the consumer's own CPU per record is measured beside it, which
is the figure that carries over to AWS. A last, small run sends one record per message, the
unpacked baseline that packing replaces. Exit status 1 when a record is missing from the bucket or
the consumer's own CPU would not sustain the 10,000 records/s target on one core.

    python -m bench.consumer_bench [--records 20000,100000] [--baseline-records 500]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
import psutil

from app.aws import s3_client, sqs_client
from app.consumer.ports import SqsQueue
from app.consumer.service import Consumer
from app.contract import TelemetryIn
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.settings import Settings, load_settings
from loadtest.stack import PipelineStack

TARGET_RECORDS_PER_S: Final = 10_000
#: A shallow backlog (~100 messages) and a deep one (~480): moto's cost per message grows with depth.
DEFAULT_DEPTHS: Final = [20_000, 100_000]
#: moto busier than this share of a core while draining is what sets the pace, not the consumer.
MOTO_BOUND_SHARE: Final = 0.8
MESSAGE_MAX_BYTES: Final = 65_536
SEND_BATCH_BYTES: Final = 240 * 1024


@dataclass(frozen=True)
class DrainResult:
    records: int
    messages: int
    seconds: float
    calls: Counter[str]
    objects: int
    stored_records: int
    duplicates: int
    consumer_cpu_s: float
    moto_cpu_s: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds

    def per_1k(self, *operations: str) -> float:
        return sum(self.calls[op] for op in operations) * 1000 / self.records


def _lines(count: int, *, start: int) -> Iterator[bytes]:
    """Canonical lines like the receiver's, each with a unique `seq` to check the bucket against."""
    now = datetime.now(UTC)
    template = TelemetryIn.model_validate(
        {
            "timestamp": now - timedelta(milliseconds=200),
            "vehicle_id": "veh-00000",
            "can_id": "0x1F0",
            "payload": {
                "battery_current": -15.3,
                "battery_soc": 85.5,
                "battery_voltage": 400.2,
                "cell_temp_max": 31.2,
                "cell_temp_min": 28.5,
                "cell_voltage_max": 3.67,
                "cell_voltage_min": 3.45,
                "seq": 0,
            },
        }
    )
    for seq in range(start, start + count):
        record = template.model_copy(
            update={"vehicle_id": f"veh-{seq % 1000:05d}", "payload": {**template.payload, "seq": seq}}
        )
        yield record.stamp(now).to_json()


def _bodies(count: int, *, per_message: int | None, max_bytes: int = MESSAGE_MAX_BYTES) -> Iterator[str]:
    """Pack lines up to 64 KiB (or `per_message` lines) per body, joined by newlines."""
    lines: list[bytes] = []
    size = 0
    for line in _lines(count, start=0):
        full = per_message is not None and len(lines) >= per_message
        if lines and (full or size + len(line) + 1 > max_bytes):
            yield b"\n".join(lines).decode()
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
    if lines:
        yield b"\n".join(lines).decode()


def _fill(sqs: Any, queue_url: str, bodies: Iterator[str]) -> int:
    """SendMessageBatch in chunks under the batch payload cap, four calls at once."""
    chunks: list[list[str]] = [[]]
    size = 0
    for text in bodies:
        if chunks[-1] and (len(chunks[-1]) == 10 or size + len(text) > SEND_BATCH_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(text)
        size += len(text)

    def send(chunk: list[str]) -> int:
        entries = [{"Id": str(i), "MessageBody": text} for i, text in enumerate(chunk)]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"prefill failed: {response['Failed'][:1]}")
        return len(chunk)

    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(send, chunks))


def _count_calls(client: Any, calls: Counter[str]) -> None:
    def count(**kwargs: Any) -> None:
        calls[kwargs["model"].name] += 1

    client.meta.events.register("before-call.*.*", count)


def _stored(settings: Settings) -> tuple[int, int, int]:
    """(objects, records, duplicate records) under the raw prefix, from the object bodies."""
    s3 = s3_client(settings)
    seqs: Counter[int] = Counter()
    objects = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.bucket, Prefix=settings.raw_prefix
    ):
        for item in page.get("Contents", []):
            objects += 1
            body = s3.get_object(Bucket=settings.bucket, Key=item["Key"])["Body"].read()
            seqs.update(int(orjson.loads(line)["payload"]["seq"]) for line in body.splitlines())
    return objects, len(seqs), sum(seqs.values()) - len(seqs)


def drain(
    workdir: Path, *, records: int, per_message: int | None, max_bytes: int = MESSAGE_MAX_BYTES
) -> DrainResult:
    """Fill a fresh embedded stack with `records`, then time the consumer draining it."""
    with PipelineStack(workdir) as stack:
        env = stack.start_aws()
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto takes any; boto3 must sign
            os.environ.setdefault(key, env.get(key, "testing"))
        settings = load_settings(
            aws_endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_region=env["AWS_REGION"],
            queue_url=env["TELEMETRY_QUEUE_URL"],
            dlq_url=env["TELEMETRY_DLQ_URL"],
            bucket=env["TELEMETRY_BUCKET"],
            metrics_enabled=False,
            # The figures are taken before shutdown; waiting out the idle 20 s long polls adds nothing.
            shutdown_timeout_seconds=1.0,
        )
        assert settings.queue_url is not None
        messages = _fill(
            sqs_client(settings),
            settings.queue_url,
            _bodies(records, per_message=per_message, max_bytes=max_bytes),
        )

        calls: Counter[str] = Counter()
        sqs = sqs_client(settings, pool_size=settings.consumer_pollers + settings.consumer_writers + 2)
        s3 = s3_client(settings, pool_size=settings.consumer_writers + 1)
        _count_calls(sqs, calls)
        _count_calls(s3, calls)
        consumer = Consumer(
            settings=settings,
            queue=SqsQueue(sqs, settings.queue_url),
            store=S3ObjectStore(s3, settings.bucket),
            metrics=InMemoryMetrics(keep=False),
        )
        moto = _moto_process()
        moto_cpu = _cpu(moto)
        cpu = time.process_time()
        started = time.perf_counter()
        consumer.start()
        try:
            while consumer.stats().messages_deleted < messages:
                time.sleep(0.005)
            seconds = time.perf_counter() - started
            consumer_cpu = time.process_time() - cpu  # this process runs only the consumer meanwhile
            moto_cpu = _cpu(moto) - moto_cpu
            counted = Counter(calls)  # the calls up to the last delete, not the idle polls after it
        finally:
            consumer.shutdown()
        objects, stored, duplicates = _stored(settings)
    return DrainResult(
        records, messages, seconds, counted, objects, stored, duplicates, consumer_cpu, moto_cpu
    )


def _moto_process() -> psutil.Process:
    """The `telemetry local-aws` child (moto server), to see how much of the drain time is moto's."""
    for child in psutil.Process().children(recursive=True):
        if "local-aws" in child.cmdline():
            return child
    raise RuntimeError("the embedded AWS process is not a child of this one")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _report(label: str, result: DrainResult) -> None:
    bound = ": moto is the limit" if result.moto_cpu_s / result.seconds >= MOTO_BOUND_SHARE else ""
    sqs_ops = ("ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")
    print(
        f"consumer drain, {label}: {result.records:,} records in {result.messages:,} messages "
        f"({result.records / result.messages:,.0f} records/message) drained in {result.seconds:.2f} s "
        f"-> {result.records_per_s:,.0f} records/s"
    )
    print(
        f"  per 1,000 records: {result.per_1k('PutObject'):.2f} S3 PUTs, {result.per_1k(*sqs_ops):.2f} SQS requests "
        f"(ReceiveMessage {result.per_1k('ReceiveMessage'):.2f}, DeleteMessageBatch "
        f"{result.per_1k('DeleteMessageBatch'):.2f}, ChangeMessageVisibilityBatch "
        f"{result.per_1k('ChangeMessageVisibilityBatch'):.2f})"
    )
    print(
        f"  CPU while draining: consumer {result.consumer_cpu_s:.2f} s "
        f"({result.consumer_cpu_s * 1e6 / result.records:.0f} us/record, so one core would drain "
        f"{result.records / result.consumer_cpu_s:,.0f} records/s), moto server {result.moto_cpu_s:.2f} s "
        f"({result.moto_cpu_s / result.seconds:.0%} of a core{bound})"
    )
    print(
        f"  bucket: {result.objects} objects, {result.stored_records:,} distinct records of {result.records:,}, "
        f"{result.duplicates} duplicates"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="consumer drain rate and requests per 1,000 records")
    parser.add_argument(
        "--records",
        type=lambda text: [int(n) for n in text.split(",")],
        default=DEFAULT_DEPTHS,
        help="records pre-filled per packed run, comma-separated (default: 20000,100000)",
    )
    parser.add_argument(
        "--message-bytes",
        type=int,
        default=MESSAGE_MAX_BYTES,
        help="pack records up to this many bytes per message (default 65536, the receiver's)",
    )
    parser.add_argument(
        "--baseline-records",
        type=int,
        default=500,
        help="records in the 1-record-per-message run (0: skip)",
    )
    args = parser.parse_args(argv)
    # Pollers abandoned at shutdown warn once the stack is gone; only errors matter here.
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="consumer-bench-") as tmp:
        packed = [
            drain(Path(tmp) / f"packed-{n}", records=n, per_message=None, max_bytes=args.message_bytes)
            for n in args.records
        ]
        baseline = (
            drain(Path(tmp) / "baseline", records=args.baseline_records, per_message=1)
            if args.baseline_records
            else None
        )
    for result in packed:
        _report(f"packed (up to {args.message_bytes:,} bytes per message)", result)
        verdict = "ok" if result.records_per_s >= TARGET_RECORDS_PER_S else "BELOW TARGET"
        print(
            f"  {result.records_per_s / TARGET_RECORDS_PER_S:.1f}x the {TARGET_RECORDS_PER_S:,} records/s target: {verdict}"
        )
    if baseline is not None:
        _report("baseline (1 record per message)", baseline)
        requests = ("ReceiveMessage", "DeleteMessageBatch")
        print(
            f"  packing: {packed[0].records_per_s / baseline.records_per_s:,.0f}x the drain rate, "
            f"{baseline.per_1k(*requests) / max(packed[0].per_1k(*requests), 1e-9):,.0f}x fewer SQS requests per record"
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    capacity = min(r.records / r.consumer_cpu_s for r in packed)
    print(
        f"consumer: {', '.join(f'{r.records_per_s:,.0f}' for r in packed)} records/s drained at "
        f"{', '.join(f'{r.messages}' for r in packed)} queued messages (target {TARGET_RECORDS_PER_S:,}); "
        f"its own CPU allows {capacity:,.0f} records/s per core; peak RSS of the bench process "
        f"(consumer, prefill and read-back) {rss_mb:.0f} MB"
    )
    runs = [*packed, *([baseline] if baseline else [])]
    if any(r.stored_records != r.records for r in runs):
        print("consumer: RECORDS MISSING from the bucket; the figures above do not count")
        return 1
    return 0 if capacity >= TARGET_RECORDS_PER_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
