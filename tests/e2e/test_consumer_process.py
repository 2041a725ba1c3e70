"""`telemetry consume` as a real process against moto server: SIGKILL loses nothing, SIGTERM flushes.

The queue is filled directly with boto3, in the receiver's format (JSON Lines of canonical records,
packed); every record carries a unique `seq`, so reading the bucket back proves what landed and
counts what landed twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from loadtest.stack import PipelineStack
from tests.support.consumer import wait_until
from tests.support.records import packed_bodies, seqs_of

#: Short visibility so messages a killed consumer held come back within seconds.
CONSUMER_ENV = {
    "TELEMETRY_VISIBILITY_TIMEOUT_SECONDS": "5",
    "TELEMETRY_RECEIVE_WAIT_SECONDS": "1",
    "TELEMETRY_CONSUMER_POLLERS": "2",
    "TELEMETRY_METRICS_ENABLED": "false",
}


class Aws:
    def __init__(self, env: dict[str, str]) -> None:
        kwargs = {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": env["AWS_REGION"]}
        self.sqs: Any = boto3.client("sqs", **kwargs)
        self.s3: Any = boto3.client("s3", **kwargs)
        self.queue_url = env["TELEMETRY_QUEUE_URL"]
        self.bucket = env["TELEMETRY_BUCKET"]

    def send(self, text: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)

    def counts(self) -> tuple[int, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def keys(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="raw/")
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def seq_counts(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for key in self.keys():
            counts.update(seqs_of(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()))
        return counts


@pytest.mark.e2e
def test_sigkill_mid_stream_then_restart_loses_no_record(
    tmp_path: Path, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    seqs = list(range(12_000))
    bodies = packed_bodies(seqs, per_message=200)
    with PipelineStack(tmp_path) as stack:
        aws = Aws(stack.start_aws())
        sent = threading.Event()

        def produce() -> None:  # a steady stream over ~6 s, so the kill lands mid-stream
            for text in bodies:
                aws.send(text)
                time.sleep(6.0 / len(bodies))
            sent.set()

        producer = threading.Thread(target=produce, daemon=True)
        first = stack.start_consumer(**CONSUMER_ENV)
        assert wait_until(lambda: "event=consumer_started" in first.log(), timeout=30), first.log()[-2000:]
        producer.start()
        assert wait_until(lambda: len(aws.keys()) >= 2, timeout=30), first.log()[-2000:]
        first.kill()
        killed_while_streaming = not sent.is_set()
        landed_before = sum(aws.seq_counts().values())

        second = stack.start_consumer(**CONSUMER_ENV)
        producer.join(30)
        assert wait_until(lambda: set(aws.seq_counts()) == set(seqs), timeout=60), second.log()[-2000:]
        assert wait_until(lambda: aws.counts() == (0, 0), timeout=20)
        assert second.stop() == 0
        counts = aws.seq_counts()

    assert killed_while_streaming and 0 < landed_before < len(seqs)
    assert set(counts) == set(seqs)  # every record is in S3
    duplicates = sum(counts.values()) - len(seqs)
    record_property("duplicates", duplicates)
    with capsys.disabled():
        print(
            f"\nSIGKILL mid-stream: {landed_before} records landed before the kill, {duplicates} duplicates after restart"
        )
    assert "event=write_batch" in second.log()


@pytest.mark.e2e
def test_sigterm_mid_batch_flushes_deletes_and_exits_0(tmp_path: Path) -> None:
    bodies = packed_bodies(list(range(2_000)), per_message=200)
    with PipelineStack(tmp_path) as stack:
        aws = Aws(stack.start_aws())
        for text in bodies:
            aws.send(text)
        consumer = stack.start_consumer(
            **{
                **CONSUMER_ENV,
                "TELEMETRY_VISIBILITY_TIMEOUT_SECONDS": "60",
                "TELEMETRY_FLUSH_MAX_AGE_SECONDS": "600",  # nothing flushes on its own
                "TELEMETRY_FLUSH_MAX_RECORDS": "1000000",
            }
        )
        assert wait_until(lambda: aws.counts() == (0, len(bodies)), timeout=30), consumer.log()[-2000:]
        assert aws.keys() == []
        started = time.monotonic()
        code = consumer.stop(timeout=35)
        stopped_in = time.monotonic() - started
        counts = aws.seq_counts()
        remaining = aws.counts()
    assert code == 0 and stopped_in < 30
    assert sorted(counts) == list(range(2_000)) and set(counts.values()) == {1}
    assert remaining == (0, 0)
    assert "reason=shutdown" in consumer.log()
