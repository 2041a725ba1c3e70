"""The anomaly rules live in the consumer: judged once stored, one log line and one EMF event per alert."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.anomaly import PER_SAMPLE_RULES, RULES, Thresholds
from app.consumer.live_rules import LiveRules, rules_for
from app.consumer.service import Consumer
from app.contract import TelemetryIn
from app.observability import InMemoryMetrics
from tests.conftest import SettingsFactory
from tests.support.consumer import FakeQueue, wait_until
from tests.support.records import body
from tests.support.storage import MemoryStore

START = datetime(2025, 10, 19, 12, 0, tzinfo=UTC)


def frames(vehicle: str, seconds: int, *, cell_min: float = 3.70, start: datetime = START) -> list[bytes]:
    """Both CAN frames every 200 ms, as the simulator sends them; `cell_min` may break a rule."""
    lines = []
    for tick in range(seconds * 5):
        ts = start + timedelta(milliseconds=200 * tick)
        for can_id, payload in (
            ("0x1F0", {"battery_voltage": 360.0, "battery_current": 20.0, "battery_soc": 55.0}),
            (
                "0x1F1",
                {
                    "cell_voltage_min": cell_min,
                    "cell_voltage_max": 3.72,
                    "cell_temp_min": 25.0,
                    "cell_temp_max": 26.0,
                },
            ),
        ):
            record = TelemetryIn.model_validate(
                {"timestamp": ts, "vehicle_id": vehicle, "can_id": can_id, "payload": payload}
            )
            lines.append(record.stamp(ts + timedelta(milliseconds=80)).to_json())
    return lines


def consumer(
    settings_factory: SettingsFactory, rules: LiveRules | None, **overrides: Any
) -> tuple[Consumer, FakeQueue]:
    queue = FakeQueue()
    values: dict[str, Any] = {
        "receive_wait_seconds": 0,
        "flush_max_records": 10**6,
        "flush_max_age_seconds": 0.1,
        "shutdown_timeout_seconds": 5,
    }
    return (
        Consumer(
            settings=settings_factory(**values, **overrides),
            queue=queue,
            store=MemoryStore(),
            metrics=InMemoryMetrics(),
            live_rules=rules,
        ),
        queue,
    )


def test_a_broken_cell_sensor_alerts_once_with_a_log_line_and_an_emf_event(
    settings_factory: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = InMemoryMetrics()
    rules = LiveRules(thresholds=Thresholds(), alerting=rules_for("all"), metrics=metrics)
    service, queue = consumer(settings_factory, rules)
    healthy = frames("veh-00001", 5)
    broken = frames("veh-00002", 5, cell_min=0.0)  # an open sense lead reads 0 V: out of range
    queue.send(body(healthy))
    queue.send(body(broken))
    caplog.set_level(logging.WARNING, logger="app.consumer.live_rules")
    service.start()
    try:
        assert wait_until(lambda: rules.stats().records == len(healthy) + len(broken))
    finally:
        assert service.shutdown()
    alerts = [r.getMessage() for r in caplog.records if "event=anomaly " in r.getMessage()]
    assert alerts and all("vehicle_id=veh-00002" in a for a in alerts)
    assert any("rule=out_of_range" in a and "signal=cell_voltage_min" in a for a in alerts)
    emitted = [e for e in metrics.events if "AnomalyAlerts" in e["metrics"]]
    assert len(emitted) == len(alerts)
    assert {e["dimensions"]["Rule"] for e in emitted} <= set(RULES)
    assert rules.stats().alerts["out_of_range"] == 1  # one episode, not one alert per bad frame
    assert 0 < rules.stats().us_per_record < 1000


def test_per_sample_mode_keeps_the_windowed_rules_quiet(settings_factory: SettingsFactory) -> None:
    """With several consumer tasks a vehicle's records are split between them: no `silent` pages."""
    metrics = InMemoryMetrics()
    rules = LiveRules(thresholds=Thresholds(silence_s=1.0), alerting=rules_for("per_sample"), metrics=metrics)
    service, queue = consumer(settings_factory, rules)
    queue.send(body(frames("veh-00001", 5)))
    queue.send(body(frames("veh-00002", 5, start=START + timedelta(seconds=30))))  # veh-00001 went quiet
    service.start()
    try:
        assert wait_until(lambda: rules.stats().records == 100)
        assert wait_until(lambda: False, timeout=1.5) is False  # a tick or two on the ingest clock
    finally:
        assert service.shutdown()
    assert set(rules.stats().alerts) == PER_SAMPLE_RULES
    assert sum(rules.stats().alerts.values()) == 0
    assert rules.stats().suppressed >= 1  # the engine did find veh-00001 silent; nobody was paged
    assert not [e for e in metrics.events if "AnomalyAlerts" in e["metrics"]]


def test_every_batch_reports_the_vehicle_to_receiver_delay(settings_factory: SettingsFactory) -> None:
    service, queue = consumer(settings_factory, None)
    queue.send(body(frames("veh-00001", 1)))
    service.start()
    try:
        assert wait_until(lambda: service.stats().records_persisted == 10)
    finally:
        assert service.shutdown()
    metrics = service._metrics
    assert isinstance(metrics, InMemoryMetrics)
    (batch,) = [e for e in metrics.events if "VehicleDelayMs" in e["metrics"]]
    assert set(batch["metrics"]["VehicleDelayMs"]) == {80.0}  # stamped 80 ms after the sample
