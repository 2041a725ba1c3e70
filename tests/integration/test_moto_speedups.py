"""The embedded SQS after `moto_speedups.apply()` still behaves as SQS documents, and scans less.

The semantic tests drive the queue through boto3 (in-process moto), so what is checked is what the
receiver, the consumer and the benchmarks see: counts, delays, visibility timeouts, retention. The
cost and race tests reach into moto's queue, where the patched members live.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs import models
from moto.sqs.models import Message, sqs_backends

from app import moto_speedups

REGION = "eu-west-1"
COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


@pytest.fixture
def sqs(mocked_aws: None) -> Iterator[Any]:
    """In-process moto, patched: `mocked_aws` applies the speedups as the local stack does."""
    yield boto3.client("sqs", region_name=REGION)


def counts(sqs: Any, url: str) -> list[int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
    return [int(attrs[name]) for name in COUNTS]


def race(*threads: threading.Thread) -> None:
    """Run `threads` to their end, switching between them as often as CPython will: a race that
    plain moto loses shows in every run, not one in a hundred."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)


def test_counts_follow_delays_and_visibility_timeouts(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="ready")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.send_message(QueueUrl=url, MessageBody="taken")
    assert counts(sqs, url) == [2, 0, 1]

    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]
    assert counts(sqs, url) == [1, 1, 1]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"][0]["Body"] != got[0]["Body"]
    # The delayed message stays out of reach; both received ones are in flight now.
    assert counts(sqs, url) == [0, 2, 1]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)

    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == [got[0]["Body"]]


def test_a_message_older_than_the_retention_period_is_not_delivered(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="aging")
    message = cast(Any, sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue("short")._messages[0])

    message.sent_timestamp -= 59_000  # sent 59 s ago: still within the 60 s
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", [])
    assert [m["Body"] for m in got] == ["aging"]

    message.sent_timestamp -= 2_000  # 61 s ago: expired
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", []) == []


def test_the_clock_is_read_once_per_scan_not_once_per_message(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the patch: a 10,000-message queue costs one clock read per count, not 10,000."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].create_queue("big")
    now_ms = time.time() * 1000
    for i in range(10_000):
        message = Message(str(i), "x")
        message.visible_at = now_ms + 60_000 if i % 2 else 0.0  # every other one in flight
        queue._messages.append(message)
    reads = 0
    real = moto_speedups._now_ms

    def counted() -> float:
        nonlocal reads
        reads += 1
        return real()

    monkeypatch.setattr(moto_speedups, "_now_ms", counted)
    assert queue.approximate_number_of_messages == 5_000
    assert queue.approximate_number_of_messages_not_visible == 5_000
    assert queue.approximate_number_of_messages_delayed == 0
    assert reads == 3


def test_a_moto_that_renamed_a_member_is_refused_not_half_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(models.Queue, "approximate_number_of_messages_delayed")
    with pytest.raises(RuntimeError, match=r"Queue.approximate_number_of_messages_delayed is gone"):
        moto_speedups.apply()


def test_concurrent_deletes_and_sends_lose_nothing_and_bring_nothing_back(sqs: Any) -> None:
    """Plain moto rebuilds the list in each delete without a lock: racing deletes resurrect messages."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].create_queue("racy")
    for i in range(2_000):
        queue.add_message(Message(str(i), "old"))
    handles = []
    for message in queue._messages:
        message.mark_received(visibility_timeout=600)
        handles.append(message.receipt_handle)

    def delete(share: list[str]) -> None:
        for handle in share:
            queue.delete_message(handle)

    def send() -> None:
        for i in range(500):
            queue.add_message(Message(f"new-{i}", "new"))

    race(
        *(threading.Thread(target=delete, args=(handles[i::4],)) for i in range(4)),
        threading.Thread(target=send),
    )
    assert sorted(m.body for m in queue._messages) == ["new"] * 500


def test_concurrent_receives_and_deletes_raise_nothing_and_lose_nothing(sqs: Any) -> None:
    """Plain moto's receive walks and edits the in-flight set unlocked: two pollers meet a RuntimeError
    ('Set changed size during iteration') or a KeyError, which reaches the caller as a failed receive."""
    backend = sqs_backends[DEFAULT_ACCOUNT_ID][REGION]
    queue = backend.create_queue("racy-receives")
    for i in range(1_000):
        backend.send_message("racy-receives", str(i))
    errors: list[BaseException] = []
    deleted: set[str] = set()

    def poll(keep: bool) -> None:
        try:
            for _ in range(150):
                # visibility 0: each message is visible again at once, so the next receive takes it
                # out of the in-flight set while the others walk it
                for message in backend.receive_message("racy-receives", 10, 0, 0):
                    if not keep:
                        assert message.receipt_handle is not None  # set by the receive
                        backend.delete_message("racy-receives", message.receipt_handle)
                        deleted.add(message.body)
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)

    race(*(threading.Thread(target=poll, args=(i % 2 == 0,)) for i in range(4)))
    assert errors == []
    left = {m.body for m in queue._messages}
    assert deleted.isdisjoint(left)  # nothing deleted came back
    assert sorted(deleted | left, key=int) == [str(i) for i in range(1_000)]  # nothing else went


def test_a_long_poll_holds_back_no_send(sqs: Any) -> None:
    """A FIFO message whose group is in flight is visible but not deliverable: moto's poll keeps
    scanning for it, and were the lock held through the poll, the send it waits for would wait too."""
    url = sqs.create_queue(
        QueueName="polled.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a-1", MessageGroupId="a")
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]["Body"] == "a-1"
    sqs.send_message(QueueUrl=url, MessageBody="a-2", MessageGroupId="a")  # waits for a-1
    polled: list[str] = []

    def poll() -> None:
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, VisibilityTimeout=60)
        polled.extend(m["Body"] for m in answer.get("Messages", []))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)  # the poll is waiting
    sqs.send_message(QueueUrl=url, MessageBody="b-1", MessageGroupId="b")
    poller.join()
    assert polled == ["b-1"]
