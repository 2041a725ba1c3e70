"""`create_app(settings, *, publisher=None)`: the receiver as an ASGI app.

Nothing is built at import time. The lifespan owns the publisher (built from Settings unless one is
passed in, as the tests do) and the metrics reporter; on shutdown it closes the publisher first,
which sends and confirms every record still waiting, then emits the last metrics interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.observability import Metrics, make_metrics
from app.receiver import responses
from app.receiver.auth import ApiKeys
from app.receiver.openapi import install_openapi
from app.receiver.publisher import Publisher, SqsPublisher
from app.receiver.routes import BATCH_PATH, SINGLE_PATH, Clock, ReceiverRoutes, utc_now
from app.receiver.stats import ReceiverStats
from app.settings import Settings, require_api_keys

TITLE = "Fleet telemetry receiver"
API_VERSION = "1.0.0"


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    metrics: Metrics | None = None,
    stats: ReceiverStats | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The receiver; without `publisher`, an SqsPublisher is built from `settings` at start-up."""
    stats = stats if stats is not None else ReceiverStats()
    metrics = metrics if metrics is not None else make_metrics(settings, service="receiver")
    routes = ReceiverRoutes(settings, keys=ApiKeys(require_api_keys(settings)), stats=stats, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = publisher
        if built is None:  # resolving the queue URL is a network call: keep it off the loop
            built = await asyncio.to_thread(SqsPublisher.from_settings, settings, stats=stats)
        await built.start()
        routes.publisher = built
        reporter = asyncio.create_task(_report(stats, metrics, settings.metrics_interval_seconds))
        try:
            yield
        finally:
            try:
                await built.close()  # uvicorn has let the requests in flight finish; now their records
            finally:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
                stats.emit(metrics)

    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        summary="Takes contract-v1 telemetry over HTTP and queues it in SQS.",
        # Interactive docs render the same document the tests check (app.openapi below).
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_url="/openapi.json" if settings.api_docs else None,
        lifespan=lifespan,
        # Metrics go out as EMF; FastAPI's own OpenTelemetry hook would only cost time per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    responses.install_error_handlers(app)
    # The ingest routes are plain Starlette routes: the handlers take the raw Request and answer a
    # Response, so FastAPI's per-route dependency solving (query-string parsing, exit stacks) would
    # be pure overhead on the hot path. `openapi` documents them instead.
    app.router.add_route(SINGLE_PATH, routes.ingest_one, methods=["POST"], include_in_schema=False)
    app.router.add_route(BATCH_PATH, routes.ingest_batch, methods=["POST"], include_in_schema=False)
    app.add_api_route(
        "/healthz", routes.healthz, methods=["GET"], summary="The process is alive", response_model=None
    )
    app.add_api_route(
        "/readyz",
        routes.readyz,
        methods=["GET"],
        summary="SQS is reachable: send traffic here",
        response_model=None,
    )
    install_openapi(app, max_records=settings.max_batch_records)
    return app


async def _report(stats: ReceiverStats, metrics: Metrics, interval: float) -> None:
    """Emit the aggregated metrics every `interval` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        stats.emit(metrics)
