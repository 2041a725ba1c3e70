"""`make detection`'s scoring: what counts as found, how late, and what counts as a false alarm."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.contract import format_timestamp
from bench.detection_bench import Sent, _ms, score

ONSET = "2026-11-01T10:00:00.000Z"
T0 = _ms(ONSET)


def _iso(ms: int) -> str:
    return format_timestamp(datetime.fromtimestamp(ms / 1000, UTC))


def _episode(vehicle: str, rule: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {"vehicle_id": vehicle, "rule": rule, "start": _iso(start_ms), "end": _iso(end_ms)}


def _score(
    truth: list[dict[str, Any]],
    live: list[tuple[float, str, str, int]],
    hourly: list[dict[str, Any]],
    *,
    vehicles: tuple[str, ...] = ("veh-1", "veh-2"),
    speed: float = 2.0,
) -> dict[str, Any]:
    # every 200 ms step of vehicle time left the sender 1 s of wall clock after the step's own time
    sent = Sent(wall_by_step_ms={T0 + 200 * i: T0 + 200 * i + 1000.0 for i in range(-50, 600)})
    return score(
        truth=truth, vehicles=vehicles, live=live, hourly=hourly, sent=sent, speed=speed, reorder_s=2.0
    )


def test_a_fault_alerted_live_and_in_the_hour_is_found_with_its_delay() -> None:
    truth = [{"vehicle_id": "veh-1", "fault": "internal_short", "onset": ONSET}]
    # the alert line was written 1.5 s (wall) after the step holding the sample 4 s after onset left
    live = [(T0 + 4000 + 1000 + 1500.0, "veh-1", "cell_voltage_spread", T0 + 4000)]
    hourly = [_episode("veh-1", "cell_voltage_spread", T0 + 4000, T0 + 20_000)]

    f = _score(truth, live, hourly)

    assert f["hourly_recall"] == 1.0 and f["live_recall"] == 1.0 and f["live_recall_within_30s"] == 1.0
    row = f["faults"][0]
    assert row["physics_s"] == 4.0
    assert row["pipeline_s"] == pytest.approx(1.5)
    assert row["live_delay_s"] == pytest.approx(4.0 + 1.5 + 2.0 * (1 - 1 / 2.0))
    assert f["false_alarms"] == {"live": 0, "hourly": 0}
    assert f["live_alerts_in_an_hourly_episode"] == 1


def test_alerts_on_healthy_vehicles_and_before_the_onset_are_false_alarms() -> None:
    truth = [{"vehicle_id": "veh-1", "fault": "aged_cell", "onset": ONSET}]
    live = [
        (T0 + 0.0, "veh-2", "over_temperature", T0 - 5000),  # a healthy vehicle
        (T0 + 0.0, "veh-1", "silent", T0 - 3000),  # the faulty one, before its fault began
    ]
    hourly = [_episode("veh-2", "over_temperature", T0 + 1000, T0 + 2000)]

    f = _score(truth, live, hourly)

    assert f["false_alarms"] == {"live": 2, "hourly": 1}
    assert f["live_recall"] == 0.0 and f["hourly_recall"] == 0.0
    assert f["live_delay_s"] is None
    assert f["per_fault"] == {"aged_cell": {"injected": 1, "hourly": 0, "live": 0, "live_within_30s": 0}}


def test_a_live_alert_later_than_30_s_is_found_but_not_within_the_target() -> None:
    truth = [{"vehicle_id": "veh-1", "fault": "cooling_failure", "onset": ONSET}]
    live = [(T0 + 95_000.0, "veh-1", "temperature_spread", T0 + 90_000)]

    f = _score(truth, live, [], vehicles=("veh-1",), speed=1.0)

    assert f["live_recall"] == 1.0
    assert f["live_recall_within_30s"] == 0.0
    assert f["live_delay_s"]["p95"] >= 90.0
