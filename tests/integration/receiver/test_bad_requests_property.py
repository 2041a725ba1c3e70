"""Generated bad requests (well over 1,000): never a 5xx, always a JSON error, nothing queued.

Every strategy below builds a request that must be refused: a valid record with exactly one thing
broken, JSON that is not a record, bytes that are not JSON, a wrong content type, a wrong key or
an oversized body. The receiver runs against moto's SQS with the real publisher, so "nothing
queued" is checked at the queue, not at a fake.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.embedded_aws import provision
from app.observability import InMemoryMetrics
from app.receiver.app import create_app
from tests.conftest import VALID_KEY, SettingsFactory
from tests.support.receiver import serving

REQUIRED = ("timestamp", "vehicle_id", "can_id", "payload")
VEHICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
SIGNAL_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_BODY = 4096
MAX_RECORDS = 5

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def valid_record() -> dict[str, Any]:
    return {
        "timestamp": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "vehicle_id": "veh-00123",
        "can_id": "0x1F0",
        "payload": {"battery_soc": 85.5, "battery_voltage": 400.2},
    }


bad_timestamps = (
    st.sampled_from(
        [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-10-19T12:34:56",
            "1900-01-01T00:00:00Z",
            "2999-01-01T00:00:00Z",
        ]
    )
    | st.none()
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.integers(max_value=0)
)
bad_vehicle_ids = (
    st.sampled_from(["", " veh", "veh 1", "-veh", "v" * 65, "veh\n"])
    | st.text(max_size=70).filter(lambda s: not VEHICLE_ID.fullmatch(s) or len(s) > 64)
    | st.integers()
    | st.none()
)
bad_can_ids = (
    st.sampled_from(["", "1F0", "0x", "0xZZ", "0x40000000", "0x123456789", "0X-1"])
    | st.integers()
    | st.none()
)
bad_signal_values: st.SearchStrategy[Any] = st.sampled_from(
    ["1", None, [], {}, math.nan, math.inf, -math.inf, 10**30, -(10**20)]
)
bad_payloads: st.SearchStrategy[Any] = (
    st.just({})
    | st.lists(st.integers(), max_size=3)
    | st.text(max_size=10)
    | st.none()
    | st.builds(lambda v: {"battery_soc": v}, bad_signal_values)
    | st.text(min_size=1, max_size=20).filter(lambda k: not SIGNAL_NAME.fullmatch(k)).map(lambda k: {k: 1.0})
    | st.just({f"s{i}": 1.0 for i in range(65)})
)


@st.composite
def one_thing_broken(draw: st.DrawFn) -> Any:
    """A valid record with exactly one rule broken, or a JSON value that is not a record at all."""
    record = valid_record()
    how = draw(
        st.sampled_from(["drop", "timestamp", "vehicle_id", "can_id", "payload", "extra", "server", "shape"])
    )
    if how == "drop":
        del record[draw(st.sampled_from(REQUIRED))]
    elif how == "timestamp":
        record["timestamp"] = draw(bad_timestamps)
    elif how == "vehicle_id":
        record["vehicle_id"] = draw(bad_vehicle_ids)
    elif how == "can_id":
        record["can_id"] = draw(bad_can_ids)
    elif how == "payload":
        record["payload"] = draw(bad_payloads)
    elif how == "extra":
        record[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in REQUIRED))] = draw(json_values)
    elif how == "server":
        record["ingest_received_at"] = record["timestamp"]
    else:
        return draw(json_values.filter(lambda v: not isinstance(v, dict) or not set(REQUIRED) <= set(v)))
    return record


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) of a request the receiver must refuse."""
    batch = draw(st.booleans())
    path = "/v1/telemetry/batch" if batch else "/v1/telemetry"
    headers = {"X-API-Key": VALID_KEY, "Content-Type": "application/json"}
    good_body = encode([valid_record()] if batch else valid_record())
    kind = draw(
        st.sampled_from(["record", "record", "record", "bytes", "content_type", "key", "size", "count"])
    )
    if kind == "record":
        broken = (
            draw(st.lists(one_thing_broken(), min_size=1, max_size=MAX_RECORDS))
            if batch
            else draw(one_thing_broken())
        )
        if batch and draw(st.booleans()):
            broken = draw(one_thing_broken().filter(lambda v: not isinstance(v, list)))
        return path, headers, encode(broken)
    if kind == "bytes":
        body = draw(st.binary(max_size=200).filter(lambda b: not b.strip().startswith((b"{", b"["))))
        return path, headers, body
    if kind == "content_type":
        headers["Content-Type"] = draw(
            st.sampled_from(["text/plain", "application/xml", "multipart/form-data", ""])
        )
        return path, headers, good_body
    if kind == "key":
        key = draw(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
        if key == VALID_KEY:
            key += "x"
        headers["X-API-Key"] = key
        return path, headers, good_body
    if kind == "size":
        return path, headers, b" " * (MAX_BODY + 1 - len(good_body)) + good_body
    return "/v1/telemetry/batch", headers, encode([valid_record()] * (MAX_RECORDS + 1))


@pytest.fixture
def client_runner(
    settings_factory: SettingsFactory, mocked_aws: None
) -> Iterator[tuple[asyncio.Runner, httpx.AsyncClient, str]]:
    base = settings_factory(max_body_bytes=MAX_BODY, max_batch_records=MAX_RECORDS, publish_linger_ms=0)
    queue_url = provision(base).queue_url
    app = create_app(base.model_copy(update={"queue_url": queue_url}), metrics=InMemoryMetrics())
    with asyncio.Runner() as runner:
        context = serving(app)
        client = runner.run(context.__aenter__())
        try:
            yield runner, client, queue_url
        finally:
            runner.run(context.__aexit__(None, None, None))


def test_a_thousand_generated_bad_requests_get_4xx_and_queue_nothing(
    client_runner: tuple[asyncio.Runner, httpx.AsyncClient, str],
) -> None:
    runner, client, queue_url = client_runner
    sent: list[int] = []

    @settings(
        max_examples=1100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(request=bad_requests())
    def check(request: tuple[str, dict[str, str], bytes]) -> None:
        path, headers, body = request
        response = runner.run(client.post(path, headers=headers, content=body))
        sent.append(response.status_code)
        assert 400 <= response.status_code < 500, (
            response.status_code,
            path,
            headers,
            body[:200],
            response.text,
        )
        assert isinstance(response.json()["error"], str)

    check()
    assert len(sent) >= 1000
    assert {400, 401, 413, 415, 422} <= set(sent)
    queue = boto3.client("sqs", region_name="eu-central-1").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert queue == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
