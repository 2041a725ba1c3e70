"""The battery pack of every vehicle of a fleet at once: 96 cells in series, 8 modules of 12.

State is held in arrays of shape (vehicles, 96) for cells and (vehicles, 8) for modules, so one
`step` advances the whole fleet with a few dozen numpy operations; that is what lets the simulator
produce tens of thousands of records a second.

Model, per cell i (current I > 0 discharges; every cell of the series string carries the same I):
- coulomb counting: soc_i <- soc_i - I dt / (3600 Q_i)
- two RC pairs, stepped exactly for a current held over dt: v_k <- v_k e^(-dt/tau_k) + R_k (1 - e^(-dt/tau_k)) I
- terminal voltage: V_i = OCV(soc_i) - v1_i - v2_i - I R0_i
- resistances scale with module temperature (Arrhenius) and rise at low SOC.
The BMS limits (no cell below 3.0 V or above 4.15 V) are solved from the same discrete step, so
they hold exactly after it; a charging session's constant-voltage phase is that limit at work.
Per module m, a lumped thermal mass C: C dT/dt = Q_m - G_m (T - T_ambient) - G_active (T - T_coolant),
where Q_m is the heat of its 12 cells (I^2 R0 + v1^2/R1 + v2^2/R2) and the active term is the
refrigerant plate, on only while the vehicle is awake and the module is above 30 degC.
The step is exact for constant heat, so it is stable at any dt.

Faults (app/simulator/faults.py decides which and when; the physics is here, and costs nothing until
one is applied): an internal short is a conductance across one cell, so the cell's own current is
the string current plus V/R_short, and V^2/R_short is heat in its module; an aged cell has its R0,
R1, R2 multiplied; a failed cooling plate removes one module's active conductance.

Module-to-module variance (capacity, resistance, cooling, starting temperature) is drawn once per
vehicle from that vehicle's own random generator, with a smaller cell-to-cell variance on top, so
the min/max signals spread like a real pack's and drift apart under load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from app.simulator.cell import (
    CELL_CHARGE_CEILING_V,
    CELL_DISCHARGE_FLOOR_V,
    OCV_SOC,
    OCV_VOLTS,
    CellParameters,
    FloatArray,
    low_soc_factor,
    open_circuit_slope,
    open_circuit_voltage,
    resistance_factor,
)

BoolArray = NDArray[np.bool_]

CELLS_IN_SERIES: Final = 96
MODULES: Final = 8
CELLS_PER_MODULE: Final = CELLS_IN_SERIES // MODULES

#: Module housing and cooling plate share, on top of the cells' own heat capacity.
MODULE_HOUSING_J_PER_K: Final = 4000.0
#: Conductance from a module to the air around the pack: a parked pack cools with a time
#: constant of about two hours.
PASSIVE_COOLING_W_PER_K: Final = 4.0
#: Refrigerant cooling plate, per module, while active.
ACTIVE_COOLING_W_PER_K: Final = 30.0
COOLANT_TEMP_C: Final = 20.0
COOLING_ON_ABOVE_C: Final = 30.0

#: One standard deviation of the manufacturing and ageing spread (draws are clipped at 3 sigma).
MODULE_CAPACITY_SPREAD: Final = 0.015
CELL_CAPACITY_SPREAD: Final = 0.004
MODULE_RESISTANCE_SPREAD: Final = 0.06
CELL_RESISTANCE_SPREAD: Final = 0.02
CELL_SOC_SPREAD: Final = 0.003
MODULE_COOLING_SPREAD: Final = 0.15
MODULE_TEMP_SPREAD_C: Final = 0.4

#: Below 0 % (only a shorted cell gets there: the BMS keeps healthy cells above the floor) the OCV
#: keeps falling with the slope of the table's first segment, down to 0 V at about -21 %, so a short
#: drains its cell and then fades instead of drawing 3 V / R forever.
_OCV_BELOW_EMPTY_SLOPE: Final = float((OCV_VOLTS[1] - OCV_VOLTS[0]) / (OCV_SOC[1] - OCV_SOC[0]))


def _spread(rng: np.random.Generator, sigma: float, size: int) -> FloatArray:
    """1 + a clipped normal deviation: no cell is drawn with a negative or absurd value."""
    return 1.0 + np.clip(rng.normal(0.0, sigma, size), -3 * sigma, 3 * sigma)


def per_cell(module_values: FloatArray) -> FloatArray:
    """(vehicles, 8) -> (vehicles, 96): each module's value for each of its 12 cells."""
    return np.repeat(module_values, CELLS_PER_MODULE, axis=1)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did, for the caller's records and tests."""

    current_a: FloatArray
    heat_w: FloatArray  # per module


