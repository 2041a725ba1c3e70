"""The rule engine: records in, alerts (live) and episodes (hourly) out, one state per vehicle.

One engine serves both paths, so on the same records they agree:

- **Live** (consumer): `observe` every record it writes (epoch ms of the vehicle's timestamp and
  of `ingest_received_at`, and the payload); it returns the alerts that newly opened, to log and
  count. Call `tick(now_ms)` about once a second: it finds vehicles gone silent, releases what a
  quiet vehicle left in its reorder buffer, and forgets vehicles idle for `evict_after_s`. `now_ms`
  should be the consumer's ingest clock, `engine.clock_ms` (the newest `ingest_ms` observed), not
  the wall clock: when the queue stalls, every vehicle stops arriving at once and none is silent.
- **Hourly** (aggregator): `observe` the hour's distinct records sorted by (vehicle_id, timestamp),
  then `close(until_ms=end of the hour)`; it returns every episode (vehicle, rule, start, end, peak).

Records of a vehicle may arrive out of order by up to `Thresholds.reorder_s` and repeated: the
window releases each sample once, in event-time order (app/anomaly/window.py), so the episodes do
not depend on arrival order. What differs between the paths is only the silence clock: live, a
vehicle is silent when no record of it was *ingested* for `silence_s`; hourly, when two
consecutive samples are further apart than that in event time.

Several consumer tasks each see part of a vehicle's records: every engine then sees gaps, and its
windowed rules see less. That is the integrator's routing decision (docs/anomalies.md).

An engine is not thread-safe: call `observe`, `tick`, `episodes` and `close` from one thread (or
under one lock); the cost per record is measured by bench/rules_bench.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from app.anomaly.rules import (
    NEVER,
    RULES,
    SILENT,
    Alert,
    Episode,
    Hit,
    RuleSet,
    Thresholds,
    VehicleState,
)
from app.anomaly.window import PayloadValue, Released, VehicleWindow

_NO_ALERTS: Final[list[Alert]] = []


@dataclass(slots=True)
class _Open:
    """An episode still going on."""

    rule: str
    signal: str
    start_ms: int
    last_ms: int
    peak_value: float
    peak_excess: float
    threshold: float


class _Vehicle(VehicleState):
    """The rules' state of one vehicle plus what the engine tracks: ingest clock, open episodes."""

    __slots__ = ("last_ingest_ms", "open", "silence", "vehicle_id")

    def __init__(self, vehicle_id: str, window: VehicleWindow) -> None:
        super().__init__(window)
        self.vehicle_id = vehicle_id
        self.last_ingest_ms = NEVER
        self.open: dict[str, _Open] = {}
        self.silence: _Open | None = None  # opened live by tick, closed by the next sample


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counters for the consumer's metrics and the benchmark."""

    records: int
    samples: int
    late_or_duplicate: int
    vehicles: int
    evicted: int
    alerts: Mapping[str, int]


