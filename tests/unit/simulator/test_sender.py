"""Posting to a receiver: every answer handled, retries bounded and honouring Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.errors import ConfigurationError
from app.simulator import Fleet, Record
from app.simulator.sender import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    BatchSender,
    batches,
    retry_after_seconds,
)
from tests.unit.simulator.conftest import KEY, TARGET, StubFactory


def some_records(n: int = 20) -> list[Record]:
    fleet = Fleet(2, seed=1, start=datetime.now(UTC) - timedelta(minutes=1))
    return list(fleet.records(n / 4 * 0.2))[:n]


def sender_for(client: httpx.Client, slept: list[float], **kwargs: object) -> BatchSender:
    return BatchSender(client, target=TARGET, api_key=KEY, sleep=slept.append, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


class TestRetries:
    def test_503_then_202_delivers_once_after_the_retry_after(self, stub_receiver: StubFactory) -> None:
        stub, client = stub_receiver([(503, {"Retry-After": "2"})])
        slept: list[float] = []
        records = some_records()
        sender = sender_for(client, slept)
        assert sender.send(records) is True
        assert slept == [2.0]
        report = sender.report
        assert (report.accepted, report.rejected, report.failed) == (20, 0, 0)
        assert (report.requests, report.retries) == (2, 1)
        assert stub.seen == [(KEY, 20), (KEY, 20)]
        assert stub.stored == records  # the records a real receiver would have taken, unchanged

    def test_429_with_an_http_date_waits_until_then(self, stub_receiver: StubFactory) -> None:
        later = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
        _, client = stub_receiver([(429, {"Retry-After": later})])
        slept: list[float] = []
        sender = sender_for(client, slept)
        assert sender.send(some_records()) is True
        assert len(slept) == 1 and 3.0 < slept[0] <= 5.0

    def test_without_retry_after_the_backoff_grows_and_is_capped(self, stub_receiver: StubFactory) -> None:
        _, client = stub_receiver([(503, {})] * (DEFAULT_MAX_ATTEMPTS - 1))
        slept: list[float] = []
        sender = sender_for(client, slept)
        assert sender.send(some_records()) is True
        assert len(slept) == DEFAULT_MAX_ATTEMPTS - 1
        assert slept[0] < slept[-1] <= MAX_BACKOFF_S
        assert all(0 < s <= MAX_BACKOFF_S for s in slept)

    def test_connection_errors_are_retried(self) -> None:
        calls: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(1)
            if len(calls) < 3:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(202, json={"accepted": 20, "rejected": []})

        slept: list[float] = []
        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            sender = sender_for(client, slept)
            assert sender.send(some_records()) is True
        assert len(calls) == 3 and len(slept) == 2
        assert sender.report.accepted == 20 and sender.report.retries == 2

    def test_a_receiver_that_stays_unavailable_fails_the_batch_and_stops_the_run(
        self, stub_receiver: StubFactory
    ) -> None:
        stub, client = stub_receiver([(503, {"Retry-After": "0"})] * 50)
        slept: list[float] = []
        sender = sender_for(client, slept, max_attempts=3)
        records = some_records()
        report = sender.send_all([records[:10], records[10:]])
        assert (report.accepted, report.failed, report.requests) == (0, 10, 3)
        assert report.stopped_early and not report.ok
        assert len(stub.seen) == 3  # the second batch was never sent
        assert "HTTP 503 after 3 attempts" in (report.first_problem or "")
        assert "failed=10" in report.summary() and "stopped_early=true" in report.summary()


class TestAnswers:
    def test_per_record_rejections_are_counted_and_the_first_is_named(
        self, stub_receiver: StubFactory
    ) -> None:
        _, client = stub_receiver()
        records = some_records()
        records[3] = {**records[3], "can_id": "nope"}
        sender = sender_for(client, [])
        assert sender.send(records) is True
        assert (sender.report.accepted, sender.report.rejected) == (19, 1)
        assert "record 3" in (sender.report.first_problem or "") and "can_id" in (
            sender.report.first_problem or ""
        )
        assert not sender.report.ok

    def test_a_refused_batch_counts_as_rejected_and_the_run_goes_on(self, stub_receiver: StubFactory) -> None:
        stub, client = stub_receiver([(422, {})])
        records = some_records()
        report = sender_for(client, []).send_all([records[:10], records[10:]])
        assert (report.accepted, report.rejected, report.failed) == (10, 10, 0)
        assert not report.stopped_early and len(stub.seen) == 2

    @pytest.mark.parametrize(
        ("status", "option"), [(401, "--api-key"), (403, "--api-key"), (404, "--target")]
    )
    def test_a_wrong_key_or_url_is_a_configuration_error(
        self, stub_receiver: StubFactory, status: int, option: str
    ) -> None:
        _, client = stub_receiver([(status, {})])
        with pytest.raises(ConfigurationError, match=option):
            sender_for(client, []).send(some_records())

    def test_a_batch_over_500_records_is_refused_before_sending(self, stub_receiver: StubFactory) -> None:
        stub, client = stub_receiver()
        with pytest.raises(ValueError, match=r"1\.\.500"):
            sender_for(client, []).send(some_records(4) * 126)
        assert stub.seen == []


class TestHelpers:
    def test_retry_after_forms(self) -> None:
        now = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)
        assert retry_after_seconds("3", now=now) == 3.0
        assert retry_after_seconds("Sat, 14 Jun 2025 08:00:07 GMT", now=now) == 7.0
        assert retry_after_seconds("Sat, 14 Jun 2025 07:00:00 GMT", now=now) == 0.0
        assert retry_after_seconds("86400", now=now) == MAX_RETRY_AFTER_S
        assert retry_after_seconds("soon", now=now) is None
        assert retry_after_seconds(None) is None

    def test_batches_fill_across_steps_or_flush_every_step(self) -> None:
        steps = [[{"n": i} for i in range(k, k + 300)] for k in (0, 300, 600)]
        assert [len(b) for b in batches(steps, 500, per_tick=False)] == [500, 400]
        assert [len(b) for b in batches(steps, 500, per_tick=True)] == [300, 300, 300]
        assert [len(b) for b in batches(steps, 200, per_tick=True)] == [200, 100] * 3
        flat = [r for b in batches(steps, 500, per_tick=False) for r in b]
        assert flat == [r for s in steps for r in s]  # nothing lost, nothing reordered
