"""The fault proxy: passes, refuses and errors as told, cuts warm connections on a switch, stops clean.

Upstream is moto in server mode on loopback, so the ERROR answers are checked the way they matter:
botocore parses them as the AWS error they imitate (XML for S3, JSON for SQS).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from chaos.proxy import FaultProxy, Mode, error_response


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as running:
        yield running


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="eu-central-1",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5
        ),
    )


def test_pass_forwards_to_the_upstream(proxy: FaultProxy) -> None:
    s3 = client("s3", proxy.url)
    s3.create_bucket(Bucket="pass-through", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_object(Bucket="pass-through", Key="k", Body=b"body")
    assert s3.get_object(Bucket="pass-through", Key="k")["Body"].read() == b"body"
    assert proxy.counts()["connections_pass"] >= 1


def test_error_mode_answers_what_botocore_reads_as_service_unavailable(proxy: FaultProxy) -> None:
    proxy.set_mode(Mode.ERROR)
    with pytest.raises(ClientError) as s3_error:
        client("s3", proxy.url).put_object(Bucket="any", Key="k", Body=b"x" * 10_000)
    assert s3_error.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert s3_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with pytest.raises(ClientError) as sqs_error:
        client("sqs", proxy.url).list_queues()
    assert sqs_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "ServiceUnavailable" in sqs_error.value.response["Error"]["Code"]
    assert proxy.counts()["error_responses"] == 2


def test_refuse_mode_resets_every_connection(proxy: FaultProxy) -> None:
    proxy.set_mode(Mode.REFUSE)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client("sqs", proxy.url).list_queues()
    assert proxy.counts()["connections_refuse"] >= 1


def test_a_switch_cuts_warm_connections_and_pass_comes_back(proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=5) as http:
        assert http.get("/moto-api/").status_code == 200  # a keep-alive connection now exists
        proxy.set_mode(Mode.ERROR)
        # the pooled connection was cut: the retry on a fresh one meets the new mode, never moto
        assert http.get("/moto-api/").status_code == 503
        proxy.set_mode(Mode.PASS)
        assert http.get("/moto-api/").status_code == 200


def test_stop_releases_the_port_and_the_thread(moto_url: str) -> None:
    proxy = FaultProxy(moto_url)
    url = proxy.start()
    proxy.stop()
    proxy.stop()  # idempotent
    assert not any(t.name == "fault-proxy" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_error_body_follows_the_protocol_of_the_request() -> None:
    xml = error_response(b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\n\r\n")
    json = error_response(b"POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.SendMessageBatch\r\n\r\n")
    assert xml.startswith(b"HTTP/1.1 503 ") and b"<Code>ServiceUnavailable</Code>" in xml
    assert b"application/x-amz-json-1.0" in json and b'"__type"' in json
    assert b"Connection: close" in xml and b"Connection: close" in json


def test_upstream_must_be_a_host_and_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        FaultProxy("http://localhost")
