"""One exception root for the package, so callers can catch what we raise and nothing else.

TelemetryError
├── ConfigurationError   a setting is missing or malformed; raised at start-up, names the variable
├── ContractError        a record breaks data contract v1 (the receiver turns it into a 4xx)
├── PublishError         SQS did not accept every record of a request (the receiver answers 503)
├── AggregationError     an S3 list, read or write of the aggregator failed; re-run the hour
├── PersistError         S3 did not take a batch after its retry (the consumer leaves the
│                        messages for redelivery and, in the end, the DLQ)
└── EmbeddedAwsError     the embedded AWS stack could not start or provision its resources
"""

from __future__ import annotations


class TelemetryError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(TelemetryError):
    """A setting is missing or malformed; the message names the environment variable to fix."""


class ContractError(TelemetryError):
    """A record breaks data contract v1; `field` and `rule` say where and why."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class PublishError(TelemetryError):
    """SQS did not acknowledge some records even after retries; none of them may be answered 202."""


class AggregationError(TelemetryError):
    """An S3 list, read or write failed; the hour's result was not written completely. Re-run it."""


class PersistError(TelemetryError):
    """An S3 PUT failed after its retry; the batch's messages must not be deleted."""


class EmbeddedAwsError(TelemetryError):
    """The embedded AWS stand-in (moto server) could not start or provision the resources."""
