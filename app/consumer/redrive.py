"""`telemetry redrive`: move the dead-letter queue's messages back to the main queue, say how many.

In AWS this is one StartMessageMoveTask (SQS copies server-side, at up to 500 messages/s, keeping
attributes); we wait for it and report ApproximateNumberOfMessagesMoved. moto 5.2 does not
implement the action (NotImplementedError in-process, an HTTP 500 from the server), so when the
service says it cannot, or when `--fallback` asks, messages are copied by hand: receive from the
DLQ, SendMessageBatch to the queue, and delete from the DLQ only what the queue accepted. A crash
between send and delete leaves a copy in both queues: a duplicate downstream, never a loss.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from app.aws import sqs_client
from app.consumer.main import resolve_url
from app.consumer.ports import SQS_BATCH_LIMIT
from app.errors import RedriveError
from app.observability import configure_logging, kv
from app.settings import load_settings

log = logging.getLogger(__name__)

#: Error codes with which SQS (or a stand-in) says it does not offer StartMessageMoveTask.
_UNSUPPORTED_CODES: Final = frozenset(
    {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction", "NotImplemented"}
)
#: SendMessageBatch payload cap (all entries together); stay under it with room for attributes.
_SEND_BATCH_BYTES: Final = 240 * 1024
_TERMINAL: Final = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_EMPTY_RECEIVES_TO_STOP: Final = 2
#: How often a running move task is asked for its progress.
MOVE_TASK_POLL_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True)
class RedriveResult:
    moved: int
    method: str  # "move-task" or "fallback"
    failed: int = 0
    finished: bool = True


def redrive(
    sqs: Any,
    *,
    dlq_url: str,
    queue_url: str,
    force_fallback: bool = False,
    max_messages: int | None = None,
    timeout_seconds: float = 300.0,
    poll_seconds: float = MOVE_TASK_POLL_SECONDS,
) -> RedriveResult:
    """Move DLQ messages back; StartMessageMoveTask first unless `force_fallback` or unsupported."""
    if not force_fallback and max_messages is None:
        moved = _move_task(
            sqs,
            dlq_url=dlq_url,
            queue_url=queue_url,
            timeout_seconds=timeout_seconds,
            poll_seconds=poll_seconds,
        )
        if moved is not None:
            return moved
    return _copy(sqs, dlq_url=dlq_url, queue_url=queue_url, max_messages=max_messages)


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _move_task(
    sqs: Any, *, dlq_url: str, queue_url: str, timeout_seconds: float, poll_seconds: float
) -> RedriveResult | None:
    """The move task's result; None when the service does not offer move tasks (moto)."""
    source, destination = _arn(sqs, dlq_url), _arn(sqs, queue_url)
    try:
        handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    except NotImplementedError as exc:
        log.info(kv("redrive_fallback", reason=type(exc).__name__))
        return None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _UNSUPPORTED_CODES or status >= 500:
            log.info(kv("redrive_fallback", reason=code or status))
            return None
        raise RedriveError(
            f"StartMessageMoveTask refused ({code}); grant sqs:StartMessageMoveTask or run with --fallback"
        ) from exc
    log.info(kv("redrive_started", method="move-task", task=handle))
    deadline = time.monotonic() + timeout_seconds
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}
        moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        state = str(task.get("Status", "RUNNING"))
        if state == "FAILED":
            raise RedriveError(f"move task failed after {moved} messages: {task.get('FailureReason', '?')}")
        if state in _TERMINAL:
            return RedriveResult(moved=moved, method="move-task")
        if time.monotonic() >= deadline:
            return RedriveResult(moved=moved, method="move-task", finished=False)
        time.sleep(poll_seconds)


def _copy(sqs: Any, *, dlq_url: str, queue_url: str, max_messages: int | None) -> RedriveResult:
    moved = failed = empty = 0
    while empty < _EMPTY_RECEIVES_TO_STOP and (max_messages is None or moved < max_messages):
        want = SQS_BATCH_LIMIT if max_messages is None else min(SQS_BATCH_LIMIT, max_messages - moved)
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        for chunk in _by_size(messages):
            sent = _send(sqs, queue_url, chunk)
            failed += len(chunk) - len(sent)
            if sent:
                response = sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)],
                )
                for entry in response.get("Failed", []):
                    log.warning(
                        kv(
                            "redrive_delete_failed",
                            message_id=sent[int(entry["Id"])]["MessageId"],
                            code=entry.get("Code"),
                        )
                    )
            moved += len(sent)
    return RedriveResult(moved=moved, method="fallback", failed=failed)


def _by_size(messages: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for message in messages:
        weight = len(message["Body"].encode("utf-8")) + 1024
        if chunks[-1] and size + weight > _SEND_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(message)
        size += weight
    return [chunk for chunk in chunks if chunk]


def _send(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages the queue accepted; the others stay in the DLQ (logged by id)."""
    entries = []
    for i, message in enumerate(messages):
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    try:
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    except (BotoCoreError, ClientError) as exc:
        log.warning(kv("redrive_send_failed", messages=len(messages), error=exc))
        return []
    for entry in response.get("Failed", []):
        log.warning(
            kv(
                "redrive_send_failed",
                message_id=messages[int(entry["Id"])]["MessageId"],
                code=entry.get("Code"),
            )
        )
    return [messages[int(entry["Id"])] for entry in response.get("Successful", [])]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fallback",
        action="store_true",
        help="copy with receive/send/delete instead of StartMessageMoveTask (what moto supports)",
    )
    parser.add_argument(
        "--max-messages", type=int, default=None, help="move at most this many (implies --fallback)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for a move task (default 300)"
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings)
    sqs = sqs_client(settings)
    dlq_url = resolve_url(sqs, url=settings.dlq_url, name=settings.dlq_name, variable="DLQ")
    queue_url = resolve_url(sqs, url=settings.queue_url, name=settings.queue_name, variable="QUEUE")
    try:
        result = redrive(
            sqs,
            dlq_url=dlq_url,
            queue_url=queue_url,
            force_fallback=args.fallback,
            max_messages=args.max_messages,
            timeout_seconds=args.timeout,
        )
    except (BotoCoreError, ClientError) as exc:
        raise RedriveError(f"SQS call failed: {exc}") from exc
    log.info(
        kv(
            "redrive",
            moved=result.moved,
            failed=result.failed,
            method=result.method,
            finished=result.finished,
        )
    )
    state = "" if result.finished else " so far (the move task is still running)"
    print(f"moved {result.moved} messages from the DLQ to the queue{state} ({result.method})")
    if result.failed:
        print(f"{result.failed} messages could not be sent and stay in the DLQ")
    return 0 if result.failed == 0 else 1
