"""A fleet of simulated vehicles: one `step()` is 200 ms of every vehicle, as contract-v1 records.

Each vehicle owns a random generator seeded by (seed, vehicle number), and draws its pack, its
usage and its sensor noise only from it. So a run is reproducible for a given seed, and
`veh-00042` is the same car whether it is simulated alone (one Locust user) or as part of a fleet
of a thousand (the demo): the fleet only batches the arithmetic, it never mixes the vehicles.

Clock: by default the simulated clock starts at `start` (default: now) and advances 200 ms per
step, so a fast run over past time produces timestamps in the past. With `wall_clock=True` every
step is stamped with the wall clock instead, which is what a paced, real-time sender wants.
Each vehicle samples at its own phase within the 200 ms period, as unsynchronised vehicles do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np

from app.simulator.can import SIGNALS, CanCodec
from app.simulator.cell import CellParameters, FloatArray
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
    ) -> None:
        if vehicles < 1:
            raise ValueError("a fleet needs at least one vehicle")
        if seed < 0 or first_index < 1:
            raise ValueError("seed must be >= 0 and first_index >= 1")
        if not 10.0 <= capacity_ah <= 500.0:
            raise ValueError("capacity_ah must be within 10..500 Ah")
        indices = range(first_index, first_index + vehicles)
        self.vehicle_ids: list[str] = [vehicle_id(i) for i in indices]
        self._rngs = [np.random.default_rng([seed, i]) for i in indices]
        ambient = np.array([rng.uniform(*AMBIENT_C) for rng in self._rngs])
        self._phase_ms = [int(rng.integers(0, SAMPLE_PERIOD_MS)) for rng in self._rngs]
        self.schedule = Schedule(self._rngs, start_mode=start_mode, capacity_ah=capacity_ah)
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

    @property
    def vehicles(self) -> int:
        return len(self.vehicle_ids)

    @property
    def records_per_step(self) -> int:
        return self.vehicles * self.codec.frames_per_sample

    def step(self) -> list[Record]:
        """Advance every vehicle by 200 ms; return its decoded CAN frames as contract-v1 records."""
        noise = np.stack([rng.standard_normal(_NOISE_PER_VEHICLE) for rng in self._rngs])
        pack = self.pack
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
        self.last_samples = self.codec.clip(samples)
        return self._records(self.last_samples)

    def _records(self, samples: FloatArray) -> list[Record]:
        if self.wall_clock:
            base_ms = time.time_ns() // 1_000_000 - SAMPLE_PERIOD_MS
        else:
            base_ms = self.start_ms + self.tick * SAMPLE_PERIOD_MS
        self.tick += 1
        payloads = self.codec.payloads
        stamp = self._timestamp
        out: list[Record] = []
        for vid, phase, row in zip(self.vehicle_ids, self._phase_ms, samples.tolist(), strict=True):
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
