"""What one hour's statistics are: the result types, and exact percentiles from a histogram.

The hourly job computes them with DuckDB (app/aggregator/columnar.py); app/aggregator/reference.py
keeps the line-by-line Python fold that defined them first, as the oracle tests compare against.
The choices that shape every statistic:

- A line counts only if it is a contract-v1 record: it is read by `app.stored.decode_line`, the
  same reader the consumer uses, so the hourly job accepts exactly what the contract accepts.
- A record's identity is the contract's `record_identity` (everything the vehicle sent, never
  `ingest_received_at`): a client retry or an SQS redelivery stores the same frame twice, and those
  copies count once. The set of identities seen costs about 100 bytes per distinct record.
- Signal statistics (min, max, mean, count) are taken over **distinct** records only: a frame that
  arrived three times must not weigh three times in a mean. Booleans are not numeric signals and
  are left out of the statistics (a `True` is not 1.0 volts).
- Ingest-to-persist latency is `flushed-at` (object metadata) minus `ingest_received_at`, counted
  for every stored line (a redelivered copy really did take that long to land). Both times carry
  whole milliseconds, so the latency is an integer and a histogram of them gives exact percentiles
  in memory bounded by the spread of latencies, not by the number of records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

PERCENTILES: Final = (50, 95, 99)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_ms(value: int) -> datetime:
    """Epoch milliseconds as a UTC datetime (exact: no float on the way)."""
    return _EPOCH + timedelta(milliseconds=value)


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalStats:
    """One numeric signal of one vehicle over the hour's distinct records."""

    min: float
    max: float
    mean: float
    count: int


@dataclass(frozen=True, slots=True)
class VehicleStats:
    vehicle_id: str
    records: int
    distinct: int
    first_timestamp: datetime
    last_timestamp: datetime
    signals: Mapping[str, SignalStats]
    #: receiver time minus vehicle time over the distinct records (ms): p50 and p95
    vehicle_delay_ms: tuple[int, int] | None = None
    #: the smallest delay of the hour: network time can only add to it, so it bounds the clock's offset
    clock_offset_ms: int | None = None
    #: |clock_offset_ms| beyond TELEMETRY_CLOCK_OFFSET_LIMIT_SECONDS
    clock_off: bool = False
    #: anomaly episodes of the hour, per rule (the hourly job's rules pass)
    anomalies: Mapping[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.records - self.distinct


@dataclass(frozen=True, slots=True)
class LatencyPercentiles:
    """Ingest-to-persist latency in ms (nearest-rank percentiles) over `samples` stored lines."""

    p50: int
    p95: int
    p99: int
    samples: int


@dataclass(frozen=True, slots=True)
class FleetStats:
    records: int
    distinct: int
    vehicles: int
    objects: int
    invalid_lines: int
    unreadable_objects: int
    ingest_to_persist_ms: LatencyPercentiles | None

    @property
    def duplicates(self) -> int:
        return self.records - self.distinct

    @property
    def duplicate_rate(self) -> float:
        """Share of stored lines that repeat an earlier one; 0.0 for an empty hour."""
        return self.duplicates / self.records if self.records else 0.0


def nearest_rank(histogram: Mapping[int, int], percentiles: Sequence[int]) -> list[int]:
    """For each p, the smallest value with at least p% of the samples at or below it (exact)."""
    total = sum(histogram.values())
    if not total:
        raise ValueError("no samples")
    items = sorted(histogram.items())
    answers: list[int] = []
    for p in percentiles:
        rank = max(1, -(-p * total // 100))  # ceil without floats
        cumulative = 0
        for value, count in items:
            cumulative += count
            if cumulative >= rank:
                answers.append(value)
                break
    return answers


def latency_percentiles(histogram: Mapping[int, int]) -> LatencyPercentiles | None:
    """p50/p95/p99 of the histogram, or None when no object carried a flush time."""
    samples = sum(histogram.values())
    if not samples:
        return None
    p50, p95, p99 = nearest_rank(histogram, PERCENTILES)
    return LatencyPercentiles(p50=p50, p95=p95, p99=p99, samples=samples)
