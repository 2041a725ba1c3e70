"""A provisioned moto (in-process) queue, DLQ and bucket, and a consumer on the real boto3 seams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.aws import s3_client, sqs_client
from app.consumer.ports import SqsQueue
from app.consumer.service import Consumer
from app.embedded_aws import provision
from app.object_store import ObjectWriter, S3ObjectStore
from app.observability import InMemoryMetrics
from app.settings import Settings
from tests.conftest import SettingsFactory
from tests.support.records import seqs_of


@dataclass
class MotoPipeline:
    """What a consumer integration test needs: settings pointing at moto, clients, helpers."""

    settings: Settings
    sqs: Any
    s3: Any
    metrics: InMemoryMetrics = field(default_factory=InMemoryMetrics)

    def send(self, bodies: list[str]) -> list[str]:
        return [
            self.sqs.send_message(QueueUrl=self.settings.queue_url, MessageBody=text)["MessageId"]
            for text in bodies
        ]

    def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (the main one unless `url`)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.settings.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def dlq_size(self) -> int:
        return sum(self.counts(self.settings.dlq_url))

    def objects(self) -> dict[str, tuple[bytes, dict[str, str]]]:
        """Every raw object: key -> (body, user metadata)."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=self.settings.raw_prefix
        ):
            for item in page.get("Contents", []):
                got = self.s3.get_object(Bucket=self.settings.bucket, Key=item["Key"])
                out[item["Key"]] = (got["Body"].read(), got["Metadata"])
        return out

    def stored_seqs(self) -> list[int]:
        return sorted(s for body, _ in self.objects().values() for s in seqs_of(body))

    def consumer(self, *, store: Callable[[ObjectWriter], ObjectWriter] | None = None) -> Consumer:
        """A consumer on real SqsQueue/S3Store; `store` may wrap the S3 store to inject faults."""
        s3_store: ObjectWriter = S3ObjectStore(s3_client(self.settings), self.settings.bucket)
        assert self.settings.queue_url is not None
        return Consumer(
            settings=self.settings,
            queue=SqsQueue(sqs_client(self.settings), self.settings.queue_url),
            store=store(s3_store) if store else s3_store,
            metrics=self.metrics,
        )


PipelineFactory = Callable[..., MotoPipeline]


@pytest.fixture
def moto_pipeline(mocked_aws: None, settings_factory: SettingsFactory) -> PipelineFactory:
    """Provision queue, DLQ and bucket with these settings (short timeouts keep tests quick)."""

    def make(**overrides: Any) -> MotoPipeline:
        values: dict[str, Any] = {
            "visibility_timeout_seconds": 5,
            "receive_wait_seconds": 1,
            "consumer_pollers": 2,
            "flush_max_age_seconds": 0.3,
            "shutdown_timeout_seconds": 10,
        }
        values.update(overrides)
        base = settings_factory(**values)
        provisioned = provision(base)
        settings = base.model_copy(
            update={"queue_url": provisioned.queue_url, "dlq_url": provisioned.dlq_url}
        )
        return MotoPipeline(settings=settings, sqs=sqs_client(settings), s3=s3_client(settings))

    return make


@contextmanager
def running(consumer: Consumer) -> Iterator[Consumer]:
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.shutdown()
