"""Every exception the package raises on purpose, under one root, so a caller can catch ours only.

TelemetryError
├── ConfigurationError      a setting or an argument is missing or malformed; names what to fix
│   ├── MissingExtraError   a command needs an optional dependency group that is not installed
│   └── FaultSpecError      a simulator fault spec (`--faults`) cannot be understood
├── ContractError           a record breaks data contract v1 (the receiver answers 4xx, the consumer
│                           treats the message as poison, the hourly job counts the line invalid)
├── RequestRejectedError    the receiver refuses a request: its status, slug and detail become the
│                           JSON answer (400, 401, 413, 415, 422)
├── PublishError            SQS did not accept every record of a request (the receiver answers 503)
├── QueueError              an SQS call of the consumer failed as a whole (after botocore's retries)
├── StorageError            an S3 list or read failed (after botocore's retries)
│   └── PersistError        an S3 PUT failed: the consumer leaves the batch's messages for
│                           redelivery and, in the end, the DLQ
├── AggregationError        the hourly job could not read or write its hour; re-run the hour
├── RedriveError            moving the dead-letter queue's messages back failed or was refused
└── EmbeddedAwsError        the embedded AWS stack (moto server) could not start or provision

A test (tests/unit/test_errors.py) holds every exception class of `app` to this tree.
`telemetry` prints any of them as one line on stderr and exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TelemetryError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(TelemetryError):
    """A setting is missing or malformed; the message names the environment variable to fix."""


class MissingExtraError(ConfigurationError):
    """A command needs an optional dependency group (`pip install 'fleet-telemetry[EXTRA]'`)."""

    def __init__(self, command: str, extra: str, missing: str) -> None:
        super().__init__(
            f"needs the optional dependencies '{extra}' ({missing} is not installed): "
            f"pip install 'fleet-telemetry[{extra}]'"
        )
        self.command = command
        self.extra = extra


class FaultSpecError(ConfigurationError, ValueError):
    """A fault spec that cannot be understood; the message is one line naming what to fix.

    Also a ValueError: the simulator's constructor refuses a bad spec as it refuses any bad value.
    """


class ContractError(TelemetryError):
    """A record breaks data contract v1; `field` and `rule` say where and why, `kind` is a stable slug
    (pydantic's error type, e.g. `json_invalid`, `string_pattern_mismatch`) for logs and metrics."""

    def __init__(self, field: str, rule: str, *, kind: str = "invalid") -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
        self.kind = kind


class RequestRejectedError(TelemetryError):
    """The client sent something the receiver refuses; `status`, `error` and `detail` become the answer.

    `extra` adds fields to the body (the batch endpoint's `max_records`); `headers` add HTTP
    headers; `reason` is the label counted in the RequestsRejected metric.
    """

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    @property
    def reason(self) -> str:
        return self.error


class PublishError(TelemetryError):
    """SQS did not acknowledge some records even after retries; none of them may be answered 202."""


class QueueError(TelemetryError):
    """An SQS call failed as a whole (after botocore's retries); nothing it would have done happened."""


class StorageError(TelemetryError):
    """An S3 list or read failed after botocore's retries; the message names the bucket and key."""


class PersistError(StorageError):
    """An S3 PUT failed; the batch's messages must not be deleted."""


class AggregationError(TelemetryError):
    """An S3 list, read or write failed; the hour's result was not written completely. Re-run it."""


class RedriveError(TelemetryError):
    """The move could not be started or failed; the message says what to do."""


class EmbeddedAwsError(TelemetryError):
    """The embedded AWS stand-in (moto server) could not start or provision the resources."""
