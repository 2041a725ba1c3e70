"""Response models: the shapes the receiver answers with, for the OpenAPI document and the tests.

The routes render these bodies with orjson directly (validating our own output on every request
would cost more than the request); the tests validate real responses against these models, so the
document and the behaviour cannot drift apart. The request model is the contract's `TelemetryIn`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    """One broken rule: where (dotted path, e.g. payload.battery_soc), what, and pydantic's type."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(examples=["payload.battery_soc"])
    rule: str = Field(examples=["must be a finite number (no NaN or Infinity)"])
    type: str = Field(examples=["finite_number"])


class RejectedRecord(BaseModel):
    """A record of a batch that broke the contract, by its position in the array (0-based)."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    errors: list[FieldError]


class AcceptedOne(BaseModel):
    """202 from the single-record endpoint: SQS holds the record."""

    model_config = ConfigDict(extra="forbid")

    accepted: Literal[1]


class BatchAccepted(BaseModel):
    """202 from the batch endpoint: SQS holds `accepted` records; `rejected` lists the others."""

    model_config = ConfigDict(extra="forbid")

    accepted: int = Field(ge=1)
    rejected: list[RejectedRecord]


class ErrorBody(BaseModel):
    """Every refusal: a stable slug, and either a sentence or the list of broken rules."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(examples=["invalid_record"])
    detail: str | list[FieldError]


class TooManyRecords(ErrorBody):
    """413 for a batch with more records than the receiver takes at once."""

    max_records: int


class BatchRejected(ErrorBody):
    """422 when every record of a batch broke the contract: nothing was queued."""

    accepted: Literal[0]
    rejected: list[RejectedRecord]


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "ready"]
