"""Hand-made sample streams for the rules: a calm healthy pack, changed one reading at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.anomaly import Alert, Episode, RuleEngine, Thresholds

T0 = 1_749_888_000_000  # 2025-06-14T08:00:00Z in epoch ms: fixed, so no test depends on today
PERIOD = 200
VEHICLE = "veh-00001"

#: a parked pack at mid SOC: nothing here is near any threshold
CALM: dict[str, float] = {
    "battery_soc": 60.0,
    "battery_voltage": 370.0,
    "battery_current": 0.0,
    "cell_voltage_min": 3.850,
    "cell_voltage_max": 3.862,
    "cell_temp_min": 24.0,
    "cell_temp_max": 25.0,
}
FRAME_0 = ("battery_soc", "battery_voltage", "battery_current")
FRAME_1 = ("cell_voltage_min", "cell_voltage_max", "cell_temp_min", "cell_temp_max")

Record = tuple[str, int, int, dict[str, Any]]


def frames(t: int, sample: dict[str, Any], vehicle: str = VEHICLE) -> list[Record]:
    """The two CAN frames of one sample at event time t, ingested 150 ms later."""
    first = {k: sample[k] for k in FRAME_0 if k in sample}
    second = {k: sample[k] for k in FRAME_1 if k in sample}
    return [(vehicle, t, t + 150, first), (vehicle, t, t + 150, second)]


def wiggle(k: int) -> dict[str, float]:
    """Measurement noise, deterministic: every watched reading moves by one resolution step."""
    step = (k % 3) - 1
    return {
        "battery_voltage": 370.0 + 0.1 * step,
        "battery_current": 0.1 * step,
        "cell_voltage_min": round(3.850 + 0.001 * step, 3),
        "cell_voltage_max": round(3.862 + 0.001 * step, 3),
    }


@dataclass
class Run:
    """What an engine said about a stream."""

    alerts: list[Alert] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)

    def rules(self) -> list[str]:
        return [a.rule for a in self.alerts]


def samples(seconds: float, start: int = T0, **overrides: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """A calm, noisy stream of `seconds`; overrides are values or functions of (k, t)."""
    for k in range(round(seconds * 1000 / PERIOD)):
        t = start + k * PERIOD
        sample = {**CALM, **wiggle(k)}
        for name, value in overrides.items():
            sample[name] = value(k, t) if callable(value) else value
        yield t, sample


def feed(
    stream: Iterable[tuple[int, dict[str, Any]]],
    thresholds: Thresholds | None = None,
    *,
    engine: RuleEngine | None = None,
) -> Run:
    """Every sample as its two frames, in order, then close."""
    engine = engine or RuleEngine(thresholds)
    run = Run()
    for t, sample in stream:
        for record in frames(t, sample):
            run.alerts.extend(engine.observe(*record))
    run.episodes = engine.close()
    return run
