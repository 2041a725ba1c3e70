"""Every answer the receiver gives, as JSON, and the handlers that keep errors in that shape.

Bodies are rendered with orjson straight into a `Response` (no jsonable_encoder pass). Errors are
`{"error": "<slug>", "detail": ...}`; 401 names the header scheme, 503 carries Retry-After. The
last-resort handler answers a bug with 500 and logs its traceback: the tests make sure no input
reaches it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.errors import RequestRejectedError
from app.observability import kv

JSON_MEDIA_TYPE = "application/json"
ACCEPTED_ONE = b'{"accepted":1}'

_log = logging.getLogger(__name__)


def json_response(status: int, content: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON_MEDIA_TYPE, headers=headers)


def accepted_one() -> Response:
    return Response(ACCEPTED_ONE, status_code=202, media_type=JSON_MEDIA_TYPE)


def accepted_batch(accepted: int, rejected: list[dict[str, Any]]) -> Response:
    return json_response(202, {"accepted": accepted, "rejected": rejected})


def no_valid_records(rejected_records: list[dict[str, Any]]) -> Response:
    """422 for a batch whose every record broke the contract: the error shape plus the batch shape."""
    return json_response(
        422,
        {
            "error": "no_valid_records",
            "detail": "every record of the batch broke the contract; nothing was queued",
            "accepted": 0,
            "rejected": rejected_records,
        },
    )


def rejected(exc: RequestRejectedError) -> Response:
    return json_response(exc.status, {"error": exc.error, "detail": exc.detail, **exc.extra}, exc.headers)


def unauthorized() -> Response:
    return json_response(
        401,
        {"error": "unauthorized", "detail": "missing or invalid X-API-Key header"},
        {"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
    )


def unavailable(detail: str, *, retry_after_seconds: int) -> Response:
    return json_response(
        503, {"error": "unavailable", "detail": detail}, {"Retry-After": str(retry_after_seconds)}
    )


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (404, 405, ...) in our error shape, keeping headers such as Allow."""
    assert isinstance(exc, StarletteHTTPException)
    return json_response(
        exc.status_code, {"error": _slug(exc.status_code), "detail": exc.detail}, exc.headers
    )


async def _bug(request: Request, exc: Exception) -> Response:
    _log.error(kv("unhandled_error", path=request.url.path, error=type(exc).__name__), exc_info=exc)
    return json_response(500, {"error": "internal", "detail": "unexpected error; see the receiver log"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _bug)
