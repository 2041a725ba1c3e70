"""An in-memory stand-in for the consumer's queue seam, faithful where the consumer depends on it.

`FakeQueue` keeps SQS's rules that matter here: a received message is invisible until its
visibility timeout passes, every receive gets a new receipt handle and only the newest one
deletes, and the receive count grows with each delivery. (The S3 seam's stand-in is
tests/support/storage.py.)
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.consumer.ports import ReceivedMessage


@dataclass
class _Stored:
    message_id: str
    body: str
    sent_ms: int
    receive_count: int = 0
    visible_at: float = 0.0
    handle: str = ""


class FakeQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, _Stored] = {}
        self._ids = itertools.count(1)
        self._handles = itertools.count(1)
        self.deleted: list[str] = []
        self.visibility_calls: list[tuple[list[str], int]] = []
        self.receive_calls = 0

    def send(self, body: str) -> str:
        with self._lock:
            mid = f"m-{next(self._ids):05d}"
            self._messages[mid] = _Stored(mid, body, int(time.time() * 1000))
            return mid

    def remaining(self) -> list[str]:
        with self._lock:
            return sorted(self._messages)

    def receive(
        self, *, max_messages: int, wait_seconds: int, visibility_timeout: int
    ) -> list[ReceivedMessage]:
        deadline = time.monotonic() + min(wait_seconds, 0.05)
        while True:
            now = time.monotonic()
            with self._lock:
                self.receive_calls += 1
                out: list[ReceivedMessage] = []
                for stored in self._messages.values():
                    if stored.visible_at <= now and len(out) < max_messages:
                        stored.receive_count += 1
                        stored.visible_at = now + visibility_timeout
                        stored.handle = f"h-{next(self._handles)}"
                        out.append(
                            ReceivedMessage(
                                message_id=stored.message_id,
                                receipt_handle=stored.handle,
                                body=stored.body.encode(),
                                sent_timestamp_ms=stored.sent_ms,
                                receive_count=stored.receive_count,
                                received_at=time.monotonic(),
                                received_wall_ms=time.time() * 1000,
                            )
                        )
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(0.005)

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        failed = []
        with self._lock:
            for m in messages:
                stored = self._messages.get(m.message_id)
                if stored is not None and stored.handle == m.receipt_handle:
                    del self._messages[m.message_id]
                    self.deleted.append(m.message_id)
                else:
                    failed.append(m.message_id)
        return failed

    def change_visibility(self, messages: Sequence[ReceivedMessage], timeout: int) -> list[str]:
        failed = []
        with self._lock:
            self.visibility_calls.append(([m.message_id for m in messages], timeout))
            for m in messages:
                stored = self._messages.get(m.message_id)
                if stored is not None and stored.handle == m.receipt_handle:
                    stored.visible_at = time.monotonic() + timeout
                else:
                    failed.append(m.message_id)
        return failed


def wait_until(predicate: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
