"""`telemetry consume` and `telemetry redrive` as a user runs them, against moto in-process."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from app.cli import main
from tests.integration.consumer.conftest import MotoPipeline, PipelineFactory
from tests.support.consumer import wait_until
from tests.support.records import packed_bodies


@pytest.fixture(autouse=True)
def _keep_test_logging() -> Iterator[None]:
    """`run()` configures the root logger for a process; give pytest its handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _export(aws: MotoPipeline, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    env = {
        "AWS_REGION": aws.settings.aws_region,
        "TELEMETRY_QUEUE_URL": str(aws.settings.queue_url),
        "TELEMETRY_DLQ_URL": str(aws.settings.dlq_url),
        "TELEMETRY_BUCKET": aws.settings.bucket,
        "TELEMETRY_METRICS_ENABLED": "false",
        **extra,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_sigterm_mid_batch_writes_and_deletes_everything_buffered_then_exits_0(
    moto_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = moto_pipeline()
    bodies = packed_bodies(list(range(300)), per_message=30)
    aws.send(bodies)
    _export(
        aws,
        monkeypatch,
        TELEMETRY_FLUSH_MAX_AGE_SECONDS="600",  # nothing flushes on its own: all of it sits buffered
        TELEMETRY_FLUSH_MAX_RECORDS="1000000",
        TELEMETRY_RECEIVE_WAIT_SECONDS="1",
        TELEMETRY_VISIBILITY_TIMEOUT_SECONDS="30",
    )
    seen: dict[str, float] = {}

    def terminate_once_all_are_held() -> None:
        """Always ends with a SIGTERM, so a failed wait cannot leave `consume` running forever."""
        seen["all_held"] = float(wait_until(lambda: aws.counts() == (0, len(bodies)), timeout=20))
        seen["objects_before"] = len(aws.objects())
        seen["sent_at"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_all_are_held)
    killer.start()
    code = main(["consume"])
    finished = time.monotonic()
    killer.join()
    assert seen["all_held"] and seen["objects_before"] == 0  # mid-batch: all received, none written
    assert code == 0
    assert finished - seen["sent_at"] < 30
    assert aws.stored_seqs() == list(range(300))
    assert aws.counts() == (0, 0)


def test_consume_with_a_missing_queue_says_which_variable_to_fix(
    moto_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = moto_pipeline()
    _export(aws, monkeypatch)
    monkeypatch.delenv("TELEMETRY_QUEUE_URL")
    monkeypatch.setenv("TELEMETRY_QUEUE_NAME", "no-such-queue")
    assert main(["consume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "TELEMETRY_QUEUE_URL / TELEMETRY_QUEUE_NAME" in err[0] and "no-such-queue" in err[0]
    )


def test_redrive_fallback_moves_at_most_what_is_asked_and_keeps_attributes(
    moto_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = moto_pipeline()
    dlq = str(aws.settings.dlq_url)
    for i in range(5):
        aws.sqs.send_message(
            QueueUrl=dlq,
            MessageBody=f"body-{i}",
            MessageAttributes={"record_count": {"DataType": "Number", "StringValue": "1"}},
        )
    _export(aws, monkeypatch)
    assert main(["redrive", "--fallback", "--max-messages", "3"]) == 0
    assert "moved 3 messages" in capsys.readouterr().out
    assert aws.dlq_size() == 2
    assert main(["redrive", "--fallback"]) == 0
    assert "moved 2 messages" in capsys.readouterr().out
    moved = []
    while batch := aws.sqs.receive_message(
        QueueUrl=aws.settings.queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=60,
        WaitTimeSeconds=0,
    ).get("Messages"):
        moved.extend(batch)
    assert sorted(m["Body"] for m in moved) == [f"body-{i}" for i in range(5)]
    assert all(m["MessageAttributes"]["record_count"]["StringValue"] == "1" for m in moved)
