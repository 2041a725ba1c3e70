"""Flush rules, object names and object contents."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime

import pytest

from app.consumer.batching import (
    Buffer,
    BufferedMessage,
    FlushReason,
    build_objects,
    object_key,
)
from app.consumer.decode import decode_body
from app.consumer.ports import ReceivedMessage
from app.contract import Hour
from tests.support.records import record_line, seqs_of

NOON = datetime(2025, 10, 19, 12, 30, tzinfo=UTC)
ONE_PM = datetime(2025, 10, 19, 13, 5, tzinfo=UTC)


def _message(mid: str, seqs: list[int], *, ingest: datetime = NOON) -> BufferedMessage:
    raw = b"\n".join(record_line(s, ingest=ingest) for s in seqs)
    received = ReceivedMessage(mid, f"h-{mid}", raw, 0, 1, 0.0, 0.0)
    return BufferedMessage(message=received, body=decode_body(raw))


def test_key_is_the_hour_partition_and_a_uuid_of_the_sorted_message_ids() -> None:
    key = object_key(prefix="raw/", hour=Hour("2025-10-19T07"), message_ids=["b", "a"], compressed=False)
    assert re.fullmatch(
        r"raw/year=2025/month=10/day=19/hour=07/part-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl",
        key,
    )
    assert key == object_key(
        prefix="raw/", hour=Hour("2025-10-19T07"), message_ids=["a", "b"], compressed=False
    )
    assert key != object_key(
        prefix="raw/", hour=Hour("2025-10-19T08"), message_ids=["a", "b"], compressed=False
    )
    assert key != object_key(prefix="raw/", hour=Hour("2025-10-19T07"), message_ids=["a"], compressed=False)
    gz = object_key(prefix="raw/", hour=Hour("2025-10-19T07"), message_ids=["a", "b"], compressed=True)
    assert gz == key + ".gz"


def test_one_object_per_hour_with_count_and_flush_time_metadata() -> None:
    a = _message("a", [1, 2], ingest=NOON)
    b = _message("b", [3], ingest=ONE_PM)
    spanning = BufferedMessage(
        message=ReceivedMessage("c", "h-c", b"", 0, 1, 0.0, 0.0),
        body=decode_body(b"\n".join([record_line(4, ingest=NOON), record_line(5, ingest=ONE_PM)])),
    )
    buffer = Buffer(max_records=100, max_bytes=10**6, max_age=60)
    buffer.add([a, b, spanning], now=0.0)
    batch = buffer.seal(FlushReason.SHUTDOWN, now=1.0)
    assert batch is not None
    flushed = datetime(2025, 10, 19, 13, 6, 1, 234_567, tzinfo=UTC)
    noon, one = build_objects(batch, prefix="raw/", compress=False, flushed_at=flushed)
    assert "/hour=12/" in noon.key and "/hour=13/" in one.key
    assert seqs_of(noon.body) == [1, 2, 4] and seqs_of(one.body) == [3, 5]
    assert noon.body.endswith(b"\n") and noon.raw_bytes == len(noon.body)
    assert noon.message_ids == {"a", "c"} and one.message_ids == {"b", "c"}
    assert noon.metadata == {"record-count": "3", "flushed-at": "2025-10-19T13:06:01.234Z"}
    assert noon.content_type == "application/x-ndjson"


def test_gzip_objects_decompress_to_the_same_lines_and_are_reproducible() -> None:
    buffer = Buffer(max_records=1, max_bytes=10**6, max_age=60)
    (batch,) = buffer.add([_message("a", [1, 2, 3])], now=0.0)
    plain = build_objects(batch, prefix="raw/", compress=False, flushed_at=NOON)[0]
    first = build_objects(batch, prefix="raw/", compress=True, flushed_at=NOON)[0]
    again = build_objects(batch, prefix="raw/", compress=True, flushed_at=ONE_PM)[0]
    assert gzip.decompress(first.body) == plain.body
    assert first.body == again.body and first.key == again.key  # a rewrite overwrites identically
    assert first.key.endswith(".jsonl.gz") and first.content_type == "application/gzip"


def test_count_rule_trips_after_the_receive_not_per_message() -> None:
    buffer = Buffer(max_records=3, max_bytes=10**6, max_age=60)
    assert buffer.add([_message("a", [1, 2])], now=0.0) == []
    (batch,) = buffer.add([_message("b", [3, 4]), _message("c", [5, 6])], now=0.5)
    assert batch.reason is FlushReason.COUNT
    assert [m.message_id for m in batch.messages] == ["a", "b", "c"]
    assert batch.records == 6 and batch.opened_at == 0.0
    assert buffer.records == 0 and buffer.deadline is None


def test_bytes_rule_seals_before_a_message_that_would_cross_the_limit() -> None:
    one = _message("a", [1, 2])
    limit = one.body.nbytes * 2 + 10  # room for two messages, not three
    buffer = Buffer(max_records=10**6, max_bytes=limit, max_age=60)
    sealed = buffer.add([_message("a", [1, 2]), _message("b", [3, 4]), _message("c", [5, 6])], now=0.0)
    assert [(b.reason, [m.message_id for m in b.messages]) for b in sealed] == [
        (FlushReason.BYTES, ["a", "b"])
    ]
    assert all(b.nbytes <= limit for b in sealed)
    assert buffer.records == 2  # "c" waits in the next buffer


def test_bytes_rule_trips_when_the_limit_is_reached_and_a_huge_message_goes_alone() -> None:
    small, big = _message("a", [1]), _message("b", list(range(2, 40)))
    buffer = Buffer(max_records=10**6, max_bytes=small.body.nbytes * 3, max_age=60)
    sealed = buffer.add([small, big], now=0.0)
    assert [[m.message_id for m in b.messages] for b in sealed] == [["a"], ["b"]]
    assert [b.reason for b in sealed] == [FlushReason.BYTES, FlushReason.BYTES]


def test_age_rule_trips_at_the_deadline_of_the_oldest_record_only() -> None:
    buffer = Buffer(max_records=100, max_bytes=10**6, max_age=2.0)
    assert buffer.seal_if_old(now=100.0) is None  # empty: nothing to age
    buffer.add([_message("a", [1])], now=10.0)
    buffer.add([_message("b", [2])], now=11.5)
    assert buffer.deadline == 12.0
    assert buffer.seal_if_old(now=11.99) is None
    batch = buffer.seal_if_old(now=12.0)
    assert batch is not None and batch.reason is FlushReason.AGE and batch.records == 2


@pytest.mark.parametrize("reason", list(FlushReason))
def test_sealing_an_empty_buffer_gives_nothing(reason: FlushReason) -> None:
    assert Buffer(max_records=1, max_bytes=1024, max_age=1).seal(reason, now=0.0) is None
