"""`Consumer`: SQS long polls in, batched S3 objects out, messages deleted only once persisted.

Threads, all daemons, all sharing one lock around the buffer and the table of held messages:

- pollers (`consumer_pollers`): ReceiveMessage (10 messages, 20 s long poll), decode each message
  on its own, add the good ones to the buffer; a sealed batch goes to the writers' queue. Pollers
  wait before receiving while that queue is full, so a slow S3 holds back SQS, not memory.
- writers (`consumer_writers`): one object per hour of a batch, each PUT retried once; then
  DeleteMessageBatch for exactly the messages whose every object was stored. A message with a
  failed object is left alone: it reappears after its visibility timeout and, after
  maxReceiveCount receives, goes to the DLQ.
- ticker: seals the buffer when its oldest record reaches the age limit, and extends the visibility
  of every held message (buffered or being written) that has less than half its timeout left.

A message with a line that breaks the contract is poison: logged by id, never buffered, never
deleted; SQS moves it to the DLQ after maxReceiveCount receives. It delays no other message.
`shutdown()` stops polling, lets in-flight receives land (they are ours already), seals what is
buffered, drains the writers and returns within `shutdown_timeout_seconds`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from queue import Queue
from typing import Final

from app.consumer.batching import Batch, Buffer, BufferedMessage, FlushReason, PartObject, build_objects
from app.consumer.decode import decode_body
from app.consumer.latency import percentile, rank_sample
from app.consumer.live_rules import LiveRules
from app.consumer.ports import SQS_BATCH_LIMIT, MessageQueue, ReceivedMessage
from app.errors import ContractError, PersistError, QueueError
from app.object_store import ObjectWriter
from app.observability import Metrics, kv
from app.settings import Settings

log = logging.getLogger(__name__)

#: The issue's rule: a failed PUT is retried once, then the batch's messages are left for redelivery.
PUT_ATTEMPTS: Final = 2
PUT_RETRY_PAUSE_SECONDS: Final = 0.2
#: Extend a held message's visibility once less than this share of its timeout is left.
EXTEND_AT_REMAINING_FRACTION: Final = 0.5
#: The ticker wakes at least this often to check visibility even when the buffer is empty.
TICK_SECONDS: Final = 1.0
#: Kept from the shutdown budget for the last flush (PUT + delete) after the pollers' final receives:
#: this share of it, at most FLUSH_RESERVE_MAX_SECONDS, so 25 s leave the 20 s long poll 20 s.
FLUSH_RESERVE_FRACTION: Final = 0.3
FLUSH_RESERVE_MAX_SECONDS: Final = 5.0
RECEIVE_BACKOFF_MAX_SECONDS: Final = 5.0
#: Sealed batches waiting for a writer, per writer, before the pollers pause.
PENDING_PER_WRITER: Final = 2


@dataclass
class ConsumerStats:
    """Running totals; `Consumer.stats()` returns a copy (tests and the benchmark read them)."""

    messages_received: int = 0
    records_received: int = 0
    redelivered_messages: int = 0
    duplicate_receives: int = 0
    poison_messages: int = 0
    batches_written: int = 0
    objects_written: int = 0
    records_persisted: int = 0
    messages_deleted: int = 0
    delete_failures: int = 0
    persist_failures: int = 0
    visibility_extensions: int = 0
    flush_reasons: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclass(slots=True)
class _Held:
    """A message we hold (buffered or being written); `message` has the newest receipt handle."""

    message: ReceivedMessage
    visible_until: float


class Consumer:
    """Drains the queue into S3; see the module docstring for the threads and the guarantees."""

    def __init__(
        self,
        *,
        settings: Settings,
        queue: MessageQueue,
        store: ObjectWriter,
        metrics: Metrics,
        live_rules: LiveRules | None = None,
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._store = store
        self._metrics = metrics
        self._visibility = settings.visibility_timeout_seconds
        self._lock = threading.Lock()
        self._buffer = Buffer(
            max_records=settings.flush_max_records,
            max_bytes=settings.flush_max_bytes,
            max_age=settings.flush_max_age_seconds,
        )
        self._held: dict[str, _Held] = {}
        self._pending: Queue[Batch | None] = Queue()
        self._max_pending = settings.consumer_writers * PENDING_PER_WRITER
        self._stopping = threading.Event()
        self._closed = False  # set under the lock once the last batch is sealed
        self._ticker_stop = threading.Event()
        self._wake = threading.Event()
        self._stats = ConsumerStats()
        self._pollers: list[threading.Thread] = []
        self._writers: list[threading.Thread] = []
        self._ticker: threading.Thread | None = None
        self._rules = live_rules

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start pollers, writers and the ticker; returns at once."""
        s = self._settings
        self._pollers = [
            threading.Thread(target=self._poll_loop, name=f"poller-{i}", daemon=True)
            for i in range(s.consumer_pollers)
        ]
        self._writers = [
            threading.Thread(target=self._write_loop, name=f"writer-{i}", daemon=True)
            for i in range(s.consumer_writers)
        ]
        self._ticker = threading.Thread(target=self._tick_loop, name="ticker", daemon=True)
        if self._rules is not None:
            self._rules.start()
        for thread in [*self._writers, self._ticker, *self._pollers]:
            thread.start()
        log.info(
            kv(
                "consumer_started",
                pollers=s.consumer_pollers,
                writers=s.consumer_writers,
                flush_max_records=s.flush_max_records,
                flush_max_bytes=s.flush_max_bytes,
                flush_max_age_s=s.flush_max_age_seconds,
                visibility_timeout_s=s.visibility_timeout_seconds,
            )
        )

    def request_stop(self) -> None:
        """Stop polling soon; safe to call from a signal handler (it only sets an Event)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_for_stop(self, timeout: float | None = None) -> bool:
        return self._stopping.wait(timeout)

    def shutdown(self) -> bool:
        """Stop polling, flush and delete, within `shutdown_timeout_seconds`; True if all was stored.

        Pollers finish the receive they are in (at most the long-poll wait) and their messages are
        buffered; whatever is buffered then is sealed as a last batch and written. Anything not
        persisted by the deadline stays in the queue and reappears after its visibility timeout.
        """
        started = time.monotonic()
        budget = self._settings.shutdown_timeout_seconds
        deadline = started + budget
        self._stopping.set()
        poll_deadline = deadline - min(budget * FLUSH_RESERVE_FRACTION, FLUSH_RESERVE_MAX_SECONDS)
        for thread in self._pollers:
            thread.join(max(0.0, poll_deadline - time.monotonic()))
        stuck = [t.name for t in self._pollers if t.is_alive()]
        failures_before = self._snapshot().persist_failures
        with self._lock:
            self._closed = True
            last = self._buffer.seal(FlushReason.SHUTDOWN, now=time.monotonic())
            if last is not None and self._writers:
                self._pending.put(last)
            for _ in self._writers:
                self._pending.put(None)
        if last is not None and not self._writers:
            self.write(last)  # never started: write it here rather than leave it to nobody
        for thread in self._writers:
            thread.join(max(0.0, deadline - time.monotonic()))
        unfinished = [t.name for t in self._writers if t.is_alive()]
        if self._rules is not None:
            self._rules.stop(timeout=max(0.1, deadline - time.monotonic()))
        self._ticker_stop.set()
        self._wake.set()
        if self._ticker is not None:
            self._ticker.join(1.0)
        stats = self._snapshot()
        # A poll still waiting at the deadline is no failure (an idle queue): what it catches later is
        # released, or comes back after its visibility timeout. A batch not stored is one.
        clean = not unfinished and stats.persist_failures == failures_before
        log.info(
            kv(
                "consumer_stopped",
                clean=clean,
                seconds=time.monotonic() - started,
                last_batch_records=0 if last is None else last.records,
                abandoned_polls=len(stuck),
                unfinished_writers=len(unfinished),
                records_persisted=stats.records_persisted,
                messages_deleted=stats.messages_deleted,
                poison_messages=stats.poison_messages,
            )
        )
        return clean

    def stats(self) -> ConsumerStats:
        return self._snapshot()

    def buffered_records(self) -> int:
        with self._lock:
            return self._buffer.records

    def _snapshot(self) -> ConsumerStats:
        with self._lock:
            return dataclasses.replace(self._stats, flush_reasons=dict(self._stats.flush_reasons))

    # -- pollers -----------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            if self._pending.qsize() >= self._max_pending:
                self._stopping.wait(0.05)  # writers are behind: hold back instead of piling up
                continue
            try:
                messages = self._queue.receive(
                    max_messages=SQS_BATCH_LIMIT,
                    wait_seconds=self._settings.receive_wait_seconds,
                    visibility_timeout=self._visibility,
                )
            except Exception as exc:  # a dead poller would stop consuming with no log line of ours
                backoff = min(RECEIVE_BACKOFF_MAX_SECONDS, max(0.1, backoff * 2))
                if isinstance(exc, QueueError):
                    log.warning(kv("receive_failed", retry_in_s=backoff, error=exc))
                else:  # not SQS saying no: a bug, ours or a library's, so the traceback too
                    log.exception(kv("receive_failed", retry_in_s=backoff, error_type=type(exc).__name__))
                # The one number an alarm can watch: a consumer that cannot receive looks idle otherwise.
                self._metrics.emit(
                    {"ReceiveFailures": 1},
                    units={"ReceiveFailures": "Count"},
                    properties={"error_type": type(exc).__name__},
                )
                self._stopping.wait(backoff)
                continue
            backoff = 0.0
            if messages:
                try:
                    self.accept(messages)
                except Exception:  # a bug must not kill the poller: what was not buffered reappears
                    log.exception(kv("accept_failed", messages=len(messages)))

    def accept(self, messages: Sequence[ReceivedMessage]) -> None:
        """Decode each message on its own and buffer the good ones (what a poller does per receive)."""
        good: list[BufferedMessage] = []
        for message in messages:
            try:
                body = decode_body(message.body)
            except ContractError as exc:
                self._poison(message, exc)
                continue
            good.append(BufferedMessage(message=message, body=body))
        now = time.monotonic()
        late: list[ReceivedMessage] = []
        with self._lock:
            self._stats.messages_received += len(messages)
            self._stats.redelivered_messages += sum(1 for m in messages if m.receive_count > 1)
            if self._closed:
                late = [item.message for item in good]
            else:
                fresh = []
                for item in good:
                    held = self._held.get(item.message_id)
                    if held is not None:  # SQS delivered a message we still hold: keep one copy
                        held.message = item.message
                        held.visible_until = item.message.received_at + self._visibility
                        self._stats.duplicate_receives += 1
                        continue
                    self._held[item.message_id] = _Held(
                        item.message, item.message.received_at + self._visibility
                    )
                    self._stats.records_received += item.body.count
                    fresh.append(item)
                was_empty = self._buffer.opened_at is None
                # Enqueued under the lock (the queue is unbounded: put never blocks), so no batch can
                # land behind the writers' stop sentinels that shutdown() enqueues once closed.
                for batch in self._buffer.add(fresh, now=now):
                    self._pending.put(batch)
                if was_empty and self._buffer.opened_at is not None:
                    self._wake.set()  # the ticker must learn the new age deadline
        if late:
            self._release(late)

    def _poison(self, message: ReceivedMessage, exc: ContractError) -> None:
        """Log by id and leave it: no delete, no visibility change; the redrive policy takes it."""
        last = message.receive_count >= self._settings.max_receive_count
        log.error(
            kv(
                "poison_message",
                message_id=message.message_id,
                receive_count=message.receive_count,
                to_dlq_next=last,
                error=exc,
            )
        )
        with self._lock:
            self._stats.poison_messages += 1
        self._metrics.emit(
            {"PoisonMessages": 1},
            units={"PoisonMessages": "Count"},
            properties={"message_id": message.message_id, "error": str(exc)},
        )

    def _release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Received after the last batch was sealed: make them visible again for another consumer."""
        failed = self._queue.change_visibility(messages, 0)
        log.warning(
            kv(
                "released_after_shutdown",
                messages=len(messages),
                failed=len(failed),
                message_ids=",".join(m.message_id for m in messages),
            )
        )

    # -- ticker: age flush and visibility extension ------------------------------------------
    def _tick_loop(self) -> None:
        while not self._ticker_stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            with self._lock:
                batch = None if self._closed else self._buffer.seal_if_old(now=now)
                if batch is not None:
                    self._pending.put(batch)
                deadline = self._buffer.deadline
            try:
                self.extend_visibility(now=now)
            except Exception:  # the ticker must survive anything; the failure is logged in full
                log.exception(kv("visibility_extension_crashed"))
            timeout = TICK_SECONDS if deadline is None else min(TICK_SECONDS, deadline - time.monotonic())
            self._wake.wait(max(0.005, timeout))

    def extend_visibility(self, *, now: float | None = None) -> int:
        """ChangeMessageVisibilityBatch for held messages with under half their timeout left."""
        now = time.monotonic() if now is None else now
        margin = self._visibility * EXTEND_AT_REMAINING_FRACTION
        with self._lock:
            due = [held for held in self._held.values() if held.visible_until - now <= margin]
        if not due:
            return 0
        failed = set(self._queue.change_visibility([held.message for held in due], self._visibility))
        with self._lock:
            for held in due:
                if held.message.message_id not in failed:
                    held.visible_until = now + self._visibility
            self._stats.visibility_extensions += len(due) - len(failed)
        log.info(kv("visibility_extended", messages=len(due) - len(failed), timeout_s=self._visibility))
        if failed:
            log.warning(kv("visibility_extension_failed", message_ids=",".join(sorted(failed))))
        return len(due) - len(failed)

    # -- writers -----------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            batch = self._pending.get()
            if batch is None:
                return
            try:
                self.write(batch)
            except Exception:  # a bug must not kill the writer; the batch is left for redelivery
                log.exception(
                    kv("write_crashed", message_ids=_ids(item.message_id for item in batch.messages))
                )
                self._forget(item.message_id for item in batch.messages)

    def write(self, batch: Batch) -> None:
        """PUT one object per hour, then delete exactly the messages whose every object is stored."""
        flushed_at = datetime.now(UTC)
        objects = build_objects(
            batch,
            prefix=self._settings.raw_prefix,
            compress=self._settings.gzip_objects,
            flushed_at=flushed_at,
        )
        stored: list[PartObject] = []
        unsaved_ids: set[str] = set()
        for obj in objects:
            try:
                self._put(obj)
            except PersistError as exc:
                unsaved_ids |= obj.message_ids
                log.error(
                    kv(
                        "persist_failed",
                        key=obj.key,
                        records=obj.records,
                        attempts=PUT_ATTEMPTS,
                        message_ids=_ids(obj.message_ids),
                        error=exc,
                    )
                )
                continue
            stored.append(obj)
        persisted_ms = time.time() * 1000.0
        done = [item for item in batch.messages if item.message_id not in unsaved_ids]
        if self._rules is not None and done:
            self._rules.submit(
                [(d.body.vehicles, d.body.event_ms, d.body.ingest_ms, d.body.payloads) for d in done]
            )
        held = self._forget(item.message_id for item in batch.messages)
        to_delete = [held.get(item.message_id, item.message) for item in done]
        failed_deletes = self._queue.delete(to_delete) if to_delete else []
        if failed_deletes:
            log.warning(kv("delete_failed", messages=len(failed_deletes), message_ids=_ids(failed_deletes)))
        processing_ms = (time.monotonic() - batch.sealed_at) * 1000.0
        with self._lock:
            st = self._stats
            st.persist_failures += len(objects) - len(stored)
            st.delete_failures += len(failed_deletes)
            st.messages_deleted += len(to_delete) - len(failed_deletes)
            if stored:
                st.batches_written += 1
                st.objects_written += len(stored)
                st.records_persisted += sum(obj.records for obj in stored)
                st.flush_reasons[batch.reason.value] = st.flush_reasons.get(batch.reason.value, 0) + 1
        if stored:
            deleted = len(to_delete) - len(failed_deletes)
            self._report(
                batch=batch,
                stored=stored,
                failed_objects=len(objects) - len(stored),
                done=done,
                persisted_ms=persisted_ms,
                processing_ms=processing_ms,
                deleted=deleted,
            )
        elif objects:
            self._metrics.emit({"PersistFailures": len(objects)}, units={"PersistFailures": "Count"})

    def _put(self, obj: PartObject) -> None:
        for attempt in range(1, PUT_ATTEMPTS + 1):
            try:
                self._store.put(
                    key=obj.key, body=obj.body, metadata=obj.metadata, content_type=obj.content_type
                )
                return
            except PersistError as exc:
                if attempt == PUT_ATTEMPTS:
                    raise
                log.warning(kv("put_retry", key=obj.key, attempt=attempt, error=exc))
                time.sleep(PUT_RETRY_PAUSE_SECONDS)

    def _forget(self, message_ids: Iterable[str]) -> dict[str, ReceivedMessage]:
        """Stop holding (and extending) these messages; returns their newest receipt per id."""
        with self._lock:
            popped = {mid: self._held.pop(mid, None) for mid in message_ids}
        return {mid: held.message for mid, held in popped.items() if held is not None}

    def _report(
        self,
        *,
        batch: Batch,
        stored: list[PartObject],
        failed_objects: int,
        done: list[BufferedMessage],
        persisted_ms: float,
        processing_ms: float,
        deleted: int,
    ) -> None:
        """The write_batch log line (exact percentiles) and one EMF event (rank-sampled arrays)."""
        e2e = sorted(persisted_ms - t for item in done for t in item.body.event_ms)
        # the vehicle's clock against the receiver's: network, buffering in the car, and clock skew
        vehicle_delay = sorted(
            i - e for item in done for e, i in zip(item.body.event_ms, item.body.ingest_ms, strict=True)
        )
        ingest = sorted(persisted_ms - t for item in done for t in item.body.ingest_ms)
        queued = sorted(
            max(0.0, item.message.received_wall_ms - item.message.sent_timestamp_ms) for item in done
        )
        size = sum(obj.records for obj in stored)
        raw_bytes = sum(obj.raw_bytes for obj in stored)
        # received before: a crash, failed PUT or lapsed visibility; a share of these are duplicates
        redelivered = sum(1 for item in batch.messages if item.message.receive_count > 1)
        log.info(
            kv(
                "write_batch",
                size=size,
                bytes=raw_bytes,
                e2e_p50_ms=percentile(e2e, 50),
                e2e_p95_ms=percentile(e2e, 95),
                e2e_p99_ms=percentile(e2e, 99),
                queue_p95_ms=percentile(queued, 95),
                vehicle_delay_p95_ms=percentile(vehicle_delay, 95),
                processing_ms=processing_ms,
                ingest_p50_ms=percentile(ingest, 50),
                ingest_p95_ms=percentile(ingest, 95),
                ingest_p99_ms=percentile(ingest, 99),
                buffer_ms=(batch.sealed_at - batch.opened_at) * 1000.0,
                reason=batch.reason.value,
                objects=len(stored),
                stored_bytes=sum(len(obj.body) for obj in stored),
                messages=len(batch.messages),
                deleted=deleted,
                redelivered=redelivered,
            )
        )
        self._metrics.emit(
            {
                "IngestToPersistMs": rank_sample(ingest),
                "EndToEndMs": rank_sample(e2e),
                "QueueTimeMs": rank_sample(queued),
                "VehicleDelayMs": rank_sample(vehicle_delay),
                "BatchRecords": size,
                "BatchBytes": raw_bytes,
                "ProcessingMs": processing_ms,
                "MessagesDeleted": deleted,
                "PersistFailures": failed_objects,
                "MessagesRedelivered": redelivered,
            },
            units={
                "IngestToPersistMs": "Milliseconds",
                "EndToEndMs": "Milliseconds",
                "QueueTimeMs": "Milliseconds",
                "VehicleDelayMs": "Milliseconds",
                "BatchRecords": "Count",
                "BatchBytes": "Bytes",
                "ProcessingMs": "Milliseconds",
                "MessagesDeleted": "Count",
                "PersistFailures": "Count",
                "MessagesRedelivered": "Count",
            },
            properties={"flush_reason": batch.reason.value, "objects": len(stored)},
        )


def _ids(message_ids: Iterable[str]) -> str:
    return ",".join(sorted(message_ids))