class Pack:
    """The packs of `len(rngs)` vehicles; each vehicle's draws come from its own generator."""

    def __init__(
        self,
        rngs: Sequence[np.random.Generator],
        *,
        initial_soc: FloatArray,
        ambient_c: FloatArray,
        cell: CellParameters | None = None,
    ) -> None:
        self.cell = cell or CellParameters()
        n = len(rngs)
        cap = np.empty((n, CELLS_IN_SERIES))
        res = np.empty((n, CELLS_IN_SERIES))
        soc_offset = np.empty((n, CELLS_IN_SERIES))
        cooling = np.empty((n, MODULES))
        temp_offset = np.empty((n, MODULES))
        for i, rng in enumerate(rngs):
            cap[i] = np.repeat(_spread(rng, MODULE_CAPACITY_SPREAD, MODULES), CELLS_PER_MODULE)
            cap[i] *= _spread(rng, CELL_CAPACITY_SPREAD, CELLS_IN_SERIES)
            res[i] = np.repeat(_spread(rng, MODULE_RESISTANCE_SPREAD, MODULES), CELLS_PER_MODULE)
            res[i] *= _spread(rng, CELL_RESISTANCE_SPREAD, CELLS_IN_SERIES)
            soc_offset[i] = _spread(rng, CELL_SOC_SPREAD, CELLS_IN_SERIES) - 1.0
            cooling[i] = _spread(rng, MODULE_COOLING_SPREAD, MODULES)
            temp_offset[i] = _spread(rng, MODULE_TEMP_SPREAD_C, MODULES) - 1.0

        #: cell capacities in Ah, (vehicles, 96)
        self.capacity_ah: FloatArray = self.cell.capacity_ah * cap
        self._resistance_scale: FloatArray = res
        self.ambient_c: FloatArray = np.asarray(ambient_c, dtype=np.float64).reshape(n)
        self.passive_w_per_k: FloatArray = PASSIVE_COOLING_W_PER_K * cooling
        self.heat_capacity_j_per_k: float = (
            CELLS_PER_MODULE * self.cell.heat_capacity_j_per_k + MODULE_HOUSING_J_PER_K
        )

        #: cell state of charge 0..1, (vehicles, 96)
        self.soc: FloatArray = np.clip(np.asarray(initial_soc).reshape(n, 1) + soc_offset, 0.0, 1.0)
        self.v_rc1: FloatArray = np.zeros((n, CELLS_IN_SERIES))
        self.v_rc2: FloatArray = np.zeros((n, CELLS_IN_SERIES))
        #: module temperatures in degC, (vehicles, 8)
        self.module_temp_c: FloatArray = self.ambient_c[:, None] + temp_offset
        self.current_a: FloatArray = np.zeros(n)
        self._ocv: FloatArray = open_circuit_voltage(self.soc)
        #: terminal voltage of every cell after the last step, (vehicles, 96)
        self.cell_voltage: FloatArray = self._ocv.copy()
        #: conductance (1/ohm) across each cell, (vehicles, 96); None until a short is applied
        self._shunt_s: FloatArray | None = None
        #: multiplier of each module's active cooling, (vehicles, 8); None until a plate fails
        self._active_cooling: FloatArray | None = None

    @property
    def vehicles(self) -> int:
        return int(self.soc.shape[0])

    @property
    def pack_voltage(self) -> FloatArray:
        """The series string: the sum of its cells' terminal voltages."""
        total: FloatArray = self.cell_voltage.sum(axis=1)
        return total

    @property
    def pack_soc(self) -> FloatArray:
        """Capacity-weighted mean cell SOC (0..1): it moves by I dt / mean capacity, like a BMS's."""
        charge: FloatArray = (self.soc * self.capacity_ah).sum(axis=1)
        soc: FloatArray = charge / self.capacity_ah.sum(axis=1)
        return soc

    @property
    def pack_capacity_ah(self) -> FloatArray:
        """The capacity the pack SOC counts against: the mean of its cells'."""
        mean: FloatArray = self.capacity_ah.mean(axis=1)
        return mean

    # --- faults -------------------------------------------------------------------------------
    def short_cell(self, vehicle: int, cell: int, ohm: float) -> None:
        """An internal short: `ohm` across cell `cell` (0-based) of `vehicle`, from the next step on."""
        if not ohm > 0.0:
            raise ValueError("a short needs a resistance > 0 ohm")
        if self._shunt_s is None:
            self._shunt_s = np.zeros_like(self.soc)
        self._shunt_s[vehicle, cell] += 1.0 / ohm

    def scale_cell_resistance(self, vehicle: int, cell: int, factor: float) -> None:
        """An aged cell (or a bad weld): its R0, R1 and R2 multiplied by `factor`."""
        if not factor > 0.0:
            raise ValueError("a resistance factor must be > 0")
        self._resistance_scale[vehicle, cell] *= factor

    def fail_cooling(self, vehicle: int, module: int) -> None:
        """Module `module` (0-based) of `vehicle` loses its cooling plate; the housing still leaks heat."""
        if self._active_cooling is None:
            self._active_cooling = np.ones_like(self.module_temp_c)
        self._active_cooling[vehicle, module] = 0.0

    @property
    def shunt_current_a(self) -> FloatArray:
        """The current through each cell's short after the last step (0 without one), (vehicles, 96)."""
        if self._shunt_s is None:
            return np.zeros_like(self.soc)
        current: FloatArray = self.cell_voltage * self._shunt_s
        return current

    def resistances(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """R0, R1, R2 of every cell at its module's temperature and its own SOC, (vehicles, 96)."""
        factor = self._resistance_scale * per_cell(resistance_factor(self.module_temp_c))
        # a shorted cell can be drained below 0 %, where the anode term would explode: hold it there
        soc = self.soc if self._shunt_s is None else np.maximum(self.soc, 0.0)
        factor = factor * low_soc_factor(soc)
        return self.cell.r0_ohm * factor, self.cell.r1_ohm * factor, self.cell.r2_ohm * factor

    def _linearised(self, dt_s: float) -> tuple[FloatArray, FloatArray, tuple[FloatArray, ...]]:
        """Each cell's terminal voltage after dt as E - I Rd: exact for the RC pairs; the OCV's drift
        during the step is taken with the steepest nearby slope, so limits solved from it hold."""
        e1, e2 = self.cell.rc_decay(dt_s)
        r0, r1, r2 = self.resistances()
        emf = self._ocv - self.v_rc1 * e1 - self.v_rc2 * e2
        drift = open_circuit_slope(self.soc) * (dt_s / 3600.0) / self.capacity_ah
        rd = r0 + r1 * (1.0 - e1) + r2 * (1.0 - e2) + drift
        return emf, rd, (r0, r1, r2)

    def current_limits(self, emf: FloatArray, rd: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The BMS window: no cell below the discharge floor or above the charge ceiling, and ratings."""
        i_max = np.min((emf - CELL_DISCHARGE_FLOOR_V) / rd, axis=1)
        i_min = np.max((emf - CELL_CHARGE_CEILING_V) / rd, axis=1)
        # np.minimum/np.maximum rather than np.clip: the same result at a third of the call overhead
        i_max = np.minimum(np.maximum(i_max, 0.0), self.cell.max_discharge_a)
        i_min = np.minimum(np.maximum(i_min, -self.cell.max_charge_a), 0.0)
        return i_min, i_max

    @staticmethod
    def current_for_power(power_w: FloatArray, emf: FloatArray, rd: FloatArray) -> FloatArray:
        """Solve P = I (E - I R) for the pack: the current that delivers the demanded power.

        Power beyond what the pack can give (negative discriminant) is capped at its maximum-power
        point; the BMS limits are applied afterwards anyway.
        """
        e = emf.sum(axis=1)
        r = rd.sum(axis=1)
        disc = np.maximum(e * e - 4.0 * r * power_w, 0.0)
        current: FloatArray = (e - np.sqrt(disc)) / (2.0 * r)
        return current

    def step(
        self,
        dt_s: float,
        current_a: FloatArray,
        *,
        power_w: FloatArray | None = None,
        use_power: BoolArray | None = None,
        active: BoolArray | None = None,
    ) -> StepResult:
        """Advance every pack by dt under a current demand (or a power demand where `use_power`).

        The demand is clamped to the BMS limits, as a real BMS derates the drive and the charger.
        `active` marks vehicles whose cooling system is awake (driving or charging).
        """
        emf, rd, (r0, r1, r2) = self._linearised(dt_s)
        shunt = self._shunt_s
        if shunt is not None:
            # A cell with a conductance g across it is, seen from its terminals, the Thevenin source
            # E/(1 + g Rd) behind Rd/(1 + g Rd): the BMS limits and the power solution below hold
            # for the terminal voltage unchanged.
            thevenin = 1.0 / (1.0 + shunt * rd)
            emf = emf * thevenin
            rd = rd * thevenin
        demand = np.asarray(current_a, dtype=np.float64).reshape(self.vehicles)
        if power_w is not None and use_power is not None:
            demand = np.where(use_power, self.current_for_power(power_w, emf, rd), demand)
        i_min, i_max = self.current_limits(emf, rd)
        current = np.minimum(np.maximum(demand, i_min), i_max)
        col = current[:, None]
        if shunt is not None:
            # inside a shorted cell flows the string current plus what its short drains
            col = col + shunt * (emf - col * rd)

        e1, e2 = self.cell.rc_decay(dt_s)
        self.v_rc1 = self.v_rc1 * e1 + r1 * (1.0 - e1) * col
        self.v_rc2 = self.v_rc2 * e2 + r2 * (1.0 - e2) * col
        self.soc = self.soc - col * (dt_s / 3600.0) / self.capacity_ah
        self._ocv = open_circuit_voltage(self.soc)
        if shunt is not None:
            below = np.maximum(OCV_VOLTS[0] + _OCV_BELOW_EMPTY_SLOPE * self.soc, 0.0)
            self._ocv = np.where(self.soc < 0.0, below, self._ocv)
        self.cell_voltage = self._ocv - self.v_rc1 - self.v_rc2 - col * r0

        heat_cell = col * col * r0 + self.v_rc1 * self.v_rc1 / r1 + self.v_rc2 * self.v_rc2 / r2
        if shunt is not None:
            heat_cell = heat_cell + shunt * self.cell_voltage * self.cell_voltage  # V^2/R in the short
        heat = heat_cell.reshape(self.vehicles, MODULES, CELLS_PER_MODULE).sum(axis=2)
        self._heat(dt_s, heat, active)
        self.current_a = current
        return StepResult(current_a=current, heat_w=heat)

    def _heat(self, dt_s: float, heat_w: FloatArray, active: BoolArray | None) -> None:
        """Exact step of C dT/dt = Q - G_p (T - T_amb) - G_a (T - T_cool) for constant Q over dt."""
        temp = self.module_temp_c
        g_passive = self.passive_w_per_k
        if active is None:
            g_active = np.zeros_like(temp)
        else:
            on = active.reshape(self.vehicles, 1) & (temp > COOLING_ON_ABOVE_C)
            g_active = np.where(on, ACTIVE_COOLING_W_PER_K, 0.0)
            if self._active_cooling is not None:
                g_active = g_active * self._active_cooling
        g_total = g_passive + g_active
        t_eq = (g_passive * self.ambient_c[:, None] + g_active * COOLANT_TEMP_C + heat_w) / g_total
        self.module_temp_c = t_eq + (temp - t_eq) * np.exp(-g_total * dt_s / self.heat_capacity_j_per_k)
