"""The HTTP contract in-process, with a recording publisher: status codes, bodies, headers, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from app.contract import parse_record
from app.observability import InMemoryMetrics
from app.receiver.app import create_app
from app.receiver.schemas import AcceptedOne, BatchAccepted, BatchRejected, ErrorBody, TooManyRecords
from app.receiver.stats import ReceiverStats
from tests.conftest import VALID_KEY, RecordFactory, SettingsFactory
from tests.support.receiver import (
    KEY_HEADERS,
    ROTATED_KEY_HEADERS,
    RecordingPublisher,
    SteppingClock,
    serving,
)

T = TypeVar("T")
Scenario = Callable[[httpx.AsyncClient], Awaitable[T]]


class Receiver:
    """An app with a recording publisher, stats and metrics the test can read."""

    def __init__(self, settings_factory: SettingsFactory, **overrides: Any) -> None:
        self.publisher = RecordingPublisher()
        self.stats = ReceiverStats()
        self.metrics = InMemoryMetrics()
        self.clock = SteppingClock()
        self.app = create_app(
            settings_factory(**overrides),
            publisher=self.publisher,
            stats=self.stats,
            metrics=self.metrics,
            clock=self.clock,
        )

    def run(self, scenario: Scenario[T]) -> T:
        async def main() -> T:
            async with serving(self.app) as client:
                return await scenario(client)

        return asyncio.run(main())

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(lambda client: client.post(path, **kwargs))

    def total(self, metric: str) -> float:
        """The sum of `metric` over the emitted intervals (the app emits the last one on shutdown)."""
        return float(sum(e["metrics"].get(metric, 0) for e in self.metrics.events if not e["dimensions"]))

    def by_reason(self, metric: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for event in self.metrics.events:
            reason = event["dimensions"].get("Reason")
            if reason is not None and metric in event["metrics"]:
                found[reason] = found.get(reason, 0) + event["metrics"][metric]
        return found


@pytest.fixture
def receiver(settings_factory: SettingsFactory) -> Receiver:
    return Receiver(settings_factory)


def test_one_record_is_stamped_published_and_answered_202(
    receiver: Receiver, record_factory: RecordFactory
) -> None:
    received = datetime(2025, 10, 19, 12, 34, 56, 789_000, tzinfo=UTC)
    receiver.clock.now = received
    body = record_factory(timestamp="2025-10-19T12:34:50.5+00:00", can_id="0x1f0")
    response = receiver.post("/v1/telemetry", json=body, headers=KEY_HEADERS)
    assert response.status_code == 202
    assert AcceptedOne.model_validate(response.json()).accepted == 1
    [[line]] = receiver.publisher.published
    stored = parse_record(line)
    assert stored.ingest_received_at == received
    assert stored.can_id == "0x1F0"
    assert line == stored.to_json()
    assert receiver.total("RecordsAccepted") == 1


def test_a_batch_queues_the_valid_records_and_lists_the_invalid_ones(
    receiver: Receiver, record_factory: RecordFactory
) -> None:
    batch = [
        record_factory(vehicle_id="a"),
        record_factory(payload={"soc": "high"}),
        record_factory(vehicle_id="c"),
    ]
    response = receiver.post("/v1/telemetry/batch", json=batch, headers=ROTATED_KEY_HEADERS)
    assert response.status_code == 202
    body = BatchAccepted.model_validate(response.json())
    assert body.accepted == 2
    assert [(r.index, r.errors[0].field, r.errors[0].type) for r in body.rejected] == [
        (1, "payload.soc", "signal_value")
    ]
    assert [parse_record(line).vehicle_id for line in receiver.publisher.lines] == ["a", "c"]
    assert len(receiver.publisher.published) == 1  # one request, one publish, one wait
    assert receiver.by_reason("RecordsRejected") == {"signal_value": 1}
    assert receiver.total("RecordsAccepted") == 2


def test_a_batch_with_only_invalid_records_is_422_and_queues_nothing(receiver: Receiver) -> None:
    response = receiver.post("/v1/telemetry/batch", json=[{"vehicle_id": "x"}, 3], headers=KEY_HEADERS)
    assert response.status_code == 422
    body = BatchRejected.model_validate(response.json())
    assert body.error == "no_valid_records"
    assert [r.index for r in body.rejected] == [0, 1]
    assert receiver.publisher.published == []


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key-0123456789abcdef"}, {"X-API-Key": ""}])
def test_missing_or_wrong_key_is_401_before_the_body_is_looked_at(
    receiver: Receiver, record_factory: RecordFactory, headers: dict[str, str]
) -> None:
    for path, body in (("/v1/telemetry", record_factory()), ("/v1/telemetry/batch", [record_factory()])):
        response = receiver.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized", "detail": "missing or invalid X-API-Key header"}
        assert response.headers["www-authenticate"].startswith("ApiKey")
    assert receiver.publisher.published == []
    assert receiver.by_reason("RequestsRejected") == {"unauthorized": 2}


def test_a_key_removed_from_the_settings_stops_working(
    settings_factory: SettingsFactory, record_factory: RecordFactory
) -> None:
    rotated = Receiver(settings_factory, api_keys=["k-rotated-fedcba9876543210"])
    assert rotated.post("/v1/telemetry", json=record_factory(), headers=KEY_HEADERS).status_code == 401
    assert (
        rotated.post("/v1/telemetry", json=record_factory(), headers=ROTATED_KEY_HEADERS).status_code == 202
    )


def bad_requests(record: dict[str, Any]) -> list[tuple[str, dict[str, Any], int, str]]:
    good = orjson.dumps(record)
    json_headers = {**KEY_HEADERS, "Content-Type": "application/json"}
    return [
        ("/v1/telemetry", {"content": b'{"timestamp": ', "headers": json_headers}, 400, "invalid_json"),
        ("/v1/telemetry/batch", {"content": b"[{]", "headers": json_headers}, 400, "invalid_json"),
        (
            "/v1/telemetry",
            {"content": good, "headers": {**KEY_HEADERS, "Content-Type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ("/v1/telemetry", {"content": good, "headers": KEY_HEADERS}, 415, "unsupported_media_type"),
        ("/v1/telemetry", {"content": b" " * 1025 + good, "headers": json_headers}, 413, "body_too_large"),
        (
            "/v1/telemetry/batch",
            {"content": b"[" + b",".join([good] * 4) + b"]", "headers": json_headers},
            413,
            "too_many_records",
        ),
        ("/v1/telemetry/batch", {"content": good, "headers": json_headers}, 422, "invalid_batch"),
        ("/v1/telemetry/batch", {"content": b"[]", "headers": json_headers}, 422, "empty_batch"),
        ("/v1/telemetry", {"content": b"[]", "headers": json_headers}, 422, "invalid_record"),
        (
            "/v1/telemetry",
            {"json": {**record, "payload": {"battery_soc": None}}, "headers": KEY_HEADERS},
            422,
            "invalid_record",
        ),
    ]


def test_every_bad_input_class_gets_its_status_and_a_json_error(
    settings_factory: SettingsFactory, record_factory: RecordFactory
) -> None:
    receiver = Receiver(settings_factory, max_body_bytes=1024, max_batch_records=3)
    for path, kwargs, status, error in bad_requests(record_factory()):
        response = receiver.post(path, **kwargs)
        assert (response.status_code, response.json()["error"]) == (status, error), (path, kwargs)
        model = TooManyRecords if error == "too_many_records" else ErrorBody
        model.model_validate(response.json())
    assert receiver.publisher.published == []


def test_a_contract_violation_names_field_and_rule(receiver: Receiver, record_factory: RecordFactory) -> None:
    record = record_factory(payload={"battery_soc": 85.5, "cell_temp_max": True, "Bad Name": 1})
    response = receiver.post("/v1/telemetry", json=record, headers=KEY_HEADERS)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "payload.Bad Name.[key]"
    assert error["type"] == "string_pattern_mismatch"
    assert "pattern" in error["rule"]


def test_a_chunked_body_over_the_limit_is_413(settings_factory: SettingsFactory) -> None:
    receiver = Receiver(settings_factory, max_body_bytes=1024)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 200

    response = receiver.post(
        "/v1/telemetry", content=chunks(), headers={**KEY_HEADERS, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_sqs_failure_is_503_with_retry_after_and_nothing_counted_accepted(
    settings_factory: SettingsFactory, record_factory: RecordFactory
) -> None:
    receiver = Receiver(settings_factory, publish_retry_after_seconds=7)
    receiver.publisher.fail_with = "SQS did not take the records after 3 attempts: ServiceUnavailable"
    for path, body in (("/v1/telemetry", record_factory()), ("/v1/telemetry/batch", [record_factory()] * 3)):
        response = receiver.post(path, json=body, headers=KEY_HEADERS)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"] == "unavailable"
        assert "accepted" not in response.json()
    assert receiver.total("RecordsAccepted") == 0
    assert receiver.total("RecordsFailed") == 4


def test_unknown_paths_and_methods_answer_json(receiver: Receiver) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        return await client.get("/nowhere"), await client.get("/v1/telemetry")

    missing, wrong_method = receiver.run(scenario)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"


def test_health_is_the_process_and_readiness_is_sqs(receiver: Receiver) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        answers = [await client.get("/healthz"), await client.get("/readyz")]
        receiver.publisher.ready_problem = "SQS queue unreachable: NonExistentQueue"
        answers += [await client.get("/healthz"), await client.get("/readyz")]
        return answers

    healthy, ready, still_healthy, not_ready = receiver.run(scenario)
    assert (healthy.status_code, ready.status_code, still_healthy.status_code) == (200, 200, 200)
    assert not_ready.status_code == 503
    assert not_ready.json()["detail"] == "SQS queue unreachable: NonExistentQueue"
    assert "retry-after" in not_ready.headers


def test_lifespan_starts_and_closes_the_publisher_and_emits_the_last_interval(
    receiver: Receiver, record_factory: RecordFactory
) -> None:
    receiver.post("/v1/telemetry", json=record_factory(), headers=KEY_HEADERS)
    assert receiver.publisher.started and receiver.publisher.closed
    main = receiver.metrics.events[0]
    assert main["metrics"]["RecordsAccepted"] == 1


def test_one_debug_line_per_request_and_never_the_key(
    receiver: Receiver, record_factory: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="app.receiver"):
        receiver.post("/v1/telemetry", json=record_factory(), headers=KEY_HEADERS)
        receiver.post("/v1/telemetry", json=record_factory(), headers={"X-API-Key": VALID_KEY + "x"})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=request")]
    assert len(lines) == 2
    assert "status=202" in lines[0] and "status=401" in lines[1]
    assert all(VALID_KEY not in r.getMessage() for r in caplog.records)


def test_no_request_line_at_info(
    receiver: Receiver, record_factory: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.receiver"):
        receiver.post("/v1/telemetry", json=record_factory(), headers=KEY_HEADERS)
    assert not [r for r in caplog.records if r.getMessage().startswith("event=request")]


def test_the_time_window_is_the_receivers_clock(receiver: Receiver, record_factory: RecordFactory) -> None:
    receiver.clock.now = datetime.now(UTC) + timedelta(days=30)
    response = receiver.post("/v1/telemetry", json=record_factory(), headers=KEY_HEADERS)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "timestamp_too_old"


def test_a_bug_behind_a_route_is_a_500_in_the_error_shape_and_a_logged_traceback(
    receiver: Receiver, record_factory: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(lines: Any) -> None:
        raise RuntimeError("publisher bug")

    receiver.publisher.publish = broken  # type: ignore[method-assign]

    async def scenario(_client: httpx.AsyncClient) -> httpx.Response:
        # Starlette re-raises after answering 500; this transport hands the answer back instead.
        transport = httpx.ASGITransport(app=receiver.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            return await client.post("/v1/telemetry", json=record_factory(), headers=KEY_HEADERS)

    with caplog.at_level(logging.ERROR, logger="app.receiver.responses"):
        response = receiver.run(scenario)
    assert response.status_code == 500
    assert ErrorBody.model_validate(response.json()).error == "internal"
    assert "publisher bug" not in response.text  # the cause stays in the log
    assert "event=unhandled_error path=/v1/telemetry error=RuntimeError" in caplog.text
    assert caplog.records[-1].exc_info is not None


def test_interactive_docs_serve_the_checked_in_document_and_can_be_turned_off(
    settings_factory: SettingsFactory,
) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [await client.get(path) for path in ("/docs", "/redoc", "/openapi.json")]

    docs, redoc, document = Receiver(settings_factory).run(scenario)
    assert docs.status_code == redoc.status_code == 200
    assert "/openapi.json" in docs.text and "text/html" in docs.headers["content-type"]
    checked_in = (Path(__file__).resolve().parents[3] / "docs" / "openapi.json").read_bytes()
    assert document.json() == orjson.loads(checked_in)
    hidden = Receiver(settings_factory, api_docs=False).run(scenario)
    assert [r.status_code for r in hidden] == [404, 404, 404]
