"""The hourly statistics as a line-by-line Python fold: the definition the columnar job must meet.

This is how the hourly job computed its statistics before it moved to DuckDB (about 10 us a line).
It stays as the oracle: tests run it and the columnar engine on the same generated hours and
compare every number, and `make bench` runs both on the same hour to measure what the move bought.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.aggregator.stats import FleetStats, SignalStats, VehicleStats, from_epoch_ms, latency_percentiles
from app.contract import stored_line_identity
from app.errors import ContractError
from app.stored import decode_line


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
