"""Reading the pipeline back after an attack: the bucket record by record, the queue and the DLQ.

`settle()` polls until every acknowledged record is in S3 and the queue is empty (the backlog has
drained, so the duplicate count is final), or its time runs out, and returns a `Tally`:

- lost: acknowledged (202) and not in S3. Must be 0.
- duplicates: stored copies beyond the first, of any record (client retries, redeliveries).
- unacknowledged_in_s3: good records stored although their client never saw a 202 (a request cut
  or answered 503 after SQS had taken part of it); allowed by at-least-once, the client retried.
- foreign: stored lines that fail contract v1, or valid records no good client ever sent (a
  hostile request that got through). Must be 0.
- dlq: messages in the dead-letter queue; each scenario says how many it put there.

Every client here talks to the moto server directly, never through a scenario's fault proxy.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from app.contract import parse_record, record_identity
from chaos.traffic import Ledger
from loadtest.verify import S3Reader

SETTLE_POLL_SECONDS = 1.0


class AwsView:
    """boto3 clients on the stack's moto server, built from the variables `telemetry local-aws` printed."""

    def __init__(self, env: Mapping[str, str]) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": env["AWS_ENDPOINT_URL"],
            "region_name": env["AWS_REGION"],
            "aws_access_key_id": env.get("AWS_ACCESS_KEY_ID", "testing"),
            "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }
        self.sqs: Any = boto3.client("sqs", **kwargs)
        self.s3: Any = boto3.client("s3", **kwargs)
        self.queue_url = env["TELEMETRY_QUEUE_URL"]
        self.dlq_url = env["TELEMETRY_DLQ_URL"]
        self.bucket = env["TELEMETRY_BUCKET"]

    def depth(self, url: str) -> int:
        """Visible plus in-flight messages of a queue."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def queue_depth(self) -> int:
        return self.depth(self.queue_url)

    def dlq_depth(self) -> int:
        return self.depth(self.dlq_url)

    def send(self, body: str) -> str:
        """Put a message straight into the main queue (what a broken producer would do)."""
        return str(self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"])

    def dlq_bodies(self) -> list[str]:
        """Peek at every DLQ message: receive them all, then make them visible again at once."""
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(20):
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            seen.update({m["MessageId"]: m for m in messages})
        if seen:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(seen.values())
            ]
            for start in range(0, len(entries), 10):
                self.sqs.change_message_visibility_batch(
                    QueueUrl=self.dlq_url, Entries=entries[start : start + 10]
                )
        return [m["Body"] for m in seen.values()]


@dataclass
class Tally:
    """What the bucket and the queues say after one scenario (see the module docstring)."""

    acknowledged: int = 0
    in_s3: int = 0
    lost: int = 0
    duplicates: int = 0
    unacknowledged_in_s3: int = 0
    foreign: int = 0
    stored_records: int = 0
    objects: int = 0
    dlq: int = 0
    queue_left: int = 0
    settle_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BucketReader:
    """Reads each raw object once however often it is polled; counts copies per identity."""

    def __init__(self, view: AwsView, *, prefix: str = "raw/") -> None:
        self._objects = S3Reader(view.s3, view.bucket)
        self._prefix = prefix
        self.copies: Counter[str] = Counter()
        self.invalid_lines = 0
        self.stored_records = 0

    @property
    def seen(self) -> set[str]:
        return self._objects.seen

    def poll(self) -> None:
        for stored in self._objects.new_objects([self._prefix]):
            for line in stored.lines:
                self._count(line)

    def _count(self, line: bytes) -> None:
        self.stored_records += 1
        try:
            record = parse_record(line)  # contract v1, re-validated on the way out
        except ValidationError:
            self.invalid_lines += 1
            return
        self.copies[record_identity(record)] += 1


def settle(
    view: AwsView,
    ledger: Ledger,
    *,
    timeout: float = 120.0,
    reader: BucketReader | None = None,
) -> Tally:
    """Wait (bounded) until every acknowledged record is in S3 and the queue is empty, then count."""
    reader = reader or BucketReader(view)
    started = time.monotonic()
    deadline = started + timeout
    queue_left = -1
    while True:
        reader.poll()
        with contextlib.suppress(BotoCoreError, ClientError):  # a moto hiccup: asked again next poll
            queue_left = view.queue_depth()
        if queue_left == 0 and ledger.acked <= reader.copies.keys():
            reader.poll()  # the consumer deletes only after its PUTs: every object is listed now
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(SETTLE_POLL_SECONDS)
    return tally(
        reader, ledger, dlq=view.dlq_depth(), queue_left=queue_left, seconds=time.monotonic() - started
    )


def tally(reader: BucketReader, ledger: Ledger, *, dlq: int, queue_left: int, seconds: float) -> Tally:
    """The counts of one scenario from what was read back and what the clients were told."""
    stored = set(reader.copies)
    return Tally(
        acknowledged=len(ledger.acked),
        in_s3=len(stored & ledger.offered),
        lost=len(ledger.acked - stored),
        duplicates=sum(n - 1 for n in reader.copies.values()),
        unacknowledged_in_s3=len((stored & ledger.offered) - ledger.acked),
        foreign=reader.invalid_lines + len(stored - ledger.offered),
        stored_records=reader.stored_records,
        objects=len(reader.seen),
        dlq=dlq,
        queue_left=queue_left,
        settle_seconds=round(seconds, 1),
    )
