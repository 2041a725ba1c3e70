"""The receiver against moto's SQS (in-process): what arrives in the queue, and what never does."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import httpx
import pytest

from app.aws import sqs_client
from app.contract import Hour, parse_record
from app.embedded_aws import provision
from app.observability import InMemoryMetrics
from app.receiver.app import create_app
from app.receiver.packing import PackLimits
from app.receiver.publisher import Publisher, SqsPublisher
from app.receiver.stats import ReceiverStats
from app.settings import Settings
from tests.conftest import RecordFactory, SettingsFactory
from tests.support.receiver import (
    KEY_HEADERS,
    ROTATED_KEY_HEADERS,
    SteppingClock,
    gather_posts,
    serving,
)

T = TypeVar("T")

pytestmark = pytest.mark.usefixtures("mocked_aws")


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    base = settings_factory(publish_linger_ms=20)
    return base.model_copy(update={"queue_url": provision(base).queue_url})


def drain(settings: Settings) -> list[dict[str, Any]]:
    """Every message in the queue (moto keeps them invisible afterwards, so each is read once)."""
    sqs = boto3.client("sqs", region_name=settings.aws_region)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=settings.queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=600,
            WaitTimeSeconds=0,  # the queue long-polls 20 s by default
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def lines_of(messages: list[dict[str, Any]]) -> list[str]:
    return [line for m in messages for line in m["Body"].split("\n")]


def run(
    settings: Settings,
    scenario: Callable[[httpx.AsyncClient], Awaitable[T]],
    *,
    publisher: Publisher | None = None,
    clock: Callable[[], datetime] | None = None,
    metrics: InMemoryMetrics | None = None,
) -> T:
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    app = create_app(settings, publisher=publisher, metrics=metrics or InMemoryMetrics(), **extra)

    async def main() -> T:
        async with serving(app) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_single_and_batch_records_arrive_exactly_once_and_share_messages(
    settings: Settings, record_factory: RecordFactory
) -> None:
    singles = [record_factory(vehicle_id=f"single-{i}") for i in range(30)]
    batches = [[record_factory(vehicle_id=f"batch-{b}-{i}") for i in range(50)] for b in range(3)]
    batches[1][7] = {**batches[1][7], "can_id": "not-hex"}
    metrics = InMemoryMetrics()

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return await gather_posts(client, "/v1/telemetry", singles) + await gather_posts(
            client, "/v1/telemetry/batch", batches
        )

    answers = run(settings, scenario, metrics=metrics)
    assert [a.status_code for a in answers] == [202] * 33
    assert [a.json()["accepted"] for a in answers[30:]] == [50, 49, 50]
    assert answers[31].json()["rejected"][0]["index"] == 7

    messages = drain(settings)
    lines = lines_of(messages)
    arrived = Counter(parse_record(line).vehicle_id for line in lines)
    expected = [r["vehicle_id"] for r in singles] + [r["vehicle_id"] for b in batches for r in b]
    expected.remove("batch-1-7")
    assert arrived == Counter(expected)  # every accepted record exactly once, the rejected one never
    assert all(line.encode() == parse_record(line).to_json() for line in lines)
    for message in messages:
        attributes = message["MessageAttributes"]
        assert attributes["record_count"]["StringValue"] == str(message["Body"].count("\n") + 1)
        assert attributes["contract"]["StringValue"] == "v1"
    assert len(messages) < 33 / 3  # concurrent requests shared messages
    main = metrics.events[0]["metrics"]
    assert main["RecordsAccepted"] == 179
    assert main["MessagesSent"] == len(messages)


def test_auth_missing_wrong_and_rotated_keys(settings: Settings, record_factory: RecordFactory) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[int]:
        statuses: list[int] = []
        for headers in ({}, {"X-API-Key": "not-the-key-0123456789"}, ROTATED_KEY_HEADERS, KEY_HEADERS):
            record = record_factory(vehicle_id=f"v-{len(statuses)}")
            statuses.append((await client.post("/v1/telemetry", json=record, headers=headers)).status_code)
        return statuses

    assert run(settings, scenario) == [401, 401, 202, 202]
    assert sorted(parse_record(line).vehicle_id for line in lines_of(drain(settings))) == ["v-2", "v-3"]


def test_bad_input_is_refused_with_its_status_and_nothing_reaches_the_queue(
    settings_factory: SettingsFactory, record_factory: RecordFactory
) -> None:
    base = settings_factory(max_body_bytes=2048, max_batch_records=2)
    settings = base.model_copy(update={"queue_url": provision(base).queue_url})
    good = record_factory()
    json_headers = {**KEY_HEADERS, "Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/v1/telemetry", {"content": b"{nope", "headers": json_headers}, 400, "invalid_json"),
        (
            "/v1/telemetry",
            {"json": good, "headers": {**KEY_HEADERS, "Content-Type": "text/csv"}},
            415,
            "unsupported_media_type",
        ),
        (
            "/v1/telemetry",
            {"content": b"[" + b" " * 3000 + b"]", "headers": json_headers},
            413,
            "body_too_large",
        ),
        ("/v1/telemetry/batch", {"json": [good] * 3, "headers": KEY_HEADERS}, 413, "too_many_records"),
        ("/v1/telemetry/batch", {"json": {"records": [good]}, "headers": KEY_HEADERS}, 422, "invalid_batch"),
        (
            "/v1/telemetry",
            {"json": {**good, "payload": {"battery_soc": "full"}}, "headers": KEY_HEADERS},
            422,
            "invalid_record",
        ),
        (
            "/v1/telemetry/batch",
            {"json": [{**good, "vehicle_id": ""}], "headers": KEY_HEADERS},
            422,
            "no_valid_records",
        ),
    ]

    async def scenario(client: httpx.AsyncClient) -> list[tuple[int, str]]:
        answers = [await client.post(path, **kwargs) for path, kwargs, _, _ in cases]
        return [(a.status_code, a.json()["error"]) for a in answers]

    assert run(settings, scenario) == [(status, error) for _, _, status, error in cases]
    assert drain(settings) == []


def test_sqs_failing_gives_503_with_retry_after_and_nothing_reported_accepted(
    settings: Settings, record_factory: RecordFactory
) -> None:
    metrics = InMemoryMetrics()

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        ready = await client.get("/readyz")
        boto3.client("sqs", region_name=settings.aws_region).delete_queue(QueueUrl=settings.queue_url)
        answers = await gather_posts(client, "/v1/telemetry", [record_factory() for _ in range(3)])
        answers.append((await gather_posts(client, "/v1/telemetry/batch", [[record_factory()] * 4]))[0])
        return [ready, *answers, await client.get("/readyz")]

    ready, *answers, not_ready = run(settings, scenario, metrics=metrics)
    assert ready.status_code == 200
    assert [a.status_code for a in answers] == [503] * 4
    assert all(a.headers["retry-after"] == str(settings.publish_retry_after_seconds) for a in answers)
    assert all("NonExistentQueue" in a.json()["detail"] for a in answers)
    assert not_ready.status_code == 503
    assert metrics.events[0]["metrics"]["RecordsAccepted"] == 0
    assert metrics.events[0]["metrics"]["RecordsFailed"] == 7


class FlakyOnce:
    """The real (moto) client, except that the first SendMessageBatch delivers only its first entry
    and reports the others as failed, the way SQS reports a partial failure."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(len(Entries))
            first = len(self.calls) == 1
        if not first:
            answer: dict[str, Any] = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)
            return answer
        delivered = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[:1])
        failed = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries[1:]]
        return {"Successful": delivered["Successful"], "Failed": failed}

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.real.get_queue_attributes(**kwargs)
        return answer


