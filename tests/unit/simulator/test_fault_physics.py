"""Faults develop as the model says: shorted, aged and badly cooled packs, and a broken measurement
chain; and a fleet without faults is exactly what it was before faults existed."""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from app.simulator import Fleet
from app.simulator.can import CanCodec
from app.simulator.pack import CELLS_PER_MODULE
from app.simulator.usage import CHARGING, StartMode
from tests.unit.simulator.test_pack import hold, make_pack

T0 = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)
#: sha256 of these fleets' JSON Lines, made by the simulator before faults were added (78d7937)
GOLDEN = "c96d948ef5565758a9a994fab6eac7c063d265280d1aeb80d50c5cc51736d2b8"


def digest(fleets: list[Fleet], seconds: float) -> str:
    h = hashlib.sha256()
    for fleet in fleets:
        for record in fleet.records(seconds):
            h.update(orjson.dumps(record) + b"\n")
    return h.hexdigest()


class TestHealthyFleetsAreUnchanged:
    CONFIGS: tuple[tuple[StartMode, float], ...] = (
        ("mixed", 94.0),
        ("charge", 60.0),
        ("park", 120.0),
        ("drive", 94.0),
    )

    def test_without_a_spec_the_records_are_byte_identical_to_before(self) -> None:
        fleets = [Fleet(5, seed=7, start=T0, start_mode=m, capacity_ah=c) for m, c in self.CONFIGS]
        assert digest(fleets, 60) == GOLDEN

    def test_a_spec_for_vehicles_outside_the_fleet_changes_nothing(self) -> None:
        spec = "internal_short@veh-00099+1s,dropout@veh-00098+1s"
        fleets = [
            Fleet(5, seed=7, start=T0, start_mode=m, capacity_ah=c, faults=spec) for m, c in self.CONFIGS
        ]
        assert digest(fleets, 60) == GOLDEN

    def test_other_vehicles_are_untouched_and_the_faulty_one_until_its_onset(self) -> None:
        spec = (
            "internal_short(ohm=0.03)@veh-00002+10s,cooling_failure@veh-00003+5s,dropout(for=4s)@veh-00001+8s"
        )
        healthy = list(Fleet(4, seed=9, start=T0).records(30))
        faulty_fleet = Fleet(4, seed=9, start=T0, faults=spec)
        faulty = list(faulty_fleet.records(30))
        by = defaultdict(list)
        for name, records in (("healthy", healthy), ("faulty", faulty)):
            for r in records:
                by[(name, r["vehicle_id"])].append(r)
        assert by[("healthy", "veh-00004")] == by[("faulty", "veh-00004")]
        onset = {e.vehicle_id: e.onset for e in faulty_fleet.fault_events}
        short_before = [r for r in by[("healthy", "veh-00002")] if r["timestamp"] < onset["veh-00002"]]
        assert short_before == [r for r in by[("faulty", "veh-00002")] if r["timestamp"] < onset["veh-00002"]]
        assert by[("healthy", "veh-00002")] != by[("faulty", "veh-00002")]
        # the cooling scenario sets the vehicle's day (hot, low SOC) from its start: not a twin
        assert by[("healthy", "veh-00003")] != by[("faulty", "veh-00003")]


class TestInternalShort:
    def test_the_shorted_cell_drains_and_heats_its_module_and_no_other(self) -> None:
        pack, twin = (
            make_pack(vehicles=1, soc=0.7, ambient=25.0),
            make_pack(vehicles=1, soc=0.7, ambient=25.0),
        )
        ohm = 0.04
        pack.short_cell(0, 5, ohm)
        soc0, temp0 = pack.soc.copy(), pack.module_temp_c.copy()
        hold(pack, 0.0, 600)  # parked: no string current at all
        hold(twin, 0.0, 600)
        drained = soc0[0] - pack.soc[0]
        short_a = pack.shunt_current_a[0, 5]
        assert 85.0 < short_a < 100.0  # about 3.8 V / 40 mOhm
        assert drained[5] == pytest.approx(short_a * 600 / 3600 / pack.capacity_ah[0, 5], rel=0.05)
        assert np.all(np.abs(np.delete(drained, 5)) < 1e-12)  # its neighbours keep their charge
        assert pack.cell_voltage[0, 5] < np.delete(pack.cell_voltage[0], 5).min() - 0.1
        rise = pack.module_temp_c[0] - temp0[0]
        heat_j = short_a**2 * ohm * 600
        assert rise[0] == pytest.approx(heat_j / pack.heat_capacity_j_per_k, rel=0.25)  # V^2/R, minus leakage
        assert np.array_equal(pack.module_temp_c[0, 1:], twin.module_temp_c[0, 1:])  # the others as without

    def test_a_drained_cell_fades_instead_of_running_away_numerically(self) -> None:
        pack = make_pack(vehicles=1, soc=0.05, capacity_ah=60.0)
        pack.short_cell(0, 0, 0.02)
        hold(pack, 0.0, 3600, dt=5.0)
        assert pack.soc[0, 0] < 0.0  # over-discharged below the BMS window
        assert np.isfinite(pack.cell_voltage).all() and 0.0 <= pack.cell_voltage[0, 0] < 3.0
        assert pack.shunt_current_a[0, 0] < 3.0 / 0.02  # the collapsing voltage chokes the short


class TestAgedCell:
    def test_the_aged_cell_sags_more_under_load_and_not_at_rest(self) -> None:
        pack = make_pack(vehicles=1, soc=0.6)
        pack.scale_cell_resistance(0, 30, 3.0)
        hold(pack, 0.0, 5)
        at_rest = pack.cell_voltage[0].copy()
        assert at_rest.min() > at_rest.mean() - 0.01  # no current, no sign of it
        hold(pack, 150.0, 30)
        sag = at_rest - pack.cell_voltage[0]
        others = np.delete(sag, 30)
        assert sag[30] > 2.5 * others.mean()
        assert int(np.argmin(pack.cell_voltage[0])) == 30


