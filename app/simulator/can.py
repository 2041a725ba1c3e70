"""The CAN side: our DBC file, and every sample through cantools into frames and back.

A real vehicle's logger sees frames on the bus and decodes them with a DBC; our records are made
the same way, so `can_id` and `payload` carry the DBC's ids, resolutions and ranges and nothing
the bus could not have carried. `battery.dbc` beside this module is the single definition
(docs/simulator.md shows it as a table).

Speed matters here: each frame costs one `Message.encode` and one `Message.decode`. We look the
message objects up once, skip cantools' range check on encode (`strict=False`: values are clipped
to the DBC's ranges in one numpy call per tick instead) and skip choice decoding; that keeps a
round trip near 4 microseconds per frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import cantools
import numpy as np

from app.simulator.cell import FloatArray

DBC_RESOURCE: Final = "battery.dbc"
#: The seven signals of a sample, in the column order the fleet produces them.
SIGNALS: Final = (
    "battery_soc",
    "battery_voltage",
    "battery_current",
    "cell_voltage_min",
    "cell_voltage_max",
    "cell_temp_min",
    "cell_temp_max",
)
MAX_STANDARD_FRAME_ID: Final = 0x7FF


@cache
def load_database() -> Any:
    """The parsed DBC (a cantools Database), loaded once per process."""
    text = resources.files("app.simulator").joinpath(DBC_RESOURCE).read_text(encoding="utf-8")
    return cantools.database.load_string(text, database_format="dbc")


def dbc_path() -> str:
    """Where the DBC lives on disk, for people and tools that load it themselves."""
    return str(resources.files("app.simulator").joinpath(DBC_RESOURCE))


def format_can_id(frame_id: int, *, extended: bool = False) -> str:
    """Contract v1's canonical spelling: 3 hex digits for an 11-bit id, 8 for a 29-bit one."""
    if extended or frame_id > MAX_STANDARD_FRAME_ID:
        return f"0x{frame_id:08X}"
    return f"0x{frame_id:03X}"


def _decimals(scale: float) -> int:
    """Digits a logger prints for a resolution: 0.1 -> 1, 0.001 -> 3, 1 -> 0."""
    return max(0, -math.floor(math.log10(scale) + 1e-9))


@dataclass(frozen=True, slots=True)
class Frame:
    """One classic CAN frame as it appears on the bus."""

    frame_id: int
    data: bytes

    @property
    def can_id(self) -> str:
        return format_can_id(self.frame_id)


@dataclass(frozen=True, slots=True)
class _MessagePlan:
    """Everything needed to encode one message from a sample row, looked up once."""

    message: Any
    frame_id: int
    can_id: str
    names: tuple[str, ...]
    columns: tuple[int, ...]
    decimals: tuple[int, ...]


class CanCodec:
    """Encode a sample (the seven SIGNALS) into frames with cantools, and decode frames back."""

    def __init__(self, database: Any | None = None) -> None:
        db = database if database is not None else load_database()
        plans: list[_MessagePlan] = []
        lower = np.full(len(SIGNALS), -np.inf)
        upper = np.full(len(SIGNALS), np.inf)
        covered: set[str] = set()
        for message in sorted(db.messages, key=lambda m: m.frame_id):
            names = tuple(s.name for s in message.signals)
            unknown = set(names) - set(SIGNALS)
            if unknown:
                raise ValueError(f"{message.name}: signals not in the sample: {sorted(unknown)}")
            for signal in message.signals:
                col = SIGNALS.index(signal.name)
                lower[col] = signal.minimum if signal.minimum is not None else -np.inf
                upper[col] = signal.maximum if signal.maximum is not None else np.inf
            covered.update(names)
            plans.append(
                _MessagePlan(
                    message=message,
                    frame_id=message.frame_id,
                    can_id=format_can_id(message.frame_id, extended=message.is_extended_frame),
                    names=names,
                    columns=tuple(SIGNALS.index(n) for n in names),
                    decimals=tuple(_decimals(s.scale) for s in message.signals),
                )
            )
        missing = set(SIGNALS) - covered
        if missing:
            raise ValueError(f"the DBC carries no frame for: {sorted(missing)}")
        self._plans = tuple(plans)
        self._lower = lower
        self._upper = upper
        scale = np.ones(len(SIGNALS))
        offset = np.zeros(len(SIGNALS))
        digits = [0] * len(SIGNALS)
        for message in db.messages:
            for signal in message.signals:
                col = SIGNALS.index(signal.name)
                scale[col], offset[col] = signal.scale, signal.offset
                digits[col] = _decimals(signal.scale)
        self._scale = scale
        self._offset = offset
        self._digits = tuple(digits)
        self._by_id = {p.frame_id: p for p in plans}
        #: cycle time of each frame in ms, as the DBC declares it
        self.cycle_times_ms = {p.can_id: p.message.cycle_time for p in plans}

    @property
    def frames_per_sample(self) -> int:
        return len(self._plans)

    @property
    def can_ids(self) -> tuple[str, ...]:
        return tuple(p.can_id for p in self._plans)

    def clip(self, samples: FloatArray) -> FloatArray:
        """Hold every column of (n, 7) samples inside its signal's DBC range, as a BMS saturates."""
        clipped: FloatArray = np.minimum(np.maximum(samples, self._lower), self._upper)
        return clipped

    def quantize(self, samples: FloatArray) -> list[list[float]]:
        """What `payloads` would carry, for clipped (n, 7) samples, without building frames: the same
        rounding to raw counts (half to even, as cantools' `round`), the same scaling back and the
        same `round(value, digits)`, so the floats are identical (a test holds us to it). About ten
        times cheaper than the cantools round trip, for benchmarks that score physics, not bytes."""
        raw = np.rint((samples - self._offset) / self._scale)
        scaled = (raw * self._scale + self._offset).tolist()
        digits = self._digits
        return [[round(v, d) for v, d in zip(row, digits, strict=True)] for row in scaled]

    def encode(self, row: Sequence[float]) -> list[Frame]:
        """One sample (values in SIGNALS order, already within range) as the frames on the bus."""
        return [
            Frame(
                p.frame_id,
                p.message.encode(
                    {n: row[c] for n, c in zip(p.names, p.columns, strict=True)},
                    scaling=True,
                    padding=False,
                    strict=False,
                ),
            )
            for p in self._plans
        ]

    def decode(self, frame: Frame) -> dict[str, float]:
        """The payload a logger produces from one frame: physical values at the DBC's resolution."""
        plan = self._by_id[frame.frame_id]
        decoded = plan.message.decode(frame.data, decode_choices=False, scaling=True)
        return {n: round(decoded[n], d) for n, d in zip(plan.names, plan.decimals, strict=True)}

    def payloads(self, row: Sequence[float]) -> list[tuple[str, dict[str, float]]]:
        """encode + decode in one pass, as (can_id, payload) per frame: the fleet's hot path."""
        out = []
        for p in self._plans:
            data = p.message.encode(
                {n: row[c] for n, c in zip(p.names, p.columns, strict=True)},
                scaling=True,
                padding=False,
                strict=False,
            )
            decoded = p.message.decode(data, decode_choices=False, scaling=True)
            out.append(
                (p.can_id, {n: round(decoded[n], d) for n, d in zip(p.names, p.decimals, strict=True)})
            )
        return out
