"""The pack model under forced current: coulomb counting, equivalent circuit, limits, heat."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.simulator.cell import (
    CELL_CHARGE_CEILING_V,
    CELL_DISCHARGE_FLOOR_V,
    CELL_VOLTAGE_ABS_MAX,
    CELL_VOLTAGE_ABS_MIN,
    CellParameters,
    open_circuit_voltage,
)
from app.simulator.pack import CELLS_IN_SERIES, CELLS_PER_MODULE, MODULES, Pack

DT = 1.0  # the model is stepped exactly, so a coarse step is as faithful as 200 ms


def make_pack(
    vehicles: int = 3, *, soc: float = 0.8, ambient: float = 22.0, capacity_ah: float = 94.0, seed: int = 1
) -> Pack:
    rngs = [np.random.default_rng([seed, i]) for i in range(vehicles)]
    return Pack(
        rngs,
        initial_soc=np.full(vehicles, soc),
        ambient_c=np.full(vehicles, ambient),
        cell=CellParameters.scaled(capacity_ah),
    )


def per_module(cells: np.ndarray) -> np.ndarray:
    """(vehicles, 96) -> (vehicles, 8): the sum over each module's 12 cells."""
    summed: np.ndarray = cells.reshape(-1, MODULES, CELLS_PER_MODULE).sum(axis=2)
    return summed


def hold(pack: Pack, current_a: float, seconds: float, *, active: bool = False, dt: float = DT) -> None:
    demand = np.full(pack.vehicles, current_a)
    awake = np.full(pack.vehicles, active)
    for _ in range(round(seconds / dt)):
        applied = pack.step(dt, demand, active=awake).current_a
        assert np.allclose(applied, demand), "the BMS limited a current the test meant to force"


class TestCoulombCounting:
    @pytest.mark.parametrize(("current_a", "direction"), [(100.0, -1), (-60.0, +1)])
    @pytest.mark.parametrize("capacity_ah", [60.0, 94.0, 120.0])
    def test_soc_moves_at_the_rate_the_current_implies(
        self, current_a: float, direction: int, capacity_ah: float
    ) -> None:
        pack = make_pack(soc=0.5, capacity_ah=capacity_ah)
        before = pack.pack_soc.copy()
        hold(pack, current_a, 600)
        change = pack.pack_soc - before
        expected = -current_a * 600 / 3600 / pack.pack_capacity_ah
        assert np.all(np.sign(change) == direction)
        assert np.allclose(change, expected, rtol=0.01)
        # and against the nameplate: the drawn capacities stay close to it
        assert np.allclose(pack.pack_capacity_ah, capacity_ah, rtol=0.02)

    def test_every_cell_counts_its_own_capacity(self) -> None:
        pack = make_pack(soc=0.6)
        before = pack.soc.copy()
        hold(pack, 94.0, 360)
        expected = -94.0 * 360 / 3600 / pack.capacity_ah
        assert np.allclose(pack.soc - before, expected, rtol=1e-9)
        # weaker cells lose more SOC: the spread of the string grows under load
        assert np.ptp(pack.soc - before) > 0


