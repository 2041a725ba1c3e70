"""The arithmetic of one hour: stored JSON lines in, per-vehicle and fleet statistics out.

Nothing here talks to S3, so every statistic is testable on hand-made lines. Three choices shape it:

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

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from app.contract import stored_line_identity
from app.errors import ContractError
from app.stored import decode_line

PERCENTILES: Final = (50, 95, 99)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """The fields of one stored record the statistics need."""

    vehicle_id: str
    timestamp_ms: int
    ingest_ms: int
    identity: str
    numeric: Mapping[str, float]


def parse_line(line: bytes) -> ParsedLine:
    """One stored line, validated by the contract; ContractError names the field and the rule."""
    record = decode_line(line)
    payload = record.fields["payload"]
    return ParsedLine(
        vehicle_id=record.fields["vehicle_id"],
        timestamp_ms=record.event_ms,
        ingest_ms=record.ingest_ms,
        identity=stored_line_identity(record.line),
        numeric={name: float(value) for name, value in payload.items() if type(value) is not bool},
    )


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


# --- accumulation ----------------------------------------------------------------------------


@dataclass(slots=True)
class _SignalAcc:
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)


@dataclass(slots=True)
class _VehicleAcc:
    first_ms: int
    last_ms: int
    records: int = 0
    distinct: int = 0
    signals: dict[str, _SignalAcc] = field(default_factory=dict)


class HourAccumulator:
    """Folds stored lines into running totals; memory grows with distinct records, not bytes read."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._vehicles: dict[str, _VehicleAcc] = {}
        self._latency_ms: Counter[int] = Counter()
        self.invalid_lines = 0

    def add_line(self, line: bytes, *, flushed_at_ms: int | None) -> None:
        """Count one stored line; raise ContractError (after counting it) if it is not a record."""
        try:
            parsed = parse_line(line)
        except ContractError:
            self.invalid_lines += 1
            raise
        vehicle = self._vehicles.get(parsed.vehicle_id)
        if vehicle is None:
            vehicle = _VehicleAcc(first_ms=parsed.timestamp_ms, last_ms=parsed.timestamp_ms)
            self._vehicles[parsed.vehicle_id] = vehicle
        vehicle.records += 1
        if parsed.timestamp_ms < vehicle.first_ms:
            vehicle.first_ms = parsed.timestamp_ms
        elif parsed.timestamp_ms > vehicle.last_ms:
            vehicle.last_ms = parsed.timestamp_ms
        if flushed_at_ms is not None:
            self._latency_ms[flushed_at_ms - parsed.ingest_ms] += 1
        if parsed.identity in self._seen:
            return
        self._seen.add(parsed.identity)
        vehicle.distinct += 1
        for name, value in parsed.numeric.items():
            acc = vehicle.signals.get(name)
            if acc is None:
                acc = vehicle.signals[name] = _SignalAcc()
            acc.add(value)

    def vehicles(self) -> list[VehicleStats]:
        """Per-vehicle statistics, sorted by vehicle_id (and signals by name) for stable output."""
        return [
            VehicleStats(
                vehicle_id=vehicle_id,
                records=acc.records,
                distinct=acc.distinct,
                first_timestamp=from_epoch_ms(acc.first_ms),
                last_timestamp=from_epoch_ms(acc.last_ms),
                signals={
                    name: SignalStats(min=s.low, max=s.high, mean=s.total / s.count, count=s.count)
                    for name, s in sorted(acc.signals.items())
                },
            )
            for vehicle_id, acc in sorted(self._vehicles.items())
        ]

    def fleet(self, *, objects: int, unreadable_objects: int) -> FleetStats:
        return FleetStats(
            records=sum(v.records for v in self._vehicles.values()),
            distinct=len(self._seen),
            vehicles=len(self._vehicles),
            objects=objects,
            invalid_lines=self.invalid_lines,
            unreadable_objects=unreadable_objects,
            ingest_to_persist_ms=latency_percentiles(self._latency_ms),
        )


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
