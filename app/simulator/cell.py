"""The NMC cell of a BMW i3-class pack: open-circuit voltage, equivalent circuit, limits.

The figures are those of the large prismatic NMC cells in the i3 (60, 94 and 120 Ah generations,
Samsung SDI): about 3.68 V nominal, 4.15 V charge limit at the BMS, roughly 1 mOhm of ohmic
resistance at 25 degC for the 94 Ah cell, about 2 kg. They are typical published values, not a
datasheet; what matters for the pipeline is that every chart looks like a real pack's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Open-circuit voltage of an NMC/graphite cell against state of charge (0..1), at 25 degC.
#: Steep below 10 %, a gentle slope through the middle, steeper again towards full. SOC here is
#: the window the BMS uses: 0 % is the discharge floor and 100 % the charge ceiling, so a pack
#: charged at constant voltage tapers towards 100 % and never beyond.
OCV_SOC: Final = np.array(
    [0.00, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 1.00]
)
OCV_VOLTS: Final = np.array(
    [3.00, 3.28, 3.42, 3.51, 3.56, 3.60, 3.65, 3.70, 3.75, 3.82, 3.90, 3.98, 4.06, 4.10, 4.15]
)
_SEGMENT_SLOPES = np.diff(OCV_VOLTS) / np.diff(OCV_SOC)
#: Each segment's slope or its neighbours', whichever is steepest: a step that crosses into a
#: steeper segment must not overshoot a voltage limit that was solved with the shallower slope.
_OCV_SLOPES: Final = np.maximum.reduce(
    [_SEGMENT_SLOPES, np.r_[_SEGMENT_SLOPES[1:], 0.0], np.r_[0.0, _SEGMENT_SLOPES[:-1]]]
)

#: What the chemistry survives; a cell outside this window is damaged (tests hold us to it).
CELL_VOLTAGE_ABS_MIN: Final = 2.5
CELL_VOLTAGE_ABS_MAX: Final = 4.25
#: What the BMS allows (the i3 cell's 4.15 V top): discharge power is derated so no cell falls below
#: the floor, and charge (plug or regenerative braking) is limited so no cell rises above the
#: ceiling, which is also the constant-voltage set point of a charging session.
CELL_DISCHARGE_FLOOR_V: Final = 3.0
CELL_CHARGE_CEILING_V: Final = 4.15

REFERENCE_CAPACITY_AH: Final = 94.0
REFERENCE_TEMP_C: Final = 25.0
#: Arrhenius constant (activation energy / gas constant) of the cell resistance: the resistance
#: roughly doubles between 25 and 0 degC, so cold modules sag more under load.
RESISTANCE_ARRHENIUS_K: Final = 2400.0
KELVIN: Final = 273.15


@dataclass(frozen=True, slots=True)
class CellParameters:
    """One cell of the reference 94 Ah pack; `scaled` derives the other generations."""

    capacity_ah: float = REFERENCE_CAPACITY_AH
    #: ohmic (series) resistance at 25 degC and mid SOC
    r0_ohm: float = 0.00085
    #: fast RC pair (charge transfer, double layer)
    r1_ohm: float = 0.00035
    tau1_s: float = 8.0
    #: slow RC pair (diffusion)
    r2_ohm: float = 0.00045
    tau2_s: float = 150.0
    mass_kg: float = 2.05
    specific_heat_j_per_kg_k: float = 1000.0
    #: continuous current ratings as C-rates (i3 94 Ah: ~375 A peak discharge, ~140 A charge)
    max_discharge_c: float = 4.0
    max_charge_c: float = 1.5

    @classmethod
    def scaled(cls, capacity_ah: float) -> CellParameters:
        """A cell of another capacity in the same can: resistance falls and mass grows with it."""
        ratio = capacity_ah / REFERENCE_CAPACITY_AH
        ref = cls()
        return cls(
            capacity_ah=capacity_ah,
            r0_ohm=ref.r0_ohm / ratio,
            r1_ohm=ref.r1_ohm / ratio,
            tau1_s=ref.tau1_s,
            r2_ohm=ref.r2_ohm / ratio,
            tau2_s=ref.tau2_s,
            mass_kg=ref.mass_kg * ratio,
        )

    @property
    def heat_capacity_j_per_k(self) -> float:
        return self.mass_kg * self.specific_heat_j_per_kg_k

    @property
    def max_discharge_a(self) -> float:
        return self.max_discharge_c * self.capacity_ah

    @property
    def max_charge_a(self) -> float:
        return self.max_charge_c * self.capacity_ah

    def rc_decay(self, dt_s: float) -> tuple[float, float]:
        """exp(-dt/tau) of both RC pairs: the exact discrete step for a current held over dt."""
        return math.exp(-dt_s / self.tau1_s), math.exp(-dt_s / self.tau2_s)


def open_circuit_voltage(soc: FloatArray) -> FloatArray:
    """OCV(SOC) by linear interpolation of the NMC table; SOC outside 0..1 is held at the ends."""
    ocv: FloatArray = np.interp(soc, OCV_SOC, OCV_VOLTS)
    return ocv


def open_circuit_slope(soc: FloatArray) -> FloatArray:
    """dOCV/dSOC (V per unit SOC) around each SOC, the steeper side at a segment boundary."""
    segment = np.clip(np.searchsorted(OCV_SOC, soc, side="right") - 1, 0, len(_OCV_SLOPES) - 1)
    slope: FloatArray = _OCV_SLOPES[segment]
    return slope


def resistance_factor(temp_c: FloatArray) -> FloatArray:
    """Resistance relative to 25 degC (Arrhenius): warm cells conduct better."""
    inv = 1.0 / (temp_c + KELVIN) - 1.0 / (REFERENCE_TEMP_C + KELVIN)
    return np.exp(RESISTANCE_ARRHENIUS_K * inv)


def low_soc_factor(soc: FloatArray) -> FloatArray:
    """Resistance rises as the anode empties; +60 % at 0 % SOC, negligible above 30 %."""
    return 1.0 + 0.6 * np.exp(-soc / 0.08)
