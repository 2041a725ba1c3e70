"""The anomaly rules and their thresholds: what a battery does that a healthy one does not.

Each rule looks at one vehicle's samples (both CAN frames of one 200 ms sample, merged) in event
time order, as `app/anomaly/window.py` releases them, and at that vehicle's 60-second window.

| rule                 | kind       | fires when                                                          |
|----------------------|------------|---------------------------------------------------------------------|
| out_of_range         | per sample | a reading outside what the chemistry or the sensor can report       |
| over_temperature     | per sample | cell_temp_max above the limit                                        |
| temperature_spread   | per sample | cell_temp_max - cell_temp_min above the limit (one module differs)   |
| cell_voltage_spread  | per sample | cell_voltage_max - cell_voltage_min above a current-dependent limit |
| spread_growing       | window     | at rest, the spread rose within 60 s beyond what relaxation does     |
| resistance_spread    | window     | the spread follows |current| more steeply than healthy cells allow  |
| temperature_rise     | window     | cell_temp_max rose within 60 s faster than any healthy load heats it |
| stuck_signal         | window     | a reading that must move did not change for N s while current flowed |
| silent               | window     | no sample for N s (event-time gap; live also from the ingest clock)  |

Out-of-range readings are reported and then left out of every other rule, so one spike from a
loose sensor does not also look like a temperature rise or a voltage spread.

Every default below was checked against healthy simulated fleets (`bench/detection_offline.py`:
all start modes, 60/94/120 Ah, the simulator's ambient range; the figures are in docs/anomalies.md)
and has a physical reason, given in its docstring, to sit where it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from app.anomaly.window import (
    CELL_VOLTAGE_MAX,
    CELL_VOLTAGE_MIN,
    CURRENT,
    PACK_VOLTAGE,
    SOC,
    TEMP_MAX,
    TEMP_MIN,
    Sample,
    VehicleWindow,
)

# --- rule names: stable strings, used as the EMF dimension and in anomalies/ output -----------
OUT_OF_RANGE: Final = "out_of_range"
OVER_TEMPERATURE: Final = "over_temperature"
TEMPERATURE_SPREAD: Final = "temperature_spread"
CELL_VOLTAGE_SPREAD: Final = "cell_voltage_spread"
SPREAD_GROWING: Final = "spread_growing"
RESISTANCE_SPREAD: Final = "resistance_spread"
TEMPERATURE_RISE: Final = "temperature_rise"
STUCK_SIGNAL: Final = "stuck_signal"
SILENT: Final = "silent"
RULES: Final = (
    OUT_OF_RANGE,
    OVER_TEMPERATURE,
    TEMPERATURE_SPREAD,
    CELL_VOLTAGE_SPREAD,
    SPREAD_GROWING,
    RESISTANCE_SPREAD,
    TEMPERATURE_RISE,
    STUCK_SIGNAL,
    SILENT,
)
#: Rules judged on one sample alone: right wherever the sample lands, so also right live when
#: several consumer tasks each see part of a vehicle's records (docs/anomalies.md). The others need
#: the vehicle's whole stream over the window.
PER_SAMPLE_RULES: Final = frozenset({OUT_OF_RANGE, OVER_TEMPERATURE, TEMPERATURE_SPREAD, CELL_VOLTAGE_SPREAD})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every limit of every rule, with the physics that puts it there. Units are SI-ish and named:
    volts, amperes, degC, kelvin (for differences), seconds."""

    # --- per sample ---------------------------------------------------------------------------
    over_temperature_c: float = 55.0
    """NMC cells are specified for discharge up to about 55-60 degC; above that SEI growth speeds
    up and, towards 80-90 degC, self-heating begins. A healthy pack in road use stays far below
    (the simulated fleets peak near 30 degC in a mild climate and at the ambient, 38 degC, on a hot day)."""

    temperature_spread_k: float = 5.0
    """A liquid-cooled pack is designed to hold its modules within about 5 K of each other; more
    means one module makes more heat (a short, a high-resistance cell) or loses more (failed
    cooling). Healthy simulated packs stay within 3 K (module cooling spread sigma 15 %,
    starting temperatures sigma 0.4 K)."""

    spread_at_rest_v: float = 0.080
    """cell_voltage_max - cell_voltage_min allowed with no current. At rest the spread is the SOC
    imbalance of the string seen through the OCV curve: about 10 mV mid-SOC, up to 60-65 mV below
    15 % SOC, where NMC's OCV is steep. A hard internal short pulls one cell 80 mV or more below
    its neighbours within seconds (its own current through R0 and R1)."""

    spread_per_amp_v: float = 0.0005
    """Extra spread allowed per ampere of pack current (0.5 mOhm). Under load each cell sags by
    I x its resistance, so the spread grows by I x (R_max - R_min) of the string: about 0.4 mOhm
    for a 60 Ah pack (the smallest, whose resistance is highest), with the +-3 sigma module and
    cell resistance spread. An aged cell at 2.5x resistance adds 1.3 mOhm or more."""

    cell_voltage_range_v: tuple[float, float] = (2.5, 4.25)
    """What NMC survives: below 2.5 V copper dissolves, above 4.25 V the cathode and electrolyte
    degrade. No working BMS lets a cell get there, so a reading outside is a broken sense lead."""

    pack_voltage_range_v: tuple[float, float] = (240.0, 408.0)
    """96 cells in series times the cell range above."""

    temperature_range_c: tuple[float, float] = (-40.0, 100.0)
    """Where a module sensor can honestly read: the pack's storage range down to -40 degC, and
    no cell above 100 degC that is not already in thermal runaway. A shorted NTC reads 125 degC
    (the DBC's ceiling)."""

    soc_range_pct: tuple[float, float] = (0.0, 100.0)
    """SOC is a percentage of the BMS window."""

    current_limit_a: float = 500.0
    """The largest pack's rating: 4C discharge of a 120 Ah pack is 480 A (1.5C charge far less).
    Beyond it is a saturated or disturbed current sensor."""

    # --- over the window -----------------------------------------------------------------------
    window_s: int = 60
    """The sliding window of the windowed rules, in whole seconds (the ring buffer's length)."""

    rest_current_a: float = 10.0
    """Below this |current| a sample counts as 'at rest' for spread_growing: a stopped car draws
    only its 12 V and climate loads (0.5-2.3 kW, up to 6.5 A)."""

    spread_growth_v: float = 0.030
    """How much the spread at rest may rise within the window. Healthy packs relax after a load
    (the diffusion RC pair, tau 150 s, differs from cell to cell), which moves the rest spread by
    up to 20 mV within a minute; a short's self-discharge current moves one cell by tens of mV
    within seconds, and keeps moving it."""

    resistance_spread_ohm: float = 0.001
    """Slope of the cell voltage spread against |current| over the window (V per A): the
    resistance of the weakest cell minus that of the strongest. Healthy strings stay below
    0.45 mOhm (94 Ah) and 0.71 mOhm (60 Ah, the most resistive) in 1,200 simulated vehicle-hours,
    RC lag included; a cell aged to 2.5x its resistance adds at least 1 mOhm more than its
    neighbours at 120 Ah, and more at smaller capacities. It shows at 10 A, where the per-sample
    spread limit (80 mV + 0.5 mOhm x I) is still far off."""

    resistance_fit_current_std_a: float = 3.0
    """The slope is only read when |current| varied over the window by at least this much (one
    standard deviation) and the window holds half its samples: a line through points at one
    current says nothing about the slope."""

    temperature_rise_k: float = 2.0
    """How much cell_temp_max may rise within the window (K per 60 s). The hardest healthy minute
    in the simulated fleets warms a module by 1.2 K; 2 K per minute takes 1.2 kW of sustained heat
    per module (beyond 300 A for a full minute), more than road use or a 50 kW charger makes,
    while a cell starting to self-heat goes faster still."""

    stuck_s: float = 15.0
    """How long a reading that should move may repeat exactly. Measurement noise (1 mV per cell,
    0.05 V on the pack, 0.05 A on the current) is comparable to the DBC's resolution, so an honest
    reading changes every few samples: the longest healthy repeat in 1,200 simulated
    vehicle-hours is 7 s. 15 s (75 samples) is beyond that by a factor no healthy run reaches."""

    active_current_a: float = 1.0
    """'The pack carried current': some |current| of at least this within the stuck period."""

    active_voltage_range_v: float = 2.0
    """...or the pack voltage moved by this much within it (a stuck current sensor reading 0 A
    while the load changes the pack voltage by several volts)."""

    silence_s: float = 10.0
    """No sample for this long means the vehicle went silent. Vehicles send every 200 ms; in live
    use the consumer's ingest clock must not lag a vehicle by more than this (see tick)."""

    # --- bookkeeping ---------------------------------------------------------------------------
    clear_s: float = 10.0
    """An episode ends when its condition has not held for this long, so a signal hovering at the
    threshold gives one episode, not one per sample."""

    reorder_s: float = 3.0
    """How late (in event time, behind the vehicle's newest sample) a record may arrive and still
    count. Live records arrive out of order by a few seconds (several SQS pollers); samples are
    evaluated in event-time order once complete and contiguous, or once this far behind."""

    sample_period_ms: int = 200
    """The vehicles' sample cycle (the DBC's GenMsgCycleTime): a sample this far (x 1.5) after
    the last evaluated one is contiguous and need not wait for stragglers."""

    evict_after_s: float = 600.0
    """A vehicle silent (by the ingest clock) for this long is forgotten: its state freed, its open
    episodes closed."""

    def __post_init__(self) -> None:
        if not 10 <= self.window_s <= 3600:
            raise ValueError("window_s must be within 10..3600 seconds")
        if not 0 < self.stuck_s < self.window_s:
            raise ValueError("stuck_s must be > 0 and shorter than window_s")
        for name in ("silence_s", "clear_s", "reorder_s", "evict_after_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if not self.evict_after_s > self.silence_s:
            raise ValueError("evict_after_s must be longer than silence_s")
        if self.sample_period_ms < 1:
            raise ValueError("sample_period_ms must be >= 1")
        for name in ("cell_voltage_range_v", "pack_voltage_range_v", "temperature_range_c", "soc_range_pct"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"{name} must be (low, high) with low < high")


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule that newly fired for a vehicle: one log line, one EMF metric.

    `at_ms` is the event time (vehicle clock, epoch ms) of the sample that opened it; for
    `silent`, the event time at which the silence reached the threshold. `value` is what the rule
    measured (a reading, a spread, a rise, a duration in s) and `threshold` what it exceeded;
    `signal` names the payload signal concerned where one is (out_of_range, stuck_signal)."""

    vehicle_id: str
    rule: str
    at_ms: int
    value: float
    threshold: float
    signal: str = ""


@dataclass(frozen=True, slots=True)
class Episode:
    """One stretch of time a rule held for a vehicle: a row of the hourly anomalies/ output.

    start_ms/end_ms are event times: the first and last sample where the condition held (for
    `silent`, the last sample before the gap and the first after it). `peak_value` is the value
    furthest beyond the threshold."""

    vehicle_id: str
    rule: str
    start_ms: int
    end_ms: int
    peak_value: float
    threshold: float
    signal: str = ""


# --- evaluation ---------------------------------------------------------------------------------
#: (rule, signal, value, threshold, excess beyond the threshold, event time in ms)
Hit = tuple[str, str, float, float, float, int]
NEVER: Final = -(1 << 62)
#: The readings stuck_signal watches: each must move while current flows (the noise of its
#: measurement alone moves it). Temperatures and SOC are left out: they may hold still for minutes.
STUCK_WATCHED: Final = (
    (PACK_VOLTAGE, "battery_voltage"),
    (CURRENT, "battery_current"),
    (CELL_VOLTAGE_MIN, "cell_voltage_min"),
    (CELL_VOLTAGE_MAX, "cell_voltage_max"),
)


class VehicleState:
    """What the rules remember of one vehicle between its samples: its window, the time of its
    last sample, and since when each watched reading has held its value."""

    __slots__ = ("last_ms", "stuck_since", "stuck_values", "window")

    def __init__(self, window: VehicleWindow) -> None:
        self.window = window
        self.last_ms = NEVER
        self.stuck_values = [math.nan] * len(STUCK_WATCHED)
        self.stuck_since = [NEVER] * len(STUCK_WATCHED)


class RuleSet:
    """The rules of the module docstring, evaluated on one vehicle's samples in event-time order.

    `evaluate` is the hot path (every released sample of every vehicle): the common case, nothing
    wrong, is a handful of float comparisons on local variables and one bucket update, and appends
    nothing; hits go to the caller's list, which turns them into alerts and episodes.
    """

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        th = thresholds or Thresholds()
        self.thresholds = th
        self._over_temperature = th.over_temperature_c
        self._temperature_spread = th.temperature_spread_k
        self._spread_rest = th.spread_at_rest_v
        self._spread_per_amp = th.spread_per_amp_v
        self._spread_growth = th.spread_growth_v
        self._rest_current = th.rest_current_a
        self._rise = th.temperature_rise_k
        self._cell_low, self._cell_high = th.cell_voltage_range_v
        self._pack_low, self._pack_high = th.pack_voltage_range_v
        self._temp_low, self._temp_high = th.temperature_range_c
        self._soc_low, self._soc_high = th.soc_range_pct
        self._current_limit = th.current_limit_a
        self._silence_s = th.silence_s
        self._silence_ms = round(th.silence_s * 1000)
        self._stuck_s = th.stuck_s
        self._stuck_ms = round(th.stuck_s * 1000)
        self._stuck_window_s = math.ceil(th.stuck_s)
        self._resistance = th.resistance_spread_ohm
        self._fit_std = th.resistance_fit_current_std_a
        self._fit_samples = th.window_s * 1000 // th.sample_period_ms // 2
        self._active_current = th.active_current_a
        self._active_voltage = th.active_voltage_range_v
        #: a gap longer than 5 samples breaks the "held its value" of stuck_signal
        self._gap_reset_ms = 5 * th.sample_period_ms
        self._ranges = (
            (SOC, "battery_soc", th.soc_range_pct),
            (PACK_VOLTAGE, "battery_voltage", th.pack_voltage_range_v),
            (CURRENT, "battery_current", (-th.current_limit_a, th.current_limit_a)),
            (CELL_VOLTAGE_MIN, "cell_voltage_min", th.cell_voltage_range_v),
            (CELL_VOLTAGE_MAX, "cell_voltage_max", th.cell_voltage_range_v),
            (TEMP_MIN, "cell_temp_min", th.temperature_range_c),
            (TEMP_MAX, "cell_temp_max", th.temperature_range_c),
        )

    def new_window(self) -> VehicleWindow:
        th = self.thresholds
        return VehicleWindow(
            size=th.window_s,
            reorder_ms=round(th.reorder_s * 1000),
            period_ms=th.sample_period_ms,
            rest_current_a=th.rest_current_a,
        )

    def evaluate(self, state: VehicleState, t: int, s: Sample, hits: list[Hit]) -> None:  # noqa: PLR0912
        """Every rule on sample `s` at event time `t` (ms), the next in order for this vehicle.
        One function on purpose: a call per rule would cost more than the rules themselves."""
        window = state.window
        last = state.last_ms
        if t - last > self._gap_reset_ms and last != NEVER:
            gap_ms = t - last
            if gap_ms > self._silence_ms:
                gap = gap_ms / 1000.0
                hits.append(
                    (SILENT, "", gap, self._silence_s, gap - self._silence_s, last + self._silence_ms)
                )
            state.stuck_since = [t] * len(STUCK_WATCHED)
        if t // 1000 != window.second and last != NEVER:
            self._each_second(state, hits)

        soc, volts, current, cell_low, cell_high, temp_low, temp_high = (
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            s[6],
        )
        if (
            cell_low < self._cell_low
            or cell_high > self._cell_high
            or cell_low > self._cell_high
            or cell_high < self._cell_low
            or temp_high > self._temp_high
            or temp_low < self._temp_low
            or temp_high < self._temp_low
            or temp_low > self._temp_high
            or current > self._current_limit
            or current < -self._current_limit
            or volts < self._pack_low
            or volts > self._pack_high
            or soc < self._soc_low
            or soc > self._soc_high
        ):
            self._out_of_range(t, s, hits)
            soc, volts, current, cell_low, cell_high, temp_low, temp_high = (
                s[0],
                s[1],
                s[2],
                s[3],
                s[4],
                s[5],
                s[6],
            )

        if temp_high > self._over_temperature:
            hits.append(
                (
                    OVER_TEMPERATURE,
                    "cell_temp_max",
                    temp_high,
                    self._over_temperature,
                    temp_high - self._over_temperature,
                    t,
                )
            )
        temp_spread = temp_high - temp_low
        if temp_spread > self._temperature_spread:
            limit = self._temperature_spread
            hits.append((TEMPERATURE_SPREAD, "", temp_spread, limit, temp_spread - limit, t))
        amps = abs(current)
        spread = cell_high - cell_low
        limit = self._spread_rest + self._spread_per_amp * amps
        if spread > limit:
            hits.append((CELL_VOLTAGE_SPREAD, "", spread, limit, spread - limit, t))

        window.fold(t, s)
        rise = temp_high - window.win_temp_max_min
        if rise > self._rise:
            hits.append((TEMPERATURE_RISE, "cell_temp_max", rise, self._rise, rise - self._rise, t))
        if amps <= self._rest_current:
            growth = spread - window.win_rest_spread_min
            if growth > self._spread_growth:
                limit = self._spread_growth
                hits.append((SPREAD_GROWING, "", growth, limit, growth - limit, t))

        values = state.stuck_values
        since = state.stuck_since
        if volts != values[0]:
            values[0] = volts
            since[0] = t
        if current != values[1]:
            values[1] = current
            since[1] = t
        if cell_low != values[2]:
            values[2] = cell_low
            since[2] = t
        if cell_high != values[3]:
            values[3] = cell_high
            since[3] = t
        state.last_ms = t

    def _out_of_range(self, t: int, s: Sample, hits: list[Hit]) -> None:
        """Report each reading outside its range, then blank it so no other rule uses it."""
        for column, name, (low, high) in self._ranges:
            value = s[column]
            if value < low:
                hits.append((OUT_OF_RANGE, name, value, low, low - value, t))
            elif value > high:
                hits.append((OUT_OF_RANGE, name, value, high, value - high, t))
            else:
                continue
            s[column] = math.nan

    def _each_second(self, state: VehicleState, hits: list[Hit]) -> None:
        """Once per second of event time, on the window up to the last sample: the line of the
        spread against |current|, and the stuck readings."""
        last = state.last_ms
        window = state.window
        slope = window.spread_slope(self._fit_samples, self._fit_std)
        if slope > self._resistance:
            limit = self._resistance
            hits.append((RESISTANCE_SPREAD, "", slope, limit, slope - limit, last))
        self._stuck(state, hits)

    def _stuck(self, state: VehicleState, hits: list[Hit]) -> None:
        """A watched reading unchanged for stuck_s while the pack carried current (by its
        current, or by its voltage moving) over those seconds."""
        last = state.last_ms
        window = state.window
        active: bool | None = None
        for j, (_column, name) in enumerate(STUCK_WATCHED):
            held_ms = last - state.stuck_since[j]
            if held_ms < self._stuck_ms:
                continue
            if active is None:
                seconds = self._stuck_window_s
                active = (
                    window.max_abs_current(seconds) >= self._active_current
                    or window.voltage_range(seconds) >= self._active_voltage
                )
            if active:
                held = held_ms / 1000.0
                hits.append((STUCK_SIGNAL, name, held, self._stuck_s, held - self._stuck_s, last))
