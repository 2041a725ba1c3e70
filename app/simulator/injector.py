"""Faults at run time: start each planned fault at its step and let the model carry it.

The fleet calls three hooks per step, and only when a fault spec was given, so a healthy run costs
nothing extra and is byte-identical to one without this module:

- `before_step`: faults whose time has come (and whose `when` holds) start. Physical faults change
  the pack (a short across a cell, a resistance factor, a dead cooling plate) or the usage (the
  fast-charge scenario); from then on the equations do the rest.
- `measure`: sensor faults act on the measured sample, before CAN encoding: a frozen reading
  repeats, a spike replaces one reading with what a broken sensor reads.
- `silent`: a dropout removes the vehicle's frames for a while; its physics go on.

Each fault that starts becomes a `FaultEvent`, the ground truth: vehicle, fault, onset (the
timestamp of the first sample that carries it, or of the first frame a dropout removed) and every
parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np

from app.simulator.can import SIGNALS
from app.simulator.cell import FloatArray
from app.simulator.faults import (
    AGED_CELL,
    COOLING_FAILURE,
    DROPOUT,
    INTERNAL_SHORT,
    SENSOR_SPIKES,
    SPIKE_VALUES,
    STUCK_SENSOR,
    PlannedFault,
)
from app.simulator.pack import Pack
from app.simulator.usage import PARKED, Schedule

SAMPLE_PERIOD_S: Final = 0.2


def format_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds and Z, as the records are stamped."""
    second, milli = divmod(epoch_ms, 1000)
    return f"{datetime.fromtimestamp(second, UTC).strftime('%Y-%m-%dT%H:%M:%S')}.{milli:03d}Z"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """Ground truth of one fault that started: what the detection benchmark scores against."""

    vehicle_id: str
    fault: str
    onset_ms: int
    armed_ms: int
    params: Mapping[str, Any]

    @property
    def onset(self) -> str:
        return format_ms(self.onset_ms)

    def to_json(self) -> dict[str, Any]:
        """One line of `<out>.faults.jsonl`."""
        return {
            "vehicle_id": self.vehicle_id,
            "fault": self.fault,
            "onset": self.onset,
            "armed": format_ms(self.armed_ms),
            "params": dict(self.params),
        }


def _first_tick(seconds: float) -> int:
    """The first 200 ms step at or after `seconds` into the run."""
    return max(0, math.ceil(seconds / SAMPLE_PERIOD_S - 1e-9))


@dataclass(slots=True)
class _Active:
    """A sensor fault that has started: what it does to the measured samples."""

    fault: PlannedFault
    column: int
    start_tick: int
    until_tick: int  # dropouts end; the others last the run
    value: float  # the frozen reading, or the spike's
    next_spike: int
    rng: np.random.Generator | None


class FaultInjector:
    """The planned faults of one fleet, started at their steps."""

    def __init__(self, plan: Sequence[PlannedFault]) -> None:
        self.plan: tuple[PlannedFault, ...] = tuple(plan)
        self._armed: list[tuple[int, PlannedFault]] = sorted(
            ((_first_tick(f.arm_s), f) for f in plan), key=lambda item: item[0]
        )
        self._sensors: list[_Active] = []
        self._dropouts: list[_Active] = []
        self._started: list[tuple[int, PlannedFault]] = []  # this step's, stamped in `stamp`
        #: every fault that started so far, in order
        self.events: list[FaultEvent] = []

    def before_step(self, tick: int, *, pack: Pack, schedule: Schedule) -> None:
        """Start what is due: armed, and in the state its `when` waits for."""
        if not self._armed or self._armed[0][0] > tick:
            return
        waiting: list[tuple[int, PlannedFault]] = []
        for due, fault in self._armed:
            if due > tick or not _ready(fault, schedule):
                waiting.append((due, fault))
                continue
            self._start(tick, fault, pack=pack, schedule=schedule)
        self._armed = waiting

    def _start(self, tick: int, fault: PlannedFault, *, pack: Pack, schedule: Schedule) -> None:
        v, p = fault.vehicle, fault.params
        if fault.kind == INTERNAL_SHORT:
            pack.short_cell(v, int(p["cell"]) - 1, float(p["ohm"]))
        elif fault.kind == AGED_CELL:
            pack.scale_cell_resistance(v, int(p["cell"]) - 1, float(p["factor"]))
        elif fault.kind == COOLING_FAILURE:
            pack.fail_cooling(v, int(p["module"]) - 1)
            if p["load"] == "dc":
                schedule.send_to_fast_charger(v)
        elif fault.kind == STUCK_SENSOR:
            column = SIGNALS.index(str(p["signal"]))
            self._sensors.append(_Active(fault, column, tick, 1 << 62, math.nan, 0, None))
        elif fault.kind == SENSOR_SPIKES:
            column = SIGNALS.index(str(p["signal"]))
            rng = np.random.default_rng([*fault.seed, 1])
            value = SPIKE_VALUES[str(p["signal"])]
            self._sensors.append(_Active(fault, column, tick, 1 << 62, value, tick, rng))
        elif fault.kind == DROPOUT:
            until = tick + _first_tick(float(p["for"]))
            self._dropouts.append(_Active(fault, -1, tick, until, math.nan, 0, None))
        self._started.append((tick, fault))

    def measure(self, tick: int, samples: FloatArray) -> None:
        """Sensor faults on this step's measured samples (vehicles x SIGNALS), in place."""
        for active in self._sensors:
            row = active.fault.vehicle
            if active.rng is None:  # frozen: the reading of its first step, then that again
                if tick == active.start_tick:
                    active.value = float(samples[row, active.column])
                samples[row, active.column] = active.value
            elif tick == active.next_spike:
                samples[row, active.column] = active.value
                every_s = float(active.fault.params["every"])
                gap = _first_tick(float(active.rng.exponential(every_s)))
                active.next_spike = tick + max(1, gap)

    def silent(self, tick: int) -> frozenset[int]:
        """Vehicles (fleet positions) whose frames a dropout removes at this step."""
        if not self._dropouts:
            return frozenset()
        return frozenset(d.fault.vehicle for d in self._dropouts if d.start_tick <= tick < d.until_tick)

    def stamp(self, base_ms: int, phases_ms: Sequence[int], start_ms: int) -> list[FaultEvent]:
        """Turn the faults that started this step into ground truth, stamped like their samples."""
        if not self._started:
            return []
        new = []
        for _tick, fault in self._started:
            onset = base_ms + phases_ms[fault.vehicle]
            armed = (
                start_ms + _first_tick(fault.arm_s) * int(SAMPLE_PERIOD_S * 1000) + phases_ms[fault.vehicle]
            )
            new.append(FaultEvent(fault.vehicle_id, fault.kind, onset, armed, dict(fault.params)))
        self._started = []
        self.events.extend(new)
        return new


def _ready(fault: PlannedFault, schedule: Schedule) -> bool:
    when = fault.when
    if when == "any":
        return True
    if when == "moving":
        return bool(schedule.speed_ms[fault.vehicle] > 0.0)
    return int(schedule.mode[fault.vehicle]) != PARKED
