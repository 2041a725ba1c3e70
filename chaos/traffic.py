"""Good traffic for the scenarios: unique valid records, and a ledger of exactly which got a 202.

A record's identity is `loadtest.accepted.identity` (vehicle, timestamp, can_id, payload), the one
the aggregator dedupes on, so the bucket can be checked record by record. Every record carries a
`seq` signal unique within its scenario, so no two records of a run share an identity.

`GoodClient.send` posts one batch until the receiver answers for it, bounded in attempts and
time: a 202 acknowledges the records it did not list as rejected; 429/5xx, connection errors and
timeouts are retried (on the next receiver URL, as a load balancer would after a failed health
check), honouring Retry-After up to a cap. `Load` paces batches from a few threads over a fixed
window, so an attack can land while records are flowing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
import orjson

from app.receiver.routes import BATCH_PATH
from loadtest.accepted import identity_of

RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: A Retry-After above this is waited as this: the scenarios are bounded in time.
MAX_RETRY_WAIT_SECONDS: Final = 2.0
FIRST_BACKOFF_SECONDS: Final = 0.25


def good_record(tag: str, seq: int, *, now: datetime | None = None) -> dict[str, Any]:
    """A valid contract-v1 record, unique per (tag, seq); stamped just before now."""
    moment = (now or datetime.now(UTC)) - timedelta(milliseconds=200)
    return {
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "vehicle_id": f"{tag}-{seq % 200:03d}",
        "can_id": "0x1F0",
        "payload": {
            "seq": seq,
            "battery_soc": round(20.0 + (seq % 800) / 10, 1),
            "battery_voltage": 380.0 + seq % 40,
            "cell_temp_max": 31.25,
            "charging": seq % 2 == 0,
        },
    }


def good_batch(tag: str, first_seq: int, size: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [good_record(tag, first_seq + i, now=now) for i in range(size)]


@dataclass(frozen=True, slots=True)
class Answer:
    """One request's fate: when it left, when it was answered, and how (`202`, `503`, `conn_error`...)."""

    sent_at: float
    answered_at: float
    outcome: str
    url: str
    detail: str = ""  # the exception's class for `conn_error` / `timeout`


class Ledger:
    """Thread-safe record of what good clients offered and what the receiver acknowledged (202).

    `offered` are identities of every good record sent at least once; `acked` those a 202 covered.
    `answers` is the per-request timeline (monotonic clock) that outage scenarios check, e.g. that no
    202 was given while SQS was unreachable.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.offered: set[str] = set()
        self.acked: set[str] = set()
        self.answers: list[Answer] = []
        self.outcomes: Counter[str] = Counter()
        self.good_refused = 0  # good records a receiver refused (4xx or listed as rejected): a bug

    def offer(self, identities: Iterable[str]) -> None:
        with self._lock:
            self.offered.update(identities)

    def ack(self, identities: Iterable[str]) -> None:
        with self._lock:
            self.acked.update(identities)

    def refused(self, count: int) -> None:
        with self._lock:
            self.good_refused += count

    def answer(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)
            self.outcomes[answer.outcome] += 1

    def snapshot_answers(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


def classify(exc: httpx.HTTPError) -> str:
    """A transport failure as an outcome: `timeout` (the server kept us waiting) or `conn_error`."""
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "conn_error"


def acknowledged(records: Sequence[dict[str, Any]], response: httpx.Response) -> tuple[list[int], int]:
    """Indices a 202 acknowledged (all but the `rejected` ones), and how many it rejected."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    rejected = {int(item["index"]) for item in (body.get("rejected") or []) if isinstance(item, dict)}
    return [i for i in range(len(records)) if i not in rejected], len(rejected)


