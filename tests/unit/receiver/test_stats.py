"""Metrics are aggregated: one event per interval plus one per rejection reason, samples capped."""

from __future__ import annotations

import random

from app.observability import InMemoryMetrics
from app.receiver.stats import ReceiverStats, Reservoir


def test_reservoir_keeps_at_most_its_capacity_and_samples_the_whole_stream() -> None:
    reservoir = Reservoir(capacity=100, rng=random.Random(7))
    for value in range(10_000):
        reservoir.add(float(value))
    assert len(reservoir.values) == 100
    assert reservoir.seen == 10_000
    assert max(reservoir.values) > 5_000  # not just the first hundred


def test_one_interval_becomes_one_event_and_one_per_reason() -> None:
    stats = ReceiverStats()
    metrics = InMemoryMetrics()
    for _ in range(1000):
        stats.accepted(1)
    stats.rejected_record("missing")
    stats.rejected_record("missing")
    stats.rejected_request("unauthorized")
    stats.failed(3)
    stats.sqs_call(12.5)
    stats.message_sent(250)
    stats.emit(metrics)

    main, *per_reason = metrics.events
    assert main["metrics"]["RecordsAccepted"] == 1000
    assert main["metrics"]["RecordsRejected"] == 2
    assert main["metrics"]["RequestsRejected"] == 1
    assert main["metrics"]["RecordsFailed"] == 3
    assert main["metrics"]["SqsRequests"] == 1
    assert main["metrics"]["PublishLatencyMs"] == [12.5]
    assert main["metrics"]["RecordsPerMessage"] == [250]
    assert main["units"]["PublishLatencyMs"] == "Milliseconds"
    assert [(e["dimensions"], e["metrics"]) for e in per_reason] == [
        ({"Reason": "missing"}, {"RecordsRejected": 2}),
        ({"Reason": "unauthorized"}, {"RequestsRejected": 1}),
    ]


def test_emit_starts_a_new_interval() -> None:
    stats = ReceiverStats()
    metrics = InMemoryMetrics()
    stats.accepted(5)
    stats.emit(metrics)
    stats.emit(metrics)
    assert [e["metrics"]["RecordsAccepted"] for e in metrics.events] == [5, 0]
    assert "PublishLatencyMs" not in metrics.events[1]["metrics"]
