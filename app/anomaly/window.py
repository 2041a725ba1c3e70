"""The per-vehicle window: a small reorder buffer, then a ring of 60 one-second buckets.

Records of one vehicle reach the live consumer roughly in order, but several SQS pollers can swap
them by a few seconds, and at-least-once delivery repeats some. The rules need samples (both CAN
frames of one 200 ms sample) in event-time order, exactly once, so each record goes through:

1. **Reorder buffer** (`push`): frames are merged by event time into a pending sample. A sample is
   released when it is complete (every signal the rules read is present) and contiguous with the
   last released one (no 200 ms slot missing in between), or when the vehicle's newest event time
   is `reorder_ms` past it. Released samples come out strictly in event-time order; a record at or
   before the last released time is a duplicate or too late and is refused (`push` returns None).
   So whatever the arrival order within `reorder_ms`, the released sequence is the same: the live
   consumer and the hourly job (sorted input) see identical samples.
2. **Ring** (`fold`): per second of event time, the statistics the rules use (min of
   cell_temp_max, min of the spread at rest, max of |current|, min and max of the pack voltage, the
   count of samples, and the sums a least-squares line of the spread against |current| needs). The window is the last `size` seconds up to the newest folded sample;
   buckets are reused in place (the bucket of second s is s % size), so memory is fixed and each
   sample costs O(1); the window minimum the rules test on every sample is kept up to date
   incrementally and recomputed (60 comparisons in C) once per second.

Memory, measured with tracemalloc (tests/unit/anomaly/test_window.py holds it under 8 kB, the
same after one minute as after five): about 6.8 kB per vehicle, nearly all of it the eleven
arrays of 60 doubles; the reorder buffer holds one sample in order and a few while frames are out
of order. With the rules' own state (app/anomaly/engine.py) a vehicle costs about 7.4 kB.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Mapping, Sequence
from typing import Final

#: The signals the rules read, in the column order of a sample (and of the simulator's SIGNALS).
SIGNALS: Final = (
    "battery_soc",
    "battery_voltage",
    "battery_current",
    "cell_voltage_min",
    "cell_voltage_max",
    "cell_temp_min",
    "cell_temp_max",
)
SOC, PACK_VOLTAGE, CURRENT, CELL_VOLTAGE_MIN, CELL_VOLTAGE_MAX, TEMP_MIN, TEMP_MAX = range(len(SIGNALS))
#: index of the bit mask of the signals present, after the readings
MASK: Final = len(SIGNALS)
COMPLETE: Final = (1 << len(SIGNALS)) - 1
_COLUMNS: Final[dict[str, tuple[int, int]]] = {name: (i, 1 << i) for i, name in enumerate(SIGNALS)}
_NAN: Final = math.nan
_INF: Final = math.inf

#: A sample: the seven readings (nan where a signal is absent) followed by the mask of those present.
Sample = list[float]
Released = Sequence[tuple[int, Sample]]
_NOTHING: Final[tuple[tuple[int, Sample], ...]] = ()

PayloadValue = float | int | bool


class VehicleWindow:
    """One vehicle's reorder buffer and ring of one-second buckets (see the module docstring)."""

    __slots__ = (
        "contiguous_ms",
        "count",
        "current_abs_max",
        "fit_n",
        "fit_x",
        "fit_xx",
        "fit_xy",
        "fit_y",
        "heap",
        "last_ms",
        "pending",
        "released_ms",
        "reorder_ms",
        "rest_current_a",
        "rest_spread_min",
        "second",
        "size",
        "temp_max_min",
        "voltage_max",
        "voltage_min",
        "watermark_ms",
        "win_rest_spread_min",
        "win_temp_max_min",
    )

    def __init__(
        self, *, size: int = 60, reorder_ms: int = 3000, period_ms: int = 200, rest_current_a: float = 10.0
    ) -> None:
        self.size = size
        self.reorder_ms = reorder_ms
        self.contiguous_ms = period_ms * 3 // 2
        self.rest_current_a = rest_current_a
        # reorder buffer
        self.pending: dict[int, Sample] = {}
        self.heap: list[int] = []
        self.released_ms = -(1 << 62)
        self.watermark_ms = -(1 << 62)
        # ring: per second, in place
        self.second = -(1 << 62)
        self.last_ms = -(1 << 62)
        self.temp_max_min = array("d", [_INF]) * size
        self.rest_spread_min = array("d", [_INF]) * size
        self.current_abs_max = array("d", [-_INF]) * size
        self.voltage_min = array("d", [_INF]) * size
        self.voltage_max = array("d", [-_INF]) * size
        self.count = array("l", [0]) * size
        # sums for the line spread = a + b |current| (x = |current| in A, y = spread in V)
        self.fit_n = array("d", [0.0]) * size
        self.fit_x = array("d", [0.0]) * size
        self.fit_y = array("d", [0.0]) * size
        self.fit_xx = array("d", [0.0]) * size
        self.fit_xy = array("d", [0.0]) * size
        self.win_temp_max_min = _INF
        self.win_rest_spread_min = _INF

    # --- reorder buffer ------------------------------------------------------------------------
    def push(self, event_ms: int, payload: Mapping[str, PayloadValue]) -> Released | None:
        """Take one record; return the samples it releases in event order, or None if it came at
        or before the last released time (a duplicate, or later than `reorder_ms`)."""
        if event_ms <= self.released_ms:
            return None
        pending = self.pending
        sample = pending.get(event_ms)
        mask = 0 if sample is None else int(sample[MASK])
        columns = _COLUMNS
        for name, value in payload.items():
            column = columns.get(name)
            if column is not None and value.__class__ is not bool:  # a bool is not a reading
                if sample is None:
                    sample = [_NAN, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, 0]
                    pending[event_ms] = sample
                    heapq.heappush(self.heap, event_ms)
                sample[column[0]] = value
                mask |= column[1]
        if event_ms > self.watermark_ms:  # noqa: PLR1730 (hot path: a compare, not a call to max)
            self.watermark_ms = event_ms
        if sample is None:  # a frame of other signals: time passed, nothing for the rules
            return self._release() if self.heap else _NOTHING
        sample[MASK] = mask
        return self._release()

    def _release(self) -> Released:
        heap = self.heap
        pending = self.pending
        out: list[tuple[int, Sample]] | None = None
        horizon = self.watermark_ms - self.reorder_ms
        while heap:
            t = heap[0]
            sample = pending[t]
            if not (
                t <= horizon or (sample[MASK] == COMPLETE and t - self.released_ms <= self.contiguous_ms)
            ):
                break
            heapq.heappop(heap)
            del pending[t]
            self.released_ms = t
            if out is None:
                out = [(t, sample)]
            else:
                out.append((t, sample))
        return _NOTHING if out is None else out

    def flush(self) -> Released:
        """Release every pending sample (the vehicle went quiet, or the input ended)."""
        if not self.heap:
            return _NOTHING
        out = []
        while self.heap:
            t = heapq.heappop(self.heap)
            out.append((t, self.pending.pop(t)))
        self.released_ms = t
        return out

    @property
    def pending_samples(self) -> int:
        return len(self.pending)

    # --- ring ----------------------------------------------------------------------------------
    def fold(self, t: int, sample: Sample) -> None:
        """Add one released sample to its second's bucket and to the cached window minima."""
        second = t // 1000
        if second != self.second:
            self.advance(second)
        i = second % self.size
        temp = sample[TEMP_MAX]
        if temp < self.temp_max_min[i]:
            self.temp_max_min[i] = temp
            if temp < self.win_temp_max_min:  # noqa: PLR1730
                self.win_temp_max_min = temp
        current = abs(sample[CURRENT])
        if current > self.current_abs_max[i]:  # noqa: PLR1730
            self.current_abs_max[i] = current
        volts = sample[PACK_VOLTAGE]
        if volts < self.voltage_min[i]:  # noqa: PLR1730
            self.voltage_min[i] = volts
        if volts > self.voltage_max[i]:  # noqa: PLR1730
            self.voltage_max[i] = volts
        spread = sample[CELL_VOLTAGE_MAX] - sample[CELL_VOLTAGE_MIN]
        if spread == spread and current == current:  # noqa: PLR0124 (both read: nan != nan, no call)
            self.fit_n[i] += 1.0
            self.fit_x[i] += current
            self.fit_y[i] += spread
            self.fit_xx[i] += current * current
            self.fit_xy[i] += current * spread
        if current <= self.rest_current_a and spread < self.rest_spread_min[i]:
            self.rest_spread_min[i] = spread
            if spread < self.win_rest_spread_min:  # noqa: PLR1730
                self.win_rest_spread_min = spread
        self.count[i] += 1
        self.last_ms = t

    def advance(self, second: int) -> None:
        """Move the window's end to `second`: empty the buckets of the seconds it enters (they held
        seconds that just left the window), then recompute the window minima."""
        size = self.size
        start = self.second + 1
        if second - start >= size or start > second:
            start = second - size + 1  # a gap of a window or more, or the first sample: all fresh
        for k in range(start, second + 1):
            i = k % size
            self.temp_max_min[i] = _INF
            self.rest_spread_min[i] = _INF
            self.current_abs_max[i] = -_INF
            self.voltage_min[i] = _INF
            self.voltage_max[i] = -_INF
            self.count[i] = 0
            self.fit_n[i] = 0.0
            self.fit_x[i] = 0.0
            self.fit_y[i] = 0.0
            self.fit_xx[i] = 0.0
            self.fit_xy[i] = 0.0
        self.second = second
        self.win_temp_max_min = min(self.temp_max_min)
        self.win_rest_spread_min = min(self.rest_spread_min)

    # --- queries (the stuck rule asks them rarely; tests ask them always) ----------------------
    def _last(self, seconds: int) -> list[int]:
        """Bucket indices of the last `seconds` seconds of the window, newest last."""
        seconds = min(seconds, self.size)
        return [k % self.size for k in range(self.second - seconds + 1, self.second + 1)]

    def max_abs_current(self, seconds: int) -> float:
        return max((self.current_abs_max[i] for i in self._last(seconds)), default=-_INF)

    def voltage_range(self, seconds: int) -> float:
        """max - min of the pack voltage over the last `seconds` (-inf if none was read)."""
        idx = self._last(seconds)
        high = max((self.voltage_max[i] for i in idx), default=-_INF)
        low = min((self.voltage_min[i] for i in idx), default=_INF)
        return high - low if high >= low else -_INF

    def spread_slope(self, min_samples: int, min_std_a: float) -> float:
        """Least-squares slope of the cell voltage spread against |current| over the window, in
        V/A (ohm), or -inf when there are fewer than `min_samples` or |current| varied by less
        than `min_std_a` (one standard deviation): then the slope says nothing."""
        n = sum(self.fit_n)
        if n < min_samples:
            return -_INF
        mean_x = sum(self.fit_x) / n
        var_x = sum(self.fit_xx) / n - mean_x * mean_x
        if var_x < min_std_a * min_std_a:
            return -_INF
        cov = sum(self.fit_xy) / n - mean_x * (sum(self.fit_y) / n)
        return cov / var_x

    def samples_in_window(self) -> int:
        return sum(self.count)

    def oldest_second(self) -> int | None:
        """The earliest second of the window holding a sample, or None if it is empty."""
        for k in range(self.second - self.size + 1, self.second + 1):
            if self.count[k % self.size]:
                return k
        return None
