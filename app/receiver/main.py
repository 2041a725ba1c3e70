"""`telemetry serve`: the receiver under uvicorn; one process, or one worker per vCPU of the task.

Settings are read here, once, and passed down. Start-up fails with one line when no API key is
configured or the queue cannot be found.

A receiver is CPU-bound in one Python process, so a task with more than one vCPU runs
`TELEMETRY_WORKERS` worker processes (Terraform sets it from the task's CPU units), each with its
own publisher, SQS client and metrics; the parent (uvicorn's supervisor) binds the socket, restarts
a worker that dies and, on SIGTERM, signals every worker and waits for each to drain as below. The
queue is looked up in the parent first, so a wrong name is still one line, not a restart loop. On SIGTERM (ECS stopping the task) uvicorn stops
accepting connections, lets the requests in flight finish, and then the app's lifespan closes
the publisher, which sends what is still waiting and waits for SQS to acknowledge it; only then
does the process exit, so every 202 it gave stands. uvicorn re-raises the signal once it is done,
to the handler that was in place before it; ours notes the drained shutdown, so a clean drain exits
0 and anything else (a crash, a second Ctrl-C) does not.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from app.errors import ConfigurationError, PublishError
from app.observability import configure_logging, kv
from app.receiver.app import create_app
from app.receiver.publisher import SqsPublisher
from app.receiver.stats import ReceiverStats
from app.settings import Settings, load_settings, require_api_keys

#: Seconds uvicorn waits for requests in flight after SIGTERM, beyond the publish timeout they may
#: still be waiting on; ECS's default stopTimeout (30 s) leaves room for both.
DRAIN_MARGIN_SECONDS = 5.0
#: Allocations (net) between young-generation collections; CPython's default is 700. Every request
#: here lives for the linger plus an SQS round trip, so with the default its objects survive
#: collection, get promoted and are scanned again in the older generations: measured under load
#: (`make bench`), that was ~90 us of collector time per request, a third of the request's cost.
#: Objects freed by reference counting never count towards this, so it is reached only by real
#: garbage (cycles) or by in-flight objects piling up.
GC_YOUNG_THRESHOLD = 50_000

_log = logging.getLogger("app.receiver")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default: TELEMETRY_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: TELEMETRY_PORT, 8000)")


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    configure_logging(settings)
    require_api_keys(settings)
    app = _build_app(settings)  # in the parent too: a missing queue is one line, not a restart loop
    _log.info(
        kv(
            "receiver_starting",
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            keys=len(settings.api_keys),
        )
    )
    if settings.workers > 1:
        return _run_workers(settings)
    config = _config(settings, app)
    config.load()  # imports the protocol modules, so the freeze below covers them too
    _tune_gc()
    server = uvicorn.Server(config)
    previous = signal.signal(signal.SIGTERM, _after_drain)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        return 1
    _log.info(kv("receiver_stopped"))
    return 0


def worker_app() -> FastAPI:
    """A worker process's app: uvicorn imports this by name in each worker it starts."""
    settings = load_settings()
    configure_logging(settings)
    app = _build_app(settings)
    _tune_gc()  # uvicorn loaded its protocol modules before calling this factory
    _log.info(kv("receiver_worker_started", pid=os.getpid()))
    return app


def _run_workers(settings: Settings) -> int:
    config = _config(settings, f"{__name__}:worker_app", factory=True, workers=settings.workers)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()  # returns once every worker has drained after SIGTERM, or one failed to start
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        _log.error(kv("receiver_worker_failed_to_start", pids=failed))
        return 1
    _log.info(kv("receiver_stopped"))
    return 0


def _build_app(settings: Settings) -> FastAPI:
    stats = ReceiverStats()
    try:
        publisher = SqsPublisher.from_settings(settings, stats=stats)
    except PublishError as exc:
        raise ConfigurationError(str(exc)) from exc
    return create_app(settings, publisher=publisher, stats=stats)


def _config(settings: Settings, app: FastAPI | str, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # one debug line per request comes from the app instead
        log_config=None,  # keep our `LEVEL event=...` format
        server_header=False,
        timeout_graceful_shutdown=int(settings.publish_timeout_seconds + DRAIN_MARGIN_SECONDS),
        **options,
    )


def _tune_gc() -> None:
    gc.freeze()  # everything loaded so far (botocore's models, the app) lives for the process: never scan it
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _after_drain(signum: int, frame: FrameType | None) -> None:
    """uvicorn hands SIGTERM back after its graceful shutdown: the drain is done, exit normally."""
    _log.info(kv("receiver_drained", signal=signal.Signals(signum).name))
