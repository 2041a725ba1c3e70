"""Logs and CloudWatch metrics, one small seam each, built by the entry point from Settings.

Log lines are `time=<UTC ms> LEVEL event=name key=value ...` so a local log reads alone (in AWS,
CloudWatch adds its own ingestion time beside it) and parses in CloudWatch Logs Insights. Metrics go out as CloudWatch Embedded Metric Format through aws-embedded-metrics,
always to stdout (`AWS_EMF_ENVIRONMENT=local`) unless told otherwise: on ECS the library would
otherwise pick its agent sink and, with no CloudWatch agent beside the task, drop every metric.
awslogs ships stdout, and CloudWatch extracts the metrics from the EMF lines.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from app.contract import format_timestamp
from app.settings import Settings

LOG_FORMAT = "time=%(asctime)s %(levelname)s %(message)s"


class UtcFormatter(logging.Formatter):
    """`time=` as the contract writes timestamps: ISO 8601 UTC, milliseconds, `Z`."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return format_timestamp(datetime.fromtimestamp(record.created, UTC))


#: CloudWatch keeps at most 100 values per metric per EMF event; the library splits beyond that.
MAX_VALUES_PER_METRIC = 100

MetricValue = float | int | Sequence[float | int]


def configure_logging(settings: Settings) -> None:
    """`time=... LEVEL message` lines on stderr; libraries stay at WARNING so ours are readable."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UtcFormatter(LOG_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for noisy in ("botocore", "boto3", "urllib3", "uvicorn.access", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def kv(event: str, **fields: Any) -> str:
    """`event=name k=v ...`: the one shape of our log lines (values must not contain spaces)."""
    parts = [f"event={event}"]
    parts.extend(f"{key}={_fmt(value)}" for key, value in fields.items())
    return " ".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


class Metrics(Protocol):
    """Where a component sends its numbers; EMF in production, memory in tests."""

    def emit(
        self,
        metrics: Mapping[str, MetricValue],
        *,
        units: Mapping[str, str] | None = None,
        dimensions: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None: ...


class EmfMetrics:
    """One EMF event per `emit`; lists become EMF value arrays so CloudWatch computes percentiles."""

    def __init__(self, *, namespace: str, service: str) -> None:
        os.environ.setdefault("AWS_EMF_ENVIRONMENT", "local")
        os.environ.setdefault("AWS_EMF_SERVICE_NAME", service)
        from aws_embedded_metrics.logger.metrics_logger_factory import create_metrics_logger

        self._create = create_metrics_logger
        self._namespace = namespace
        self._service = service

    def emit(
        self,
        metrics: Mapping[str, MetricValue],
        *,
        units: Mapping[str, str] | None = None,
        dimensions: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        logger = self._create()
        logger.set_namespace(self._namespace)
        logger.set_dimensions({"Service": self._service, **(dimensions or {})})
        units = units or {}
        for name, value in metrics.items():
            values = value if isinstance(value, Sequence) else [value]
            for v in values:
                logger.put_metric(name, float(v), units.get(name, "None"))
        for key, prop in (properties or {}).items():
            logger.set_property(key, prop)
        logger.flush_sync()


@dataclass
class InMemoryMetrics:
    """Keeps every event; tests assert on it, and disabled metrics use it with `keep=False`."""

    keep: bool = True
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(
        self,
        metrics: Mapping[str, MetricValue],
        *,
        units: Mapping[str, str] | None = None,
        dimensions: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        if self.keep:
            self.events.append(
                {
                    "metrics": dict(metrics),
                    "units": dict(units or {}),
                    "dimensions": dict(dimensions or {}),
                    "properties": dict(properties or {}),
                }
            )


def make_metrics(settings: Settings, *, service: str) -> Metrics:
    if not settings.metrics_enabled:
        return InMemoryMetrics(keep=False)
    return EmfMetrics(namespace=settings.metrics_namespace, service=service)
