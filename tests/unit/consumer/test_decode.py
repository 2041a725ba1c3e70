"""Decoding SQS bodies: every line a record, grouped by the hour of its ingest_received_at."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.consumer.decode import decode_body
from app.errors import ContractError
from tests.support.records import record_line

INGEST = datetime(2025, 10, 19, 12, 34, 56, 200_000, tzinfo=UTC)


def test_body_groups_by_hour_skips_blank_lines_and_counts_bytes() -> None:
    a = record_line(1, ingest=INGEST)
    b = record_line(2, ingest=INGEST.replace(hour=13))
    decoded = decode_body(b"\n".join([a, b"", b, b""]))
    assert decoded.groups == {"2025-10-19T12": [a], "2025-10-19T13": [b]}
    assert decoded.count == 2
    assert decoded.nbytes == len(a) + len(b) + 2


@pytest.mark.parametrize("body", [b"", b"\n\n"])
def test_a_body_without_records_is_refused(body: bytes) -> None:
    with pytest.raises(ContractError, match="no record"):
        decode_body(body)


def test_one_bad_line_refuses_the_whole_body_naming_it() -> None:
    good = record_line(1, ingest=INGEST)
    with pytest.raises(ContractError, match="line 2"):
        decode_body(b"\n".join([good, b"{", good]))
