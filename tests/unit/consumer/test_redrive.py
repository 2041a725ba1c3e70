"""`redrive()` through StartMessageMoveTask: the path AWS takes and moto lacks, on a scripted SQS.

The fallback (receive/send/delete) is exercised against moto in tests/integration; here a fake
client plays SQS's move-task API so the waiting, the failure and the permission cases are checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from app.consumer.redrive import redrive
from app.errors import RedriveError

DLQ_URL = "https://sqs.example/123/fleet-telemetry-dlq"
QUEUE_URL = "https://sqs.example/123/fleet-telemetry"


class MoveTaskSqs:
    """StartMessageMoveTask + ListMessageMoveTasks answering the given task states in turn."""

    def __init__(self, states: list[dict[str, Any]], *, start_error: Exception | None = None) -> None:
        self.states = states
        self.start_error = start_error
        self.started: list[dict[str, str]] = []
        self.listed = 0
        self.received = 0

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        name = QueueUrl.rsplit("/", 1)[-1]
        return {"Attributes": {"QueueArn": f"arn:aws:sqs:eu-central-1:123:{name}"}}

    def start_message_move_task(self, **kwargs: str) -> dict[str, str]:
        if self.start_error is not None:
            raise self.start_error
        self.started.append(kwargs)
        return {"TaskHandle": "task-1"}

    def list_message_move_tasks(self, **_: Any) -> dict[str, Any]:
        state = self.states[min(self.listed, len(self.states) - 1)]
        self.listed += 1
        return {"Results": [state]}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self.received += 1
        return {"Messages": []}


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "StartMessageMoveTask",
    )


def test_waits_for_the_move_task_and_reports_what_it_moved() -> None:
    sqs = MoveTaskSqs(
        [
            {"Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 3},
            {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 7},
        ]
    )
    result = redrive(sqs, dlq_url=DLQ_URL, queue_url=QUEUE_URL, poll_seconds=0)
    assert (result.moved, result.method, result.finished) == (7, "move-task", True)
    assert sqs.started == [
        {
            "SourceArn": "arn:aws:sqs:eu-central-1:123:fleet-telemetry-dlq",
            "DestinationArn": "arn:aws:sqs:eu-central-1:123:fleet-telemetry",
        }
    ]
    assert sqs.listed == 2 and sqs.received == 0  # no hand copy beside the task


def test_a_failed_move_task_is_an_error_naming_the_reason() -> None:
    sqs = MoveTaskSqs(
        [{"Status": "FAILED", "ApproximateNumberOfMessagesMoved": 2, "FailureReason": "KMS key disabled"}]
    )
    with pytest.raises(RedriveError, match=r"move task failed after 2 messages: KMS key disabled"):
        redrive(sqs, dlq_url=DLQ_URL, queue_url=QUEUE_URL, poll_seconds=0)


def test_a_task_still_running_at_the_timeout_is_reported_unfinished() -> None:
    sqs = MoveTaskSqs([{"Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 4}])
    result = redrive(sqs, dlq_url=DLQ_URL, queue_url=QUEUE_URL, poll_seconds=0, timeout_seconds=0)
    assert (result.moved, result.finished) == (4, False)


def test_access_denied_says_which_permission_or_flag_to_use() -> None:
    sqs = MoveTaskSqs([], start_error=client_error("AccessDenied", 403))
    with pytest.raises(RedriveError, match=r"grant sqs:StartMessageMoveTask or run with --fallback"):
        redrive(sqs, dlq_url=DLQ_URL, queue_url=QUEUE_URL, poll_seconds=0)
    assert sqs.received == 0  # a permission problem is not papered over by copying by hand


@pytest.mark.parametrize(
    "error",
    [client_error("UnsupportedOperation", 400), client_error("InternalFailure", 500), NotImplementedError()],
)
def test_a_service_without_move_tasks_falls_back_to_copying(error: Exception) -> None:
    sqs = MoveTaskSqs([], start_error=error)
    result = redrive(sqs, dlq_url=DLQ_URL, queue_url=QUEUE_URL, poll_seconds=0)
    assert (result.moved, result.method) == (0, "fallback")
    assert sqs.received == 2  # two empty receives end the copy
