"""How each vehicle is used: trips made of urban, highway and idle driving, parking, charging.

A trip is a chain of segments. In each segment a speed controller chases a target speed drawn
for that kind of driving (stop-and-go at 20-55 km/h in town, 85-130 km/h on the highway,
standing still with the air conditioning on when idle); the resulting speed trace becomes wheel
power through the road-load equation of an i3-sized car, and battery power through the drive or
regeneration efficiency. Braking power comes back as negative current, faded out at walking
pace and capped at the regenerative limit. After a trip the car parks, or charges when low:
constant current from an AC wallbox or a DC charger, tapering at constant voltage once the fullest
cell reaches the charge ceiling (the pack model does the tapering through its BMS limit).

Everything is held in arrays over the fleet; random choices are made only at events (a new
target, segment or mode), each from the vehicle's own generator, so a vehicle behaves the same
whichever fleet it is part of.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from app.simulator.cell import FloatArray

IntArray = NDArray[np.int8]
StartMode = Literal["mixed", "drive", "charge", "park"]
START_MODES: Final[tuple[StartMode, ...]] = ("mixed", "drive", "charge", "park")

# modes
PARKED: Final = 0
DRIVING: Final = 1
CHARGING: Final = 2
# driving segments
URBAN: Final = 0
HIGHWAY: Final = 1
IDLE: Final = 2
ARRIVING: Final = 3  # trip over: brake to a stop, then park or charge

# --- the car (BMW i3-like) ------------------------------------------------------------------
MASS_KG: Final = 1420.0  # kerb weight plus a driver
DRAG_AREA_M2: Final = 0.29 * 2.38  # Cd x frontal area
ROLLING_RESISTANCE: Final = 0.008
AIR_DENSITY: Final = 1.2
GRAVITY: Final = 9.81
DRIVE_EFFICIENCY: Final = 0.88  # battery -> wheel
REGEN_EFFICIENCY: Final = 0.75  # wheel -> battery
MAX_DRIVE_POWER_W: Final = 140_000.0  # battery side of a 125 kW motor
MAX_REGEN_POWER_W: Final = 50_000.0
REGEN_FADE_BELOW_MS: Final = 3.0
AUX_BASE_W: Final = 250.0  # 12 V network through the DC/DC converter

# --- the driver -----------------------------------------------------------------------------
SPEED_TIME_CONSTANT_S: Final = 4.0
MAX_ACCEL_MS2: Final = np.array([1.8, 1.0, 1.0, 1.0])  # by segment: URBAN, HIGHWAY, IDLE, ARRIVING
MAX_DECEL_MS2: Final = 2.5
#: The driver's foot is never perfectly steady: a slowly wandering acceleration error
#: (first-order, 3 s correlation), not white noise, which would make the current look like static.
PEDAL_NOISE_MS2: Final = 0.12
PEDAL_CORRELATION_S: Final = 3.0
KMH: Final = 1 / 3.6
#: (segment -> probabilities of the next URBAN, HIGHWAY, IDLE)
NEXT_SEGMENT: Final = {
    URBAN: (0.25, 0.5, 0.25),
    HIGHWAY: (0.6, 0.3, 0.1),
    IDLE: (0.8, 0.2, 0.0),
}
SEGMENT_MINUTES: Final = {URBAN: (3.0, 10.0), HIGHWAY: (4.0, 15.0), IDLE: (0.5, 3.0)}
TRIP_MINUTES: Final = (15.0, 60.0)
FIRST_DRIVE_MINUTES: Final = (30.0, 60.0)  # start_mode="drive": long enough for a 30-minute chart
PARK_MINUTES: Final = (3.0, 20.0)

# --- charging -------------------------------------------------------------------------------
AC_CURRENT_A: Final = (16.0, 30.0)  # 7.4 to 11 kW wallbox
DC_CURRENT_A: Final = (110.0, 125.0)  # 50 kW CCS
DC_TARGET_SOC: Final = 0.8
AC_TARGET_SOC: Final = (0.85, 1.0)
#: A session also ends when the constant-voltage taper falls below C/20.
CHARGE_CUTOFF_C: Final = 0.05
LOW_SOC_END_TRIP: Final = 0.12
CHARGE_AFTER_TRIP_BELOW: Final = 0.30
DC_BELOW: Final = 0.20
CHARGE_BEFORE_TRIP_BELOW: Final = 0.25


@dataclass(frozen=True, slots=True)
class Demand:
    """What the vehicles ask of their packs for the next step."""

    mode: IntArray
    power_w: FloatArray  # driving: battery power, > 0 discharges
    current_a: FloatArray  # charging: constant-current request, < 0 charges
    speed_ms: FloatArray

    @property
    def use_power(self) -> NDArray[np.bool_]:
        driving: NDArray[np.bool_] = self.mode == DRIVING
        return driving

    @property
    def awake(self) -> NDArray[np.bool_]:
        awake: NDArray[np.bool_] = self.mode != PARKED
        return awake


class Schedule:
    """Usage of every vehicle of a fleet: modes, trips, speeds and charging sessions."""

    def __init__(
        self, rngs: Sequence[np.random.Generator], *, start_mode: StartMode = "mixed", capacity_ah: float
    ) -> None:
        n = len(rngs)
        self._rngs = list(rngs)
        self._cutoff_a = CHARGE_CUTOFF_C * capacity_ah
        self.mode: IntArray = np.zeros(n, dtype=np.int8)
        self.segment: IntArray = np.zeros(n, dtype=np.int8)
        self.mode_left_s: FloatArray = np.zeros(n)
        self.mode_elapsed_s: FloatArray = np.zeros(n)
        self.segment_left_s: FloatArray = np.zeros(n)
        self.target_ms: FloatArray = np.zeros(n)
        self.target_left_s: FloatArray = np.zeros(n)
        self.speed_ms: FloatArray = np.zeros(n)
        self._pedal: FloatArray = np.zeros(n)
        self.aux_w: FloatArray = np.full(n, AUX_BASE_W)
        self.charge_a: FloatArray = np.zeros(n)
        self.charge_target: FloatArray = np.ones(n)
        #: vehicles sent to a fast charger by a fault scenario: they charge on DC when the trip ends
        self._fast_charge_next: NDArray[np.bool_] = np.zeros(n, dtype=bool)
        #: initial pack SOC per vehicle (0..1), for the pack model to start from
        self.initial_soc: FloatArray = np.zeros(n)
        for i, rng in enumerate(rngs):
            mode = start_mode
            if mode == "mixed":
                mode = ("drive", "charge", "park")[int(rng.choice(3, p=(0.7, 0.15, 0.15)))]
            if mode == "charge":
                self.initial_soc[i] = rng.uniform(0.15, 0.5)
                self._start_charge(i, dc=bool(self.initial_soc[i] < DC_BELOW))
            elif mode == "park":
                self.initial_soc[i] = rng.uniform(0.45, 0.95)
                self._park(i)
            else:
                self.initial_soc[i] = rng.uniform(0.45, 0.95)
                self._start_trip(i, FIRST_DRIVE_MINUTES if start_mode == "drive" else TRIP_MINUTES)

    # --- events (rare; each draws from its vehicle's own generator) ------------------------
    def _minutes(self, i: int, bounds: tuple[float, float]) -> float:
        return 60.0 * float(self._rngs[i].uniform(*bounds))

    def _start_trip(self, i: int, minutes: tuple[float, float] = TRIP_MINUTES) -> None:
        self.mode[i] = DRIVING
        self.mode_left_s[i] = self._minutes(i, minutes)
        self.mode_elapsed_s[i] = 0.0
        self.aux_w[i] = AUX_BASE_W + float(self._rngs[i].uniform(200.0, 2000.0))  # climate control
        self._enter_segment(i, URBAN)

    def _enter_segment(self, i: int, segment: int) -> None:
        self.segment[i] = segment
        self.segment_left_s[i] = self._minutes(i, SEGMENT_MINUTES[segment])
        self.target_left_s[i] = 0.0

    def _next_segment(self, i: int) -> None:
        probs = NEXT_SEGMENT[int(self.segment[i])]
        self._enter_segment(i, int(self._rngs[i].choice(3, p=probs)))

    def _new_target(self, i: int) -> None:
        rng = self._rngs[i]
        segment = int(self.segment[i])
        if segment == URBAN:
            if rng.random() < 0.35:  # a red light or a junction: brake, wait, go
                target, hold = 0.0, self.speed_ms[i] / 1.5 + rng.uniform(5.0, 35.0)
            else:
                target, hold = rng.uniform(20.0, 55.0) * KMH, rng.uniform(15.0, 60.0)
        elif segment == HIGHWAY:
            if rng.random() < 0.1:  # traffic slows down
                target, hold = rng.uniform(50.0, 80.0) * KMH, rng.uniform(15.0, 40.0)
            else:
                target, hold = rng.uniform(85.0, 130.0) * KMH, rng.uniform(30.0, 180.0)
        else:
            target, hold = 0.0, math.inf
        self.target_ms[i] = target
        self.target_left_s[i] = hold

    def _park(self, i: int, minutes: tuple[float, float] = PARK_MINUTES) -> None:
        self.mode[i] = PARKED
        self.mode_left_s[i] = self._minutes(i, minutes)
        self.mode_elapsed_s[i] = 0.0
        self.speed_ms[i] = 0.0
        self.target_ms[i] = 0.0

    def _start_charge(self, i: int, *, dc: bool) -> None:
        rng = self._rngs[i]
        self.mode[i] = CHARGING
        self.mode_elapsed_s[i] = 0.0
        self.speed_ms[i] = 0.0
        self.target_ms[i] = 0.0
        if dc:
            self.charge_a[i] = rng.uniform(*DC_CURRENT_A)
            self.charge_target[i] = DC_TARGET_SOC
        else:
            self.charge_a[i] = rng.uniform(*AC_CURRENT_A)
            self.charge_target[i] = rng.uniform(*AC_TARGET_SOC)

    def send_to_fast_charger(self, i: int) -> None:
        """A scenario, not a habit: vehicle `i` charges on DC to full, after braking to a stop if it
        is driving. Fault scenarios use it to put heat into a pack (a fast charge is when a weak
        cooling plate shows); the usage model itself never calls it."""
        if self.mode[i] == DRIVING:
            self.segment[i] = ARRIVING
            self.target_ms[i] = 0.0
            self.target_left_s[i] = math.inf
            self._fast_charge_next[i] = True
        else:
            self._start_fast_charge(i)

    def _start_fast_charge(self, i: int) -> None:
        self._fast_charge_next[i] = False
        self._start_charge(i, dc=True)
        self.charge_target[i] = 1.0

    def _end_trip(self, i: int, soc: float) -> None:
        if self._fast_charge_next[i]:
            self._start_fast_charge(i)
        elif soc < CHARGE_AFTER_TRIP_BELOW:
            self._start_charge(i, dc=soc < DC_BELOW)
        else:
            self._park(i)

    def _transitions(self, soc: FloatArray, current_a: FloatArray) -> None:
        driving = self.mode == DRIVING
        arriving = driving & (self.segment == ARRIVING)
        for i in np.flatnonzero(arriving & (self.speed_ms <= 0.0)):
            self._end_trip(int(i), float(soc[i]))
        trip_over = driving & ~arriving & ((self.mode_left_s <= 0.0) | (soc < LOW_SOC_END_TRIP))
        self.segment[trip_over] = ARRIVING
        self.target_ms[trip_over] = 0.0
        self.target_left_s[trip_over] = math.inf

        for i in np.flatnonzero((self.mode == PARKED) & (self.mode_left_s <= 0.0)):
            if soc[i] < CHARGE_BEFORE_TRIP_BELOW:
                self._start_charge(int(i), dc=False)
            else:
                self._start_trip(int(i))
        charging = self.mode == CHARGING
        full = soc >= self.charge_target
        tapered = (self.mode_elapsed_s > 1.0) & (-current_a < self._cutoff_a)
        for i in np.flatnonzero(charging & (full | tapered)):
            self._park(int(i), (2.0, 10.0))

        cruising = (self.mode == DRIVING) & (self.segment != ARRIVING)
        for i in np.flatnonzero(cruising & (self.segment_left_s <= 0.0)):
            self._next_segment(int(i))
        for i in np.flatnonzero(cruising & (self.target_left_s <= 0.0)):
            self._new_target(int(i))

    # --- the per-step work, vectorised ---------------------------------------------------------
    def advance(self, dt_s: float, soc: FloatArray, current_a: FloatArray, jitter: FloatArray) -> Demand:
        """Decide every vehicle's demand for the next dt from its pack's SOC and last current.

        `jitter` is one standard normal per vehicle, the innovation of the pedal noise.
        """
        self._transitions(soc, current_a)
        driving = self.mode == DRIVING
        wanted = (self.target_ms - self.speed_ms) / SPEED_TIME_CONSTANT_S
        accel = np.minimum(np.maximum(wanted, -MAX_DECEL_MS2), MAX_ACCEL_MS2[self.segment])
        moving = driving & ((self.speed_ms > 0.0) | (self.target_ms > 0.0))
        rho = math.exp(-dt_s / PEDAL_CORRELATION_S)
        self._pedal = rho * self._pedal + math.sqrt(1.0 - rho * rho) * jitter
        accel = np.where(moving, accel + PEDAL_NOISE_MS2 * self._pedal, 0.0)
        v_old = self.speed_ms
        v_new = np.where(driving, np.maximum(v_old + accel * dt_s, 0.0), 0.0)
        if np.any(self.target_ms == 0.0):  # stopping: do not creep once stopped
            v_new = np.where((self.target_ms == 0.0) & (v_new < 0.3), 0.0, v_new)
        self.speed_ms = v_new

        v = 0.5 * (v_old + v_new)
        a = (v_new - v_old) / dt_s
        rolling = np.where(v > 0.05, MASS_KG * GRAVITY * ROLLING_RESISTANCE, 0.0)
        force = MASS_KG * a + rolling + 0.5 * AIR_DENSITY * DRAG_AREA_M2 * v * v
        wheel_w = force * v
        regen_share = np.minimum(v / REGEN_FADE_BELOW_MS, 1.0) * REGEN_EFFICIENCY
        battery_w = np.where(wheel_w > 0.0, wheel_w / DRIVE_EFFICIENCY, wheel_w * regen_share)
        battery_w = np.minimum(np.maximum(battery_w, -MAX_REGEN_POWER_W), MAX_DRIVE_POWER_W) + self.aux_w
        power = np.where(driving, battery_w, 0.0)
        current = np.where(self.mode == CHARGING, -self.charge_a, 0.0)

        self.mode_left_s -= dt_s
        self.mode_elapsed_s += dt_s
        self.segment_left_s -= dt_s
        self.target_left_s -= dt_s
        return Demand(mode=self.mode.copy(), power_w=power, current_a=current, speed_ms=v_new)
