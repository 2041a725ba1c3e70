"""The embedded AWS stack provisions what infra/ provisions, in moto and in moto server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from app.embedded_aws import embedded_aws, provision
from app.resources import pipeline_defaults
from tests.conftest import SettingsFactory


@pytest.mark.usefixtures("mocked_aws")
def test_provision_wires_queue_dlq_and_bucket(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    aws = provision(settings)
    sqs = boto3.client("sqs", region_name=settings.aws_region)
    attrs = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": pipeline_defaults().queue.max_receive_count,
    }
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    assert attrs["SqsManagedSseEnabled"] == "true"
    dlq = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["All"])["Attributes"]
    assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    # moto 5.2 accepts RedriveAllowPolicy but does not store it; infra/tests check it on the plan.

    s3 = boto3.client("s3", region_name=settings.aws_region)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=aws.bucket)["Rules"]
    by_prefix = {r["Filter"].get("Prefix"): r for r in rules}
    # raw/ is the replay window: it expires within days and never transitions; curated/ is kept and tiers.
    assert "Transitions" not in by_prefix["raw/"]
    assert by_prefix["raw/"]["Expiration"]["Days"] == pipeline_defaults().lifecycle.raw_expiration_days < 30
    curated = by_prefix["curated/"]
    assert [t["StorageClass"] for t in curated["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert curated["Transitions"][0]["Days"] >= 30
    enc = s3.get_bucket_encryption(Bucket=aws.bucket)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=aws.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


@pytest.mark.usefixtures("mocked_aws")
def test_provision_is_idempotent(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    assert provision(settings) == provision(settings)


def test_context_manager_serves_on_a_free_loopback_port_and_stops(settings_factory: SettingsFactory) -> None:
    with embedded_aws(settings=settings_factory()) as aws:
        assert aws.endpoint_url and aws.endpoint_url.startswith("http://127.0.0.1:")
        sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name=aws.region)
        assert sorted(sqs.list_queues()["QueueUrls"]) == sorted([aws.queue_url, aws.dlq_url])
    with pytest.raises(Exception, match=r"(?i)connect"):
        boto3.client(
            "sqs",
            endpoint_url=aws.endpoint_url,
            region_name=aws.region,
            config=boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1),
        ).list_queues()


def test_context_manager_ignores_per_service_endpoints_from_the_shell(
    settings_factory: SettingsFactory,
) -> None:
    """A stale AWS_ENDPOINT_URL_S3/_SQS must not send provisioning past the server just started."""
    stale = settings_factory().model_copy(
        update={"aws_endpoint_url_s3": "http://127.0.0.1:9", "aws_endpoint_url_sqs": "http://127.0.0.1:9"}
    )
    with embedded_aws(settings=stale) as aws:
        s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
        assert s3.head_bucket(Bucket=aws.bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_cli_prints_the_environment_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "local-aws"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        env: dict[str, str] = {}
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while "TELEMETRY_BUCKET" not in env and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                env[key] = value
        assert {"AWS_ENDPOINT_URL", "TELEMETRY_QUEUE_URL", "TELEMETRY_DLQ_URL", "TELEMETRY_BUCKET"} <= set(
            env
        )
        sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"])
        attrs = sqs.get_queue_attributes(
            QueueUrl=env["TELEMETRY_QUEUE_URL"], AttributeNames=["RedrivePolicy"]
        )
        assert "deadLetterTargetArn" in attrs["Attributes"]["RedrivePolicy"]
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"])
        assert s3.get_bucket_lifecycle_configuration(Bucket=env["TELEMETRY_BUCKET"])["Rules"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
