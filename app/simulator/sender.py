"""Posting simulated records to a receiver: batches of at most 500, retried when told to wait.

How each answer of `POST {target}/v1/telemetry/batch` is handled:
- 202 `{"accepted": n, "rejected": [{"index": i, "errors": [...]}]}`: counted record by record.
- 429, 503 (and 500, 502, 504, which a load balancer answers while a task is replaced), a
  connection error or a timeout: the same batch is sent again after `Retry-After` when the receiver
  gives one, otherwise after an exponential backoff with jitter; after `max_attempts` the batch
  counts as failed and sending stops, because a receiver that is down for that long will not take
  the next batch either.
- 400, 413, 422: the receiver refused the whole batch; its records count as rejected and the run
  goes on (the next batch may be fine).
- 401, 403, 404: nothing else could succeed, so a ConfigurationError names the option to fix.

The HTTP client is passed in (`httpx.Client`), so tests put an in-process ASGI app behind it and
`sleep` is injectable, so retries are tested without waiting.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import orjson

from app.errors import ConfigurationError
from app.observability import kv
from app.receiver.routes import BATCH_PATH
from app.simulator.fleet import Record

MAX_BATCH_RECORDS: Final = 500
DEFAULT_MAX_ATTEMPTS: Final = 6
DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_CONNECT_TIMEOUT_S: Final = 3.0
BACKOFF_BASE_S: Final = 0.5
MAX_BACKOFF_S: Final = 10.0
#: A Retry-After beyond this is treated as this: we retry, we do not sleep for an hour.
MAX_RETRY_AFTER_S: Final = 60.0
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
PROBLEM_CHARS: Final = 300

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What happened to the records we tried to send; `ok` only if every one was accepted."""

    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    stopped_early: bool = False
    first_problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.failed == 0

    def note(self, problem: str) -> None:
        if self.first_problem is None:
            self.first_problem = problem[:PROBLEM_CHARS]

    def summary(self) -> str:
        line = (
            f"accepted={self.accepted} rejected={self.rejected} failed={self.failed} "
            f"requests={self.requests} retries={self.retries}"
        )
        if self.stopped_early:
            line += " stopped_early=true"
        if self.first_problem:
            line += f" first_problem={self.first_problem!r}"
        return line


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110); None if absent or bad."""
    if not value:
        return None
    try:
        return min(max(0.0, float(value)), MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, delta), MAX_RETRY_AFTER_S)


def batches(ticks: Iterable[list[Record]], size: int, *, per_tick: bool) -> Iterator[list[Record]]:
    """Regroup steps into request bodies of at most `size` records.

    `per_tick` sends what each step produced at once (real time: no record waits for the next
    step); otherwise batches are filled across steps (as fast as possible: fewer, fuller requests).
    """
    pending: list[Record] = []
    for tick in ticks:
        pending.extend(tick)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
        if per_tick and pending:
            yield pending
            pending = []
    if pending:
        yield pending


def make_client() -> httpx.Client:
    """The client the CLI uses: explicit timeouts rather than httpx's 5 s for everything."""
    return httpx.Client(timeout=httpx.Timeout(DEFAULT_TIMEOUT_S, connect=DEFAULT_CONNECT_TIMEOUT_S))


class BatchSender:
    """Sends batches to one receiver and keeps the count in `report`."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        target: str,
        api_key: str,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._client = client
        self._url = target.rstrip("/") + BATCH_PATH
        self._headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter only; need not be reproducible
        self.report = DeliveryReport()

    def send_all(self, batches: Iterable[Sequence[Record]]) -> DeliveryReport:
        """Send every batch in turn; stop at the first one that still fails after its retries."""
        for batch in batches:
            if not self.send(batch):
                self.report.stopped_early = True
                break
        return self.report

    def send(self, batch: Sequence[Record]) -> bool:
        """One batch until the receiver answers for it; False if it never did (counted as failed)."""
        if not 1 <= len(batch) <= MAX_BATCH_RECORDS:
            raise ValueError(f"a batch holds 1..{MAX_BATCH_RECORDS} records, not {len(batch)}")
        body = orjson.dumps(list(batch))
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                self.report.retries += 1
            self.report.requests += 1
            try:
                response = self._client.post(self._url, content=body, headers=self._headers)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                wait = None
            else:
                if response.status_code not in RETRY_STATUSES:
                    self._settle(batch, response)
                    return True
                problem = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt == self._max_attempts:
                self.report.failed += len(batch)
                self.report.note(f"{problem} after {attempt} attempts")
                log.warning(kv("simulate_batch_failed", records=len(batch), attempts=attempt))
                return False
            delay = wait if wait is not None else self._backoff(attempt)
            log.warning(kv("simulate_retry", problem=problem.split(":")[0].replace(" ", "_"), wait_s=delay))
            self._sleep(delay)
        raise AssertionError("unreachable: the loop returns on its last attempt")

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with half of it jittered so many senders do not retry in step."""
        ceiling = min(MAX_BACKOFF_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def _settle(self, batch: Sequence[Record], response: httpx.Response) -> None:
        status = response.status_code
        if status in {401, 403}:
            raise ConfigurationError(f"--api-key: the receiver refused the key (HTTP {status})")
        if status == 404:
            raise ConfigurationError(f"--target: {self._url} does not exist (HTTP 404); is it a receiver?")
        if 200 <= status < 300:
            body = _json(response)
            rejected = body.get("rejected") or []
            accepted = body.get("accepted")
            self.report.accepted += int(accepted) if isinstance(accepted, int) else len(batch) - len(rejected)
            self.report.rejected += len(rejected)
            if rejected:
                first = rejected[0]
                self.report.note(f"record {first.get('index')}: {first.get('errors')}")
            return
        self.report.rejected += len(batch)
        body = _json(response)
        first = (body.get("rejected") or [None])[0]
        if isinstance(first, dict):
            self.report.note(f"HTTP {status}: record {first.get('index')}: {first.get('errors')}")
        elif "detail" in body:
            self.report.note(f"HTTP {status} {body.get('error', '')}: {body['detail']}")
        else:
            self.report.note(f"HTTP {status}: {response.text}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
