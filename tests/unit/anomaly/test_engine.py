"""The engine: alerts only when an episode opens, episodes for the hourly output, the live clock,
and the same episodes whatever the arrival order, on simulated faulty vehicles."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from app.anomaly import Episode, RuleEngine, Thresholds, event_ms
from app.anomaly.rules import OVER_TEMPERATURE, SILENT, TEMPERATURE_RISE
from app.simulator import Fleet
from tests.unit.anomaly.conftest import PERIOD, T0, VEHICLE, feed, frames, samples

START = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)


def warm(*spans: tuple[int, int]) -> dict[str, Any]:
    """A pack at 54 degC that reaches 56 degC during the given spans of steps: over the 55 degC
    limit, but neither a 2 K rise nor a module-to-module spread."""

    def hot(k: int) -> bool:
        return any(a <= k < b for a, b in spans)

    return {
        "cell_temp_max": lambda k, _t: 56.0 if hot(k) else 54.0,
        "cell_temp_min": lambda k, _t: 55.0 if hot(k) else 53.0,
    }


class TestEpisodes:
    def test_one_alert_per_episode_and_its_extent_and_peak(self) -> None:
        # over 55 degC from step 50 to 99 (with a peak at 70), calm again for good after
        def temp(k: int, _t: int) -> float:
            return 70.0 if k == 60 else (56.0 if 50 <= k < 100 else 25.0)

        run = feed(samples(60, cell_temp_max=temp, cell_temp_min=55.0))
        over = [a for a in run.alerts if a.rule == OVER_TEMPERATURE]
        assert len(over) == 1 and over[0].at_ms == T0 + 50 * PERIOD and over[0].vehicle_id == VEHICLE
        (episode,) = [e for e in run.episodes if e.rule == OVER_TEMPERATURE]
        assert (episode.start_ms, episode.end_ms) == (T0 + 50 * PERIOD, T0 + 99 * PERIOD)
        assert episode.peak_value == 70.0 and episode.threshold == 55.0

    def test_a_condition_that_comes_back_within_clear_s_is_the_same_episode(self) -> None:
        run = feed(samples(40, **warm((10, 20), (60, 70))))  # 8 s apart
        assert [a.rule for a in run.alerts] == [OVER_TEMPERATURE]
        (episode,) = run.episodes
        assert (episode.start_ms, episode.end_ms) == (T0 + 10 * PERIOD, T0 + 69 * PERIOD)

    def test_after_clear_s_a_new_episode_opens_with_a_new_alert(self) -> None:
        run = feed(samples(40, **warm((10, 20), (100, 110))))  # 16 s apart
        assert [a.rule for a in run.alerts] == [OVER_TEMPERATURE, OVER_TEMPERATURE]
        assert len(run.episodes) == 2

    def test_episodes_drain_as_they_finish(self) -> None:
        engine = RuleEngine()
        for t, sample in samples(40, **warm((10, 20))):
            for record in frames(t, sample):
                engine.observe(*record)
        assert [e.rule for e in engine.episodes()] == [OVER_TEMPERATURE]  # closed by clear_s
        assert engine.episodes() == []
        assert engine.close() == []


class TestRecords:
    def test_other_signals_and_booleans_are_ignored(self) -> None:
        engine = RuleEngine()
        alerts = []
        for t, sample in samples(20):
            for vehicle, event, ingest, payload in frames(t, sample):
                extra = {**payload, "cabin_temp": 99.0, "charging": True, "cell_temp_max_raw": 400}
                alerts += engine.observe(vehicle, event, ingest, extra)
        alerts += engine.observe(
            VEHICLE, T0 + 20_000, T0 + 20_100, {"cell_temp_max": True, "odometer_km": 1e6}
        )
        assert alerts == [] and engine.close() == []

    def test_frames_of_other_signals_at_other_times_do_not_hold_samples_back(self) -> None:
        engine = RuleEngine()
        for t, sample in samples(10, **warm((20, 21))):
            alerts = []
            for record in frames(t, sample):
                alerts += engine.observe(*record)
            alerts += engine.observe(VEHICLE, t + 50, t + 200, {"odometer_km": 12345.6, "gear": 3})
            if t >= T0 + 20 * PERIOD + 3000:
                break
        # the first waited 3 s for stragglers, every later one left as its second frame came
        assert engine.stats.samples == 36
        assert engine.stats.late_or_duplicate == 0

    def test_duplicates_and_late_records_are_counted_not_evaluated_twice(self) -> None:
        engine = RuleEngine()
        stream = list(samples(10, **warm((10, 11))))
        records = [r for t, s in stream for r in frames(t, s)]
        alerts = [a for r in records + records for a in engine.observe(*r)]
        assert [a.rule for a in alerts] == [OVER_TEMPERATURE]
        assert engine.stats.records == 2 * len(records)
        # in order, each sample leaves as soon as it is whole (after the first, which waits 3 s for
        # stragglers): every copy comes after its sample left, and is refused
        assert engine.stats.samples == len(stream)
        assert engine.stats.late_or_duplicate == len(records)

    def test_event_ms_reads_contract_timestamps(self) -> None:
        assert event_ms("2025-06-14T08:00:00.000Z") == T0
        assert event_ms("2025-06-14T08:00:00.123Z") == T0 + 123
        assert event_ms("2025-06-14T10:00:00.5+02:00") == T0 + 500
        with pytest.raises(ValueError, match="offset"):
            event_ms("2025-06-14T08:00:00.123")


class TestLiveClock:
    def test_tick_finds_a_silent_vehicle_on_the_ingest_clock(self) -> None:
        engine = RuleEngine()
        for t, sample in samples(5):
            for record in frames(t, sample):
                engine.observe(*record)
        last_event, last_ingest = T0 + 4800, T0 + 4800 + 150
        assert engine.clock_ms == last_ingest
        assert engine.tick(last_ingest + 9_999) == []
        (alert,) = engine.tick(last_ingest + 10_000)
        assert (alert.rule, alert.at_ms) == (SILENT, last_event + 10_000)
        assert engine.tick(last_ingest + 20_000) == []  # reported once
        # the vehicle is back: the episode spans the gap, and no second alert
        back = T0 + 30_000
        alerts = []
        for t, sample in samples(5, start=back):
            for record in frames(t, sample):
                alerts += engine.observe(*record)
        assert alerts == []
        (episode,) = engine.close()
        assert (episode.rule, episode.start_ms, episode.end_ms) == (SILENT, last_event, back)

    def test_a_stalled_queue_is_not_silence_when_ticking_on_the_ingest_clock(self) -> None:
        engine = RuleEngine()
        for vehicle in ("veh-00001", "veh-00002"):
            for t, sample in samples(5):
                for _, e, i, p in frames(t, sample):
                    engine.observe(vehicle, e, i, p)
        assert engine.tick(engine.clock_ms) == []  # nothing arrived for anyone: the clock stands still

    def test_idle_vehicles_are_forgotten_and_their_episodes_closed(self) -> None:
        engine = RuleEngine(Thresholds(evict_after_s=60.0))
        for t, sample in samples(5, **warm((20, 25))):
            for record in frames(t, sample):
                engine.observe(*record)
        engine.tick(engine.clock_ms + 10_000)
        assert engine.stats.vehicles == 1
        engine.tick(engine.clock_ms + 60_000)
        assert engine.stats.vehicles == 0 and engine.stats.evicted == 1
        rules = sorted(e.rule for e in engine.episodes())
        assert rules == [OVER_TEMPERATURE, SILENT]

    def test_close_until_the_end_of_the_hour_reports_a_silence_that_ran_into_it(self) -> None:
        engine = RuleEngine()
        for t, sample in samples(5):
            for record in frames(t, sample):
                engine.observe(*record)
        (episode,) = engine.close(until_ms=T0 + 3_600_000)
        assert (episode.rule, episode.start_ms, episode.end_ms) == (SILENT, T0 + 4800, T0 + 3_600_000)


def simulated(spec: str, seconds: float) -> list[tuple[str, int, int, dict[str, float]]]:
    fleet = Fleet(6, seed=4, start=START, faults=spec, start_mode="drive")
    out = []
    for record in fleet.records(seconds):
        ms = event_ms(record["timestamp"])
        out.append((record["vehicle_id"], ms, ms + 100, record["payload"]))
    return out


def episodes_of(records: Iterable[tuple[str, int, int, dict[str, float]]]) -> list[Episode]:
    engine = RuleEngine()
    for record in records:
        engine.observe(*record)
    return sorted(engine.close(), key=lambda e: (e.vehicle_id, e.rule, e.start_ms))


def test_live_and_hourly_agree_whatever_the_arrival_order() -> None:
    """Hourly: distinct records sorted by (vehicle, time). Live: arrival order shuffled by up to
    2.5 s, a tenth of the records twice. The episodes are the same."""
    spec = (
        "internal_short@veh-00001+20s,sensor_spikes(signal=cell_temp_max,every=3s)@veh-00002+10s,"
        "dropout(for=15s)@veh-00003+30s,stuck_sensor(signal=cell_voltage_max,when=any)@veh-00004+25s"
    )
    records = simulated(spec, 90)
    hourly = episodes_of(sorted(records, key=lambda r: (r[0], r[1])))
    rng = random.Random(5)
    live = [r for r in records for _ in range(2 if rng.random() < 0.1 else 1)]
    live.sort(key=lambda r: r[1] + rng.uniform(0, 2500))
    assert episodes_of(live) == hourly
    assert {(e.vehicle_id, e.rule) for e in hourly} >= {
        ("veh-00001", "cell_voltage_spread"),
        ("veh-00002", "out_of_range"),
        ("veh-00003", "silent"),
        ("veh-00004", "stuck_signal"),
    }
    assert not any(e.vehicle_id in {"veh-00005", "veh-00006"} for e in hourly)


def test_rule_cost_is_measured_by_the_bench_not_asserted_here() -> None:
    # docs/anomalies.md: bench/rules_bench.py prints microseconds per record; tests never time things
    assert TEMPERATURE_RISE in RuleEngine().stats.alerts
