"""Which faults to inject, where and when: the `--faults` grammar, its parser and the seeded plan.

Grammar (items separated by commas; parameters in parentheses after the name, also comma-separated):

    SPEC    := ITEM ("," ITEM)*
    ITEM    := KIND ["(" PARAMS ")"] "@" VEHICLE "+" TIME      one fault in one vehicle
             | "random" ["(" PARAMS ")"] ":" PERCENT "%"        each vehicle faulty with that chance
    PARAMS  := NAME "=" VALUE ("," NAME "=" VALUE)*
    VEHICLE := veh-NNNNN                  TIME := a number with ms, s, m or h (bare: seconds)

    internal_short@veh-00003+120s,cooling_failure(module=2)@veh-00007+5m
    aged_cell(cell=17,factor=3)@veh-00001+30s
    random:5%                       random(kinds=internal_short|dropout,from=30s,to=10m):5%

TIME is when the fault is armed, counted from the start of the run. Most faults start right then;
the few that only show in use wait for it (`when`, below), and the ground truth records the moment
they really started. Parameters not given are drawn from a generator seeded by (seed, vehicle,
item), never from the vehicle's own, so a healthy vehicle's data do not change when another one is
made faulty, and a faulty one is the same car as its healthy twin until its fault starts.

`random:P%`: each vehicle is faulty with probability P, drawn from its own (seed, vehicle) stream,
so `veh-00042` is faulty or not whether it runs alone (one Locust user) or in a fleet of a
thousand; the kind is drawn uniformly from `kinds` (default: all) and the arming time uniformly
within [`from`, `to`) (default 60 s to half of the run, or 30 minutes if the run's length is not
known). The physics of each kind and the reasons for its defaults are in docs/simulator.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from app.errors import FaultSpecError
from app.simulator.pack import CELLS_IN_SERIES, MODULES

INTERNAL_SHORT: Final = "internal_short"
AGED_CELL: Final = "aged_cell"
COOLING_FAILURE: Final = "cooling_failure"
STUCK_SENSOR: Final = "stuck_sensor"
DROPOUT: Final = "dropout"
SENSOR_SPIKES: Final = "sensor_spikes"
KINDS: Final = (INTERNAL_SHORT, AGED_CELL, COOLING_FAILURE, STUCK_SENSOR, DROPOUT, SENSOR_SPIKES)

#: `when`: the condition a fault waits for once armed. `any` starts it at once; `moving` at the
#: first step the vehicle rolls, `awake` at the first step it drives or charges (current flows).
WHEN_CHOICES: Final = ("any", "moving", "awake")
#: Signals a frozen reading is drawn from: those that must move while current flows (the pack
#: voltage and the cell voltages with the load, the current with the driver's foot). Temperatures
#: and SOC may legitimately hold still for minutes, so a frozen one could not be told from a steady one.
STUCK_SIGNALS: Final = ("battery_voltage", "battery_current", "cell_voltage_min", "cell_voltage_max")
#: What a broken measurement reads, per signal (before the DBC saturates it): an open cell sense
#: lead reads 0 V, a sense lead touching the next cell's potential reads high (5 V at the DBC's
#: ceiling), a shorted NTC reads as hot as it can (125 degC), an open pack-voltage divider 0 V, and
#: a Hall current sensor hit by interference saturates (1000 A).
SPIKE_VALUES: Final[Mapping[str, float]] = {
    "cell_voltage_min": 0.0,
    "cell_voltage_max": 5.0,
    "cell_temp_max": 125.0,
    "battery_voltage": 0.0,
    "battery_current": 1000.0,
}
LOADS: Final = ("none", "dc")
#: A cooling plate matters only when the pack needs cooling: the scenario of a cooling failure is
#: a hot day (the vehicle's ambient, from its start), when the plate works whenever the car is awake,
#: and a DC fast charge (`load=dc`) when the fault starts.
HOT_DAY_C: Final = (33.0, 38.0)
#: ...and a pack that starts the run low, so the fast charge the scenario sends it to is a long,
#: hot one (a nearly full pack charges at a tapering current that makes little heat).
LOW_START_SOC_PCT: Final = (15.0, 30.0)

#: Random severities (see docs/simulator.md for why): the short drains its cell at 0.7-1.5 C (a hard
#: short, hundreds of watts in one cell), the aged cell has 2.5-4x the resistance, a dropout lasts
#: 30-120 s, a loose sensor spikes every 2-10 s on average, a cooling plate fails on a hot day.
SHORT_C_RATE: Final = (0.7, 1.5)
NOMINAL_CELL_V: Final = 3.7
AGED_FACTOR: Final = (2.5, 4.0)
DROPOUT_S: Final = (30.0, 120.0)
SPIKE_EVERY_S: Final = (2.0, 10.0)
RANDOM_FROM_S: Final = 60.0
RANDOM_TO_S_UNKNOWN_RUN: Final = 1800.0
#: Salt of the fault generators, so they never coincide with a vehicle's own (seed, index) stream.
FAULT_STREAM: Final = 0xFA17

_VEHICLE = re.compile(r"veh-(\d{5})")
_TIME = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_NAME = re.compile(r"[a-z_]+")
_TIME_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_seconds(text: str, what: str) -> float:
    """`120s`, `2m`, `1.5h`, `500ms` or a bare number of seconds."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise FaultSpecError(f"{what}: {text!r} is not a time; write e.g. 90s, 2m or 1h")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


