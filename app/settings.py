"""Every knob of the pipeline, read from the environment into one object.

Each entry point (receiver, consumer, aggregator, CLI jobs) calls `load_settings()` once and passes
the result down; nothing here runs at import time. Our own variables carry the `TELEMETRY_` prefix;
the AWS ones keep the names boto3 and the AWS CLI already use (`AWS_REGION`, `AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.anomaly.rules import Thresholds
from app.errors import ConfigurationError
from app.resources import pipeline_defaults

ENV_PREFIX = "TELEMETRY_"
_DEFAULTS = pipeline_defaults()

#: API keys shorter than this are refused: they are guessable, and usually a placeholder left behind.
MIN_API_KEY_LENGTH = 16
_PLACEHOLDER_KEYS = frozenset(
    {"changeme", "change-me", "changethis", "secret", "password", "test", "example"}
)


class Settings(BaseSettings):
    """All configuration; every field is one environment variable (see README, Configuration)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # --- AWS access -------------------------------------------------------------------------
    aws_region: str = Field(
        "eu-central-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="Region of the queue and bucket.",
    )
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias="AWS_ENDPOINT_URL",
        description="Override every AWS endpoint (the embedded moto server locally); unset in AWS.",
    )
    aws_endpoint_url_s3: str | None = Field(
        None,
        validation_alias="AWS_ENDPOINT_URL_S3",
        description="S3 only, in preference to AWS_ENDPOINT_URL, as boto3 treats it (chaos: a fault proxy).",
    )
    aws_endpoint_url_sqs: str | None = Field(
        None,
        validation_alias="AWS_ENDPOINT_URL_SQS",
        description="SQS only, in preference to AWS_ENDPOINT_URL, as boto3 treats it.",
    )
    aws_connect_timeout_seconds: float = Field(3.0, gt=0, description="TCP connect timeout per AWS call.")
    aws_read_timeout_seconds: float = Field(
        30.0, gt=0, description="Read timeout per AWS call; must exceed the 20 s SQS long poll."
    )
    aws_max_attempts: int = Field(5, ge=1, le=20, description="botocore adaptive-retry attempts per call.")
    aws_max_pool_connections: int = Field(
        32, ge=1, le=1024, description="HTTP connections per boto3 client; sized to the concurrency used."
    )

    # --- Resources (defaults shared with infra/ through app/pipeline_defaults.json) -------------
    queue_name: str = Field(
        _DEFAULTS.queue_name, min_length=1, max_length=80, description="SQS queue the receiver feeds."
    )
    queue_url: str | None = Field(
        None, description="Used as is when set; otherwise resolved from queue_name."
    )
    dlq_name: str = Field(
        _DEFAULTS.dlq_name, min_length=1, max_length=80, description="Dead-letter queue of the queue."
    )
    dlq_url: str | None = Field(None, description="Used as is when set; otherwise resolved from dlq_name.")
    bucket: str = Field(
        _DEFAULTS.bucket_name,
        min_length=3,
        max_length=63,
        description="S3 bucket for raw data and aggregates.",
    )
    raw_prefix: str = Field(
        _DEFAULTS.raw_prefix,
        pattern=r"^([A-Za-z0-9._-]+/)+$",
        description="Key prefix of the raw partitions.",
    )
    aggregates_prefix: str = Field(
        _DEFAULTS.aggregates_prefix,
        pattern=r"^([A-Za-z0-9._-]+/)+$",
        description="Key prefix of the hourly aggregates.",
    )
    curated_prefix: str = Field(
        _DEFAULTS.curated_prefix,
        pattern=r"^([A-Za-z0-9._-]+/)+$",
        description="Key prefix of the curated Parquet layer (one file of distinct, typed records per hour).",
    )
    vehicle_stats_prefix: str = Field(
        _DEFAULTS.vehicle_stats_prefix,
        pattern=r"^([A-Za-z0-9._-]+/)+$",
        description="Key prefix of the per-vehicle statistics as Parquet (the Athena table vehicle_stats).",
    )
    anomalies_prefix: str = Field(
        _DEFAULTS.anomalies_prefix,
        pattern=r"^([A-Za-z0-9._-]+/)+$",
        description="Key prefix of the hourly anomaly episodes (JSON Lines, one episode per line).",
    )
    visibility_timeout_seconds: int = Field(
        _DEFAULTS.queue.visibility_timeout_seconds,
        ge=5,
        le=43200,
        description="How long a received message stays hidden; the consumer extends it for held ones.",
    )
    max_receive_count: int = Field(
        _DEFAULTS.queue.max_receive_count,
        ge=1,
        le=1000,
        description="Receives before a message goes to the DLQ.",
    )

    # --- Receiver --------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Listen address; the container sets 0.0.0.0.")
    port: int = Field(8000, ge=0, le=65535, description="Listen port of the receiver.")
    workers: int = Field(
        1,
        ge=1,
        le=16,
        description="Receiver worker processes, one per vCPU: Terraform sets it from the task's CPU units.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated accepted X-API-Key values; several at once allow rotation.",
    )
    smoke_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys accepted beside TELEMETRY_API_KEYS, from a secret of their own, so the deploy's smoke test never reads the fleet's keys.",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    max_batch_records: int = Field(
        500, ge=1, le=10_000, description="Records per batch request at most (413)."
    )
    max_record_age_seconds: int = Field(
        7 * 24 * 3600,
        ge=60,
        le=10 * 366 * 24 * 3600,
        description="Records whose timestamp is older are rejected.",
    )
    records_per_message: int = Field(
        1000, ge=1, le=10_000, description="Records packed into one SQS message at most (1 = baseline)."
    )
    message_max_bytes: int = Field(
        65_536,
        ge=1024,
        le=262_144,
        description="SQS message body cap; 64 KiB is one billing chunk, the cheapest point per record.",
    )
    publish_linger_ms: float = Field(
        5.0, ge=0, le=1000, description="How long a request may wait to share an SQS message (0 = none)."
    )
    publish_max_attempts: int = Field(3, ge=1, le=10, description="SendMessageBatch attempts per entry.")
    publish_retry_after_seconds: int = Field(2, ge=1, le=300, description="Retry-After sent with a 503.")
    publish_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="A request waits this long for SQS at most, then gets 503."
    )
    publish_concurrency: int = Field(
        2, ge=1, le=64, description="SendMessageBatch calls in flight at once (one thread each)."
    )
    publish_max_pending_records: int = Field(
        100_000, ge=1, description="Records waiting for SQS beyond this get 503 at once (back-pressure)."
    )
    api_docs: bool = Field(
        True,
        description="Serve /docs, /redoc and /openapi.json (the checked OpenAPI document); false hides them.",
    )
    metrics_interval_seconds: float = Field(
        10.0, gt=0, le=300, description="The receiver aggregates its EMF metrics over this interval."
    )

    # --- Consumer --------------------------------------------------------------------------
    consumer_pollers: int = Field(4, ge=1, le=64, description="Concurrent ReceiveMessage long polls.")
    receive_wait_seconds: int = Field(
        _DEFAULTS.queue.receive_wait_time_seconds, ge=0, le=20, description="SQS long-poll wait per receive."
    )
    flush_max_records: int = Field(
        100, ge=1, le=1_000_000, description="Flush when this many records are held."
    )
    flush_max_bytes: int = Field(
        5_000_000, ge=1024, description="Flush before an object would exceed this size."
    )
    flush_max_age_seconds: float = Field(
        2.0, gt=0, le=600, description="Flush when the oldest held record is this old."
    )
    gzip_objects: bool = Field(False, description="Write .jsonl.gz instead of .jsonl.")
    consumer_writers: int = Field(
        2, ge=1, le=32, description="Batches written to S3 at once (PUT + delete), beside the pollers."
    )
    shutdown_timeout_seconds: float = Field(
        25.0,
        gt=0,
        le=120,
        description="SIGTERM to exit at most; below the ECS stop timeout (30 s, 120 s at most).",
    )

    # --- Hourly job --------------------------------------------------------------------------
    hourly_memory_mb: int = Field(
        1024,
        ge=128,
        le=120_000,
        description="Memory DuckDB may hold; beyond it, it spills to hourly_work_dir. About half the task's memory.",
    )
    hourly_threads: int = Field(
        0, ge=0, le=64, description="DuckDB threads; 0 = one per CPU the process may use."
    )
    hourly_fetchers: int = Field(8, ge=1, le=64, description="Raw objects read from S3 at once.")
    hourly_work_dir: str | None = Field(
        None,
        description="Where the hourly job stages and spills (the task's disk); default: the system temp dir.",
    )

    # --- Anomaly rules (app/anomaly/rules.py documents every threshold and its physics) ------
    live_rules: Literal["all", "per_sample", "off"] = Field(
        "all",
        description="Rules the consumer alerts on live: all (one consumer task), per_sample (several tasks), off.",
    )
    anomaly_thresholds: dict[str, float | tuple[float, float]] = Field(
        default_factory=dict,
        description='JSON overrides of the rules\' Thresholds, e.g. {"over_temperature_c": 50}; empty = the defaults.',
    )
    clock_offset_limit_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A vehicle whose clock is off by more than this (hourly, per vehicle) is flagged clock_off.",
    )

    # --- Observability ---------------------------------------------------------------------
    log_level: str = Field(
        "INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="DEBUG adds a line per request."
    )
    metrics_namespace: str = Field(
        "FleetTelemetry", min_length=1, description="CloudWatch namespace of EMF metrics."
    )
    metrics_enabled: bool = Field(True, description="Emit CloudWatch EMF metrics.")

    @model_validator(mode="after")
    def _read_timeout_outlasts_the_long_poll(self) -> Settings:
        if self.aws_read_timeout_seconds <= self.receive_wait_seconds:
            raise ValueError(
                f"TELEMETRY_AWS_READ_TIMEOUT_SECONDS ({self.aws_read_timeout_seconds:g}) must exceed "
                f"TELEMETRY_RECEIVE_WAIT_SECONDS ({self.receive_wait_seconds}), or every long poll times out"
            )
        return self

    @field_validator("anomaly_thresholds")
    @classmethod
    def _known_thresholds(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        known = {f.name for f in dataclasses.fields(Thresholds)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown thresholds {unknown}; known: {', '.join(sorted(known))}")
        return overrides

    def thresholds(self) -> Thresholds:
        """The rules' thresholds: the documented defaults with this environment's overrides."""
        return dataclasses.replace(Thresholds(), **self.anomaly_thresholds)  # type: ignore[arg-type]

    @field_validator("api_keys", "smoke_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("api_keys", "smoke_api_keys")
    @classmethod
    def _refuse_weak_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            plain = key.get_secret_value()
            if plain.lower() in _PLACEHOLDER_KEYS or len(plain) < MIN_API_KEY_LENGTH:
                raise ValueError(
                    f"every key must be at least {MIN_API_KEY_LENGTH} characters and not a placeholder"
                )
        return keys


def env_var_name(field: str) -> str:
    """The environment variable that feeds `field`, for error messages a user can act on."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment; a bad value raises one line naming its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a rule across variables: its message names them
            raise ConfigurationError(str(first["msg"]).removeprefix("Value error, ")) from None
        field = str(first["loc"][0])
        name = env_var_name(field) if field in Settings.model_fields else field
        raise ConfigurationError(f"{name}: {first['msg']}") from None


def require_api_keys(settings: Settings) -> frozenset[bytes]:
    """The receiver cannot run open: fail at start-up when no fleet key is configured.

    The smoke keys are accepted too, but never alone: they belong to the deploy's check, not to
    the fleet, and a receiver that only they can reach is a misconfigured one.
    """
    if not settings.api_keys:
        raise ConfigurationError(f"{ENV_PREFIX}API_KEYS: required by the receiver (comma-separated keys)")
    return frozenset(k.get_secret_value().encode() for k in [*settings.api_keys, *settings.smoke_api_keys])
