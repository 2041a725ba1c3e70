"""The fleet as the pipeline sees it: contract-v1 records, checked for physics and determinism."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from app.contract import TelemetryIn, ValidationWindow, validation_context
from app.simulator import SAMPLE_PERIOD_S, Fleet, ticks_for
from app.simulator.cell import CELL_VOLTAGE_ABS_MAX, CELL_VOLTAGE_ABS_MIN
from app.simulator.pack import CELLS_IN_SERIES
from app.simulator.usage import CHARGING, DRIVING, PARKED
from tests.unit.simulator.test_can import load_dbc_file

T0 = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)

Samples = dict[str, list[dict[str, Any]]]  # vehicle id -> merged payload per step


def merge(records: list[dict[str, Any]]) -> Samples:
    """Both frames of a step joined into one sample per vehicle and step, in order."""
    by_vehicle: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        by_vehicle[r["vehicle_id"]].setdefault(r["timestamp"], {}).update(r["payload"])
    return {vid: list(steps.values()) for vid, steps in by_vehicle.items()}


def run(fleet: Fleet, seconds: float) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """All records, plus the true cell voltages after every step."""
    records: list[dict[str, Any]] = []
    cells: list[np.ndarray] = []
    for tick in fleet.ticks(seconds):
        records.extend(tick)
        cells.append(fleet.pack.cell_voltage.copy())
    return records, cells


RUN_S = 600.0


@pytest.fixture(scope="module")
def mixed() -> tuple[Fleet, list[dict[str, Any]], list[np.ndarray], dict[int, list[str]]]:
    """Ten minutes of a mixed fleet (one run shared by the module to keep the tests fast).

    Seed 3 starts five vehicles on a trip (every first trip lasts 15 minutes or more), one on a DC
    charger and two parked; the returned map says which vehicle started doing what.
    """
    fleet = Fleet(8, seed=3, start=datetime.now(UTC) - timedelta(seconds=RUN_S))
    modes = {
        m: [v for v, vm in zip(fleet.vehicle_ids, fleet.schedule.mode.tolist(), strict=True) if vm == m]
        for m in (PARKED, DRIVING, CHARGING)
    }
    assert len(modes[DRIVING]) >= 4 and len(modes[CHARGING]) >= 1
    records, cells = run(fleet, RUN_S)
    return fleet, records, cells, modes


@pytest.fixture(scope="module")
def driving(mixed: Any) -> tuple[Fleet, Samples]:
    fleet, records, _, modes = mixed
    merged = merge(records)
    return fleet, {vid: merged[vid] for vid in modes[DRIVING]}


@pytest.fixture(scope="module")
def charging(mixed: Any) -> tuple[Fleet, Samples]:
    fleet, records, _, modes = mixed
    merged = merge(records)
    return fleet, {vid: merged[vid] for vid in modes[CHARGING]}


class TestRecords:
    def test_every_record_validates_against_contract_v1(self, mixed: Any) -> None:
        fleet, records, _, _ = mixed
        window = ValidationWindow.around(datetime.now(UTC), max_age_seconds=3600)
        assert len(records) == fleet.vehicles * ticks_for(RUN_S) * 2
        for record in records:
            parsed = TelemetryIn.model_validate(record, context=validation_context(window))
            assert parsed.can_id == record["can_id"]  # already in canonical form
            assert parsed.model_dump(mode="json")["timestamp"] == record["timestamp"]
            assert set(record) == {"timestamp", "vehicle_id", "can_id", "payload"}

    def test_every_frame_round_trips_through_the_dbc(self, mixed: Any) -> None:
        _, records, _, _ = mixed
        db = load_dbc_file()
        for record in records:
            message = db.get_message_by_frame_id(int(record["can_id"], 16))
            frame = message.encode(record["payload"], strict=True)  # strict: ranges are checked too
            assert len(frame) == 8
            decoded = message.decode(frame, decode_choices=False)
            assert isinstance(decoded, dict)
            numbers = {k: round(v, 3) for k, v in decoded.items() if isinstance(v, int | float)}
            assert numbers == record["payload"]

    def test_ids_clock_and_phase(self, mixed: Any) -> None:
        fleet, records, _, _ = mixed
        assert fleet.vehicle_ids == [f"veh-{i:05d}" for i in range(1, 9)]
        stamps: dict[str, list[datetime]] = defaultdict(list)
        for r in records[::2]:  # the 0x1F0 frame of every sample
            stamps[r["vehicle_id"]].append(datetime.fromisoformat(r["timestamp"]))
        phases = set()
        for series in stamps.values():
            gaps = {b - a for a, b in itertools.pairwise(series)}
            assert gaps == {timedelta(milliseconds=200)}
            phases.add(series[0].microsecond)
            assert series[-1] < datetime.now(UTC)  # a run over the past stays in the past
        assert len(phases) > 1  # vehicles are not sampled in lockstep

    def test_first_index_offsets_the_ids(self) -> None:
        fleet = Fleet(2, seed=1, first_index=41, start=T0)
        assert [r["vehicle_id"] for r in fleet.step()] == ["veh-00041"] * 2 + ["veh-00042"] * 2


class TestPhysicsInRecords:
    def test_cell_voltages_stay_within_the_chemistry_and_min_never_exceeds_max(self, mixed: Any) -> None:
        _, records, _, _ = mixed
        for sample in (s for series in merge(records).values() for s in series):
            assert CELL_VOLTAGE_ABS_MIN <= sample["cell_voltage_min"] <= sample["cell_voltage_max"]
            assert sample["cell_voltage_max"] <= CELL_VOLTAGE_ABS_MAX
            assert sample["cell_temp_min"] <= sample["cell_temp_max"]
            assert 0.0 <= sample["battery_soc"] <= 100.0

    def test_pack_voltage_equals_the_sum_of_its_cells(self, mixed: Any) -> None:
        fleet, records, cells, _ = mixed
        merged = merge(records)
        for v, vid in enumerate(fleet.vehicle_ids):
            for sample, true_cells in zip(merged[vid], cells, strict=True):
                cell_sum = float(true_cells[v].sum())
                assert sample["battery_voltage"] == pytest.approx(cell_sum, rel=0.005)
                lo, hi = sample["cell_voltage_min"], sample["cell_voltage_max"]
                assert (
                    CELLS_IN_SERIES * lo * 0.995 <= sample["battery_voltage"] <= CELLS_IN_SERIES * hi * 1.005
                )

    def test_soc_falls_while_driving_at_the_rate_the_current_implies(self, driving: Any) -> None:
        fleet, merged = driving
        for vid, series in merged.items():
            v = fleet.vehicle_ids.index(vid)
            measured = series[-1]["battery_soc"] - series[0]["battery_soc"]
            amp_hours = sum(s["battery_current"] for s in series[1:]) * SAMPLE_PERIOD_S / 3600
            implied = -100.0 * amp_hours / fleet.pack.pack_capacity_ah[v]
            assert measured < -1.0  # ten minutes of driving cost a few percent
            assert measured == pytest.approx(implied, rel=0.01)
            assert min(s["battery_current"] for s in series) < -20.0  # regenerative braking happened

    def test_soc_rises_while_charging_at_the_rate_the_current_implies(self, charging: Any) -> None:
        fleet, merged = charging
        for vid, series in merged.items():
            v = fleet.vehicle_ids.index(vid)
            measured = series[-1]["battery_soc"] - series[0]["battery_soc"]
            amp_hours = sum(s["battery_current"] for s in series[1:]) * SAMPLE_PERIOD_S / 3600
            implied = -100.0 * amp_hours / fleet.pack.pack_capacity_ah[v]
            assert measured > 2.0
            assert measured == pytest.approx(implied, rel=0.01)
            assert all(s["battery_current"] < 0 for s in series[:100])  # the plug charges

    def test_the_harder_a_pack_is_driven_the_more_it_warms(self, driving: Any) -> None:
        _, merged = driving
        heat, rise = [], []
        for series in merged.values():
            heat.append(sum(s["battery_current"] ** 2 for s in series))  # I^2 R heating, R alike
            mean_temp = [(s["cell_temp_min"] + s["cell_temp_max"]) / 2 for s in series]
            rise.append(mean_temp[-1] - mean_temp[0])
            assert rise[-1] > -0.3  # driving never cools a pack that starts near ambient
        hardest, gentlest = int(np.argmax(heat)), int(np.argmin(heat))
        assert heat[hardest] > 4 * heat[gentlest]
        assert rise[hardest] > rise[gentlest] + 0.5

    def test_cell_spread_opens_under_load(self, driving: Any) -> None:
        _, merged = driving
        for series in merged.values():
            spreads = [s["cell_voltage_max"] - s["cell_voltage_min"] for s in series]
            assert min(spreads) > 0.003 and max(spreads) < 0.15  # mV at rest, tens of mV under load
            assert max(spreads) > 2 * min(spreads)

    def test_usage_is_realistic_for_an_i3(self, driving: Any) -> None:
        fleet, merged = driving
        for series in merged.values():
            energy_kwh = (
                sum(s["battery_voltage"] * s["battery_current"] for s in series) * SAMPLE_PERIOD_S / 3.6e6
            )
            assert 0.5 < energy_kwh < 6.0  # 10 minutes of 10-35 kW average
            currents = [s["battery_current"] for s in series]
            assert (
                max(currents) < fleet.pack.cell.max_discharge_a
                and min(currents) > -fleet.pack.cell.max_charge_a
            )


class TestDeterminism:
    def test_same_seed_same_records_other_seed_other_records(self) -> None:
        a = list(Fleet(3, seed=7, start=T0).records(20))
        b = list(Fleet(3, seed=7, start=T0).records(20))
        c = list(Fleet(3, seed=8, start=T0).records(20))
        assert a == b
        assert [r["payload"] for r in a] != [r["payload"] for r in c]

    def test_a_vehicle_is_the_same_car_alone_or_in_a_fleet(self) -> None:
        fleet = [r for r in Fleet(3, seed=7, start=T0).records(20) if r["vehicle_id"] == "veh-00002"]
        alone = list(Fleet(1, seed=7, first_index=2, start=T0).records(20))
        assert fleet == alone

    def test_realtime_paces_each_step_to_its_200_ms_deadline(self) -> None:
        now = [100.0]
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds

        fleet = Fleet(1, seed=1, wall_clock=True)
        steps = list(fleet.ticks(1.0, realtime=True, clock=lambda: now[0], sleep=sleep))
        assert len(steps) == 5
        assert slept == pytest.approx([0.2] * 4)
        stamp = datetime.fromisoformat(steps[-1][0]["timestamp"])
        assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=1)  # the wall clock, not T0

    def test_nonsense_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one vehicle"):
            Fleet(0, seed=1)
        with pytest.raises(ValueError, match="seed must be >= 0"):
            Fleet(1, seed=-1)
        with pytest.raises(ValueError, match="capacity_ah"):
            Fleet(1, seed=1, capacity_ah=1.0)
        with pytest.raises(ValueError, match="timezone"):
            Fleet(1, 1, start=datetime(2025, 1, 1))
