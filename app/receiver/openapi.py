"""The receiver's OpenAPI document: the contract's schema, the response models, every status code.

The ingest routes are plain Starlette routes (see `app`: the hot path skips FastAPI's dependency
machinery), so FastAPI cannot describe them; they are declared here, pointing at the contract's
`TelemetryIn` schema, with the X-API-Key scheme and every status and body the routes answer, while
FastAPI generates the health routes. The app serves the document (and /docs, /redoc on it); the
checked-in copy, docs/openapi.json, is rendered by `telemetry schema` (app/schema_cli.py) from the
default settings, and the tests fail when it drifts or when a real answer does not match it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.contract import TelemetryIn
from app.receiver.routes import BATCH_PATH, SINGLE_PATH
from app.receiver.schemas import (
    AcceptedOne,
    BatchAccepted,
    BatchRejected,
    ErrorBody,
    Health,
    TooManyRecords,
)

SECURITY_SCHEME = "ApiKeyAuth"
DESCRIPTION = (
    "Vehicles POST contract-v1 telemetry records with an `X-API-Key` header. A 202 means SQS holds "
    "every accepted record; a 503 (with Retry-After) means none of the request's records may be "
    "considered accepted. Status codes and their reasons: docs/receiver.md."
)
_MODELS: tuple[type[BaseModel], ...] = (
    AcceptedOne,
    BatchAccepted,
    BatchRejected,
    ErrorBody,
    TooManyRecords,
    Health,
)
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "The expected scheme.", "schema": {"type": "string"}}
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(
    models: tuple[type[BaseModel], ...], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A response: one model, or any of several when one status has several bodies."""
    schema = _ref(models[0].__name__) if len(models) == 1 else {"anyOf": [_ref(m.__name__) for m in models]}
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def ingest_operation(*, batch: bool, max_records: int) -> dict[str, Any]:
    """The OpenAPI operation of one ingest route: body, key, and every status and body it answers."""
    if batch:
        schema: dict[str, Any] = {
            "type": "array",
            "items": _ref("TelemetryIn"),
            "minItems": 1,
            "maxItems": max_records,
        }
        body = f"A JSON array of 1 to {max_records} records."
    else:
        schema, body = _ref("TelemetryIn"), "One record as the vehicle sends it (no ingest_received_at)."
    return {
        "operationId": "ingestBatch" if batch else "ingestRecord",
        "summary": (
            f"Queue up to {max_records} records; valid ones are queued, invalid ones listed"
            if batch
            else "Queue one record"
        ),
        "security": [{SECURITY_SCHEME: []}],
        "requestBody": {
            "required": True,
            "description": body,
            "content": {"application/json": {"schema": schema}},
        },
        "responses": {
            "202": _answer(
                (BatchAccepted,) if batch else (AcceptedOne,),
                "SQS acknowledged every accepted record"
                + ("; rejected lists the records that broke the contract." if batch else "."),
            ),
            "400": _answer(
                (ErrorBody,),
                "The body is not well-formed JSON (invalid_json), or Content-Length is not a number "
                "(invalid_content_length).",
            ),
            "401": _answer(
                (ErrorBody,), "X-API-Key missing or not one of the keys (unauthorized).", _WWW_AUTHENTICATE
            ),
            "413": _answer(
                (TooManyRecords, ErrorBody) if batch else (ErrorBody,),
                "Body over the size limit (body_too_large)"
                + (", or more records than a batch may hold (too_many_records)." if batch else "."),
            ),
            "415": _answer((ErrorBody,), "Content-Type is not application/json (unsupported_media_type)."),
            "422": _answer(
                (BatchRejected, ErrorBody) if batch else (ErrorBody,),
                "Every record broke the contract (no_valid_records, with rejected listing each), or the "
                "body is not a non-empty JSON array (invalid_batch, empty_batch); nothing was queued."
                if batch
                else "The record broke the contract (invalid_record); detail names each field and rule.",
            ),
            "500": _answer((ErrorBody,), "A bug in the receiver (internal); the log has the traceback."),
            "503": _answer(
                (ErrorBody,),
                "SQS did not take the records (failed, timed out, overloaded, shutting down); retry later.",
                _RETRY_AFTER,
            ),
        },
    }


def install_openapi(app: FastAPI, *, max_records: int) -> None:
    """Replace `app.openapi` with a builder that adds the ingest routes, the models and the key scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=DESCRIPTION,
                routes=app.routes,
            )
            schema["paths"][SINGLE_PATH] = {"post": ingest_operation(batch=False, max_records=max_records)}
            schema["paths"][BATCH_PATH] = {"post": ingest_operation(batch=True, max_records=max_records)}
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            _, definitions = models_json_schema(
                [(model, "serialization") for model in _MODELS], ref_template="#/components/schemas/{model}"
            )
            schemas.update(definitions["$defs"])
            record = TelemetryIn.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(record.pop("$defs", {}))
            schemas["TelemetryIn"] = record
            components["securitySchemes"] = {
                SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            }
            for path in ("/healthz", "/readyz"):
                ok = schema["paths"][path]["get"]["responses"]["200"]
                ok["content"] = {"application/json": {"schema": _ref("Health")}}
            schema["paths"]["/readyz"]["get"]["responses"]["503"] = {
                "description": "SQS is not reachable (or the receiver is not started).",
                "headers": _RETRY_AFTER,
                "content": {"application/json": {"schema": _ref("ErrorBody")}},
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