class TestCoolingFailure:
    def test_the_failed_module_heats_while_its_neighbours_are_cooled(self) -> None:
        pack = make_pack(vehicles=1, soc=0.5, ambient=35.0)
        pack.fail_cooling(0, 3)
        hold(pack, -100.0, 900, active=True, dt=2.0)  # a fast charge on a hot day
        temps = pack.module_temp_c[0]
        assert temps[3] > np.delete(temps, 3).max() + 4.0
        assert np.delete(temps, 3).max() < 31.0  # the working plates hold the others near 30 degC

    def test_the_fleet_scenario_sends_the_car_to_a_fast_charger(self) -> None:
        fleet = Fleet(
            2, seed=5, start=T0, faults="cooling_failure(module=4)@veh-00002+5s", start_mode="drive"
        )
        fleet.step()
        assert fleet.pack.ambient_c[1] >= 33.0 and fleet.pack.pack_soc[1] < 0.31
        for _ in range(300):  # it brakes to a stop, then plugs in
            fleet.step()
        assert fleet.schedule.mode[1] == CHARGING and fleet.schedule.mode[0] != CHARGING
        assert fleet.pack.current_a[1] < -50.0
        (event,) = fleet.fault_events
        assert event.params["module"] == 4 and event.params["load"] == "dc"


class TestMeasurementChain:
    def test_a_stuck_reading_repeats_from_its_onset(self) -> None:
        fleet = Fleet(
            2,
            seed=2,
            start=T0,
            start_mode="drive",
            faults="stuck_sensor(signal=battery_current)@veh-00001+4s",
        )
        records = [r for r in fleet.records(20) if r["vehicle_id"] == "veh-00001" and r["can_id"] == "0x1F0"]
        onset = fleet.fault_events[0].onset
        before = [r["payload"]["battery_current"] for r in records if r["timestamp"] < onset]
        after = [r["payload"]["battery_current"] for r in records if r["timestamp"] >= onset]
        assert len(set(before)) > 1 and len(set(after)) == 1 and len(after) == 80
        assert [r["payload"]["battery_voltage"] for r in records if r["timestamp"] >= onset] != [
            after[0]
        ] * 80

    def test_spikes_read_what_a_broken_sensor_reads(self) -> None:
        fleet = Fleet(1, seed=2, start=T0, faults="sensor_spikes(signal=cell_temp_max,every=1s)@veh-00001+2s")
        temps = [
            (r["timestamp"], r["payload"]["cell_temp_max"])
            for r in fleet.records(30)
            if r["can_id"] == "0x1F1"
        ]
        onset = fleet.fault_events[0].onset
        spikes = [ts for ts, t in temps if t == 125.0]
        assert spikes[0] == onset and 10 < len(spikes) < 60  # about one a second
        assert all(t < 40.0 for ts, t in temps if ts < onset)

    def test_a_dropout_removes_frames_for_its_duration(self) -> None:
        fleet = Fleet(2, seed=2, start=T0, faults="dropout(for=3s)@veh-00002+2s")
        records = list(fleet.records(10))
        mine = sorted({r["timestamp"] for r in records if r["vehicle_id"] == "veh-00002"})
        others = [r for r in records if r["vehicle_id"] == "veh-00001"]
        assert len(others) == 2 * 50 and len(mine) == 50 - 15
        (event,) = fleet.fault_events
        gap = [(a, b) for a, b in itertools.pairwise(mine) if a < event.onset < b]
        assert gap and mine.index(gap[0][1]) == 10  # the first missing sample is the onset
        assert datetime.fromisoformat(gap[0][1]) - datetime.fromisoformat(event.onset) == timedelta(seconds=3)


class TestGroundTruth:
    def test_each_started_fault_is_recorded_once_with_its_onset_and_parameters(self) -> None:
        spec = "internal_short(cell=3,ohm=0.05)@veh-00001+1s,aged_cell@veh-00002+1s"
        fleet = Fleet(2, seed=1, start=T0, start_mode="park", faults=spec)
        list(fleet.records(5))
        (short,) = fleet.fault_events  # the aged cell waits for the parked car to roll
        assert short.to_json() == {
            "vehicle_id": "veh-00001",
            "fault": "internal_short",
            "onset": short.onset,
            "armed": short.onset,
            "params": {"cell": 3, "ohm": 0.05, "when": "any"},
        }
        assert short.onset.endswith("Z") and len(short.onset) == len("2025-06-14T08:00:01.072Z")
        assert short.onset[:19] == "2025-06-14T08:00:01"
        assert len(fleet.fault_plan) == 2
        assert fleet.new_fault_events() == [short] and fleet.new_fault_events() == []


def test_quantize_is_exactly_what_the_can_round_trip_carries() -> None:
    codec = CanCodec()
    rng = np.random.default_rng(1)
    lows = np.array([0.0, 250.0, -300.0, 2.5, 2.5, -40.0, -40.0])
    highs = np.array([100.0, 420.0, 400.0, 4.3, 4.3, 125.0, 125.0])
    samples = codec.clip(rng.uniform(lows, highs, size=(4000, 7)))
    quantized = codec.quantize(samples)
    for row, q in zip(samples.tolist(), quantized, strict=True):
        merged: dict[str, float] = {}
        for _, payload in codec.payloads(row):
            merged.update(payload)
        assert list(merged.values()) == [q[i] for i in (1, 2, 0, 3, 4, 5, 6)]
    assert CELLS_PER_MODULE == 12
