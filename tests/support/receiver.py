"""Test doubles and helpers for the receiver, shared by its unit and integration tests.

The doubles sit at the seams the receiver exposes (a Publisher, an SQS client object), so no
test patches receiver internals.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.errors import PublishError
from tests.conftest import OTHER_KEY, VALID_KEY

KEY_HEADERS = {"X-API-Key": VALID_KEY}
ROTATED_KEY_HEADERS = {"X-API-Key": OTHER_KEY}


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in-process (no socket, no thread)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            yield client


@dataclass
class RecordingPublisher:
    """Keeps what it is given; `fail_with` makes every publish raise PublishError."""

    published: list[list[bytes]] = field(default_factory=list)
    fail_with: str | None = None
    ready_problem: str | None = None
    started: bool = False
    closed: bool = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def ready(self) -> str | None:
        return self.ready_problem

    async def publish(self, lines: Sequence[bytes]) -> None:
        if self.fail_with is not None:
            raise PublishError(self.fail_with)
        self.published.append(list(lines))

    @property
    def lines(self) -> list[bytes]:
        return [line for lines in self.published for line in lines]


Behaviour = Callable[[int, list[dict[str, Any]]], dict[str, Any]]


@dataclass
class FakeSqs:
    """A boto3-shaped SQS client in memory; `behaviour(call_number, entries)` may override the answer.

    Calls arrive on the publisher's pool threads, hence the lock.
    """

    behaviour: Behaviour | None = None
    calls: list[list[dict[str, Any]]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    delay_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.delay_seconds:
            threading.Event().wait(self.delay_seconds)
        with self._lock:
            self.calls.append(Entries)
            number = len(self.calls)
        if self.behaviour is not None:
            answer = self.behaviour(number, Entries)
        else:
            answer = {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}
        ok = {item["Id"] for item in answer.get("Successful", [])}
        with self._lock:
            self.delivered.extend(e for e in Entries if e["Id"] in ok)
        return answer

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:eu-central-1:123456789012:fake"}}

    def delivered_lines(self) -> list[bytes]:
        return [line.encode() for e in self.delivered for line in e["MessageBody"].split("\n")]


class SteppingClock:
    """A clock the test moves: `now` is returned until changed."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def gather_posts(
    client: httpx.AsyncClient, path: str, bodies: Sequence[Any], headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """POST every body at once, so the requests share the publisher's linger window."""
    return list(
        await asyncio.gather(
            *(client.post(path, json=body, headers=headers or KEY_HEADERS) for body in bodies)
        )
    )
