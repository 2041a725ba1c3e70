"""The anomaly rules, live: on the records the consumer has just stored, within seconds of arrival.

One thread owns the `RuleEngine` (which is not thread-safe); writers hand it each stored batch's
records through a queue and never wait for it, so the rules cannot slow the path to S3 down, and a
record is judged only once it is safe in S3. Each alert newly opened is one log line,

    WARNING event=anomaly vehicle_id=veh-00042 rule=cell_voltage_spread at=2025-10-19T12:00:01.200Z value=0.131 threshold=0.08 signal=cell_voltage

and one EMF event with the metric `AnomalyAlerts` (1) under the dimension `Rule`, which the alarms
of infra/ watch. About once a second the engine is ticked on its ingest clock (the newest
`ingest_received_at` seen), which is how a vehicle that stopped sending is noticed.

Which rules alert live is a setting (`TELEMETRY_LIVE_RULES`): with one consumer task, all of them;
with several, each task sees only part of each vehicle's records, so the windowed rules would judge
pieces (docs/anomalies.md, "Several consumer tasks") and only the rules judged on one sample alone
(`per_sample`) should page anyone. The hourly job evaluates every rule on the hour's complete,
ordered records either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from queue import Empty, Queue
from typing import Any, Final

from app.anomaly import PER_SAMPLE_RULES, RULES, Alert, RuleEngine, Thresholds
from app.contract import format_timestamp
from app.observability import Metrics, kv

log = logging.getLogger(__name__)

#: How often the engine is ticked (silence, eviction), seconds.
TICK_SECONDS: Final = 1.0

#: (vehicle ids, vehicle times ms, receiver times ms, payloads) of one stored message, parallel lists.
StoredRecords = tuple[Sequence[str], Sequence[float], Sequence[float], Sequence[Mapping[str, Any]]]


def rules_for(mode: str) -> frozenset[str]:
    """The rules whose alerts go out live, for `TELEMETRY_LIVE_RULES` (all, per_sample, off)."""
    return {"all": frozenset(RULES), "per_sample": PER_SAMPLE_RULES, "off": frozenset()}[mode]


@dataclass
class LiveRulesStats:
    """What the rules thread did: records judged, the CPU it spent on them, alerts per rule."""

    records: int = 0
    cpu_seconds: float = 0.0
    alerts: dict[str, int] = field(default_factory=dict)
    #: alerts of rules not alerting live (TELEMETRY_LIVE_RULES): judged, counted, not sent
    suppressed: int = 0

    @property
    def us_per_record(self) -> float:
        return 1e6 * self.cpu_seconds / self.records if self.records else 0.0


class LiveRules:
    """The rules thread: `submit` stored records (from any thread), `stop` at shutdown."""

    def __init__(self, *, thresholds: Thresholds, alerting: frozenset[str], metrics: Metrics) -> None:
        self._engine = RuleEngine(thresholds)
        self._alerting = alerting
        self._metrics = metrics
        self._inbox: Queue[list[StoredRecords] | None] = Queue()
        self._lock = threading.Lock()
        self._stats = LiveRulesStats(alerts=dict.fromkeys(sorted(alerting), 0))
        self._thread = threading.Thread(target=self._run, name="live-rules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, stored: list[StoredRecords]) -> None:
        """Records that S3 now holds; judged by the rules thread, in the order they were submitted."""
        if stored:
            self._inbox.put(stored)

    def stop(self, timeout: float = 5.0) -> None:
        """Judge what was submitted, then end the thread (bounded: shutdown has a budget)."""
        self._inbox.put(None)
        self._thread.join(timeout)
        stats = self.stats()
        log.info(
            kv(
                "live_rules_stopped",
                records=stats.records,
                us_per_record=f"{stats.us_per_record:.2f}",
                alerts=sum(stats.alerts.values()),
                suppressed=stats.suppressed,
            )
        )

    def stats(self) -> LiveRulesStats:
        with self._lock:
            return LiveRulesStats(
                self._stats.records, self._stats.cpu_seconds, dict(self._stats.alerts), self._stats.suppressed
            )

    def _run(self) -> None:
        next_tick = time.monotonic() + TICK_SECONDS
        while True:
            try:
                item = self._inbox.get(timeout=max(0.0, next_tick - time.monotonic()))
            except Empty:
                item = []
            if item is None:
                return
            try:
                alerts = self._judge(item)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK_SECONDS
                    alerts += self._engine.tick(self._engine.clock_ms)
                for alert in alerts:
                    self._send(alert)
            except Exception:  # a bug in a rule must not end the thread; the records are in S3 anyway
                log.exception(kv("live_rules_failed"))

    def _judge(self, batch: list[StoredRecords]) -> list[Alert]:
        observe = self._engine.observe
        alerts: list[Alert] = []
        records = 0
        began = time.thread_time()
        for vehicles, event_ms, ingest_ms, payloads in batch:
            for vehicle, event, ingest, payload in zip(vehicles, event_ms, ingest_ms, payloads, strict=True):
                opened = observe(vehicle, int(event), int(ingest), payload)
                if opened:
                    alerts.extend(opened)
            records += len(vehicles)
        spent = time.thread_time() - began
        with self._lock:
            self._stats.records += records
            self._stats.cpu_seconds += spent
        return alerts

    def _send(self, alert: Alert) -> None:
        if alert.rule not in self._alerting:
            with self._lock:
                self._stats.suppressed += 1
            return
        with self._lock:
            self._stats.alerts[alert.rule] = self._stats.alerts.get(alert.rule, 0) + 1
        at = format_timestamp(datetime.fromtimestamp(alert.at_ms / 1000, UTC))
        log.warning(
            kv(
                "anomaly",
                vehicle_id=alert.vehicle_id,
                rule=alert.rule,
                at=at,
                value=f"{alert.value:.6g}",
                threshold=f"{alert.threshold:.6g}",
                signal=alert.signal or "-",
            )
        )
        self._metrics.emit(
            {"AnomalyAlerts": 1},
            units={"AnomalyAlerts": "Count"},
            dimensions={"Rule": alert.rule},
            properties={"vehicle_id": alert.vehicle_id, "at": at, "value": alert.value},
        )
