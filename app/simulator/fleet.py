"""A fleet of simulated vehicles: one `step()` is 200 ms of every vehicle, as contract-v1 records.

Each vehicle owns a random generator seeded by (seed, vehicle number), and draws its pack, its
usage and its sensor noise only from it. So a run is reproducible for a given seed, and
`veh-00042` is the same car whether it is simulated alone (one Locust user) or as part of a fleet
of a thousand (the demo): the fleet only batches the arithmetic, it never mixes the vehicles.

Clock: by default the simulated clock starts at `start` (default: now) and advances 200 ms per
step, so a fast run over past time produces timestamps in the past. With `wall_clock=True` every
step is stamped with the wall clock instead, which is what a paced, real-time sender wants.
Each vehicle samples at its own phase within the 200 ms period, as unsynchronised vehicles do.

Faults (`faults="internal_short@veh-00003+120s"` or `"random:5%"`, grammar in faults.py) are
planned from their own seeded generators and started by app/simulator/injector.py; without a spec
nothing of that runs and the records are exactly those of a fault-free fleet. `fault_events` is the
ground truth of the faults that have started so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np

from app.simulator.can import SIGNALS, CanCodec
from app.simulator.cell import CellParameters, FloatArray
from app.simulator.faults import FaultSpec, PlannedFault, parse_fault_spec
from app.simulator.injector import FaultEvent, FaultInjector
from app.simulator.pack import CELLS_IN_SERIES, MODULES, Pack
from app.simulator.usage import Schedule, StartMode

SAMPLE_PERIOD_S: Final = 0.2
SAMPLE_PERIOD_MS: Final = 200
AMBIENT_C: Final = (18.0, 27.0)

#: Sensor noise (one standard deviation): what a BMS's measurement chain adds before the DBC's
#: quantisation. Zero-mean, so coulomb counting from the reported current stays unbiased.
CELL_VOLTAGE_NOISE_V: Final = 0.001
MODULE_TEMP_NOISE_C: Final = 0.02
PACK_VOLTAGE_NOISE_V: Final = 0.05
CURRENT_NOISE_A: Final = 0.05

# columns of the per-step normal draw of each vehicle
_JITTER = 0
_CELLS = slice(1, 1 + CELLS_IN_SERIES)
_TEMPS = slice(_CELLS.stop, _CELLS.stop + MODULES)
_PACK_V = _TEMPS.stop
_CURRENT = _PACK_V + 1
_NOISE_PER_VEHICLE = _CURRENT + 1

Record = dict[str, Any]


def vehicle_id(index: int) -> str:
    return f"veh-{index:05d}"


def ticks_for(duration_s: float) -> int:
    """Steps needed to cover `duration_s` of simulated time (a partial period counts as one)."""
    return max(0, math.ceil(duration_s / SAMPLE_PERIOD_S - 1e-9))


def _epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    return int(value.timestamp() * 1000)


class Fleet:
    """`vehicles` vehicles (`veh-<first_index>`...), each with its own pack and schedule."""

    def __init__(
        self,
        vehicles: int,
        seed: int,
        *,
        first_index: int = 1,
        capacity_ah: float = 94.0,
        start: datetime | None = None,
        wall_clock: bool = False,
        start_mode: StartMode = "mixed",
        codec: CanCodec | None = None,
        faults: str | FaultSpec | None = None,
        fault_run_s: float | None = None,
        ambient_c: tuple[float, float] = AMBIENT_C,
    ) -> None:
        """`faults`: a fault spec (text or parsed; a bad one raises FaultSpecError, a ValueError);
        `fault_run_s`: the run's length, if known, for the default window of random onsets;
        `ambient_c`: the range each vehicle's ambient temperature is drawn from."""
        if vehicles < 1:
            raise ValueError("a fleet needs at least one vehicle")
        if seed < 0 or first_index < 1:
            raise ValueError("seed must be >= 0 and first_index >= 1")
        if not 10.0 <= capacity_ah <= 500.0:
            raise ValueError("capacity_ah must be within 10..500 Ah")
        if not -40.0 <= ambient_c[0] <= ambient_c[1] <= 60.0:
            raise ValueError("ambient_c must be (low, high) within -40..60 degC")
        indices = range(first_index, first_index + vehicles)
        self.vehicle_ids: list[str] = [vehicle_id(i) for i in indices]
        self._rngs = [np.random.default_rng([seed, i]) for i in indices]
        ambient = np.array([rng.uniform(*ambient_c) for rng in self._rngs])
        plan: list[PlannedFault] = []
        if faults is not None:
            spec = faults if isinstance(faults, FaultSpec) else parse_fault_spec(faults)
            plan = spec.plan(list(indices), seed, capacity_ah=capacity_ah, run_s=fault_run_s)
            for fault in plan:  # a fault scenario's climate is the vehicle's, from its start
                if "ambient" in fault.params:
                    ambient[fault.vehicle] = float(fault.params["ambient"])
        self._phase_ms = [int(rng.integers(0, SAMPLE_PERIOD_MS)) for rng in self._rngs]
        self.schedule = Schedule(self._rngs, start_mode=start_mode, capacity_ah=capacity_ah)
        for fault in plan:  # ...and so is its state of charge at the start
            if "start_soc" in fault.params:
                self.schedule.initial_soc[fault.vehicle] = float(fault.params["start_soc"]) / 100.0
        self.pack = Pack(
            self._rngs,
            initial_soc=self.schedule.initial_soc,
            ambient_c=ambient,
            cell=CellParameters.scaled(capacity_ah),
        )
        self.codec = codec or CanCodec()
        self.wall_clock = wall_clock
        self.start_ms = _epoch_ms(start if start is not None else datetime.now(UTC))
        self.tick = 0
        self._second_prefix: dict[int, str] = {}
        #: the last step's measured samples, (vehicles, 7) in SIGNALS order, before the CAN round trip
        self.last_samples: FloatArray = np.zeros((vehicles, len(SIGNALS)))
        self._faults: FaultInjector | None = FaultInjector(plan) if plan else None
        self._fault_events_read = 0

    @property
    def fault_plan(self) -> list[PlannedFault]:
        """The faults planned for this fleet (armed or started), with every parameter resolved."""
        return list(self._faults.plan) if self._faults is not None else []

    @property
    def fault_events(self) -> list[FaultEvent]:
        """Ground truth: every fault that has started so far, with its onset."""
        return list(self._faults.events) if self._faults is not None else []

    def new_fault_events(self) -> list[FaultEvent]:
        """The faults that started since the last call (a writer appends them as they come)."""
        if self._faults is None:
            return []
        events = self._faults.events[self._fault_events_read :]
        self._fault_events_read += len(events)
        return events

    @property
    def vehicles(self) -> int:
        return len(self.vehicle_ids)

    @property
    def records_per_step(self) -> int:
        return self.vehicles * self.codec.frames_per_sample

    def step(self) -> list[Record]:
        """Advance every vehicle by 200 ms; return its decoded CAN frames as contract-v1 records."""
        return self._records(self._advance())

    def step_samples(self) -> list[tuple[str, int, list[float]]]:
        """Advance every vehicle by 200 ms; return (vehicle_id, epoch ms, readings in SIGNALS order)
        per vehicle that sends this step, the readings exactly as the records of `step` would carry
        them (CanCodec.quantize), without building frames or records. For offline benchmarks."""
        rows = self.codec.quantize(self._advance())
        base_ms, silent = self._stamp_step()
        return [
            (vid, base_ms + phase, row)
            for k, (vid, phase, row) in enumerate(zip(self.vehicle_ids, self._phase_ms, rows, strict=True))
            if k not in silent
        ]

    def _advance(self) -> FloatArray:
        """The physics and the measurement chain of one step: the clipped samples, (vehicles, 7)."""
        noise = np.stack([rng.standard_normal(_NOISE_PER_VEHICLE) for rng in self._rngs])
        pack = self.pack
        injector = self._faults
        if injector is not None:
            injector.before_step(self.tick, pack=pack, schedule=self.schedule)
        demand = self.schedule.advance(SAMPLE_PERIOD_S, pack.pack_soc, pack.current_a, noise[:, _JITTER])
        result = pack.step(
            SAMPLE_PERIOD_S,
            demand.current_a,
            power_w=demand.power_w,
            use_power=demand.use_power,
            active=demand.awake,
        )
        cells = pack.cell_voltage + CELL_VOLTAGE_NOISE_V * noise[:, _CELLS]
        temps = pack.module_temp_c + MODULE_TEMP_NOISE_C * noise[:, _TEMPS]
        samples = np.empty((self.vehicles, len(SIGNALS)))
        samples[:, 0] = 100.0 * pack.pack_soc
        samples[:, 1] = pack.pack_voltage + PACK_VOLTAGE_NOISE_V * noise[:, _PACK_V]
        samples[:, 2] = result.current_a + CURRENT_NOISE_A * noise[:, _CURRENT]
        samples[:, 3] = cells.min(axis=1)
        samples[:, 4] = cells.max(axis=1)
        samples[:, 5] = temps.min(axis=1)
        samples[:, 6] = temps.max(axis=1)
        if injector is not None:
            injector.measure(self.tick, samples)
        self.last_samples = self.codec.clip(samples)
        return self.last_samples

    def _stamp_step(self) -> tuple[int, frozenset[int]]:
        """The step's base time (each vehicle adds its phase) and the vehicles a dropout silences;
        stamps the faults that started this step and moves the clock on."""
        if self.wall_clock:
            base_ms = time.time_ns() // 1_000_000 - SAMPLE_PERIOD_MS
        else:
            base_ms = self.start_ms + self.tick * SAMPLE_PERIOD_MS
        silent: frozenset[int] = frozenset()
        if self._faults is not None:
            self._faults.stamp(base_ms, self._phase_ms, self.start_ms)
            silent = self._faults.silent(self.tick)
        self.tick += 1
        return base_ms, silent

    def _records(self, samples: FloatArray) -> list[Record]:
        base_ms, silent = self._stamp_step()
        payloads = self.codec.payloads
        stamp = self._timestamp
        out: list[Record] = []
        rows: Iterable[tuple[str, int, list[float]]] = zip(
            self.vehicle_ids, self._phase_ms, samples.tolist(), strict=True
        )
        if silent:  # a dropout: those vehicles send nothing this step
            rows = [r for k, r in enumerate(rows) if k not in silent]
        for vid, phase, row in rows:
            ts = stamp(base_ms + phase)
            for can_id, payload in payloads(row):
                out.append({"timestamp": ts, "vehicle_id": vid, "can_id": can_id, "payload": payload})
        return out

    def _timestamp(self, epoch_ms: int) -> str:
        """ISO 8601 UTC with ms and Z; the seconds part is formatted once per second, not per record."""
        second, milli = divmod(epoch_ms, 1000)
        prefix = self._second_prefix.get(second)
        if prefix is None:
            if len(self._second_prefix) > 4096:
                self._second_prefix.clear()
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second_prefix[second] = prefix
        return f"{prefix}.{milli:03d}Z"

    def ticks(
        self,
        duration_s: float,
        *,
        realtime: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[list[Record]]:
        """The records of each step covering `duration_s`; paced to 200 ms of wall time if realtime.

        Pacing aims at fixed deadlines from the first step, so a slow consumer does not make the
        run drift longer and longer; a step that is late is produced at once.
        """
        began = clock()
        for k in range(ticks_for(duration_s)):
            if realtime:
                wait = began + k * SAMPLE_PERIOD_S - clock()
                if wait > 0:
                    sleep(wait)
            yield self.step()

    def records(self, duration_s: float, **pacing: Any) -> Iterator[Record]:
        """Every record of a run of `duration_s`, vehicle after vehicle within each step."""
        for batch in self.ticks(duration_s, **pacing):
            yield from batch
