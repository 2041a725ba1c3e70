"""The publisher against an in-memory SQS: sharing, acknowledgement, retries, failure, drain."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from app.errors import PublishError
from app.receiver.packing import PackLimits
from app.receiver.publisher import SqsPublisher
from app.receiver.stats import ReceiverStats
from tests.support.receiver import FakeSqs

T = TypeVar("T")


def make(sqs: FakeSqs, **overrides: Any) -> SqsPublisher:
    options: dict[str, Any] = {
        "queue_url": "https://sqs.test/q",
        "limits": PackLimits(records_per_message=1000, message_max_bytes=65_536),
        "stats": ReceiverStats(),
        "linger_seconds": 0.01,
        "max_attempts": 3,
        "timeout_seconds": 5.0,
        "concurrency": 2,
        "max_pending_records": 10_000,
        "retry_backoff_seconds": 0.001,
    }
    options.update(overrides)
    return SqsPublisher(sqs, **options)


def run(publisher: SqsPublisher, scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        await publisher.start()
        try:
            return await scenario()
        finally:
            await publisher.close()

    return asyncio.run(main())


def lines(n: int, prefix: str = "r") -> list[bytes]:
    return [f'{{"{prefix}":{i}}}'.encode() for i in range(n)]


async def publish_each(publisher: SqsPublisher, items: list[bytes]) -> list[BaseException | None]:
    return list(await asyncio.gather(*(publisher.publish([item]) for item in items), return_exceptions=True))


def test_concurrent_requests_share_one_message_and_one_call() -> None:
    sqs = FakeSqs()
    publisher = make(sqs)
    outcomes = run(publisher, lambda: publish_each(publisher, lines(20)))
    assert outcomes == [None] * 20
    assert len(sqs.calls) == 1
    assert len(sqs.delivered) == 1
    assert sqs.delivered_lines() == lines(20)
    assert sqs.delivered[0]["MessageAttributes"]["record_count"]["StringValue"] == "20"


def test_baseline_mode_sends_each_record_alone_in_its_own_call() -> None:
    sqs = FakeSqs()
    publisher = make(sqs, limits=PackLimits(1, 65_536), linger_seconds=0.0)
    outcomes = run(publisher, lambda: publish_each(publisher, lines(25)))
    assert outcomes == [None] * 25
    assert len(sqs.delivered) == 25
    assert all(e["MessageBody"].count("\n") == 0 for e in sqs.delivered)
    assert [len(call) for call in sqs.calls] == [1] * 25  # no sharing: one call per request


def test_a_request_is_answered_only_after_sqs_acknowledged() -> None:
    sqs = FakeSqs(delay_seconds=0.3)
    publisher = make(sqs, linger_seconds=0.0)

    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(publisher.publish(lines(1)))
        await asyncio.sleep(0.15)
        during = task.done()
        await task
        return during, task.done()

    assert run(publisher, scenario) == (False, True)
    assert len(sqs.delivered) == 1


def test_sqs_is_called_off_the_event_loop_thread() -> None:
    seen: list[str] = []

    def behaviour(number: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
        seen.append(threading.current_thread().name)
        return {"Successful": [{"Id": e["Id"]} for e in entries]}

    publisher = make(FakeSqs(behaviour=behaviour))
    run(publisher, lambda: publish_each(publisher, lines(3)))
    assert seen and all(name.startswith("sqs-send") for name in seen)


def test_entries_sqs_failed_are_retried_and_arrive_once() -> None:
    def behaviour(number: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
        if number == 1:  # the first call takes m0 and fails m1 (a transient, SQS-side failure)
            return {
                "Successful": [{"Id": "m0"}],
                "Failed": [{"Id": "m1", "Code": "InternalError", "SenderFault": False}],
            }
        return {"Successful": [{"Id": e["Id"]} for e in entries]}

    sqs = FakeSqs(behaviour=behaviour)
    publisher = make(sqs, limits=PackLimits(1, 65_536))
    outcomes = run(publisher, lambda: publish_each(publisher, lines(2)))
    assert outcomes == [None, None]
    assert [len(call) for call in sqs.calls] == [2, 1]
    assert sorted(sqs.delivered_lines()) == sorted(lines(2))


def test_records_still_refused_after_every_attempt_fail_only_their_requests() -> None:
    def behaviour(number: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Successful": [{"Id": e["Id"]} for e in entries if e["MessageBody"] != '{"r":0}'],
            "Failed": [
                {"Id": e["Id"], "Code": "ServiceUnavailable", "SenderFault": False}
                for e in entries
                if e["MessageBody"] == '{"r":0}'
            ],
        }

    sqs = FakeSqs(behaviour=behaviour)
    publisher = make(sqs, limits=PackLimits(1, 65_536), max_attempts=3)
    outcomes = run(publisher, lambda: publish_each(publisher, lines(3)))
    assert isinstance(outcomes[0], PublishError)
    assert "3 attempts" in str(outcomes[0])
    assert "ServiceUnavailable" in str(outcomes[0])
    assert outcomes[1:] == [None, None]
    assert len(sqs.calls) == 3


def test_an_entry_sqs_blames_on_us_is_not_retried() -> None:
    def behaviour(number: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Failed": [
                {"Id": e["Id"], "Code": "InvalidMessageContents", "SenderFault": True} for e in entries
            ]
        }

    sqs = FakeSqs(behaviour=behaviour)
    publisher = make(sqs)
    outcomes = run(publisher, lambda: publish_each(publisher, lines(1)))
    assert isinstance(outcomes[0], PublishError)
    assert len(sqs.calls) == 1


def test_a_failing_call_is_retried_then_reported() -> None:
    def behaviour(number: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "SendMessageBatch")

    sqs = FakeSqs(behaviour=behaviour)
    stats = ReceiverStats()
    publisher = make(sqs, stats=stats, max_attempts=2)
    outcomes = run(publisher, lambda: publish_each(publisher, lines(2)))
    assert all(isinstance(o, PublishError) and "NonExistentQueue" in str(o) for o in outcomes)
    assert len(sqs.calls) == 2
    assert stats.peek().sqs_requests == 2
    assert stats.peek().messages == 0


def test_sqs_that_does_not_answer_in_time_gives_publish_error() -> None:
    sqs = FakeSqs(delay_seconds=0.5)
    publisher = make(sqs, timeout_seconds=0.1, linger_seconds=0.0)
    started = time.monotonic()
    outcomes = run(publisher, lambda: publish_each(publisher, lines(1)))
    assert isinstance(outcomes[0], PublishError)
    assert "did not acknowledge within 0.1 s" in str(outcomes[0])
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("linger_seconds", [0.0, 0.01])
def test_the_deadline_counts_from_arrival_even_while_every_slot_is_busy(linger_seconds: float) -> None:
    """A request queued behind a hung SendMessageBatch gets its 503 at its own deadline, not after."""
    sqs = FakeSqs(delay_seconds=2.0)
    publisher = make(sqs, timeout_seconds=0.2, linger_seconds=linger_seconds, concurrency=1)

    async def scenario() -> tuple[BaseException | None, float]:
        first = asyncio.ensure_future(publisher.publish(lines(1, "a")))
        await asyncio.sleep(0.05)  # the first call now holds the only slot, hung for 2 s
        started = time.monotonic()
        try:
            await publisher.publish(lines(1, "b"))
            outcome: BaseException | None = None
        except PublishError as exc:
            outcome = exc
        waited = time.monotonic() - started
        await asyncio.gather(first, return_exceptions=True)
        return outcome, waited

    outcome, waited = run(publisher, scenario)
    assert isinstance(outcome, PublishError)
    assert waited < 1.5, f"the second request waited {waited:.1f} s for a call that hung 2 s"


def test_too_many_waiting_records_are_refused_at_once() -> None:
    sqs = FakeSqs(delay_seconds=0.2)
    publisher = make(sqs, max_pending_records=5, linger_seconds=0.0)

    async def scenario_ok() -> list[BaseException | None]:
        first = asyncio.create_task(publisher.publish(lines(4)))
        await asyncio.sleep(0.01)
        with pytest.raises(PublishError, match="more than 5 records"):
            await publisher.publish(lines(2))
        await first
        await publisher.publish(lines(5))  # room again once the first is answered
        return []

    run(publisher, scenario_ok)
    assert len(sqs.delivered_lines()) == 9


def test_requests_within_the_linger_share_one_message() -> None:
    sqs = FakeSqs()
    publisher = make(sqs)

    async def scenario() -> None:
        await asyncio.gather(publisher.publish(lines(2, "a")), publisher.publish(lines(3, "b")))

    run(publisher, scenario)
    assert [e["MessageBody"] for e in sqs.delivered] == [b"\n".join(lines(2, "a") + lines(3, "b")).decode()]


def test_close_sends_what_is_waiting_without_the_linger_and_then_refuses() -> None:
    sqs = FakeSqs()
    publisher = make(sqs, linger_seconds=30.0)

    async def main() -> float:
        await publisher.start()
        waiting = [asyncio.create_task(publisher.publish([item])) for item in lines(5)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)
        started = time.monotonic()
        await publisher.close()
        elapsed = time.monotonic() - started
        assert all(task.done() and task.exception() is None for task in waiting)
        with pytest.raises(PublishError, match="shutting down"):
            await publisher.publish(lines(1))
        return elapsed

    assert asyncio.run(main()) < 1.0
    assert sqs.delivered_lines() == lines(5)


def test_a_full_call_worth_of_records_does_not_wait_for_the_linger() -> None:
    sqs = FakeSqs()
    publisher = make(sqs, limits=PackLimits(1, 65_536), linger_seconds=30.0)

    async def scenario() -> float:
        started = time.monotonic()
        await publish_each(publisher, lines(10))
        return time.monotonic() - started

    assert run(publisher, scenario) < 1.0
    assert len(sqs.calls) == 1


def test_stats_count_calls_messages_and_records_per_message() -> None:
    stats = ReceiverStats()
    sqs = FakeSqs()
    publisher = make(sqs, stats=stats)
    run(publisher, lambda: publish_each(publisher, lines(7)))
    now = stats.peek()
    assert (now.sqs_requests, now.messages) == (1, 1)
    assert now.records_per_message.values == [7]
    assert len(now.latency_ms.values) == 1
