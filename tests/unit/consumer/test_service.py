"""The consumer's delivery rules on in-memory fakes: delete only what was persisted, name failures."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from app.consumer.main import stop_on_signals
from app.consumer.ports import ReceivedMessage
from app.consumer.service import Consumer
from app.errors import QueueError
from app.observability import InMemoryMetrics
from tests.conftest import SettingsFactory
from tests.support.consumer import FakeQueue, wait_until
from tests.support.records import body, packed_bodies, record_line, seqs_of
from tests.support.storage import MemoryStore

NOON = datetime(2025, 10, 19, 12, 30, tzinfo=UTC)
ONE_PM = datetime(2025, 10, 19, 13, 5, tzinfo=UTC)


@pytest.fixture
def make_consumer(settings_factory: SettingsFactory) -> Any:
    def make(
        queue: FakeQueue, store: MemoryStore, metrics: InMemoryMetrics | None = None, **overrides: Any
    ) -> Consumer:
        values: dict[str, Any] = {
            "receive_wait_seconds": 0,
            "consumer_pollers": 2,
            "flush_max_records": 10**6,
            "flush_max_age_seconds": 0.2,
            "visibility_timeout_seconds": 30,
            "shutdown_timeout_seconds": 5,
        }
        values.update(overrides)
        return Consumer(
            settings=settings_factory(**values),
            queue=queue,
            store=store,
            metrics=metrics or InMemoryMetrics(),
        )

    return make


@contextmanager
def running(consumer: Consumer) -> Iterator[Consumer]:
    consumer.start()
    try:
        yield consumer
    finally:
        assert consumer.shutdown()


def _stored_seqs(store: MemoryStore) -> list[int]:
    return sorted(s for body_, _, _ in store.objects.values() for s in seqs_of(body_))


def test_every_record_is_written_once_then_its_message_deleted(
    make_consumer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue, store, metrics = FakeQueue(), MemoryStore(), InMemoryMetrics()
    for text in packed_bodies(list(range(300)), per_message=25):
        queue.send(text)
    caplog.set_level(logging.INFO)
    with running(make_consumer(queue, store, metrics, flush_max_records=100)) as consumer:
        assert wait_until(lambda: not queue.remaining())
    assert _stored_seqs(store) == list(range(300))
    assert consumer.stats().messages_deleted == 12
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("event=write_batch"))
    assert re.match(
        r"event=write_batch size=\d+ bytes=\d+ e2e_p50_ms=[\d.]+ e2e_p95_ms=[\d.]+ e2e_p99_ms=[\d.]+ "
        r"queue_p95_ms=[\d.]+ vehicle_delay_p95_ms=[\d.]+ processing_ms=[\d.]+ ",
        line,
    ), line
    event = metrics.events[0]
    assert set(event["metrics"]) >= {
        "IngestToPersistMs",
        "EndToEndMs",
        "QueueTimeMs",
        "BatchRecords",
        "BatchBytes",
        "ProcessingMs",
        "MessagesDeleted",
    }
    assert event["properties"]["flush_reason"] in {"count", "age"}
    assert 0 < len(event["metrics"]["EndToEndMs"]) <= 100
    assert event["units"]["EndToEndMs"] == "Milliseconds"
    assert sum(e["metrics"]["BatchRecords"] for e in metrics.events) == 300


def test_a_message_is_deleted_only_when_all_its_hours_are_stored(
    make_consumer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue = FakeQueue()
    noon_only = queue.send(body([record_line(1, ingest=NOON)]))
    one_only = queue.send(body([record_line(2, ingest=ONE_PM)]))
    spanning = queue.send(body([record_line(3, ingest=NOON), record_line(4, ingest=ONE_PM)]))
    store = MemoryStore(fail=lambda key, n: "/hour=13/" in key)
    caplog.set_level(logging.INFO)
    consumer = make_consumer(queue, store, flush_max_records=4)
    consumer.accept(queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=30))
    with running(consumer):
        assert wait_until(lambda: noon_only in queue.deleted)
        assert wait_until(lambda: consumer.stats().persist_failures == 1)
    assert queue.remaining() == sorted([one_only, spanning])
    assert _stored_seqs(store) == [1, 3]
    failed = [r.getMessage() for r in caplog.records if "event=persist_failed" in r.getMessage()]
    assert len(failed) == 1 and f"message_ids={one_only},{spanning}" in failed[0]
    assert len([k for k in store.attempts if "/hour=13/" in k]) == 2  # tried, retried once, given up


def test_a_put_failing_once_is_retried_and_nothing_is_lost_or_doubled(make_consumer: Any) -> None:
    queue = FakeQueue()
    for text in packed_bodies(list(range(40)), per_message=10):
        queue.send(text)
    store = MemoryStore(fail=lambda key, n: n == 1)
    with running(make_consumer(queue, store, flush_max_records=40)) as consumer:
        assert wait_until(lambda: not queue.remaining())
    assert _stored_seqs(store) == list(range(40))
    assert consumer.stats().persist_failures == 0
    assert all(store.attempts.count(key) == 2 for key in store.objects)


def test_a_failed_batch_is_left_alone_and_no_longer_extended(make_consumer: Any) -> None:
    queue = FakeQueue()
    mid = queue.send(body([record_line(1)]))
    consumer = make_consumer(queue, MemoryStore(fail=lambda key, n: True), flush_max_records=1)
    with running(consumer):
        assert wait_until(lambda: consumer.stats().persist_failures == 1)
    assert queue.remaining() == [mid] and queue.deleted == []
    assert consumer.extend_visibility(now=10**9) == 0  # not held any more: it will reappear


def test_poison_is_logged_by_id_left_in_the_queue_and_holds_nothing_back(
    make_consumer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue, metrics = FakeQueue(), InMemoryMetrics()
    poison = queue.send(body([record_line(1), b'{"timestamp": "yesterday"}']))
    good = [queue.send(text) for text in packed_bodies([2, 3, 4], per_message=1)]
    caplog.set_level(logging.INFO)
    with running(make_consumer(queue, MemoryStore(), metrics, flush_max_records=3)) as consumer:
        assert wait_until(lambda: set(good) <= set(queue.deleted))
    assert queue.remaining() == [poison]
    assert consumer.stats().poison_messages >= 1
    logged = [r.getMessage() for r in caplog.records if "event=poison_message" in r.getMessage()]
    assert logged and f"message_id={poison}" in logged[0] and "line 2" in logged[0]
    assert any(e["metrics"].get("PoisonMessages") == 1 for e in metrics.events)


def test_held_messages_past_half_their_timeout_are_extended(make_consumer: Any) -> None:
    queue = FakeQueue()
    ids = [queue.send(text) for text in packed_bodies([1, 2], per_message=1)]
    consumer = make_consumer(queue, MemoryStore(), visibility_timeout_seconds=30)
    received = queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=30)
    consumer.accept(received)
    start = received[0].received_at
    assert consumer.extend_visibility(now=start + 10) == 0  # 20 s left of 30: not yet
    assert consumer.extend_visibility(now=start + 16) == 2
    assert queue.visibility_calls == [(ids, 30)]
    assert consumer.extend_visibility(now=start + 20) == 0  # just extended: 26 s left
    assert consumer.stats().visibility_extensions == 2


def test_a_redelivered_held_message_is_buffered_once_and_deleted_by_its_newest_handle(
    make_consumer: Any,
) -> None:
    queue, store = FakeQueue(), MemoryStore()
    mid = queue.send(body([record_line(1), record_line(2)]))
    consumer = make_consumer(queue, store, flush_max_age_seconds=60)
    consumer.accept(queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=0))
    consumer.accept(
        queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=30)
    )  # again, new handle
    assert consumer.buffered_records() == 2
    consumer.start()
    assert consumer.shutdown()
    assert queue.deleted == [mid]
    assert _stored_seqs(store) == [1, 2]
    assert consumer.stats().duplicate_receives == 1


def test_shutdown_writes_and_deletes_what_is_buffered(make_consumer: Any) -> None:
    queue, store = FakeQueue(), MemoryStore()
    for text in packed_bodies(list(range(30)), per_message=10):
        queue.send(text)
    consumer = make_consumer(queue, store, flush_max_age_seconds=600)
    consumer.start()
    assert wait_until(lambda: consumer.buffered_records() == 30)
    assert store.objects == {}
    assert consumer.shutdown()
    assert _stored_seqs(store) == list(range(30)) and queue.remaining() == []
    assert consumer.stats().flush_reasons == {"shutdown": 1}


def test_shutdown_of_a_consumer_never_started_still_writes_what_it_was_given(make_consumer: Any) -> None:
    queue, store = FakeQueue(), MemoryStore()
    mid = queue.send(body([record_line(1)]))
    consumer = make_consumer(queue, store, flush_max_age_seconds=600)
    consumer.accept(queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=30))
    assert consumer.shutdown()
    assert queue.deleted == [mid] and _stored_seqs(store) == [1]


class _StalledPolls(FakeQueue):
    """Every receive hangs for longer than the shutdown budget, like a 20 s long poll on an idle queue."""

    def receive(
        self, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        time.sleep(3.0)
        return []


def test_shutdown_is_bounded_by_its_budget_even_with_polls_still_waiting(make_consumer: Any) -> None:
    queue, store = _StalledPolls(), MemoryStore()
    mid = queue.send(body([record_line(1)]))
    consumer = make_consumer(queue, store, flush_max_age_seconds=600, shutdown_timeout_seconds=1.0)
    consumer.accept(FakeQueue.receive(queue, max_messages=10, wait_seconds=0, visibility_timeout=30))
    consumer.start()
    started = time.monotonic()
    assert consumer.shutdown()  # the buffered record is stored; the waiting polls are no failure
    assert time.monotonic() - started < 1.5
    assert queue.deleted == [mid] and _stored_seqs(store) == [1]


def test_messages_received_after_the_last_seal_are_released_not_dropped(make_consumer: Any) -> None:
    queue = FakeQueue()
    consumer = make_consumer(queue, MemoryStore())
    consumer.start()
    assert consumer.shutdown()
    mid = queue.send(body([record_line(1)]))
    late = queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=30)
    consumer.accept(late)
    assert queue.visibility_calls[-1] == ([mid], 0)
    assert queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=30)  # visible again at once


class _BrokenAtFirst(FakeQueue):
    """The first receives raise `errors`, in order, then the queue works."""

    def __init__(self, *errors: Exception) -> None:
        super().__init__()
        self.errors = list(errors)

    def receive(
        self, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        with self._lock:
            if self.errors:
                raise self.errors.pop(0)
        return super().receive(
            max_messages=max_messages, wait_seconds=wait_seconds, visibility_timeout=visibility_timeout
        )


def test_a_failed_receive_is_logged_counted_and_the_pollers_go_on(
    make_consumer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # SQS refusing (QueueError), then what no SQS error maps to (moto in-process once raised this)
    denied = QueueError("SQS ReceiveMessage on fleet-telemetry failed: AccessDenied")
    queue = _BrokenAtFirst(denied, RuntimeError("Set changed size during iteration"))
    store, metrics = MemoryStore(), InMemoryMetrics()
    for text in packed_bodies(list(range(20)), per_message=5):
        queue.send(text)
    caplog.set_level(logging.WARNING)
    with running(make_consumer(queue, store, metrics)):
        assert wait_until(lambda: not queue.remaining())
    assert _stored_seqs(store) == list(range(20))
    failed = {
        r.levelno: r for r in caplog.records if r.getMessage().startswith("event=receive_failed")
    }  # two pollers: either may log first
    assert len([r for r in caplog.records if "event=receive_failed" in r.getMessage()]) == 2
    assert "AccessDenied" in failed[logging.WARNING].getMessage() and not failed[logging.WARNING].exc_info
    # a bug, ours or a library's: with its traceback
    assert "error_type=RuntimeError" in failed[logging.ERROR].getMessage() and failed[logging.ERROR].exc_info
    counted = [e for e in metrics.events if "ReceiveFailures" in e["metrics"]]
    assert sorted((e["metrics"]["ReceiveFailures"], e["properties"]["error_type"]) for e in counted) == [
        (1, "QueueError"),
        (1, "RuntimeError"),
    ]


def test_slow_writers_hold_back_the_pollers(make_consumer: Any) -> None:
    queue, hold = FakeQueue(), threading.Event()
    sent = [queue.send(text) for text in packed_bodies(list(range(100)), per_message=1)]
    consumer = make_consumer(queue, MemoryStore(hold=hold), flush_max_records=1, consumer_writers=1)
    consumer.start()
    try:
        wait_until(lambda: False, timeout=0.3)
        # a batch per receive of 10: one in the writer, two waiting, at most one more per poller
        assert len(queue.remaining()) >= 50
    finally:
        hold.set()
        assert consumer.shutdown()
    assert sorted(queue.deleted + queue.remaining()) == sent  # nothing received was left behind
    assert len(queue.deleted) == consumer.stats().messages_received


def test_sigterm_asks_the_consumer_to_stop_and_a_second_signal_gives_up(make_consumer: Any) -> None:
    consumer = make_consumer(FakeQueue(), MemoryStore())
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signals(consumer):
        assert signal.getsignal(signal.SIGTERM) is not before[0]
        os.kill(os.getpid(), signal.SIGTERM)
        assert consumer.wait_for_stop(2.0)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            consumer.wait_for_stop(2.0)  # the handler runs here, in the main thread
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # restored
