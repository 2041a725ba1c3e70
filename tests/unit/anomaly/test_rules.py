"""Each rule at its threshold: one resolution step under it is nothing, one step over it alerts."""

from __future__ import annotations

from typing import Any

import pytest

from app.anomaly import RULES, Thresholds
from app.anomaly.rules import (
    CELL_VOLTAGE_SPREAD,
    OUT_OF_RANGE,
    OVER_TEMPERATURE,
    RESISTANCE_SPREAD,
    SILENT,
    SPREAD_GROWING,
    STUCK_SIGNAL,
    TEMPERATURE_RISE,
    TEMPERATURE_SPREAD,
)
from tests.unit.anomaly.conftest import CALM, PERIOD, T0, feed, samples

TH = Thresholds()


def test_a_calm_pack_raises_nothing() -> None:
    run = feed(samples(300))
    assert run.alerts == [] and run.episodes == []


def test_every_rule_has_a_name_and_the_defaults_are_consistent() -> None:
    assert len(set(RULES)) == len(RULES) == 9
    with pytest.raises(ValueError, match="stuck_s"):
        Thresholds(stuck_s=120.0)
    with pytest.raises(ValueError, match="evict_after_s"):
        Thresholds(evict_after_s=5.0)
    with pytest.raises(ValueError, match="cell_voltage_range_v"):
        Thresholds(cell_voltage_range_v=(4.0, 3.0))


class TestPerSample:
    @pytest.mark.parametrize(("temp", "fires"), [(55.0, False), (55.1, True)])
    def test_over_temperature(self, temp: float, fires: bool) -> None:
        run = feed(samples(5, cell_temp_max=lambda k, _t: temp if k == 10 else 25.0, cell_temp_min=24.0))
        assert (OVER_TEMPERATURE in run.rules()) is fires
        if fires:
            alert = next(a for a in run.alerts if a.rule == OVER_TEMPERATURE)
            assert alert.at_ms == T0 + 10 * PERIOD and alert.value == 55.1 and alert.threshold == 55.0

    @pytest.mark.parametrize(("hottest", "fires"), [(35.0, False), (35.1, True)])
    def test_temperature_spread(self, hottest: float, fires: bool) -> None:
        # a step of 5 K also passes the rise rule's 2 K: give the hot module a minute to get there
        ramp = lambda k, _t: min(hottest, 30.0 + k * 0.01)  # noqa: E731
        run = feed(samples(120, cell_temp_min=30.0, cell_temp_max=ramp))
        assert [r for r in run.rules() if r != TEMPERATURE_RISE] == ([TEMPERATURE_SPREAD] if fires else [])

    @pytest.mark.parametrize(
        ("current", "spread_mv", "fires"),
        [(0.0, 79, False), (0.0, 81, True), (100.0, 129, False), (100.0, 131, True), (-100.0, 131, True)],
    )
    def test_cell_voltage_spread_allows_more_under_load(
        self, current: float, spread_mv: int, fires: bool
    ) -> None:
        # the current is steady for a minute first, so the rest and fit rules stay out of it
        def cell_min(k: int, _t: int) -> float:
            return (
                round(3.850 - (spread_mv - 12) / 1000, 3) if k == 400 else round(3.850 + 0.001 * (k % 2), 3)
            )

        def amps(k: int, _t: int) -> float:
            return current + 0.1 * ((k % 3) - 1)  # noise: a steady current sensor still moves

        run = feed(samples(90, battery_current=amps, cell_voltage_min=cell_min))  # max 3.862 at k=400
        assert (CELL_VOLTAGE_SPREAD in run.rules()) is fires
        assert set(run.rules()) <= {CELL_VOLTAGE_SPREAD, SPREAD_GROWING}

    @pytest.mark.parametrize(
        ("signal", "inside", "outside", "limit"),
        [
            ("cell_voltage_max", 4.25, 4.251, 4.25),
            ("cell_voltage_min", 2.5, 2.499, 2.5),
            ("cell_temp_max", 100.0, 100.1, 100.0),
            ("cell_temp_min", -40.0, -40.1, -40.0),
            ("battery_soc", 100.0, 100.01, 100.0),
            ("battery_soc", 0.0, -0.01, 0.0),
            ("battery_current", 500.0, 500.1, 500.0),
            ("battery_current", -500.0, -500.1, -500.0),
            ("battery_voltage", 408.0, 408.1, 408.0),
            ("battery_voltage", 240.0, 239.9, 240.0),
        ],
    )
    def test_out_of_range(self, signal: str, inside: float, outside: float, limit: float) -> None:
        for value, fires in ((inside, False), (outside, True)):
            calm = CALM[signal]
            override: dict[str, Any] = {signal: lambda k, _t, v=value, c=calm: v if k == 10 else c}
            run = feed(samples(5, **override))
            oor = [a for a in run.alerts if a.rule == OUT_OF_RANGE]
            assert bool(oor) is fires, (signal, value)
            if fires:
                assert oor[0].signal == signal and oor[0].value == value and oor[0].threshold == limit

    def test_an_out_of_range_reading_is_reported_once_and_kept_out_of_the_other_rules(self) -> None:
        # a shorted NTC reads 125 degC: not also an over-temperature, a spread or a rise
        run = feed(samples(5, cell_temp_max=lambda k, _t: 125.0 if k == 10 else 25.0))
        assert run.rules() == [OUT_OF_RANGE]
        (episode,) = run.episodes
        assert (episode.rule, episode.signal, episode.peak_value) == (OUT_OF_RANGE, "cell_temp_max", 125.0)


