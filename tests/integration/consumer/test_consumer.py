"""The consumer against moto: exactly-once landing, flush rules, hour split, PUT failures, poison."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from app.errors import PersistError
from app.object_store import ObjectWriter
from tests.integration.consumer.conftest import PipelineFactory, running
from tests.support.consumer import wait_until
from tests.support.records import body, packed_bodies, partition_of, record_line, seqs_of

HOURS = [datetime(2025, 10, 19, h, 15, tzinfo=UTC) for h in (10, 11, 12)]
FLUSHED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


class FlakyStore:
    """Wraps the S3 store; PUT number n (1-based, over the store's life) fails when `fails(n)`."""

    def __init__(self, inner: ObjectWriter, fails: object) -> None:
        self.inner, self.fails, self.calls = inner, fails, 0

    def put(self, *, key: str, body: bytes, metadata: Mapping[str, str], content_type: str) -> None:
        self.calls += 1
        if callable(self.fails) and self.fails(self.calls):
            raise PersistError(f"injected failure of PUT {self.calls}")
        self.inner.put(key=key, body=body, metadata=metadata, content_type=content_type)


def test_5000_records_land_exactly_once_in_their_hour_partitions(moto_pipeline: PipelineFactory) -> None:
    aws = moto_pipeline(consumer_pollers=4, flush_max_records=500)
    seqs = list(range(5_000))
    bodies = [
        text
        for i, hour in enumerate(HOURS)
        for text in packed_bodies(seqs[i::3], per_message=50, ingest=hour)
    ]
    aws.send(bodies)
    with running(aws.consumer()) as consumer:
        assert wait_until(lambda: consumer.stats().messages_deleted == len(bodies), timeout=60)
    objects = aws.objects()
    counts = Counter(s for data, _ in objects.values() for s in seqs_of(data))
    assert set(counts) == set(seqs) and set(counts.values()) == {1}
    for key, (data, metadata) in objects.items():
        lines = data.splitlines()
        assert {partition_of(line) for line in lines} == {key.split("part-")[0]}
        assert metadata["record-count"] == str(len(lines))
        assert FLUSHED_AT.fullmatch(metadata["flushed-at"])
    assert {key.split("/part-")[0] for key in objects} == {
        f"raw/year=2025/month=10/day=19/hour={h}" for h in ("10", "11", "12")
    }
    assert aws.counts() == (0, 0)
    assert sum(e["metrics"]["BatchRecords"] for e in aws.metrics.events) == 5_000


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ({"flush_max_records": 20, "flush_max_bytes": 5_000_000, "flush_max_age_seconds": 600}, "count"),
        ({"flush_max_records": 10**6, "flush_max_bytes": 4_096, "flush_max_age_seconds": 600}, "bytes"),
        ({"flush_max_records": 10**6, "flush_max_bytes": 5_000_000, "flush_max_age_seconds": 0.3}, "age"),
    ],
)
def test_each_flush_rule_fires_alone(
    moto_pipeline: PipelineFactory, limits: dict[str, float], reason: str
) -> None:
    aws = moto_pipeline(**limits)
    aws.send(packed_bodies(list(range(40)), per_message=10))
    with running(aws.consumer()) as consumer:
        assert wait_until(lambda: consumer.stats().batches_written >= 1)
        before_shutdown = consumer.stats().flush_reasons
    assert set(before_shutdown) == {reason}
    if reason == "bytes":
        assert all(len(data) <= 4_096 for data, _ in aws.objects().values())
    assert aws.stored_seqs() == list(range(40))  # the rest goes out at shutdown


def test_a_batch_spanning_hours_writes_one_object_per_hour(moto_pipeline: PipelineFactory) -> None:
    aws = moto_pipeline(flush_max_records=6, flush_max_age_seconds=600, consumer_pollers=1)
    ten, eleven = HOURS[0], HOURS[1]
    aws.send(
        [
            body([record_line(1, ingest=ten), record_line(2, ingest=ten)]),
            body([record_line(3, ingest=eleven), record_line(4, ingest=eleven)]),
            body([record_line(5, ingest=ten), record_line(6, ingest=eleven)]),  # a broken promise
        ]
    )
    with running(aws.consumer()) as consumer:
        assert wait_until(lambda: consumer.stats().messages_deleted == 3)
    by_hour = {key.split("/")[4]: sorted(seqs_of(data)) for key, (data, _) in aws.objects().items()}
    assert by_hour == {"hour=10": [1, 2, 5], "hour=11": [3, 4, 6]}


