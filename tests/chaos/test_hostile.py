"""The hostile generator keeps its premise: nothing it sends is a valid record, except what it tracks.

If a "hostile" request carried a record the contract accepts, scenario 8 would blame the receiver
for storing a good record; if a tracked good record were invalid, it would blame it for refusing
one. Both are checked here against the contract itself, request by request.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pydantic_core
import pytest
from pydantic import ValidationError

from app.contract import TelemetryIn, ValidationWindow, validation_context
from chaos.hostile import MIX, Generator, HostileRequest, Reply, _parse, chunked

KEY = "k-test-0123456789abcdef"


@pytest.fixture(scope="module")
def requests() -> list[HostileRequest]:
    return Generator(api_key=KEY, seed=8).generate(10_000)


def body_of(raw: bytes) -> bytes | None:
    """The body of a request framed by Content-Length alone (the others are not JSON to inspect)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    lengths = [line for line in lines if line.startswith(b"content-length:")]
    if len(lengths) != 1 or any(line.startswith(b"transfer-encoding") for line in lines):
        return None
    return body


def valid(item: Any) -> bool:
    context = validation_context(ValidationWindow.around(datetime.now(UTC), 7 * 24 * 3600))
    try:
        TelemetryIn.model_validate(item, context=context)
    except ValidationError:
        return False
    return True


def test_ten_thousand_requests_in_every_kind_and_reproducible(requests: list[HostileRequest]) -> None:
    assert len(requests) == 10_000
    assert set(Counter(r.kind for r in requests)) == set(MIX)
    again = Generator(api_key=KEY, seed=8).generate(200)
    assert [r.variant for r in again] == [r.variant for r in Generator(api_key=KEY, seed=8).generate(200)]


def test_no_hostile_request_carries_a_valid_record(requests: list[HostileRequest]) -> None:
    smuggled = []
    for request in requests:
        body = body_of(request.raw)
        if body is None:
            continue
        try:
            parsed = pydantic_core.from_json(body)
        except ValueError:
            continue
        items = parsed if isinstance(parsed, list) else [parsed]
        good = set(request.good_indices)
        smuggled += [
            (request.kind, request.variant, i)
            for i, item in enumerate(items)
            if i not in good and valid(item)
        ]
    assert not smuggled


def test_tracked_good_records_are_valid_and_at_their_indices(requests: list[HostileRequest]) -> None:
    tracked = [r for r in requests if r.good]
    assert tracked
    for request in tracked:
        body = body_of(request.raw)
        assert body is not None
        items = pydantic_core.from_json(body)
        assert [items[i] for i in request.good_indices] == list(request.good)
        assert all(valid(record) for record in request.good)


def test_reply_parsing_skips_interim_answers() -> None:
    assert _parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 422 Unprocessable\r\n\r\n{}") == Reply(
        422, "422", b"{}"
    )
    assert _parse(b"") == Reply(None, "closed")
    assert _parse(b"\x15\x03") == Reply(None, "garbled")


def test_chunked_framing_ends_with_the_zero_chunk() -> None:
    assert chunked(b"abcdefghij", size=4) == b"4\r\nabcd\r\n4\r\nefgh\r\n2\r\nij\r\n0\r\n\r\n"
    assert not chunked(b"ab", terminate=False).endswith(b"0\r\n\r\n")