class GoodClient:
    """Posts batches of good records until answered; one per thread (httpx pools are per client)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        api_key: str,
        ledger: Ledger,
        max_attempts: int = 12,
        timeout_seconds: float = 20.0,
        give_up_at: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one receiver URL")
        self._urls = list(urls)
        self._current = 0
        self._headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
        self._ledger = ledger
        self._max_attempts = max_attempts
        self._give_up_at = give_up_at
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_seconds, connect=3.0), transport=transport)

    def close(self) -> None:
        self._client.close()

    def warm(self) -> None:
        """Open the pooled connection to the current receiver now (GET /healthz), not at the first post."""
        self._client.get(self._urls[self._current] + "/healthz")

    def send(self, records: Sequence[dict[str, Any]], *, ready: threading.Barrier | None = None) -> bool:
        """True once a receiver answered 202 for the batch; False when attempts or time ran out.

        With `ready`, everything but the post itself is done first and the post waits for the
        barrier, so several clients can hit a receiver within the same few milliseconds.
        """
        identities = [identity_of(record) for record in records]
        self._ledger.offer(identities)
        body = orjson.dumps(list(records))
        if ready is not None:
            ready.wait()
        for attempt in range(1, self._max_attempts + 1):
            url = self._urls[self._current]
            sent_at = time.monotonic()
            wait: float | None = None
            try:
                response = self._client.post(url + BATCH_PATH, content=body, headers=self._headers)
            except httpx.HTTPError as exc:
                outcome, detail = classify(exc), type(exc).__name__
            else:
                detail = ""
                outcome = str(response.status_code)
                if response.status_code == 202:
                    self._ledger.answer(Answer(sent_at, time.monotonic(), outcome, url))
                    indices, rejected = acknowledged(records, response)
                    self._ledger.ack(identities[i] for i in indices)
                    self._ledger.refused(rejected)
                    return True
                if response.status_code not in RETRY_STATUSES:
                    self._ledger.answer(Answer(sent_at, time.monotonic(), outcome, url))
                    self._ledger.refused(len(records))
                    return False
                wait = _retry_after(response)
            self._ledger.answer(Answer(sent_at, time.monotonic(), outcome, url, detail))
            self._current = (self._current + 1) % len(self._urls)  # fail over, as a balancer would
            if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                return False
            if attempt < self._max_attempts:
                time.sleep(wait if wait is not None else _backoff(attempt))
        return False


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(MAX_RETRY_WAIT_SECONDS, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    return float(min(MAX_RETRY_WAIT_SECONDS, FIRST_BACKOFF_SECONDS * 2.0 ** (attempt - 1)))


@dataclass
class Load:
    """`records` good records in batches of `batch_size`, spread evenly over `seconds` by `workers` threads.

    Batch k is due at start + k * seconds / batches; a worker late for its slot sends at once, so a
    slow receiver makes the load burstier, never smaller. `stop()` lets no new batch start; the ones
    in flight finish (each bounded by its client's attempts and `give_up_after` seconds).
    """

    urls: Sequence[str]
    api_key: str
    ledger: Ledger
    tag: str
    records: int
    batch_size: int
    seconds: float
    workers: int = 4
    give_up_after: float = 90.0
    client_factory: Callable[..., GoodClient] = GoodClient
    batches_done: int = 0
    batches_failed: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def batches(self) -> int:
        return -(-self.records // self.batch_size)

    def start(self) -> Load:
        self.started_at = time.monotonic()
        self._threads = [
            threading.Thread(target=self._work, name=f"load-{self.tag}-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers; True when all have finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        finished = not any(thread.is_alive() for thread in self._threads)
        if finished and not self.finished_at:
            self.finished_at = time.monotonic()
        return finished

    def _take(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or self._next >= self.batches:
                return None
            k, self._next = self._next, self._next + 1
            return k

    def _work(self) -> None:
        client = self.client_factory(
            self.urls,
            api_key=self.api_key,
            ledger=self.ledger,
            give_up_at=self.started_at + self.seconds + self.give_up_after,
        )
        interval = self.seconds / self.batches
        try:
            while (k := self._take()) is not None:
                delay = self.started_at + k * interval - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                first = k * self.batch_size
                size = min(self.batch_size, self.records - first)
                ok = client.send(good_batch(self.tag, first, size))
                with self._lock:
                    self.batches_done += 1
                    self.batches_failed += 0 if ok else 1
        finally:
            client.close()
