"""`telemetry consume`: the consumer process (one ECS service task, or a local process).

Settings, logging, metrics and the boto3 clients are built here, once, and passed down. SIGTERM
(what ECS sends on stop, 30 s before SIGKILL) and SIGINT only set the consumer's stop flag; the
main thread then runs the bounded shutdown: stop polling, flush, delete, exit 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from app.aws import resolve_queue_url, s3_client, sqs_client
from app.consumer.live_rules import LiveRules, rules_for
from app.consumer.ports import SqsQueue
from app.consumer.service import Consumer
from app.errors import ConfigurationError
from app.object_store import S3ObjectStore
from app.observability import Metrics, configure_logging, kv, make_metrics
from app.settings import Settings, load_settings

log = logging.getLogger(__name__)

#: Besides the pollers and the writers' deletes, the ticker's ChangeMessageVisibilityBatch calls.
_EXTRA_SQS_CONNECTIONS = 2


def build_consumer(settings: Settings, *, metrics: Metrics) -> Consumer:
    """The consumer on real SQS and S3 clients, each pool sized for the threads that share it."""
    sqs = sqs_client(
        settings, pool_size=settings.consumer_pollers + settings.consumer_writers + _EXTRA_SQS_CONNECTIONS
    )
    queue_url = resolve_url(sqs, url=settings.queue_url, name=settings.queue_name, variable="QUEUE")
    s3 = s3_client(settings, pool_size=settings.consumer_writers + 1)
    alerting = rules_for(settings.live_rules)
    return Consumer(
        settings=settings,
        queue=SqsQueue(sqs, queue_url),
        store=S3ObjectStore(s3, settings.bucket),
        metrics=metrics,
        live_rules=LiveRules(thresholds=settings.thresholds(), alerting=alerting, metrics=metrics)
        if alerting
        else None,
    )


def resolve_url(sqs: Any, *, url: str | None, name: str, variable: str) -> str:
    """The queue URL, or one line saying which variable to fix when the queue cannot be found."""
    try:
        return resolve_queue_url(sqs, url=url, name=name)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigurationError(
            f"TELEMETRY_{variable}_URL / TELEMETRY_{variable}_NAME: cannot find queue {url or name!r}: {exc}"
        ) from None


@contextmanager
def stop_on_signals(consumer: Consumer) -> Iterator[None]:
    """SIGTERM and SIGINT ask the consumer to stop; the previous handlers come back afterwards.

    A second signal during the shutdown (Ctrl-C twice) gives up on it: KeyboardInterrupt, exit 130.
    Whatever was not yet stored stays in the queue and comes back after its visibility timeout.
    """

    def _handler(signum: int, frame: FrameType | None) -> None:
        if consumer.stopping:
            raise KeyboardInterrupt(f"signal {signum} during shutdown")
        consumer.request_stop()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Every knob is an environment variable (TELEMETRY_CONSUMER_POLLERS, TELEMETRY_FLUSH_MAX_RECORDS, "
        "TELEMETRY_FLUSH_MAX_BYTES, TELEMETRY_FLUSH_MAX_AGE_SECONDS, TELEMETRY_GZIP_OBJECTS, ...)."
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings)
    consumer = build_consumer(settings, metrics=make_metrics(settings, service="consumer"))
    with stop_on_signals(consumer):
        consumer.start()
        while not consumer.wait_for_stop(0.5):
            pass
        log.info(kv("consumer_stopping", timeout_s=settings.shutdown_timeout_seconds))
        clean = consumer.shutdown()
    return 0 if clean else 1