# --- parameters -------------------------------------------------------------------------------
Draw = Callable[[np.random.Generator, float], Any]  # (fault generator, cell capacity in Ah) -> value


@dataclass(frozen=True, slots=True)
class _Param:
    """One parameter of a fault kind: how to read it from the spec and how to draw it if absent."""

    parse: Callable[[str, str], Any]
    draw: Draw
    help: str


def _int_in(lo: int, hi: int) -> Callable[[str, str], int]:
    def parse(text: str, what: str) -> int:
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise FaultSpecError(f"{what}: must be a whole number within {lo}..{hi}, not {text!r}")
        return int(text)

    return parse


def _number_above(lo: float) -> Callable[[str, str], float]:
    def parse(text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > lo):
            raise FaultSpecError(f"{what}: must be a number > {lo:g}, not {text!r}")
        return value

    return parse


def _number_within(lo: float, hi: float) -> Callable[[str, str], float]:
    def parse(text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:
            raise FaultSpecError(f"{what}: must be a number within {lo:g}..{hi:g}, not {text!r}")
        return value

    return parse


def _choice(options: Sequence[str]) -> Callable[[str, str], str]:
    def parse(text: str, what: str) -> str:
        if text not in options:
            raise FaultSpecError(f"{what}: {text!r} is not one of {', '.join(options)}")
        return text

    return parse


def _positive_seconds(text: str, what: str) -> float:
    value = parse_seconds(text, what)
    if not value > 0.0:
        raise FaultSpecError(f"{what}: must be longer than 0 s")
    return value


def _fixed(value: Any) -> Draw:
    return lambda _rng, _capacity: value


def _short_ohm(rng: np.random.Generator, capacity_ah: float) -> float:
    c_rate = float(rng.uniform(*SHORT_C_RATE))
    return round(NOMINAL_CELL_V / (c_rate * capacity_ah), 5)


_CELL = _Param(
    _int_in(1, CELLS_IN_SERIES), lambda rng, _c: int(rng.integers(1, CELLS_IN_SERIES + 1)), "1..96"
)


def _when(default: str) -> _Param:
    return _Param(_choice(WHEN_CHOICES), _fixed(default), "|".join(WHEN_CHOICES))


#: kind -> parameter name -> how to read it and its default. The `when` defaults are the scenario
#: choices docs/simulator.md explains: a weld cracks on the road (and a resistance shows only
#: under load), a frozen reading shows only while current flows, a cooling plate only when the
#: car is awake; the others show at once.
PARAMETERS: Final[Mapping[str, Mapping[str, _Param]]] = {
    INTERNAL_SHORT: {
        "cell": _CELL,
        "ohm": _Param(_number_above(0.0), _short_ohm, "short resistance in ohm, > 0"),
        "when": _when("any"),
    },
    AGED_CELL: {
        "cell": _CELL,
        "factor": _Param(
            _number_above(1.0), lambda rng, _c: round(float(rng.uniform(*AGED_FACTOR)), 3), "> 1"
        ),
        "when": _when("moving"),
    },
    COOLING_FAILURE: {
        "module": _Param(_int_in(1, MODULES), lambda rng, _c: int(rng.integers(1, MODULES + 1)), "1..8"),
        "ambient": _Param(
            _number_within(-30.0, 50.0),
            lambda rng, _c: round(float(rng.uniform(*HOT_DAY_C)), 1),
            "the vehicle's ambient in degC, -30..50",
        ),
        "start_soc": _Param(
            _number_within(5.0, 100.0),
            lambda rng, _c: round(float(rng.uniform(*LOW_START_SOC_PCT)), 1),
            "the vehicle's SOC at the start of the run in %, 5..100",
        ),
        "load": _Param(_choice(LOADS), _fixed("dc"), "|".join(LOADS)),
        "when": _when("awake"),
    },
    STUCK_SENSOR: {
        "signal": _Param(
            _choice(STUCK_SIGNALS), lambda rng, _c: str(rng.choice(STUCK_SIGNALS)), "|".join(STUCK_SIGNALS)
        ),
        "when": _when("awake"),
    },
    DROPOUT: {
        "for": _Param(
            _positive_seconds, lambda rng, _c: round(float(rng.uniform(*DROPOUT_S)), 1), "a time, e.g. 60s"
        ),
        "when": _when("any"),
    },
    SENSOR_SPIKES: {
        "signal": _Param(
            _choice(tuple(SPIKE_VALUES)),
            lambda rng, _c: str(rng.choice(tuple(SPIKE_VALUES))),
            "|".join(SPIKE_VALUES),
        ),
        "every": _Param(
            _positive_seconds,
            lambda rng, _c: round(float(rng.uniform(*SPIKE_EVERY_S)), 2),
            "mean time between spikes, e.g. 5s",
        ),
        "when": _when("any"),
    },
}
_RANDOM_PARAMS: Final = ("kinds", "from", "to")


# --- the parsed spec --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FaultRequest:
    """One explicit item: `kind` in `vehicle_id`, armed `arm_s` after the start, with given params."""

    kind: str
    vehicle_id: str
    arm_s: float
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RandomRequest:
    """`random:P%`: each vehicle faulty with probability `share`, kind and time drawn."""

    share: float
    kinds: tuple[str, ...] = KINDS
    from_s: float = RANDOM_FROM_S
    to_s: float | None = None


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """A fault resolved for one vehicle of a fleet: every parameter known, armed at `arm_s`."""

    vehicle: int  # position in the fleet
    vehicle_id: str
    kind: str
    arm_s: float
    params: Mapping[str, Any]
    seed: tuple[int, ...]  # of its own generator (spike times)

    @property
    def when(self) -> str:
        return str(self.params["when"])


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed `--faults` value; `plan` turns it into the faults of one fleet."""

    text: str
    explicit: tuple[FaultRequest, ...] = ()
    random: RandomRequest | None = None
    _vehicle_ids: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def named_vehicles(self) -> frozenset[str]:
        """The vehicles the explicit items name (a CLI run checks they are in its fleet)."""
        return self._vehicle_ids

    def plan(
        self,
        vehicle_indices: Sequence[int],
        seed: int,
        *,
        capacity_ah: float,
        run_s: float | None = None,
    ) -> list[PlannedFault]:
        """The faults of a fleet of `vehicle_indices` (veh-NNNNN numbers): explicit items for the
        vehicles in it, then the random draw; deterministic for (seed, vehicle)."""
        planned: list[PlannedFault] = []
        position = {vehicle_id_of(i): k for k, i in enumerate(vehicle_indices)}
        for item, request in enumerate(self.explicit):
            k = position.get(request.vehicle_id)
            if k is None:
                continue
            stream = (seed, vehicle_indices[k], FAULT_STREAM, item + 1)
            params = _resolve(request.kind, request.params, np.random.default_rng(stream), capacity_ah)
            planned.append(PlannedFault(k, request.vehicle_id, request.kind, request.arm_s, params, stream))
        if self.random is not None:
            planned.extend(self._draw(vehicle_indices, seed, capacity_ah, run_s))
        planned.sort(key=lambda f: (f.vehicle, f.arm_s))
        return planned

    def _draw(
        self, vehicle_indices: Sequence[int], seed: int, capacity_ah: float, run_s: float | None
    ) -> list[PlannedFault]:
        assert self.random is not None
        r = self.random
        to_s = r.to_s
        if to_s is None:
            to_s = max(r.from_s, run_s / 2.0) if run_s is not None else RANDOM_TO_S_UNKNOWN_RUN
        out: list[PlannedFault] = []
        for k, index in enumerate(vehicle_indices):
            stream = (seed, index, FAULT_STREAM, 0)
            rng = np.random.default_rng(stream)
            if not rng.random() < r.share:
                continue
            kind = r.kinds[int(rng.integers(0, len(r.kinds)))]
            arm_s = round(float(rng.uniform(r.from_s, to_s)) if to_s > r.from_s else r.from_s, 3)
            params = _resolve(kind, {}, rng, capacity_ah)
            out.append(PlannedFault(k, vehicle_id_of(index), kind, arm_s, params, stream))
        return out


def vehicle_id_of(index: int) -> str:
    return f"veh-{index:05d}"


def _resolve(
    kind: str, given: Mapping[str, Any], rng: np.random.Generator, capacity_ah: float
) -> dict[str, Any]:
    """Every parameter of `kind`: the given ones, the rest drawn in a fixed order."""
    return {
        name: given[name] if name in given else p.draw(rng, capacity_ah)
        for name, p in PARAMETERS[kind].items()
    }


# --- parsing ----------------------------------------------------------------------------------
def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses; refuse unbalanced parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FaultSpecError(f"unbalanced ')' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise FaultSpecError(f"unbalanced '(' in {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _split_name(head: str, item: str) -> tuple[str, dict[str, str]]:
    """`name(k=v,k=v)` -> (name, {k: v})."""
    name, _, rest = head.partition("(")
    name = name.strip()
    raw: dict[str, str] = {}
    if rest:
        if not rest.endswith(")"):
            raise FaultSpecError(f"{item!r}: parameters go in parentheses right after the name")
        body = rest[:-1].strip()
        for pair in body.split(",") if body else []:
            key, eq, value = pair.partition("=")
            key = key.strip()
            if not eq or not _NAME.fullmatch(key) or not value.strip():
                raise FaultSpecError(f"{item!r}: write parameters as name=value, not {pair.strip()!r}")
            if key in raw:
                raise FaultSpecError(f"{item!r}: parameter {key!r} given twice")
            raw[key] = value.strip()
    return name, raw


def _parse_fault(item: str) -> FaultRequest:
    head, at, where = item.rpartition("@")
    if not at:
        raise FaultSpecError(
            f"{item!r}: write KIND@veh-NNNNN+TIME (e.g. internal_short@veh-00003+120s) or random:5%"
        )
    kind, raw = _split_name(head, item)
    if kind not in PARAMETERS:
        raise FaultSpecError(f"{item!r}: unknown fault {kind!r}; choose one of: {', '.join(KINDS)}")
    vehicle, plus, time = where.partition("+")
    if not _VEHICLE.fullmatch(vehicle.strip()) or vehicle.strip() == "veh-00000":
        raise FaultSpecError(f"{item!r}: {vehicle.strip()!r} is not a vehicle id like veh-00003")
    if not plus:
        raise FaultSpecError(f"{item!r}: say when after the vehicle, e.g. {vehicle.strip()}+120s")
    arm_s = parse_seconds(time, f"{item!r}: time")
    allowed = PARAMETERS[kind]
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise FaultSpecError(f"{item!r}: {kind} has no parameter {key!r}; it takes: {', '.join(allowed)}")
        params[key] = allowed[key].parse(value, f"{item!r}: {key}")
    return FaultRequest(kind, vehicle.strip(), arm_s, params)


def _parse_random(item: str) -> RandomRequest:
    head, colon, share = item.partition(":")
    name, raw = _split_name(head, item)
    if name != "random" or not colon:
        raise FaultSpecError(f"{item!r}: write random:5% or random(kinds=a|b,from=1m,to=10m):5%")
    share = share.strip()
    try:
        percent = float(share[:-1]) if share.endswith("%") else math.nan
    except ValueError:
        percent = math.nan
    if not 0.0 < percent <= 100.0:
        raise FaultSpecError(f"{item!r}: the share must be a percentage within (0, 100], e.g. 5%")
    kinds: tuple[str, ...] = KINDS
    from_s, to_s = RANDOM_FROM_S, None
    for key, value in raw.items():
        if key == "kinds":
            kinds = tuple(k.strip() for k in value.split("|"))
            unknown = [k for k in kinds if k not in PARAMETERS]
            if unknown or not kinds:
                raise FaultSpecError(
                    f"{item!r}: unknown kind {unknown[0]!r}; choose from: {', '.join(KINDS)}"
                )
        elif key == "from":
            from_s = parse_seconds(value, f"{item!r}: from")
        elif key == "to":
            to_s = parse_seconds(value, f"{item!r}: to")
        else:
            raise FaultSpecError(f"{item!r}: random has no parameter {key!r}; it takes: kinds, from, to")
    if to_s is not None and to_s < from_s:
        raise FaultSpecError(f"{item!r}: 'to' must not be before 'from'")
    return RandomRequest(percent / 100.0, kinds, from_s, to_s)


def parse_fault_spec(text: str) -> FaultSpec:
    """Parse a `--faults` value; raise FaultSpecError (one line) naming what to fix."""
    if not text or not text.strip():
        raise FaultSpecError("the fault spec is empty; write e.g. internal_short@veh-00003+120s or random:5%")
    explicit: list[FaultRequest] = []
    random: RandomRequest | None = None
    for item in _split_top_level(text.strip()):
        if not item:
            raise FaultSpecError(f"empty item in {text!r}: remove the extra comma")
        if item.startswith("random"):
            if random is not None:
                raise FaultSpecError(f"{item!r}: only one random item is allowed")
            random = _parse_random(item)
        else:
            explicit.append(_parse_fault(item))
    return FaultSpec(
        text=text.strip(),
        explicit=tuple(explicit),
        random=random,
        _vehicle_ids=frozenset(r.vehicle_id for r in explicit),
    )
