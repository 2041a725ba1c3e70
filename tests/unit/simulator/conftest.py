"""A stand-in receiver, in process: answers from a script, then validates like the real one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.contract import TelemetryIn, ValidationWindow, validation_context

TARGET = "http://receiver.test"
KEY = "k-sim-0123456789abcdef"


@dataclass
class StubReceiver:
    """`script` holds the answers of the first requests (status, headers); later ones validate.

    Validation is contract v1 with the time window, record by record, answered the way the real
    receiver answers: 202 with `accepted` and `rejected`.
    """

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    seen: list[tuple[str | None, int]] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/telemetry/batch")
        async def batch(request: Request) -> JSONResponse:
            body = await request.json()
            self.seen.append((request.headers.get("X-API-Key"), len(body)))
            if self.script:
                status, headers = self.script.pop(0)
                return JSONResponse({"error": "scripted", "detail": "scripted"}, status, headers)
            if request.headers.get("X-API-Key") != KEY:
                return JSONResponse({"error": "unauthorized"}, 401)
            window = validation_context(ValidationWindow.around(datetime.now(UTC), 7 * 24 * 3600))
            rejected = []
            for index, item in enumerate(body):
                try:
                    TelemetryIn.model_validate(item, context=window)
                except ValidationError as exc:
                    rejected.append({"index": index, "errors": [str(e["loc"]) for e in exc.errors()]})
                else:
                    self.stored.append(item)
            return JSONResponse({"accepted": len(body) - len(rejected), "rejected": rejected}, 202)

        return app


class AsgiBridge(httpx.BaseTransport):
    """A synchronous httpx transport into an ASGI app: the sender is sync, httpx's ASGI transport
    is async only, and starlette's TestClient is deprecated for httpx. One event loop per request
    is slow but irrelevant for a handful of requests."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def forward() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app)) as client:
                response = await client.request(
                    request.method, request.url, headers=request.headers, content=request.read()
                )
                return httpx.Response(
                    response.status_code, headers=response.headers, content=response.content
                )

        return asyncio.run(forward())


StubFactory = Callable[..., tuple[StubReceiver, httpx.Client]]


@pytest.fixture
def stub_receiver() -> Iterator[StubFactory]:
    """`make(script)` -> (stub, an httpx.Client that reaches it in process)."""
    clients: list[httpx.Client] = []

    def make(script: list[tuple[int, dict[str, str]]] | None = None) -> tuple[StubReceiver, httpx.Client]:
        stub = StubReceiver(script=list(script or []))
        client = httpx.Client(transport=AsgiBridge(stub.app()))
        clients.append(client)
        return stub, client

    yield make
    for client in clients:
        client.close()
