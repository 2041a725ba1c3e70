"""boto3 clients built from Settings, never at import time.

Every client gets the same explicit timeouts, adaptive retries and a connection pool sized for the
concurrency of the caller, and points at `AWS_ENDPOINT_URL` when one is set (the embedded moto
server locally; `AWS_ENDPOINT_URL_S3` / `_SQS` win for their own service); in AWS the endpoint is
unset and the SDK's defaults apply.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from app.settings import Settings


def client_config(
    settings: Settings,
    *,
    pool_size: int | None = None,
    read_timeout: float | None = None,
    max_attempts: int | None = None,
) -> Config:
    """Timeouts and retries from Settings; a caller with a tighter deadline narrows them."""
    return Config(
        region_name=settings.aws_region,
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=read_timeout or settings.aws_read_timeout_seconds,
        retries={"max_attempts": max_attempts or settings.aws_max_attempts, "mode": "adaptive"},
        max_pool_connections=pool_size or settings.aws_max_pool_connections,
        tcp_keepalive=True,
    )


def make_client(service: str, settings: Settings, *, config: Config | None = None) -> Any:
    """A boto3 client for `service`; each call builds its own session, so threads never share one."""
    session = boto3.session.Session(region_name=settings.aws_region)
    return session.client(
        service,
        endpoint_url=endpoint_url(service, settings),
        config=config or client_config(settings),
    )


def endpoint_url(service: str, settings: Settings) -> str | None:
    """`AWS_ENDPOINT_URL_S3` / `_SQS` for their service when set, else `AWS_ENDPOINT_URL`.

    boto3 reads the per-service variables itself only when no endpoint is passed; since we pass
    the global one, we apply the same precedence here. The chaos suite uses it to put a fault
    proxy between one process and one service (the consumer and S3, the receiver and SQS).
    """
    specific = {"s3": settings.aws_endpoint_url_s3, "sqs": settings.aws_endpoint_url_sqs}.get(service)
    return specific or settings.aws_endpoint_url


def sqs_client(settings: Settings, *, pool_size: int | None = None, **narrower: Any) -> Any:
    return make_client("sqs", settings, config=client_config(settings, pool_size=pool_size, **narrower))


def s3_client(settings: Settings, *, pool_size: int | None = None) -> Any:
    return make_client("s3", settings, config=client_config(settings, pool_size=pool_size))


def resolve_queue_url(sqs: Any, *, url: str | None, name: str) -> str:
    """Use the configured URL as is; otherwise look the queue up by name (one call at start-up)."""
    if url:
        return url
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
