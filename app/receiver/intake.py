"""From raw request to validated records: plain functions, testable without HTTP.

The body is parsed exactly once, by pydantic's own JSON parser (no `json.loads` then a second pass
as FastAPI's body parameters would do), and validated against contract v1 with the time window of
this request. Every refusal is a `RequestRejectedError` carrying the status code and a body that names
the field and the rule; docs/receiver.md explains each status.

Checks run cheapest first: content type, declared size, then the body itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from pydantic import ValidationError
from starlette.types import Receive

from app.contract import TelemetryIn
from app.errors import RequestRejectedError

JSON_MEDIA_TYPE = "application/json"
#: `field` of an error about the record as a whole (not an object, say).
RECORD_ROOT = "record"

FieldError = dict[str, str]


@dataclass(slots=True)
class BatchIntake:
    """A batch split into what passed the contract and what did not (by index, with reasons)."""

    records: list[TelemetryIn] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as `{"field", "rule", "type"}`; `field` is the dotted path, e.g. payload.battery_soc.

    The offending input is not echoed back: it may be large, and it is the client's own data.
    """
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or RECORD_ROOT,
            "rule": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def require_json(content_type: bytes | None) -> None:
    """415 unless the media type is application/json (parameters such as charset are ignored)."""
    if content_type is not None:
        media_type = content_type.split(b";", 1)[0].strip().lower()
        if media_type == b"application/json":
            return
    raise RequestRejectedError(
        415,
        "unsupported_media_type",
        f"Content-Type must be {JSON_MEDIA_TYPE}",
    )


def too_large(limit: int) -> RequestRejectedError:
    return RequestRejectedError(413, "body_too_large", f"the request body must not exceed {limit} bytes")


async def read_body(receive: Receive, *, declared_length: bytes | None, limit: int) -> bytes:
    """The whole body, refusing (413) a declared or actual size above `limit` without buffering it.

    Reads the ASGI messages directly: a body that arrives in one message (the usual case) is
    returned as is, without Starlette's stream generator around it. A declared Content-Length
    above the limit is refused before anything is read; a chunked body is counted as it arrives.
    """
    if declared_length is not None:
        try:
            declared = int(declared_length)
        except ValueError:
            raise RequestRejectedError(
                400, "invalid_content_length", "Content-Length is not a number"
            ) from None
        if declared > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RequestRejectedError(400, "client_disconnected", "the client went away mid-body")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def _invalid_json(detail: str) -> RequestRejectedError:
    return RequestRejectedError(400, "invalid_json", detail)


def parse_record(body: bytes, context: dict[str, Any] | None) -> TelemetryIn:
    """One record; 400 for malformed JSON, 422 naming every broken field otherwise."""
    try:
        return TelemetryIn.model_validate_json(body, context=context)
    except ValidationError as exc:
        errors = field_errors(exc)
        if any(error["type"] == "json_invalid" for error in errors):
            raise _invalid_json(errors[0]["rule"]) from None
        raise RequestRejectedError(422, "invalid_record", errors) from None


def parse_batch(body: bytes, context: dict[str, Any] | None, *, max_records: int) -> BatchIntake:
    """A JSON array of records; each is validated on its own, so one bad record spoils nothing else."""
    try:
        items = pydantic_core.from_json(body)
    except ValueError as exc:
        raise _invalid_json(f"Invalid JSON: {exc}") from None
    if not isinstance(items, list):
        raise RequestRejectedError(
            422,
            "invalid_batch",
            [{"field": "body", "rule": "must be a JSON array of records", "type": "list_type"}],
        )
    if not items:
        raise RequestRejectedError(
            422,
            "empty_batch",
            [{"field": "body", "rule": "must hold at least one record", "type": "too_short"}],
        )
    if len(items) > max_records:
        raise RequestRejectedError(
            413,
            "too_many_records",
            f"a batch holds at most {max_records} records; this one has {len(items)}",
            extra={"max_records": max_records},
        )
    intake = BatchIntake()
    for index, item in enumerate(items):
        try:
            intake.records.append(TelemetryIn.model_validate(item, context=context))
        except ValidationError as exc:
            intake.rejected.append({"index": index, "errors": field_errors(exc)})
    return intake
