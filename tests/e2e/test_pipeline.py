"""The demo's path in miniature: Locust → receiver → SQS → consumer → S3, verified from S3."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadtest.run import LoadOptions, run_local


@pytest.mark.e2e
def test_a_thousand_records_arrive_exactly_as_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # run_local exports the stack's variables
    result = run_local(tmp_path, LoadOptions(users=20, messages=1_000, drain_wait_seconds=60))
    v = result.verification
    assert v.accepted == 1_000
    assert v.missing == 0, f"{v.missing} accepted records are not in S3"
    assert v.found == 1_000
    assert v.dlq_messages == 0
    assert v.ingest_to_persist_ms is not None and v.ingest_to_persist_ms["p95"] < 5_000
    assert (tmp_path / "locust.html").stat().st_size > 0
