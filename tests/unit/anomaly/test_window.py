"""The ring buffer: its window statistics equal a brute-force computation over the same records,
whatever the arrival order (within the reorder allowance) and however often records repeat."""

from __future__ import annotations

import math
import random
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.anomaly.rules import RuleSet
from app.anomaly.window import (
    CELL_VOLTAGE_MAX,
    CELL_VOLTAGE_MIN,
    COMPLETE,
    CURRENT,
    MASK,
    PACK_VOLTAGE,
    SIGNALS,
    TEMP_MAX,
    VehicleWindow,
)
from tests.unit.anomaly.conftest import FRAME_0, FRAME_1, T0, frames, samples

REORDER_MS = 3000
REST_A = 10.0

Reading = dict[str, float]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[tuple[int, Reading]], list[tuple[int, Reading]]]:
    """(the distinct samples in event order, the records as they arrive).

    Samples sit on a 200 ms grid, minutes long, with gaps (dropouts of up to two windows); some
    miss a signal. Each of their two frames arrives with a delay of 0..2.9 s (so after frames up to
    2.9 s newer) and may arrive 1-3 times. Hypothesis draws the shape, a seeded generator the values."""
    count = draw(st.integers(1, 600))
    gap_chance = draw(st.sampled_from((0.0, 0.01, 0.05)))
    missing_chance = draw(st.sampled_from((0.0, 0.05)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    t = T0 + rng.randrange(200)
    samples_: list[tuple[int, Reading]] = []
    for _ in range(count):
        t += 200 * (rng.randint(2, 600) if rng.random() < gap_chance else 1)
        reading: Reading = {
            "battery_soc": 50.0,
            "battery_voltage": rng.randint(3000, 4000) / 10,
            "battery_current": rng.randint(-1500, 1500) / 10,
            "cell_voltage_min": rng.randint(3500, 3700) / 1000,
            "cell_voltage_max": rng.randint(3700, 3900) / 1000,
            "cell_temp_min": 20.0,
            "cell_temp_max": rng.randint(200, 400) / 10,
        }
        if rng.random() < missing_chance:
            del reading[rng.choice(SIGNALS)]
        samples_.append((t, reading))
    arrivals: list[tuple[float, int, Reading]] = []
    for t, reading in samples_:
        for names in (FRAME_0, FRAME_1):
            frame = {k: reading[k] for k in names if k in reading}
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                arrivals.append((t + rng.uniform(0, REORDER_MS - 100), t, frame))
    arrivals.sort(key=lambda a: a[0])
    return samples_, [(t, frame) for _, t, frame in arrivals]


def brute_force(released: list[tuple[int, Reading]]) -> dict[str, Any]:
    """The statistics of the window ending at the last sample's second, from the samples alone."""
    last_second = released[-1][0] // 1000
    inside = [(t, r) for t, r in released if t // 1000 > last_second - 60]

    def values(name: str) -> list[float]:
        return [r[name] for _, r in inside if name in r]

    currents = [abs(r["battery_current"]) for _, r in inside if "battery_current" in r]
    volts = values("battery_voltage")
    rest = [
        r["cell_voltage_max"] - r["cell_voltage_min"]
        for _, r in inside
        if {"battery_current", "cell_voltage_min", "cell_voltage_max"} <= r.keys()
        and abs(r["battery_current"]) <= REST_A
    ]
    pairs = [
        (abs(r["battery_current"]), r["cell_voltage_max"] - r["cell_voltage_min"])
        for _, r in inside
        if {"battery_current", "cell_voltage_min", "cell_voltage_max"} <= r.keys()
    ]
    return {
        "temp_max_min": min(values("cell_temp_max"), default=math.inf),
        "rest_spread_min": min(rest, default=math.inf),
        "max_abs_current": max(currents, default=-math.inf),
        "voltage_range": (max(volts) - min(volts)) if volts else -math.inf,
        "count": len(inside),
        "oldest_second": min(t // 1000 for t, _ in inside),
        "pairs": pairs,
    }


def slope(pairs: list[tuple[float, float]]) -> float:
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    var = sum((x - mx) ** 2 for x, _ in pairs) / n
    return sum((x - mx) * (y - my) for x, y in pairs) / n / var


@settings(max_examples=60, deadline=None)
@given(streams())
def test_window_statistics_equal_brute_force(
    data: tuple[list[tuple[int, Reading]], list[tuple[int, Reading]]],
) -> None:
    truth, arrivals = data
    window = VehicleWindow(size=60, reorder_ms=REORDER_MS, period_ms=200, rest_current_a=REST_A)
    released: list[tuple[int, list[float]]] = []
    refused = 0

    def take(batch: Any) -> None:
        for t, sample in batch:
            window.fold(t, sample)
            released.append((t, sample))
            check(window, [(tt, r) for tt, r in truth if t - 61_000 <= tt <= t])

    for t, frame in arrivals:
        batch = window.push(t, frame)
        if batch is None:
            refused += 1
        else:
            take(batch)
    take(window.flush())

    # every distinct sample once, in event order, with its frames merged; copies refused
    assert [t for t, _ in released] == [t for t, _ in truth]
    for (_, sample), (_, reading) in zip(released, truth, strict=True):
        for i, name in enumerate(SIGNALS):
            assert sample[i] == reading[name] if name in reading else math.isnan(sample[i])
        assert (sample[MASK] == COMPLETE) == (len(reading) == len(SIGNALS))
    # a copy is merged while its sample waits, refused once it has left: never more than the copies
    assert refused <= len(arrivals) - len({(t, tuple(f)) for t, f in arrivals})


def check(window: VehicleWindow, released: list[tuple[int, Reading]]) -> None:
    expected = brute_force(released)
    assert window.win_temp_max_min == expected["temp_max_min"]
    assert window.win_rest_spread_min == expected["rest_spread_min"]
    assert window.max_abs_current(60) == expected["max_abs_current"]
    assert window.voltage_range(60) == pytest.approx(expected["voltage_range"])
    assert window.samples_in_window() == expected["count"]
    assert window.oldest_second() == expected["oldest_second"]
    pairs = expected["pairs"]
    spread_of_x = {x for x, _ in pairs}
    if len(pairs) >= 2 and len(spread_of_x) > 1:
        got = window.spread_slope(min_samples=1, min_std_a=0.0)
        assert got == pytest.approx(slope(pairs), rel=1e-6, abs=1e-9)


def test_a_late_record_is_refused_and_later_ones_still_count() -> None:
    window = VehicleWindow(reorder_ms=3000)
    stream = list(samples(10))
    for t, sample in stream:
        for _, event_ms, _, payload in frames(t, sample):
            window.push(event_ms, payload)
    late_t, _ = stream[0]
    assert window.push(late_t, {"cell_temp_max": 99.0}) is None  # long released: a copy, or too late
    newest = stream[-1][0]
    assert window.watermark_ms == newest


def test_an_idle_gap_of_more_than_a_window_empties_it() -> None:
    window = VehicleWindow()
    window.fold(T0, [50.0, 360.0, 5.0, 3.8, 3.81, 20.0, 30.0, COMPLETE])
    window.fold(T0 + 3_600_000, [50.0, 361.0, 6.0, 3.8, 3.81, 20.0, 25.0, COMPLETE])
    assert window.samples_in_window() == 1 and window.win_temp_max_min == 25.0
    assert window.oldest_second() == (T0 + 3_600_000) // 1000


def test_memory_per_vehicle_is_fixed_and_small() -> None:
    """A minute or an hour of samples: the same memory. The figure is in the module docstring."""
    rules = RuleSet()

    def filled(seconds: float) -> float:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        windows = [rules.new_window() for _ in range(50)]
        for w in windows:
            for t, sample in samples(seconds):
                for _, event_ms, _, payload in frames(t, sample):
                    for tt, ss in w.push(event_ms, payload) or ():
                        w.fold(tt, ss)
        per_vehicle = (tracemalloc.get_traced_memory()[0] - before) / len(windows)
        tracemalloc.stop()
        return per_vehicle

    one_minute, five_minutes = filled(60), filled(300)
    assert one_minute < 8_000
    assert five_minutes == pytest.approx(one_minute, rel=0.05)


def test_samples_leave_in_order_as_soon_as_they_are_complete_and_contiguous() -> None:
    window = VehicleWindow(reorder_ms=3000)
    stream = list(samples(2))
    first = [frames(t, s) for t, s in stream]
    assert window.push(first[0][0][1], first[0][0][3]) == ()  # half a sample
    assert window.push(first[0][1][1], first[0][1][3]) == ()  # whole, but nothing before it is known
    assert window.push(first[1][0][1], first[1][0][3]) == ()
    assert window.push(first[1][1][1], first[1][1][3]) == ()
    # 3 s of event time later the first is released, and the contiguous ones right behind it
    late = T0 + 3200
    released = window.push(late, {"battery_soc": 50.0})
    assert released is not None and [t for t, _ in released] == [t for t, _ in stream[: len(released)]]
    assert released[0][1][TEMP_MAX] == 25.0 and released[0][1][CURRENT] == -0.1
    assert released[0][1][PACK_VOLTAGE] == 369.9
    assert released[0][1][CELL_VOLTAGE_MIN] < released[0][1][CELL_VOLTAGE_MAX]