class TestEquivalentCircuit:
    def test_at_rest_the_terminal_voltage_is_the_open_circuit_voltage(self) -> None:
        pack = make_pack(soc=0.5)
        hold(pack, 0.0, 10)
        assert np.allclose(pack.cell_voltage, open_circuit_voltage(pack.soc), atol=1e-9)
        assert 3.70 < float(pack.cell_voltage.mean()) < 3.80  # NMC at 50 %

    def test_a_current_step_drops_the_voltage_by_i_times_the_step_resistance(self) -> None:
        pack = make_pack(soc=0.5)
        r0, r1, r2 = pack.resistances()
        e1, e2 = pack.cell.rc_decay(DT)
        ocv_after = open_circuit_voltage(pack.soc - 200.0 * DT / 3600 / pack.capacity_ah)
        hold(pack, 200.0, DT)
        drop = ocv_after - pack.cell_voltage
        assert np.allclose(drop, 200.0 * (r0 + r1 * (1 - e1) + r2 * (1 - e2)), rtol=1e-6)
        # about 1 mOhm per 94 Ah cell: 0.2-0.3 V per cell at ~2C after one second
        assert 0.15 < float(drop.mean()) < 0.35

    def test_polarisation_builds_under_load_and_relaxes_at_rest(self) -> None:
        pack = make_pack(soc=0.7)
        hold(pack, 150.0, 2)
        early = float(pack.pack_voltage.mean())
        hold(pack, 150.0, 300)
        late_ocv = float(open_circuit_voltage(pack.soc).sum(axis=1).mean())
        sag = late_ocv - float(pack.pack_voltage.mean())
        assert sag > late_ocv - early  # RC pairs charged: the sag grew beyond the ohmic drop
        hold(pack, 0.0, 8 * pack.cell.tau2_s)
        assert np.allclose(pack.cell_voltage, open_circuit_voltage(pack.soc), atol=0.001)

    def test_pack_voltage_is_the_sum_of_its_cells_and_near_360_v_nominal(self) -> None:
        pack = make_pack(soc=0.5)
        hold(pack, 80.0, 60)
        assert np.allclose(pack.pack_voltage, pack.cell_voltage.sum(axis=1), rtol=0.005)
        assert pack.cell_voltage.shape == (3, CELLS_IN_SERIES)
        assert np.all((pack.pack_voltage > 340) & (pack.pack_voltage < 370))

    def test_a_power_demand_is_met_at_the_terminals(self) -> None:
        pack = make_pack(vehicles=4, soc=0.6)
        power = np.array([30_000.0, 80_000.0, -40_000.0, 0.0])
        result = pack.step(DT, np.zeros(4), power_w=power, use_power=np.ones(4, dtype=bool))
        delivered = result.current_a * pack.pack_voltage
        assert np.allclose(delivered, power, rtol=0.005, atol=1.0)
        assert result.current_a[2] < 0 < result.current_a[0]  # regeneration charges the pack


class TestLimits:
    def test_discharge_is_derated_so_no_cell_falls_below_the_floor(self) -> None:
        pack = make_pack(soc=0.12)
        demand = np.full(pack.vehicles, 350.0)
        currents = []
        for _ in range(900):
            currents.append(pack.step(DT, demand).current_a.copy())
            assert pack.cell_voltage.min() >= CELL_DISCHARGE_FLOOR_V - 1e-3
        assert np.all(currents[-1] < 0.5 * currents[0])  # the BMS took power away as the pack emptied
        assert pack.cell_voltage.min() >= CELL_VOLTAGE_ABS_MIN

    def test_charging_runs_constant_current_then_constant_voltage(self) -> None:
        pack = make_pack(soc=0.55)
        demand = np.full(pack.vehicles, -120.0)
        currents, vmax = [], []
        for _ in range(1800):
            currents.append(pack.step(2.0, demand).current_a.copy())
            vmax.append(pack.cell_voltage.max(axis=1))
        i = np.array(currents)
        v = np.array(vmax)
        assert np.all(v <= CELL_CHARGE_CEILING_V + 1e-3) and v.max() < CELL_VOLTAGE_ABS_MAX
        for vehicle in range(pack.vehicles):
            magnitude = np.abs(i[:, vehicle])
            taper = int(np.argmax(magnitude < 120.0 - 1e-6))
            assert taper > 30 and np.allclose(magnitude[:taper], 120.0)  # constant current first
            assert np.all(np.diff(magnitude[taper:]) <= 1e-6)  # then a monotonic taper
            assert np.all(v[taper:, vehicle] > CELL_CHARGE_CEILING_V - 1e-3)  # at constant voltage
        assert np.all(np.abs(i[-1]) < 0.3 * 120.0)  # well into the taper after an hour
        assert np.all(pack.pack_soc > 0.9)

    def test_regeneration_is_refused_when_the_pack_is_full(self) -> None:
        pack = make_pack(soc=0.99)
        applied = pack.step(DT, np.full(pack.vehicles, -130.0)).current_a
        assert np.all(applied > -130.0 * 0.5)
        assert pack.cell_voltage.max() <= CELL_CHARGE_CEILING_V + 1e-3


