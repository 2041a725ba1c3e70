"""The process harness itself: starts the embedded AWS stack as a process and stops it."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from loadtest.stack import PipelineStack


@pytest.mark.e2e
def test_stack_starts_aws_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with PipelineStack(tmp_path) as stack:
        env = stack.start_aws()
        sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"])
        assert env["TELEMETRY_QUEUE_URL"] in sqs.list_queues()["QueueUrls"]
        aws = stack._aws
        assert aws is not None and aws.alive()
    assert not aws.alive()
    assert aws.popen.returncode == 0