def test_a_partial_send_message_batch_failure_is_retried_and_arrives_once(
    settings: Settings, record_factory: RecordFactory
) -> None:
    assert settings.queue_url is not None
    flaky = FlakyOnce(sqs_client(settings))
    publisher = SqsPublisher(
        flaky,
        queue_url=settings.queue_url,
        limits=PackLimits(records_per_message=1, message_max_bytes=65_536),
        stats=ReceiverStats(),
        linger_seconds=0.05,
        max_attempts=3,
        timeout_seconds=10,
        concurrency=1,
        max_pending_records=1000,
    )
    records = [record_factory(vehicle_id=f"v-{i}") for i in range(6)]

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        return [a.status_code for a in await gather_posts(client, "/v1/telemetry", records)]

    assert run(settings, scenario, publisher=publisher) == [202] * 6
    assert flaky.calls == [6, 5]  # all six, then the five SQS failed
    arrived = sorted(parse_record(line).vehicle_id for line in lines_of(drain(settings)))
    assert arrived == sorted(r["vehicle_id"] for r in records)


def test_requests_either_side_of_the_full_hour_are_stamped_with_their_own_hour(
    settings: Settings, record_factory: RecordFactory
) -> None:
    """The consumer files each record by its own ingest_received_at (a message may span the hour:
    tests/unit/consumer/test_service.py), so what matters here is each request's arrival time."""
    before = datetime(2025, 10, 19, 10, 59, 59, 990_000, tzinfo=UTC)
    after = before + timedelta(milliseconds=30)
    clock = SteppingClock(before)
    stamp = (before - timedelta(seconds=5)).isoformat()

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        first = [
            asyncio.create_task(
                client.post("/v1/telemetry", json=record_factory(timestamp=stamp), headers=KEY_HEADERS)
            )
            for _ in range(5)
        ]
        await asyncio.sleep(0)  # let them take their arrival time, then cross the hour
        clock.now = after
        second = await gather_posts(client, "/v1/telemetry/batch", [[record_factory(timestamp=stamp)] * 5])
        return [r.status_code for r in [*(await asyncio.gather(*first)), *second]]

    assert run(settings, scenario, clock=clock) == [202] * 6
    messages = drain(settings)
    stamped = sorted(Hour.of(parse_record(line).ingest_received_at).key for line in lines_of(messages))
    assert stamped == ["2025-10-19T10"] * 5 + ["2025-10-19T11"] * 5