class RuleEngine:
    """Evaluate the anomaly rules per vehicle over a stream of records (see the module docstring)."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.rules = RuleSet(thresholds)
        self.thresholds = self.rules.thresholds
        th = self.thresholds
        self._clear_ms = round(th.clear_s * 1000)
        self._silence_ms = round(th.silence_s * 1000)
        self._reorder_ms = round(th.reorder_s * 1000)
        self._evict_ms = round(th.evict_after_s * 1000)
        self._vehicles: dict[str, _Vehicle] = {}
        self._finished: list[Episode] = []
        self._hits: list[Hit] = []
        #: the newest ingest time observed (epoch ms): the clock to pass to `tick`
        self.clock_ms = NEVER
        self._records = 0
        self._samples = 0
        self._late = 0
        self._evicted = 0
        self._alerts = dict.fromkeys(RULES, 0)

    # --- the hot path --------------------------------------------------------------------------
    def observe(
        self, vehicle_id: str, event_ms: int, ingest_ms: int, payload: Mapping[str, PayloadValue]
    ) -> list[Alert]:
        """Take one record; return the alerts it newly opened (usually none)."""
        self._records += 1
        vehicle = self._vehicles.get(vehicle_id)
        if vehicle is None:
            vehicle = self._vehicles[vehicle_id] = _Vehicle(vehicle_id, self.rules.new_window())
        if ingest_ms > vehicle.last_ingest_ms:
            vehicle.last_ingest_ms = ingest_ms
            if ingest_ms > self.clock_ms:  # noqa: PLR1730 (hot path: a compare, not a call to max)
                self.clock_ms = ingest_ms
        released = vehicle.window.push(event_ms, payload)
        if released is None:
            self._late += 1
            return _NO_ALERTS
        if not released:
            return _NO_ALERTS
        return self._evaluate(vehicle, released)

    def _evaluate(self, vehicle: _Vehicle, released: Released) -> list[Alert]:
        alerts: list[Alert] | None = None
        hits = self._hits
        evaluate = self.rules.evaluate
        for t, sample in released:
            evaluate(vehicle, t, sample, hits)
            if hits:
                alerts = self._apply(vehicle, t, hits, alerts)
                hits.clear()
            if vehicle.open:
                self._expire(vehicle, t)
            if vehicle.silence is not None:  # reported live, but the gap in event time was short
                self._end_silence(vehicle, t)
        self._samples += len(released)
        return _NO_ALERTS if alerts is None else alerts

    # --- episodes ------------------------------------------------------------------------------
    def _apply(self, vehicle: _Vehicle, t: int, hits: list[Hit], alerts: list[Alert] | None) -> list[Alert]:
        out = [] if alerts is None else alerts
        for rule, signal, value, threshold, excess, at_ms in hits:
            if rule == SILENT:
                self._silent_gap(vehicle, t, gap_s=value, threshold=threshold, at_ms=at_ms, out=out)
                continue
            episode = vehicle.open.get(rule)
            if episode is None:
                vehicle.open[rule] = _Open(rule, signal, at_ms, at_ms, value, excess, threshold)
                out.append(Alert(vehicle.vehicle_id, rule, at_ms, value, threshold, signal))
                self._alerts[rule] += 1
            else:
                episode.last_ms = at_ms
                if excess > episode.peak_excess:
                    episode.peak_value = value
                    episode.peak_excess = excess
        return out

    def _silent_gap(
        self, vehicle: _Vehicle, t: int, *, gap_s: float, threshold: float, at_ms: int, out: list[Alert]
    ) -> None:
        """A gap in event time longer than silence_s: one episode from the sample before it to the
        sample after it. If tick already reported it live, only close that episode."""
        start = at_ms - self._silence_ms
        opened = vehicle.silence
        vehicle.silence = None
        if opened is None:
            out.append(Alert(vehicle.vehicle_id, SILENT, at_ms, gap_s, threshold))
            self._alerts[SILENT] += 1
        self._finished.append(Episode(vehicle.vehicle_id, SILENT, start, t, gap_s, threshold))

    def _end_silence(self, vehicle: _Vehicle, end_ms: int) -> None:
        """Close a silence that tick opened: the vehicle is back (or forgotten) at `end_ms`. Its
        records were late rather than missing if the event-time gap is under silence_s; the
        episode is kept (an alert went out), with the longest gap either clock saw."""
        opened = vehicle.silence
        assert opened is not None
        vehicle.silence = None
        gap = max(opened.peak_value, (end_ms - opened.start_ms) / 1000.0)
        self._finished.append(
            Episode(vehicle.vehicle_id, SILENT, opened.start_ms, end_ms, gap, opened.threshold)
        )

    def _expire(self, vehicle: _Vehicle, now_ms: int) -> None:
        """Close the episodes whose condition has not held for clear_s."""
        gone = [rule for rule, ep in vehicle.open.items() if now_ms - ep.last_ms > self._clear_ms]
        for rule in gone:
            self._finish(vehicle, vehicle.open.pop(rule))

    def _finish(self, vehicle: _Vehicle, ep: _Open) -> None:
        self._finished.append(
            Episode(
                vehicle.vehicle_id, ep.rule, ep.start_ms, ep.last_ms, ep.peak_value, ep.threshold, ep.signal
            )
        )

    # --- time passing --------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Alert]:
        """Live housekeeping, about once a second, with `now_ms` on the ingest clock (`clock_ms`):
        release the reorder buffer of vehicles quiet for reorder_s, open `silent` for vehicles
        quiet for silence_s, forget vehicles quiet for evict_after_s. Returns new alerts."""
        alerts: list[Alert] = []
        for vehicle_id, vehicle in list(self._vehicles.items()):
            idle = now_ms - vehicle.last_ingest_ms
            if idle < self._reorder_ms:
                continue
            if vehicle.window.pending_samples:
                alerts.extend(self._evaluate(vehicle, vehicle.window.flush()))
            if idle >= self._silence_ms and vehicle.silence is None and vehicle.last_ms != NEVER:
                at_ms = vehicle.last_ms + self._silence_ms
                threshold = self.thresholds.silence_s
                vehicle.silence = _Open(SILENT, "", vehicle.last_ms, at_ms, idle / 1000.0, 0.0, threshold)
                alerts.append(Alert(vehicle_id, SILENT, at_ms, idle / 1000.0, threshold))
                self._alerts[SILENT] += 1
            if idle >= self._evict_ms:
                self._forget(vehicle, end_ms=vehicle.last_ms + idle)
                del self._vehicles[vehicle_id]
                self._evicted += 1
        return alerts

    def _forget(self, vehicle: _Vehicle, *, end_ms: int) -> None:
        """Close every open episode of a vehicle; a silence still open ends at `end_ms`."""
        for ep in vehicle.open.values():
            self._finish(vehicle, ep)
        vehicle.open.clear()
        if vehicle.silence is not None:
            self._end_silence(vehicle, end_ms)

    def episodes(self) -> list[Episode]:
        """The episodes finished since the last call (and forget them)."""
        done, self._finished = self._finished, []
        return done

    def close(self, until_ms: int | None = None) -> list[Episode]:
        """End of input (the hour, or shutdown): evaluate everything pending, close every episode,
        and return all finished episodes. With `until_ms` (the end of the hour), a vehicle whose
        last sample is silence_s or more before it gets a `silent` episode up to `until_ms`."""
        for vehicle in self._vehicles.values():
            if vehicle.window.pending_samples:
                self._evaluate(vehicle, vehicle.window.flush())
            if until_ms is None:  # a silence reported live ends where the ingest clock stands
                end_ms = vehicle.last_ms + max(0, self.clock_ms - vehicle.last_ingest_ms)
            else:
                end_ms = until_ms
                quiet = vehicle.last_ms != NEVER and until_ms - vehicle.last_ms >= self._silence_ms
                if quiet and vehicle.silence is None:
                    threshold = self.thresholds.silence_s
                    at_ms = vehicle.last_ms + self._silence_ms
                    vehicle.silence = _Open(SILENT, "", vehicle.last_ms, at_ms, 0.0, 0.0, threshold)
            self._forget(vehicle, end_ms=end_ms)
        self._vehicles.clear()
        return self.episodes()

    @property
    def stats(self) -> EngineStats:
        return EngineStats(
            records=self._records,
            samples=self._samples,
            late_or_duplicate=self._late,
            vehicles=len(self._vehicles),
            evicted=self._evicted,
            alerts=dict(self._alerts),
        )
