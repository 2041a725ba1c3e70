"""Take moto's SQS out of the benchmarks' way: its queue scans, ~190x cheaper.

moto 5.2 recomputes every queue attribute, including the three ApproximateNumberOfMessages*
counts, each a scan of every message in the queue that reads the clock through two datetime
conversions per message, where it needs a single static one: `send_message` to read
ContentBasedDeduplication, and `receive_message`, three times per message returned, to read
MessageRetentionPeriod. So a send into a queue that holds N messages costs O(N), filling a queue
is quadratic, and on the 2-core bench machine that scan, not our code, set the ceiling: 82 % of
moto's CPU in a sampling profile, with the receiver's 100-record batches stuck near 20,000
records/s and the consumer's drain slowing as the backlog grew. Real SQS has no such cost: a
stand-in that has it benchmarks itself.

`apply()` keeps moto's semantics and only its cost changes: a message is visible once the clock
passes `visible_at` and delayed until `delayed_until`, exactly as moto decides, but the clock is
read once per scan, with `time.time()`; the retention check reads the queue's attribute instead
of rendering all of them. The scans remain (they are moto's data structure): rendering the
attributes of a 20,000-message queue costs 0.11 µs per message where it cost 21 µs.

One fix rides along, because a stand-in that loses messages fails our zero-loss checks for its own
reasons: moto edits a queue's messages from several request threads, but only `add_message` holds
the queue's lock. `delete_message` rebuilds the message list and assigns it back, so two deletes at
once (two consumer threads) put back what the other removed ("deleted" messages return) and a send
during a delete is dropped; `receive_message` walks and edits the in-flight set, so two pollers at
once fail with 'Set changed size during iteration' or a KeyError (seen in a test run: the error
reached the consumer as a failed receive). `apply()` runs each delete, each receive's scan and each
visibility change under the queue's lock (a Condition over an RLock); a long poll waits on that
Condition, which releases the lock, so it holds back no send. Still unlocked, as in moto: purging a
queue, the attribute counts (a read, at worst a count off by the message moving), and the FIFO
deduplication check in `send_message`; no queue here is FIFO and nothing here purges one.

`telemetry local-aws` applies it before serving, and the tests' in-process moto applies it too;
tests/integration/test_moto_speedups.py holds the counts, the delays, the visibility, the retention
and concurrent deletes to what SQS documents.
"""

from __future__ import annotations

import time
from typing import Any

from moto.sqs import models  # dev dependency: only the embedded stack imports this module

# Captured once, so a second apply() wraps them no deeper; None if moto renamed one (apply() says so).
_MOTO_DELETE: Any = vars(models.Queue).get("delete_message")
_MOTO_RECEIVE: Any = vars(models.SQSBackend).get("receive_message")
_MOTO_CHANGE_VISIBILITY: Any = vars(models.SQSBackend).get("change_message_visibility")


def _now_ms() -> float:
    return time.time() * 1000.0


def _visible(message: Any) -> bool:
    return bool(_now_ms() > message.visible_at)


def _delayed(message: Any) -> bool:
    return bool(_now_ms() < message.delayed_until)


def _messages(queue: Any) -> list[Any]:
    """Receivable now: visible and no longer delayed (moto's `Queue.messages`)."""
    now = _now_ms()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _count_delayed(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _count_not_visible(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _within_retention(backend: Any, queue_name: str, message: Any) -> bool:
    retention_seconds = backend.get_queue(queue_name).message_retention_period
    return bool(retention_seconds + message.sent_timestamp / 1000 > time.time())


def _delete_message(queue: Any, receipt_handle: str) -> None:
    """moto's delete, but holding the lock its `add_message` holds (a Condition over an RLock)."""
    with queue._messages_lock:
        _MOTO_DELETE(queue, receipt_handle)


def _receive_message(
    backend: Any, queue_name: str, count: int, wait_seconds_timeout: int, *rest: Any, **named: Any
) -> Any:
    """moto's receive, one scan at a time under the queue's lock; the long poll waits here, not in it.

    moto's own poll waits only while no message is visible, so a visible message it may not deliver
    (a FIFO group in flight) would keep it scanning, and holding the lock, for the whole poll.
    Waiting on the Condition releases the lock; a send wakes it, and so does each second, for
    messages whose visibility timeout ran out (moto's poll re-checks each second too).
    """
    queue = backend.get_queue(queue_name)
    deadline = time.monotonic() + wait_seconds_timeout
    with queue._messages_lock:
        while True:
            got = _MOTO_RECEIVE(backend, queue_name, count, 0, *rest, **named)  # 0: one scan, no wait
            left = deadline - time.monotonic()
            if got or left <= 0:
                return got
            queue._messages_lock.wait(min(left, 1.0))


def _change_message_visibility(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
    """moto's visibility change, which may drop the message from the in-flight set: under the lock."""
    with backend.get_queue(queue_name)._messages_lock:
        return _MOTO_CHANGE_VISIBILITY(backend, queue_name, *args, **kwargs)


def apply() -> None:
    """Replace the slow members in place; idempotent, and a no-op for everything else moto does."""
    replacements: list[tuple[type, str, object]] = [
        (models.Message, "visible", property(_visible)),
        (models.Message, "delayed", property(_delayed)),
        (models.Queue, "messages", property(_messages)),
        (models.Queue, "approximate_number_of_messages_delayed", property(_count_delayed)),
        (models.Queue, "approximate_number_of_messages_not_visible", property(_count_not_visible)),
        (models.SQSBackend, "is_message_valid_based_on_retention_period", _within_retention),
        (models.Queue, "delete_message", _delete_message),
        (models.SQSBackend, "receive_message", _receive_message),
        (models.SQSBackend, "change_message_visibility", _change_message_visibility),
    ]
    for owner, name, _ in replacements:
        if name not in vars(owner):  # a moto upgrade renamed it: say so rather than patch nothing
            raise RuntimeError(f"moto {owner.__name__}.{name} is gone; update app/moto_speedups.py")
    for owner, name, member in replacements:
        setattr(owner, name, member)
