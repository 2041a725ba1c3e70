"""The consumer's queue seam: where messages come from (the other seam, S3, is app/object_store.py).

`Consumer` only ever talks to a `MessageQueue` and an `ObjectWriter` handed to its constructor, so
tests swap in fakes or fault-injecting wrappers without patching anything. `SqsQueue` wraps one
boto3 client and turns every botocore failure into our own `QueueError`, so the consumer's failure
handling never depends on botocore's exception types. Per-entry failures of the batch calls are
returned by message id, never swallowed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from app.errors import QueueError

#: SQS takes at most 10 entries per *Batch call and returns at most 10 messages per receive.
SQS_BATCH_LIMIT: Final = 10


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One SQS message as the consumer needs it; `received_at` is time.monotonic() at receipt."""

    message_id: str
    receipt_handle: str
    body: bytes
    sent_timestamp_ms: int
    receive_count: int
    received_at: float
    received_wall_ms: float


class MessageQueue(Protocol):
    """The SQS operations the consumer uses; batch calls return the ids of entries that failed."""

    def receive(
        self, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        """Long-poll for up to `max_messages`; raises QueueError when the call fails."""
        ...

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        """Delete the messages; returns the ids SQS did not delete (a failed call fails all its entries)."""
        ...

    def change_visibility(self, messages: Sequence[ReceivedMessage], timeout: int) -> list[str]:
        """Set the messages' visibility timeout from now; returns the ids that failed."""
        ...


def _chunks(items: Sequence[ReceivedMessage], size: int = SQS_BATCH_LIMIT) -> list[Sequence[ReceivedMessage]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqsQueue:
    """`MessageQueue` on one boto3 SQS client (thread-safe; pool sized by the caller)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def receive(
        self, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        try:
            response = self._client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=visibility_timeout,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
        except (BotoCoreError, ClientError) as exc:
            raise QueueError(f"ReceiveMessage failed: {exc}") from exc
        received_at = time.monotonic()
        wall_ms = time.time() * 1000.0
        messages = []
        for raw in response.get("Messages", []):
            attributes = raw.get("Attributes", {})
            messages.append(
                ReceivedMessage(
                    message_id=raw["MessageId"],
                    receipt_handle=raw["ReceiptHandle"],
                    body=raw["Body"].encode("utf-8"),
                    sent_timestamp_ms=int(attributes.get("SentTimestamp", wall_ms)),
                    receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
                    received_at=received_at,
                    received_wall_ms=wall_ms,
                )
            )
        return messages

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        return self._batch_call(
            "delete_message_batch",
            messages,
            lambda i, m: {"Id": str(i), "ReceiptHandle": m.receipt_handle},
        )

    def change_visibility(self, messages: Sequence[ReceivedMessage], timeout: int) -> list[str]:
        return self._batch_call(
            "change_message_visibility_batch",
            messages,
            lambda i, m: {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": timeout},
        )

    def _batch_call(self, operation: str, messages: Sequence[ReceivedMessage], entry: Any) -> list[str]:
        """Chunks of 10; a whole chunk failing marks its ids failed, the other chunks still run."""
        failed: list[str] = []
        call = getattr(self._client, operation)
        for chunk in _chunks(messages):
            try:
                response = call(QueueUrl=self.queue_url, Entries=[entry(i, m) for i, m in enumerate(chunk)])
            except (BotoCoreError, ClientError):
                failed.extend(m.message_id for m in chunk)
                continue
            failed.extend(chunk[int(f["Id"])].message_id for f in response.get("Failed", []))
        return failed
