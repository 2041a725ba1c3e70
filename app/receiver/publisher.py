"""Publishing to SQS: concurrent requests share messages, and each is answered only after SQS acked.

A request hands its stamped lines to `publish()` and waits. A single flusher task collects what
arrives within the linger (measured from the first waiting record) or until a full
SendMessageBatch's worth is waiting, packs it (`packing`), and sends the calls on a small thread
pool so boto3 never blocks the event loop. A request's wait ends when every message that holds one
of its records is acknowledged (202), or when one of them is finally refused, the attempts run
out, or `publish_timeout_seconds` passes (PublishError -> 503 with Retry-After). Entries that
SendMessageBatch reports as failed are retried (up to `publish_max_attempts`, short exponential
backoff), except those SQS blames on the sender, which cannot succeed on a retry.

At most `publish_concurrency` flushes run at once; while they are busy, new records keep
collecting, so under load each call carries more (the batching adapts to SQS's latency instead of
spending one call per linger period). A request whose records end up split over several messages
and fails on one of them gets 503 although some of its records were queued: the client retries and
the duplicates are what at-least-once delivery allows (the aggregator counts distinct records).

A linger of 0 turns sharing off: each request's records go out at once in their own call(s),
packed only among themselves. With records per message = 1 that is the plain
one-record-per-message receiver, kept as the baseline `make bench` compares against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from app.aws import resolve_queue_url, sqs_client
from app.errors import PublishError
from app.observability import kv
from app.receiver.packing import (
    SQS_MAX_BATCH_BYTES,
    SQS_MAX_BATCH_ENTRIES,
    Message,
    PackLimits,
    group_calls,
    pack,
)
from app.receiver.stats import ReceiverStats
from app.settings import Settings

_log = logging.getLogger(__name__)

#: First pause before retrying failed entries; doubles per attempt (50 ms, 100 ms, ...).
RETRY_BACKOFF_SECONDS = 0.05
#: /readyz gives SQS this long to answer.
READY_TIMEOUT_SECONDS = 2.0


class Publisher(Protocol):
    """What the routes need from the queue side; tests pass their own."""

    async def start(self) -> None:
        """Begin accepting records (called from the app's lifespan)."""

    async def publish(self, lines: Sequence[bytes]) -> None:
        """Return once SQS holds every line; raise PublishError when it does not."""

    async def ready(self) -> str | None:
        """None when SQS is reachable, otherwise why not."""

    async def close(self) -> None:
        """Refuse new records, finish every publish in flight, release threads."""


class SqsClient(Protocol):
    """The two boto3 SQS calls the publisher makes (a fake stands in for it in unit tests)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]: ...  # noqa: N803 - boto3's names

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]: ...  # noqa: N803


@dataclass(slots=True, eq=False)
class _Submission:
    """One request's lines and the future its handler awaits."""

    lines: Sequence[bytes]
    future: asyncio.Future[None]
    unacked: int = 0


def describe_aws_error(exc: BotoCoreError | ClientError) -> str:
    """A short, key-free reason for logs and 503 details."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class SqsPublisher:
    """Shares SQS messages between concurrent requests; see the module docstring for the rules."""

    def __init__(
        self,
        sqs: SqsClient,
        *,
        queue_url: str,
        limits: PackLimits,
        stats: ReceiverStats,
        linger_seconds: float,
        max_attempts: int,
        timeout_seconds: float,
        concurrency: int,
        max_pending_records: int,
        retry_backoff_seconds: float = RETRY_BACKOFF_SECONDS,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._limits = limits
        self._stats = stats
        self._linger = linger_seconds
        self._max_attempts = max_attempts
        self._timeout = timeout_seconds
        self._concurrency = concurrency
        self._max_pending = max_pending_records
        self._backoff = retry_backoff_seconds
        # A flush starts early once a full SendMessageBatch call's worth is waiting.
        self._full_records = SQS_MAX_BATCH_ENTRIES * limits.records_per_message
        self._full_bytes = min(SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES * limits.message_max_bytes)
        self._pending: list[_Submission] = []
        self._pending_records = 0
        self._pending_bytes = 0
        self._first_at = 0.0
        self._outstanding = 0  # records whose requests are still waiting for an answer
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, *, stats: ReceiverStats) -> SqsPublisher:
        """Build the boto3 client (at start-up, never at import) and resolve the queue URL."""
        # A send may not hold a slot much past the request's own deadline: the read timeout is
        # capped by it and botocore retries once (the publisher retries failed entries itself).
        sqs = sqs_client(
            settings,
            pool_size=settings.publish_concurrency + 1,
            read_timeout=min(settings.aws_read_timeout_seconds, settings.publish_timeout_seconds),
            max_attempts=2,
        )
        try:
            queue_url = resolve_queue_url(sqs, url=settings.queue_url, name=settings.queue_name)
        except (BotoCoreError, ClientError) as exc:
            raise PublishError(
                f"cannot find SQS queue {settings.queue_name!r}: {describe_aws_error(exc)}"
            ) from exc
        return cls(
            sqs,
            queue_url=queue_url,
            limits=PackLimits.from_settings(settings),
            stats=stats,
            linger_seconds=settings.publish_linger_ms / 1000,
            max_attempts=settings.publish_max_attempts,
            timeout_seconds=settings.publish_timeout_seconds,
            concurrency=settings.publish_concurrency,
            max_pending_records=settings.publish_max_pending_records,
        )

    @property
    def outstanding_records(self) -> int:
        return self._outstanding

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="sqs-send")
        # Readiness probes get their own thread: a hanging probe must not hold up publishing.
        self._probe_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqs-probe")
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._slots = asyncio.Semaphore(self._concurrency)
        self._runner = self._loop.create_task(self._run(), name="sqs-flusher")

    async def close(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._wake.set()
        self._full.set()
        await self._runner
        while self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        self._executor.shutdown(wait=True)  # every call it ran has been awaited above
        self._probe_executor.shutdown(wait=False, cancel_futures=True)
        self._runner = None

    # -- the request side ------------------------------------------------------------------
    async def publish(self, lines: Sequence[bytes]) -> None:
        if self._closing or self._runner is None:
            raise PublishError("the receiver is shutting down")
        count = len(lines)
        if count == 0:
            return
        if self._outstanding + count > self._max_pending:
            raise PublishError(f"more than {self._max_pending} records are waiting for SQS")
        submission = _Submission(lines=lines, future=self._loop.create_future())
        self._outstanding += count
        # Whoever resolves the future after the request stopped waiting: nobody reads it then.
        submission.future.add_done_callback(_consume_result)
        try:
            if self._linger == 0:  # no sharing: this request's own call(s), now, tracked for close()
                task = self._loop.create_task(self._flush([submission]))
                self._flushes.add(task)
                task.add_done_callback(self._flushes.discard)
            else:
                self._enqueue(submission)
            # The deadline runs from the request's arrival, also while it waits for a free slot.
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(submission.future)
        except TimeoutError:
            raise PublishError(f"SQS did not acknowledge within {self._timeout:g} s") from None
        finally:
            self._outstanding -= count

    def _enqueue(self, submission: _Submission) -> None:
        """Hand a submission to the flusher; wake it, and hurry it when a full call's worth waits."""
        self._pending.append(submission)
        lines = submission.lines
        self._pending_records += len(lines)
        self._pending_bytes += sum(map(len, lines)) if len(lines) > 1 else len(lines[0])
        if not self._wake.is_set():
            self._first_at = self._loop.time()
            self._wake.set()
        if self._pending_records >= self._full_records or self._pending_bytes >= self._full_bytes:
            self._full.set()

    async def ready(self) -> str | None:
        def probe() -> None:
            self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])

        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await self._loop.run_in_executor(self._probe_executor, probe)
        except (BotoCoreError, ClientError) as exc:
            return f"SQS queue unreachable: {describe_aws_error(exc)}"
        except TimeoutError:
            return f"SQS did not answer within {READY_TIMEOUT_SECONDS:g} s"
        return None

    # -- the flusher -----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            delay = self._first_at + self._linger - self._loop.time()
            if delay > 0 and not self._full.is_set() and not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._full.wait()
            await self._slots.acquire()  # while every slot is busy, more records collect
            batch, self._pending = self._pending, []
            self._pending_records = self._pending_bytes = 0
            self._wake.clear()
            self._full.clear()
            if batch:
                task = self._loop.create_task(self._flush(batch))
                self._flushes.add(task)
                task.add_done_callback(self._flush_done)
            else:
                self._slots.release()
            if self._closing and not self._pending:
                return

    def _flush_done(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        self._slots.release()

    async def _flush(self, batch: list[_Submission]) -> None:
        # No timer here: each request's own deadline (publish()) runs from its arrival, so it has
        # always passed before one started at this flush would.
        try:
            messages = pack(((s, s.lines) for s in batch), self._limits)
            for message in messages:
                for owner in message.owners:
                    owner.unacked += 1
            await asyncio.gather(*(self._deliver(call) for call in group_calls(messages)))
        except Exception:  # a bug here must not leave requests waiting: log it, answer them 503
            _log.exception(kv("publish_bug", submissions=len(batch)))
            self._fail(batch, PublishError("internal error while publishing"))

    async def _deliver(self, call: list[Message[_Submission]]) -> None:
        """One SendMessageBatch call, retrying the entries SQS did not take."""
        remaining = {f"m{i}": message for i, message in enumerate(call)}
        reason = "no attempt made"
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 2))
            entries = [message.entry(entry_id) for entry_id, message in remaining.items()]
            started = time.perf_counter()
            try:
                result = await self._loop.run_in_executor(self._executor, self._send, entries)
            except (BotoCoreError, ClientError) as exc:
                self._stats.sqs_call((time.perf_counter() - started) * 1000)
                reason = describe_aws_error(exc)
                _log.warning(kv("sqs_send_failed", attempt=attempt, entries=len(entries), error=reason))
                continue
            self._stats.sqs_call((time.perf_counter() - started) * 1000)
            for ok in result.get("Successful", []):
                message = remaining.pop(ok["Id"], None)
                if message is not None:
                    self._ack(message)
            for failed in result.get("Failed", []):
                reason = str(failed.get("Code", "Failed"))
                if failed.get("SenderFault"):
                    message = remaining.pop(failed["Id"], None)
                    if message is not None:
                        _log.error(kv("sqs_entry_refused", code=reason, records=len(message.lines)))
                        self._fail(message.owners, PublishError(f"SQS refused a message: {reason}"))
            if not remaining:
                return
            _log.warning(kv("sqs_entries_failed", attempt=attempt, entries=len(remaining), error=reason))
        for message in remaining.values():
            self._fail(
                message.owners,
                PublishError(f"SQS did not take the records after {self._max_attempts} attempts: {reason}"),
            )

    def _send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Runs on a pool thread: the only place that blocks on SQS."""
        return self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)

    def _ack(self, message: Message[_Submission]) -> None:
        self._stats.message_sent(len(message.lines))
        for owner in message.owners:
            owner.unacked -= 1
            if owner.unacked == 0 and not owner.future.done():
                owner.future.set_result(None)

    def _fail(self, owners: Sequence[_Submission], error: PublishError) -> None:
        for owner in owners:
            if not owner.future.done():
                owner.future.set_exception(error)


def _consume_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
