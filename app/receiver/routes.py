"""The receiver's handlers, read like its HTTP contract (docs/receiver.md is the same in prose).

Each ingest handler does the same five steps: check the key (401), check content type and size
(415/413), parse and validate the body once (400/422) into lines stamped with the arrival time, and
wait until SQS holds them (202, or 503 with Retry-After). The work lives in `intake` and
`publisher`, so the handlers stay short and the rules testable without HTTP.

The handlers take the raw `Request` instead of a pydantic body parameter on purpose: FastAPI would
decode the JSON, then validate the Python objects in a second pass, and answer contract violations
in its own shape. The OpenAPI document still describes the bodies (see `openapi`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from app.contract import ValidationWindow
from app.errors import PublishError, RequestRejectedError
from app.observability import kv
from app.receiver import intake, responses
from app.receiver.auth import ApiKeys
from app.receiver.publisher import Publisher
from app.receiver.stats import ReceiverStats
from app.settings import Settings

Clock = Callable[[], datetime]

#: The ingest routes: one record, or a JSON array of records (the OpenAPI document describes both).
SINGLE_PATH: Final = "/v1/telemetry"
BATCH_PATH: Final = "/v1/telemetry/batch"

_log = logging.getLogger("app.receiver")


def utc_now() -> datetime:
    return datetime.now(UTC)


def request_head(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """X-API-Key (the first one), Content-Type and Content-Length in one pass over the raw headers."""
    api_key = content_type = content_length = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            if api_key is None:
                api_key = value
        elif name == b"content-type":
            content_type = value
        elif name == b"content-length":
            content_length = value
    return api_key, content_type, content_length


class ReceiverRoutes:
    """The handlers and what they share; the publisher is attached once the app has started."""

    def __init__(self, settings: Settings, *, keys: ApiKeys, stats: ReceiverStats, clock: Clock) -> None:
        self.keys = keys
        self.stats = stats
        self.clock = clock
        self.publisher: Publisher | None = None
        self.body_limit = settings.max_body_bytes
        self.max_records = settings.max_batch_records
        self.max_age = settings.max_record_age_seconds
        self.retry_after = settings.publish_retry_after_seconds

    async def ingest_one(self, request: Request) -> Response:
        started = time.perf_counter()
        api_key, content_type, content_length = request_head(request.scope)
        if not self.keys.allows(api_key):
            return self._unauthorized(request, started)
        received_at = self.clock()
        try:
            intake.require_json(content_type)
            body = await intake.read_body(
                request.receive, declared_length=content_length, limit=self.body_limit
            )
            line = intake.parse_record(body, self._window(received_at))
        except RequestRejectedError as exc:
            return _logged(request, self._refuse(exc), 0, started)
        failure = await self._publish([line])
        return _logged(request, failure or responses.accepted_one(), 1, started)

    async def ingest_batch(self, request: Request) -> Response:
        started = time.perf_counter()
        api_key, content_type, content_length = request_head(request.scope)
        if not self.keys.allows(api_key):
            return self._unauthorized(request, started)
        received_at = self.clock()
        try:
            intake.require_json(content_type)
            body = await intake.read_body(
                request.receive, declared_length=content_length, limit=self.body_limit
            )
            batch = intake.parse_batch(body, self._window(received_at), max_records=self.max_records)
        except RequestRejectedError as exc:
            return _logged(request, self._refuse(exc), 0, started)
        for rejected in batch.rejected:
            self.stats.rejected_record(rejected["errors"][0]["type"] if rejected["errors"] else "invalid")
        if not batch.lines:
            return _logged(request, responses.no_valid_records(batch.rejected), 0, started)
        lines = batch.lines
        failure = await self._publish(lines)
        answer = failure or responses.accepted_batch(len(lines), batch.rejected)
        return _logged(request, answer, len(lines), started)

    async def healthz(self) -> Response:
        return responses.json_response(200, {"status": "ok"})

    async def readyz(self) -> Response:
        problem = "not started" if self.publisher is None else await self.publisher.ready()
        if problem is not None:
            return responses.unavailable(problem, retry_after_seconds=self.retry_after)
        return responses.json_response(200, {"status": "ready"})

    # -- shared steps ----------------------------------------------------------------------
    def _window(self, received_at: datetime) -> ValidationWindow:
        return ValidationWindow.around(received_at, self.max_age)

    def _unauthorized(self, request: Request, started: float) -> Response:
        self.stats.rejected_request("unauthorized")
        return _logged(request, responses.unauthorized(), 0, started)

    def _refuse(self, exc: RequestRejectedError) -> Response:
        if exc.error == "invalid_record" and isinstance(exc.detail, list) and exc.detail:
            self.stats.rejected_record(exc.detail[0]["type"])
        else:
            self.stats.rejected_request(exc.reason)
        return responses.rejected(exc)

    async def _publish(self, lines: list[bytes]) -> Response | None:
        """None once SQS holds every line; otherwise the 503 to answer."""
        if self.publisher is None:
            return responses.unavailable("not started", retry_after_seconds=self.retry_after)
        try:
            await self.publisher.publish(lines)
        except PublishError as exc:
            self.stats.failed(len(lines))
            return responses.unavailable(str(exc), retry_after_seconds=self.retry_after)
        self.stats.accepted(len(lines))
        return None


def _logged(request: Request, response: Response, records: int, started: float) -> Response:
    """One line per request, at debug level only (at INFO it would be the busiest log in AWS)."""
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug(
            kv(
                "request",
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                records=records,
                ms=(time.perf_counter() - started) * 1000,
            )
        )
    return response
