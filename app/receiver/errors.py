"""Why the receiver refuses a request, as an exception the routes turn into a 4xx answer.

`RequestRejectedError` sits under the package root (`app.errors.TelemetryError`) beside `PublishError`,
which the routes turn into 503. Nothing else escapes a route: anything else is a bug, answered 500
by the last-resort handler in `responses` and logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import TelemetryError


class RequestRejectedError(TelemetryError):
    """The client sent something we refuse; `status`, `error` and `detail` become the JSON answer.

    `extra` adds fields to the body (the batch endpoint's `accepted`/`rejected`); `reason` is the
    label counted in the RequestsRejected metric.
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
