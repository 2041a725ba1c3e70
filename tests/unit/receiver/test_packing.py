"""Packing keeps the consumer's message contract: JSON Lines and the size caps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.receiver.packing import (
    SQS_MAX_BATCH_BYTES,
    SQS_MAX_BATCH_ENTRIES,
    PackLimits,
    attributes_size,
    group_calls,
    message_attributes,
    pack,
)


def line(n: int, size: int = 100) -> bytes:
    text = f'{{"n":{n},"pad":"'
    return (text + "x" * max(0, size - len(text) - 2) + '"}').encode()


def test_body_is_the_lines_joined_by_newlines_with_attributes() -> None:
    messages = pack([("a", [line(1), line(2)])], PackLimits(records_per_message=10, message_max_bytes=65_536))
    assert len(messages) == 1
    entry = messages[0].entry("m0")
    assert entry["MessageBody"] == (line(1) + b"\n" + line(2)).decode()
    assert entry["MessageAttributes"] == message_attributes(2)
    assert messages[0].size == len(entry["MessageBody"]) + attributes_size(2)


def test_attribute_bytes_count_name_type_and_value() -> None:
    assert attributes_size(7) == len("record_count") + len("Number") + 1 + len("contract") + len("String") + 2


def test_records_per_message_one_gives_one_record_per_message() -> None:
    messages = pack([("a", [line(i) for i in range(5)])], PackLimits(1, 65_536))
    assert [m.lines for m in messages] == [[line(i)] for i in range(5)]


def test_a_request_split_over_messages_is_listed_as_owner_of_each() -> None:
    # 600-byte lines under a 1300-byte cap: two lines per message.
    messages = pack([("a", [line(i, 600) for i in range(3)]), ("b", [line(9, 600)])], PackLimits(100, 1300))
    assert [m.lines for m in messages] == [[line(0, 600), line(1, 600)], [line(2, 600), line(9, 600)]]
    assert [m.owners for m in messages] == [["a"], ["a", "b"]]


def test_requests_share_a_message_in_arrival_order() -> None:
    messages = pack([("a", [line(1)]), ("b", [line(2)]), ("c", [line(3)])], PackLimits(100, 65_536))
    assert [(m.lines, m.owners) for m in messages] == [([line(1), line(2), line(3)], ["a", "b", "c"])]


def test_a_record_over_the_cap_travels_alone() -> None:
    big = line(1, 5000)
    messages = pack([("a", [line(0), big, line(2)])], PackLimits(100, 1024))
    assert [len(m.lines) for m in messages] == [1, 1, 1]
    assert messages[1].lines == [big]


def test_calls_hold_at_most_ten_entries_and_256_kib() -> None:
    small = pack([("a", [line(i) for i in range(25)])], PackLimits(1, 65_536))
    assert [len(call) for call in group_calls(small)] == [10, 10, 5]
    full = pack([("a", [line(i, 16_000) for i in range(20)])], PackLimits(1000, 65_536))
    calls = group_calls(full)
    assert all(sum(m.size for m in call) <= SQS_MAX_BATCH_BYTES for call in calls)
    assert [len(call) for call in calls] == [4, 1]  # four 64 KiB-capped messages fill a call


parts = st.lists(
    st.lists(st.integers(min_value=20, max_value=3000), min_size=1, max_size=30), min_size=1, max_size=20
)


@settings(max_examples=150, deadline=None)
@given(
    parts=parts,
    records_per_message=st.integers(min_value=1, max_value=50),
    max_bytes=st.integers(min_value=1024, max_value=20_000),
)
def test_every_record_lands_exactly_once_within_the_caps(
    parts: list[list[int]], records_per_message: int, max_bytes: int
) -> None:
    limits = PackLimits(records_per_message, max_bytes)
    counter = iter(range(10**6))
    submitted = [(owner, [line(next(counter), size) for size in sizes]) for owner, sizes in enumerate(parts)]
    messages = pack(submitted, limits)

    sent = sorted(line for m in messages for line in m.lines)
    assert sent == sorted(line for _, lines in submitted for line in lines)
    for message in messages:
        assert len(message.lines) <= records_per_message
        assert len(message.lines) == 1 or message.size <= max_bytes
        assert len(message.body().encode()) == message.body_bytes
        owners = [owner for owner, lines in submitted if set(lines) & set(message.lines)]
        assert message.owners == owners
    for call in group_calls(messages):
        assert 1 <= len(call) <= SQS_MAX_BATCH_ENTRIES
        assert sum(m.size for m in call) <= SQS_MAX_BATCH_BYTES
