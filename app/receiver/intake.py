"""From raw request to stored lines: plain functions, testable without HTTP.

A body is validated in one pass of pydantic-core over the whole of it (no `json.loads` then a
second pass as FastAPI's body parameters would do, no call per record of a batch), against contract
v1 with the time window of this request, and comes back as the lines to store. A body already in the
stored spelling takes the fast path (app/receiver/canonical.py); any other goes through the
contract's model, which accepts every spelling the contract allows. Every refusal is a
`RequestRejectedError` carrying the status code and a body that names the field and the rule;
docs/receiver.md explains each status.

Checks run cheapest first: content type, declared size, then the body itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from starlette.types import Receive

from app.contract import TelemetryIn, ValidationWindow, stamped_lines, validation_context
from app.errors import RequestRejectedError
from app.receiver.canonical import canonical_line, canonical_lines

JSON_MEDIA_TYPE = "application/json"
#: `field` of an error about the record as a whole (not an object, say).
RECORD_ROOT = "record"

FieldError = dict[str, str]


@dataclass(slots=True)
class BatchIntake:
    """A batch split into the stored lines of what passed the contract and, by index, what did not."""

    lines: list[bytes] = field(default_factory=list)
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


def parse_record(body: bytes, window: ValidationWindow) -> bytes:
    """One record's stored line; 400 for malformed JSON, 422 naming every broken field otherwise."""
    line = canonical_line(body, window)
    if line is not None:
        return line
    try:
        record = TelemetryIn.model_validate_json(body, context=validation_context(window))
    except ValidationError as exc:
        errors = field_errors(exc)
        if any(error["type"] == "json_invalid" for error in errors):
            raise _invalid_json(errors[0]["rule"]) from None
        raise RequestRejectedError(422, "invalid_record", errors) from None
    return stamped_lines([record], window.now)[0]


def _record_or_errors(value: Any, handler: ValidatorFunctionWrapHandler) -> TelemetryIn | ValidationError:
    """A record's refusal kept in its place in the batch, so one bad record spoils nothing else."""
    try:
        return handler(value)  # type: ignore[no-any-return]
    except ValidationError as exc:
        return exc


@functools.cache
def _batch_adapter(max_records: int) -> TypeAdapter[list[Any]]:
    """Each item a TelemetryIn or, through the wrap validator, the ValidationError refusing it."""
    return TypeAdapter(
        Annotated[
            list[Annotated[TelemetryIn, WrapValidator(_record_or_errors)]],
            Field(min_length=1, max_length=max_records),
        ]
    )


def parse_batch(body: bytes, window: ValidationWindow, *, max_records: int) -> BatchIntake:
    """A JSON array of records: the lines of those that pass, and each refusal by index."""
    lines = canonical_lines(body, window, max_records=max_records)
    if lines is not None:
        return BatchIntake(lines)
    try:
        items = _batch_adapter(max_records).validate_json(body, context=validation_context(window))
    except ValidationError as exc:
        raise _batch_refusal(exc, max_records) from None
    intake = BatchIntake()
    records = []
    for index, item in enumerate(items):
        if isinstance(item, ValidationError):
            intake.rejected.append({"index": index, "errors": field_errors(item)})
        else:
            records.append(item)
    intake.lines = stamped_lines(records, window.now)
    return intake


def _batch_refusal(exc: ValidationError, max_records: int) -> RequestRejectedError:
    """What is wrong with the batch as a whole (its records' own errors are kept, not raised)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    kind = error["type"]
    if kind == "json_invalid":
        return _invalid_json(error["msg"])
    if kind == "too_long":
        count = error.get("ctx", {}).get("actual_length")
        return RequestRejectedError(
            413,
            "too_many_records",
            f"a batch holds at most {max_records} records; this one has {count}",
            extra={"max_records": max_records},
        )
    if kind == "too_short":
        return RequestRejectedError(
            422,
            "empty_batch",
            [{"field": "body", "rule": "must hold at least one record", "type": "too_short"}],
        )
    return RequestRejectedError(
        422,
        "invalid_batch",
        [{"field": "body", "rule": "must be a JSON array of records", "type": "list_type"}],
    )
