"""docs/openapi.json says what the receiver does: schemathesis generates requests from the document
(valid bodies, and bodies that break it) and checks every real answer against it.

The checked-in file is the document under test, served by a real app in-process: a status, a header
or a body the document does not declare fails the test, and so does a body the document calls
invalid that the receiver accepts. Not checked: that every schema-valid record is accepted, because
the time window (no older than the accepted age, no more than 5 minutes ahead) is not expressible in
JSON Schema; those records get a documented 422.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from app.errors import PublishError
from app.observability import InMemoryMetrics
from app.receiver.app import create_app
from app.settings import Settings
from tests.support.receiver import RecordingPublisher

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
KEY = secrets.token_urlsafe(24)
#: Every check that holds an answer to the document; positive_data_acceptance is left out (see above).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


class FlakyPublisher(RecordingPublisher):
    """Every third publish fails, so 503 answers are generated and checked too."""

    calls = 0

    async def publish(self, lines: object) -> None:
        FlakyPublisher.calls += 1
        if FlakyPublisher.calls % 3 == 0:
            raise PublishError("SQS did not take the records (injected)")
        await super().publish(lines)  # type: ignore[arg-type]


def _app() -> object:
    """The receiver with the default settings, as the document was rendered from them."""
    settings = Settings.model_construct(api_keys=[SecretStr(KEY)])
    return create_app(settings, publisher=FlakyPublisher(), metrics=InMemoryMetrics(keep=False))


#: A body the document calls invalid must get one of the refusals the document declares for it.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 413, 415, 422]}}}
)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)
schema.app = _app()


@pytest.fixture(autouse=True)
def _fresh_publisher() -> Iterator[None]:
    FlakyPublisher.calls = 0
    yield


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_one_the_document_declares(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS)
