"""Per-service endpoints: AWS_ENDPOINT_URL_S3 / _SQS win over AWS_ENDPOINT_URL, as in boto3."""

from __future__ import annotations

import pytest

from app.aws import endpoint_url, s3_client, sqs_client
from app.settings import load_settings


def test_without_per_service_variables_every_client_uses_the_global_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    settings = load_settings()
    assert endpoint_url("s3", settings) == endpoint_url("sqs", settings) == "http://127.0.0.1:5000"


def test_a_per_service_variable_moves_only_that_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:6001")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:6002")
    settings = load_settings()
    assert s3_client(settings).meta.endpoint_url == "http://127.0.0.1:6001"
    assert sqs_client(settings).meta.endpoint_url == "http://127.0.0.1:6002"
    assert endpoint_url("sts", settings) == "http://127.0.0.1:5000"


def test_unset_everywhere_leaves_the_sdk_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    settings = load_settings()
    assert endpoint_url("s3", settings) is None
    assert sqs_client(settings).meta.endpoint_url == "https://sqs.eu-central-1.amazonaws.com"
