"""Parsing and validation without HTTP: status codes and the field/rule each refusal names."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from app.contract import TelemetryIn, ValidationWindow, format_timestamp, stamped_lines
from app.errors import RequestRejectedError
from app.receiver.intake import parse_batch, parse_record, read_body, require_json
from tests.conftest import RecordFactory

NOW = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)  # a fixed moment: no test here reads the clock
CONTEXT = ValidationWindow.around(NOW, 3600)
SENT_AT = format_timestamp(NOW - timedelta(seconds=1))


@pytest.fixture
def record_factory(record_factory: RecordFactory) -> RecordFactory:
    """The shared factory stamps records from the wall clock; these are judged at NOW, fixed at import.

    A slow run once took over five minutes from import to these tests, and every record was "in the future".
    """

    def make(**overrides: Any) -> dict[str, Any]:
        return record_factory(**{"timestamp": SENT_AT, **overrides})

    return make


def refusal(call: Any, *args: Any, **kwargs: Any) -> RequestRejectedError:
    with pytest.raises(RequestRejectedError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    "value", [b"application/json", b"application/json; charset=utf-8", b"Application/JSON"]
)
def test_json_media_types_pass(value: bytes) -> None:
    require_json(value)


@pytest.mark.parametrize(
    "value", [None, b"text/plain", b"application/x-www-form-urlencoded", b"application/jsonx"]
)
def test_other_media_types_are_415(value: bytes | None) -> None:
    exc = refusal(require_json, value)
    assert (exc.status, exc.error) == (415, "unsupported_media_type")


def test_a_valid_record_comes_back_as_its_stored_line(record_factory: RecordFactory) -> None:
    sent = record_factory(can_id="0x1f0", payload={"b": 1, "a": True})
    line = parse_record(orjson.dumps(sent), CONTEXT)
    assert line == stamped_lines([TelemetryIn.model_validate(sent)], NOW)[0]
    assert orjson.loads(line)["can_id"] == "0x1F0"
    assert list(orjson.loads(line)["payload"]) == ["a", "b"]


def _respelled(record: dict[str, Any]) -> dict[str, Any]:
    """The same record as a client may also spell it: offset, lower-case id, unsorted payload."""
    moment = datetime.fromisoformat(record["timestamp"]).astimezone(timezone(timedelta(hours=2)))
    return {
        "payload": dict(reversed(record["payload"].items())),
        "can_id": record["can_id"].lower(),
        "vehicle_id": record["vehicle_id"],
        "timestamp": moment.isoformat(),
    }


def test_every_spelling_of_a_record_is_stored_the_same(record_factory: RecordFactory) -> None:
    canonical = [record_factory(vehicle_id=f"veh-{n}", can_id="0x12345ABC") for n in range(3)]
    expected = parse_batch(orjson.dumps(canonical), CONTEXT, max_records=10).lines
    assert [orjson.loads(line)["vehicle_id"] for line in expected] == ["veh-0", "veh-1", "veh-2"]
    respelled = [_respelled(record) for record in canonical]
    assert parse_batch(orjson.dumps(respelled), CONTEXT, max_records=10).lines == expected
    mixed = [canonical[0], respelled[1], canonical[2]]
    assert parse_batch(orjson.dumps(mixed), CONTEXT, max_records=10).lines == expected
    assert [parse_record(orjson.dumps(r), CONTEXT) for r in respelled] == expected


@pytest.mark.parametrize("body", [b"", b"{", b'{"a":}', b"\xff\xfe", b"nul"])
def test_malformed_json_is_400(body: bytes) -> None:
    exc = refusal(parse_record, body, CONTEXT)
    assert (exc.status, exc.error) == (400, "invalid_json")
    assert "Invalid JSON" in exc.detail


@pytest.mark.parametrize(
    ("overrides", "field", "rule_type"),
    [
        ({"payload": {"battery_soc": "85"}}, "payload.battery_soc", "signal_value"),
        ({"payload": {"battery_soc": 10**30}}, "payload.battery_soc", "integer_range"),
        ({"payload": {}}, "payload", "too_short"),
        ({"can_id": "0x40000000"}, "can_id", "can_id_range"),
        ({"vehicle_id": "has space"}, "vehicle_id", "string_pattern_mismatch"),
        ({"timestamp": (NOW - timedelta(hours=2)).isoformat()}, "timestamp", "timestamp_too_old"),
        ({"timestamp": (NOW + timedelta(minutes=10)).isoformat()}, "timestamp", "timestamp_future"),
        ({"ingest_received_at": NOW.isoformat()}, "ingest_received_at", "server_field"),
        ({"extra": 1}, "extra", "extra_forbidden"),
    ],
)
def test_each_contract_rule_is_422_naming_field_and_rule(
    record_factory: RecordFactory, overrides: dict[str, Any], field: str, rule_type: str
) -> None:
    body = json.dumps(record_factory(**overrides)).encode()  # stdlib json: orjson refuses 10**30
    exc = refusal(parse_record, body, CONTEXT)
    assert (exc.status, exc.error) == (422, "invalid_record")
    assert {"field": field, "type": rule_type} in [
        {"field": e["field"], "type": e["type"]} for e in exc.detail
    ]
    assert all(e["rule"] for e in exc.detail)


def test_a_missing_field_is_named(record_factory: RecordFactory) -> None:
    record = record_factory()
    del record["vehicle_id"]
    exc = refusal(parse_record, orjson.dumps(record), CONTEXT)
    assert exc.detail == [{"field": "vehicle_id", "rule": "Field required", "type": "missing"}]


def test_a_body_that_is_not_an_object_is_422_on_the_record() -> None:
    exc = refusal(parse_record, b"[1, 2]", CONTEXT)
    assert exc.status == 422
    assert exc.detail[0]["field"] == "record"


def test_batch_keeps_valid_records_and_lists_the_rest_by_index(record_factory: RecordFactory) -> None:
    body = orjson.dumps([record_factory(), {"vehicle_id": "v"}, record_factory(vehicle_id="veh-2"), 7])
    batch = parse_batch(body, CONTEXT, max_records=10)
    assert [orjson.loads(line)["vehicle_id"] for line in batch.lines] == ["veh-00123", "veh-2"]
    assert [r["index"] for r in batch.rejected] == [1, 3]
    assert {"field": "timestamp", "rule": "Field required", "type": "missing"} in batch.rejected[0]["errors"]
    assert batch.rejected[1]["errors"][0]["field"] == "record"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"[", 400, "invalid_json"),
        (b"[" * 5000, 400, "invalid_json"),
        (b'{"a": 1}', 422, "invalid_batch"),
        (b"[]", 422, "empty_batch"),
    ],
)
def test_batch_shape_errors(body: bytes, status: int, error: str) -> None:
    exc = refusal(parse_batch, body, CONTEXT, max_records=10)
    assert (exc.status, exc.error) == (status, error)


@pytest.mark.parametrize("can_id", ["0x1F0", "0x1f0"], ids=["canonical", "other-spelling"])
def test_too_many_records_is_413_with_the_limit_and_the_count(
    record_factory: RecordFactory, can_id: str
) -> None:
    exc = refusal(parse_batch, orjson.dumps([record_factory(can_id=can_id)] * 4), CONTEXT, max_records=3)
    assert (exc.status, exc.error) == (413, "too_many_records")
    assert exc.extra == {"max_records": 3}
    assert exc.detail == "a batch holds at most 3 records; this one has 4"


@pytest.mark.parametrize(
    ("timestamp", "rule_type"),
    [
        ((NOW - timedelta(hours=2)).isoformat(timespec="milliseconds")[:23] + "Z", "timestamp_too_old"),
        ((NOW + timedelta(minutes=6)).isoformat(timespec="milliseconds")[:23] + "Z", "timestamp_future"),
        ("2025-02-30T00:00:00.000Z", "datetime_from_date_parsing"),
    ],
)
def test_a_canonically_spelled_record_outside_the_rules_is_refused_by_index(
    record_factory: RecordFactory, timestamp: str, rule_type: str
) -> None:
    body = orjson.dumps([record_factory(), record_factory(timestamp=timestamp)])
    batch = parse_batch(body, CONTEXT, max_records=10)
    assert len(batch.lines) == 1
    assert [r["index"] for r in batch.rejected] == [1]
    assert batch.rejected[0]["errors"][0]["type"] == rule_type


def test_single_and_batch_agree_on_non_finite_numbers(record_factory: RecordFactory) -> None:
    text = orjson.dumps(record_factory(payload={"battery_soc": 1.0})).replace(b"1.0", b"NaN")
    single = refusal(parse_record, text, CONTEXT)
    batch = parse_batch(b"[" + text + b"]", CONTEXT, max_records=10)
    assert single.detail[0]["type"] == batch.rejected[0]["errors"][0]["type"] == "finite_number"


def receiving(*messages: dict[str, Any]) -> Any:
    """An ASGI receive callable that hands out `messages` in order."""
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def read(receive: Any, declared: bytes | None = None, limit: int = 10) -> bytes:
    return asyncio.run(read_body(receive, declared_length=declared, limit=limit))


def test_a_body_in_several_messages_is_joined() -> None:
    receive = receiving(
        {"type": "http.request", "body": b"[1,", "more_body": True},
        {"type": "http.request", "body": b"2]", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    )
    assert read(receive) == b"[1,2]"


def test_a_body_over_the_limit_in_several_messages_is_413() -> None:
    receive = receiving(*[{"type": "http.request", "body": b"12345", "more_body": True}] * 3)
    exc = refusal(read, receive)
    assert (exc.status, exc.error) == (413, "body_too_large")


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    exc = refusal(read, receiving(), b"11")
    assert (exc.status, exc.error) == (413, "body_too_large")


def test_a_malformed_content_length_is_400() -> None:
    exc = refusal(read, receiving(), b"ten")
    assert (exc.status, exc.error) == (400, "invalid_content_length")


def test_a_client_that_disconnects_mid_body_is_refused() -> None:
    receive = receiving(
        {"type": "http.request", "body": b"[", "more_body": True}, {"type": "http.disconnect"}
    )
    exc = refusal(read, receive)
    assert (exc.status, exc.error) == (400, "client_disconnected")
