"""The embedded AWS stand-in: moto in server mode on loopback, provisioned like the Terraform.

`provision()` creates the queue, its DLQ and the bucket through plain boto3 calls against whatever
endpoint Settings points at, so the same function serves the moto server (`telemetry local-aws`,
e2e tests) and moto's in-process `mock_aws` (integration tests). Names and settings come from
app/pipeline_defaults.json, the file infra/ reads too. The one deliberate difference: no TLS-only
bucket policy, because the stand-in is plain HTTP (see `_provision_bucket`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from app.aws import s3_client, sqs_client
from app.errors import EmbeddedAwsError
from app.resources import lifecycle_rules, pipeline_defaults
from app.settings import Settings, load_settings

#: moto accepts any credentials; boto3 only needs some to sign requests.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What a second shell (or a child process) needs to reach the provisioned resources."""

    endpoint_url: str | None
    region: str
    queue_url: str
    dlq_url: str
    bucket: str

    def env(self) -> dict[str, str]:
        env = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "TELEMETRY_QUEUE_URL": self.queue_url,
            "TELEMETRY_DLQ_URL": self.dlq_url,
            "TELEMETRY_BUCKET": self.bucket,
        }
        if self.endpoint_url:
            env = {"AWS_ENDPOINT_URL": self.endpoint_url, **LOCAL_CREDENTIALS, **env}
        return env


def provision(settings: Settings) -> Provisioned:
    """Create queue, DLQ (wired by redrive policy) and bucket exactly as infra/ does; idempotent."""
    defaults = pipeline_defaults()
    sqs = sqs_client(settings)
    s3 = s3_client(settings)
    try:
        dlq_url = sqs.create_queue(
            QueueName=settings.dlq_name,
            Attributes={
                "MessageRetentionPeriod": str(defaults.dlq_message_retention_seconds),
                "SqsManagedSseEnabled": "true",
            },
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queue_url = sqs.create_queue(
            QueueName=settings.queue_name,
            Attributes={
                "VisibilityTimeout": str(settings.visibility_timeout_seconds),
                "ReceiveMessageWaitTimeSeconds": str(defaults.queue.receive_wait_time_seconds),
                "MessageRetentionPeriod": str(defaults.queue.message_retention_seconds),
                "MaximumMessageSize": str(defaults.queue.max_message_size),
                "SqsManagedSseEnabled": "true",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
                ),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sqs.set_queue_attributes(
            QueueUrl=dlq_url,
            Attributes={
                "RedriveAllowPolicy": json.dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]}
                )
            },
        )
        _provision_bucket(s3, settings)
    except (BotoCoreError, ClientError) as exc:
        raise EmbeddedAwsError(f"could not provision the pipeline's resources: {exc}") from exc
    return Provisioned(
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
        queue_url=queue_url,
        dlq_url=dlq_url,
        bucket=settings.bucket,
    )


def _provision_bucket(s3: Any, settings: Settings) -> None:
    bucket = settings.bucket
    create: dict[str, Any] = {"Bucket": bucket}
    if settings.aws_region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
    try:
        s3.create_bucket(**create)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # No TLS-only bucket policy here, unlike infra/: the stand-in speaks plain HTTP on loopback, so
    # a Deny on aws:SecureTransport=false would (rightly) refuse every call. Terraform owns it in AWS.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules(pipeline_defaults())}
    )


@contextmanager
def embedded_aws(
    *, host: str = "127.0.0.1", port: int = 0, settings: Settings | None = None
) -> Iterator[Provisioned]:
    """Run moto server in a thread on loopback, provision it, and stop it on exit.

    Credentials are set in this process's environment only if absent, because boto3 refuses to
    sign without some and moto accepts any.
    """
    from moto.server import ThreadedMotoServer  # dev dependency: imported only when used

    from app import moto_speedups

    moto_speedups.apply()  # SQS work per message, not per message queued: see the module
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call is noise
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
    except OSError as exc:
        raise EmbeddedAwsError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    try:
        bound_host, bound_port = server.get_host_and_port()
        base = settings or load_settings()
        endpoint = f"http://{bound_host}:{bound_port}"
        # Per-service endpoints from the caller's shell would otherwise win over the server we just
        # started (app.aws.endpoint_url), and provisioning would go somewhere else.
        local = base.model_copy(
            update={"aws_endpoint_url": endpoint, "aws_endpoint_url_s3": None, "aws_endpoint_url_sqs": None}
        )
        yield provision(local)
    finally:
        server.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with embedded_aws(host=args.host, port=args.port) as aws:
        print("# embedded AWS is up; in a second shell run:", flush=True)
        for key, value in aws.env().items():
            print(f"export {key}={value}", flush=True)
        print("# Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            pass
    print("# embedded AWS stopped", file=sys.stderr, flush=True)
    return 0
