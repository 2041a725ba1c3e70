"""The receiver's numbers, aggregated per interval into a few EMF events (never one per request).

At thousands of requests per second an EMF event per request would cost more than the request.
Counters are summed and latency-like values are kept as a uniform sample of at most 100 values per
interval (the most CloudWatch takes per metric per event), so p95/p99 stay meaningful across
intervals. Everything runs on the event loop thread, so plain integers need no lock.

Metric names are an interface (Terraform alarms use them); dimension `Service=receiver` is set by
the metrics seam:

- `RecordsAccepted`    records answered 202 (SQS acknowledged them)
- `RecordsRejected`    records refused by the contract; also one event per `Reason` (the rule type)
- `RequestsRejected`   whole requests refused (auth, JSON, size, content type); per `Reason` too
- `RecordsFailed`      records answered 503 (SQS failed, timed out, back-pressure, shutting down)
- `SqsRequests`        SendMessageBatch calls made, retries included
- `MessagesSent`       SQS messages acknowledged
- `PublishLatencyMs`   duration of each SendMessageBatch call (sampled)
- `RecordsPerMessage`  records in each acknowledged message (sampled)
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from app.observability import MAX_VALUES_PER_METRIC, Metrics


@dataclass(slots=True)
class Reservoir:
    """A uniform sample of at most `capacity` values from a stream (reservoir sampling)."""

    capacity: int = MAX_VALUES_PER_METRIC
    rng: random.Random = field(default_factory=random.Random)
    values: list[float] = field(default_factory=list)
    seen: int = 0

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.capacity:
            self.values.append(value)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.capacity:
            self.values[slot] = value


@dataclass(slots=True)
class Interval:
    """What happened since the last emit."""

    accepted: int = 0
    failed: int = 0
    sqs_requests: int = 0
    messages: int = 0
    rejected_records: Counter[str] = field(default_factory=Counter)
    rejected_requests: Counter[str] = field(default_factory=Counter)
    latency_ms: Reservoir = field(default_factory=Reservoir)
    records_per_message: Reservoir = field(default_factory=Reservoir)


class ReceiverStats:
    """Collects counts from the routes and the publisher; `emit` sends and resets them."""

    def __init__(self) -> None:
        self._now = Interval()

    def accepted(self, records: int) -> None:
        self._now.accepted += records

    def failed(self, records: int) -> None:
        self._now.failed += records

    def rejected_record(self, reason: str) -> None:
        self._now.rejected_records[reason] += 1

    def rejected_request(self, reason: str) -> None:
        self._now.rejected_requests[reason] += 1

    def sqs_call(self, latency_ms: float) -> None:
        self._now.sqs_requests += 1
        self._now.latency_ms.add(latency_ms)

    def message_sent(self, records: int) -> None:
        self._now.messages += 1
        self._now.records_per_message.add(records)

    def peek(self) -> Interval:
        """The interval so far, without resetting it (tests and the benchmark read it)."""
        return self._now

    def emit(self, metrics: Metrics) -> Interval:
        """Send one event with every metric, one per rejection reason, and start a new interval."""
        done, self._now = self._now, Interval()
        values: dict[str, float | int | list[float]] = {
            "RecordsAccepted": done.accepted,
            "RecordsRejected": done.rejected_records.total(),
            "RequestsRejected": done.rejected_requests.total(),
            "RecordsFailed": done.failed,
            "SqsRequests": done.sqs_requests,
            "MessagesSent": done.messages,
        }
        units = {name: "Count" for name in values}
        if done.latency_ms.values:
            values["PublishLatencyMs"] = done.latency_ms.values
            units["PublishLatencyMs"] = "Milliseconds"
        if done.records_per_message.values:
            values["RecordsPerMessage"] = done.records_per_message.values
            units["RecordsPerMessage"] = "Count"
        metrics.emit(values, units=units)
        for name, counter in (
            ("RecordsRejected", done.rejected_records),
            ("RequestsRejected", done.rejected_requests),
        ):
            for reason, count in sorted(counter.items()):
                metrics.emit({name: count}, units={name: "Count"}, dimensions={"Reason": reason})
        return done