class TestThermal:
    def test_sustained_high_current_heats_every_module_by_its_i2r(self) -> None:
        pack = make_pack(soc=0.9, ambient=25.0)
        start = pack.module_temp_c.copy()
        r0, r1, r2 = pack.resistances()
        hold(pack, 188.0, 600)  # 2C for ten minutes
        rise = pack.module_temp_c - start
        # ohmic heat alone is a lower bound (minus what leaks out), all three resistors an upper one
        lower = 188.0**2 * per_module(r0) * 0.8 * 600 / pack.heat_capacity_j_per_k * 0.9
        upper = 188.0**2 * per_module(r0 + r1 + r2) * 600 / pack.heat_capacity_j_per_k
        assert np.all(rise > lower) and np.all(rise < upper)
        assert np.all(rise > 3.0)

    def test_temperatures_relax_towards_ambient_at_rest(self) -> None:
        pack = make_pack(soc=0.9, ambient=20.0)
        hold(pack, 188.0, 600)
        # the RC pairs still hold energy that ends up as heat: let them empty (10 tau) first
        hold(pack, 0.0, 10 * pack.cell.tau2_s, dt=10.0)
        excess = pack.module_temp_c - 20.0
        assert np.all(excess > 2.0)
        hold(pack, 0.0, 1800, dt=10.0)  # exact at any step at rest
        decay = np.exp(-pack.passive_w_per_k * 1800 / pack.heat_capacity_j_per_k)
        assert np.allclose(pack.module_temp_c - 20.0, excess * decay, rtol=0.01)
        assert np.all(decay < 0.85)  # a parked pack cools over hours, not minutes

    def test_active_cooling_holds_a_hot_pack_down(self) -> None:
        passive, active = make_pack(soc=0.9, ambient=30.0), make_pack(soc=0.9, ambient=30.0)
        hold(passive, 188.0, 900, dt=3.0)
        hold(active, 188.0, 900, active=True, dt=3.0)
        assert np.all(active.module_temp_c < passive.module_temp_c - 2.0)


class TestModuleVariance:
    def test_spreads_are_realistic_at_rest_and_diverge_under_load(self) -> None:
        pack = make_pack(vehicles=6, soc=0.6)
        hold(pack, 0.0, 1)
        v_rest = np.ptp(pack.cell_voltage, axis=1)
        t_rest = np.ptp(pack.module_temp_c, axis=1)
        assert np.all(v_rest < 0.03) and np.all(t_rest < 4.0)
        hold(pack, 250.0, 1)
        v_load = np.ptp(pack.cell_voltage, axis=1)
        assert np.all(v_load > v_rest)  # resistance spread shows as soon as current flows
        assert np.all(v_load < 0.15)

    def test_modules_with_more_resistance_heat_more(self) -> None:
        pack = make_pack(vehicles=6, soc=0.9)
        start = pack.module_temp_c.copy()
        r0 = per_module(pack.resistances()[0])
        hold(pack, 150.0, 900)
        rise = pack.module_temp_c - start
        for v in range(pack.vehicles):
            assert np.ptp(rise[v]) > 0.5  # the spread of cell_temp_min/max opens under load
            assert np.corrcoef(rise[v], r0[v])[0, 1] > 0.8
        assert np.all(np.ptp(pack.module_temp_c, axis=1) < 8.0)

    def test_the_same_seed_draws_the_same_pack_and_another_seed_another(self) -> None:
        a, b, c = make_pack(seed=5), make_pack(seed=5), make_pack(seed=6)
        assert np.array_equal(a.capacity_ah, b.capacity_ah)
        assert np.array_equal(a.module_temp_c, b.module_temp_c)
        assert not np.array_equal(a.capacity_ah, c.capacity_ah)
        assert math.isclose(float(a.capacity_ah.mean()), 94.0, rel_tol=0.02)