class TestWindowed:
    @pytest.mark.parametrize(("peak", "fires"), [(32.0, False), (32.1, True)])
    def test_temperature_rise_within_the_window(self, peak: float, fires: bool) -> None:
        # 30.0 degC, then a rise to `peak` over 50 s: within the 60 s window
        run = feed(samples(120, cell_temp_min=29.0, cell_temp_max=lambda k, _t: min(peak, 30.0 + 0.01 * k)))
        assert run.rules() == ([TEMPERATURE_RISE] if fires else [])

    def test_a_slow_rise_is_not_a_temperature_rise(self) -> None:
        # 2.1 K over 100 s: never more than 2 K within 60 s
        run = feed(samples(150, cell_temp_min=29.0, cell_temp_max=lambda k, _t: min(32.1, 30.0 + 0.0042 * k)))
        assert run.alerts == []

    @pytest.mark.parametrize(("spread_mv", "fires"), [(41, False), (43, True)])
    def test_spread_growing_at_rest(self, spread_mv: int, fires: bool) -> None:
        # 12 mV at rest, then the lowest cell drops: growth 29 mV (nothing) or 31 mV (alert)
        def cell_min(k: int, _t: int) -> float:
            return round(3.862 - spread_mv / 1000, 3) if k >= 150 else 3.850

        run = feed(samples(60, cell_voltage_min=cell_min, cell_voltage_max=3.862))
        assert run.rules() == ([SPREAD_GROWING] if fires else [])

    def test_spread_growing_ignores_samples_under_load(self) -> None:
        # the same drop while 50 A flow is the load's doing, not growth at rest
        def cell_min(k: int, _t: int) -> float:
            return 3.819 if k >= 150 else 3.850

        run = feed(
            samples(60, battery_current=lambda k, _t: 50.0 if k >= 150 else 0.0, cell_voltage_min=cell_min)
        )
        assert SPREAD_GROWING not in run.rules()

    @pytest.mark.parametrize(("slope_ohm", "fires"), [(0.0009, False), (0.0011, True)])
    def test_resistance_spread(self, slope_ohm: float, fires: bool) -> None:
        # |current| sweeps 0..40 A every 8 s; the spread follows it with the given slope
        def current(k: int, _t: int) -> float:
            return float(k % 40)

        def cell_min(k: int, _t: int) -> float:
            return 3.850 - slope_ohm * current(k, 0)

        run = feed(samples(90, battery_current=current, cell_voltage_min=cell_min))
        assert run.rules() == ([RESISTANCE_SPREAD] if fires else [])

    @pytest.mark.parametrize(("held_s", "fires"), [(14.6, False), (15.2, True)])
    def test_stuck_signal_while_current_flows(self, held_s: float, fires: bool) -> None:
        frozen = round(held_s * 1000 / PERIOD)

        def volts(k: int, _t: int) -> float:
            return 365.0 if 50 <= k < 50 + frozen else 365.0 + 0.1 * ((k % 3) - 1)

        run = feed(samples(40, battery_current=lambda k, _t: 40.0 + (k % 3), battery_voltage=volts))
        assert run.rules() == ([STUCK_SIGNAL] if fires else [])
        if fires:
            assert run.alerts[0].signal == "battery_voltage" and run.alerts[0].value >= 15.0

    def test_a_reading_that_holds_while_no_current_flows_is_not_stuck(self) -> None:
        run = feed(samples(40, battery_current=0.0, battery_voltage=365.0))
        assert run.alerts == []

    def test_a_stuck_current_sensor_is_seen_by_the_pack_voltage_moving(self) -> None:
        def volts(k: int, _t: int) -> float:
            return 360.0 + 3.0 * ((k // 10) % 2)  # the load changes; the current sensor says 0.0

        run = feed(samples(30, battery_current=0.0, battery_voltage=volts))
        assert run.rules() == [STUCK_SIGNAL] and run.alerts[0].signal == "battery_current"

    @pytest.mark.parametrize(("gap_s", "fires"), [(10.0, False), (10.2, True)])
    def test_silent_from_a_gap_between_samples(self, gap_s: float, fires: bool) -> None:
        gap = round(gap_s * 1000)
        stream = [*samples(5), *samples(5, start=T0 + 4800 + gap)]
        run = feed(stream)
        assert run.rules() == ([SILENT] if fires else [])
        if fires:
            assert run.alerts[0].at_ms == T0 + 4800 + 10_000
            (episode,) = run.episodes
            assert (episode.start_ms, episode.end_ms) == (T0 + 4800, T0 + 4800 + gap)
            assert episode.peak_value == pytest.approx(gap_s)


def test_thresholds_are_what_the_rules_use() -> None:
    strict = Thresholds(over_temperature_c=30.0)
    run = feed(samples(5, cell_temp_max=31.0, cell_temp_min=30.0), strict)
    assert run.rules() == [OVER_TEMPERATURE]
    assert run.alerts[0].threshold == 30.0