def test_shutdown_sends_waiting_records_at_once_and_answers_them(
    settings_factory: SettingsFactory, record_factory: RecordFactory
) -> None:
    """What SIGTERM ends in: the lifespan closes the publisher while requests still wait in the linger.

    (uvicorn first lets requests in flight finish; closing earlier is the harder case: nothing that
    was waiting may be dropped, and nothing may wait out the linger.)
    """
    base = settings_factory(publish_linger_ms=1000)
    settings = base.model_copy(update={"queue_url": provision(base).queue_url})
    app = create_app(settings, metrics=InMemoryMetrics())
    records = [record_factory(vehicle_id=f"v-{i}") for i in range(8)]

    async def main() -> tuple[list[int], float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            async with app.router.lifespan_context(app):
                waiting = [
                    asyncio.create_task(client.post("/v1/telemetry", json=r, headers=KEY_HEADERS))
                    for r in records
                ]
                await asyncio.sleep(0.1)
                assert not any(task.done() for task in waiting)
                closing = time.monotonic()
            answers = await asyncio.gather(*waiting)
            return [a.status_code for a in answers], time.monotonic() - closing

    statuses, drain_seconds = asyncio.run(main())
    assert statuses == [202] * 8
    assert drain_seconds < 0.9  # sent at close, not after the 1 s linger
    assert sorted(parse_record(line).vehicle_id for line in lines_of(drain(settings))) == sorted(
        r["vehicle_id"] for r in records
    )