@pytest.mark.parametrize("failing_puts", [1, 2])
def test_put_failure_then_success_loses_nothing_and_doubles_nothing(
    moto_pipeline: PipelineFactory, failing_puts: int
) -> None:
    """One failure: the retry stores it. Two: the batch waits for redelivery (visibility 5 s)."""
    aws = moto_pipeline(flush_max_records=30, consumer_pollers=1)
    aws.send(packed_bodies(list(range(30)), per_message=10))
    store: list[FlakyStore] = []

    def flaky(inner: ObjectWriter) -> ObjectWriter:
        store.append(FlakyStore(inner, lambda n: n <= failing_puts))
        return store[0]

    with running(aws.consumer(store=flaky)) as consumer:
        assert wait_until(lambda: consumer.stats().messages_deleted == 3, timeout=20)
    assert aws.stored_seqs() == list(range(30))
    versions = aws.s3.list_object_versions(Bucket=aws.settings.bucket).get("Versions", [])
    assert len(versions) == len(aws.objects())  # no object written twice either
    assert consumer.stats().persist_failures == (failing_puts - 1)
    redelivered = sum(e["metrics"].get("MessagesRedelivered", 0) for e in aws.metrics.events)
    assert redelivered == (3 if failing_puts == 2 else 0)  # the second try is counted as redelivered
    assert aws.counts() == (0, 0)


def test_a_put_failing_every_time_sends_the_messages_to_the_dlq_and_redrive_brings_them_back(
    moto_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    aws = moto_pipeline(max_receive_count=1, flush_max_records=20, consumer_pollers=1)
    aws.send(packed_bodies(list(range(20)), per_message=10))
    with running(aws.consumer(store=lambda inner: FlakyStore(inner, lambda n: True))) as consumer:
        assert wait_until(lambda: aws.dlq_size() == 2, timeout=20)
    assert consumer.stats().messages_deleted == 0 and aws.objects() == {}

    for key, value in {
        "TELEMETRY_QUEUE_URL": aws.settings.queue_url,
        "TELEMETRY_DLQ_URL": aws.settings.dlq_url,
        "AWS_REGION": aws.settings.aws_region,
    }.items():
        monkeypatch.setenv(key, str(value))
    assert main(["redrive"]) == 0  # StartMessageMoveTask is missing in moto: the fallback copies
    assert "moved 2 messages from the DLQ to the queue (fallback)" in capsys.readouterr().out
    assert aws.dlq_size() == 0

    with running(aws.consumer()) as consumer:
        assert wait_until(lambda: consumer.stats().messages_deleted == 2)
    assert aws.stored_seqs() == list(range(20))


def test_poison_goes_to_the_dlq_without_holding_back_good_messages(
    moto_pipeline: PipelineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    aws = moto_pipeline(max_receive_count=1, flush_max_records=1)
    (poison,) = aws.send([body([record_line(1), b"{not json"])])
    aws.send(packed_bodies([2, 3, 4], per_message=1))
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    with running(aws.consumer()) as consumer:
        assert wait_until(lambda: consumer.stats().messages_deleted == 3)
        assert time.monotonic() - started < aws.settings.visibility_timeout_seconds  # not held back
        assert wait_until(lambda: aws.dlq_size() == 1, timeout=20)
    assert aws.stored_seqs() == [2, 3, 4]
    dead = aws.sqs.receive_message(QueueUrl=aws.settings.dlq_url)["Messages"]
    assert [m["MessageId"] for m in dead] == [poison]
    assert any(f"event=poison_message message_id={poison}" in r.getMessage() for r in caplog.records)
