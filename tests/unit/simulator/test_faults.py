"""The fault spec: what it accepts, what it refuses (one line naming the fix), and the seeded plan."""

from __future__ import annotations

import pytest

from app.errors import FaultSpecError
from app.simulator.faults import (
    AGED_CELL,
    COOLING_FAILURE,
    INTERNAL_SHORT,
    KINDS,
    PARAMETERS,
    parse_fault_spec,
    parse_seconds,
)


class TestGrammar:
    def test_explicit_faults_with_and_without_parameters(self) -> None:
        spec = parse_fault_spec(
            "internal_short@veh-00003+120s, cooling_failure(module=2,load=none)@veh-00007+5m,"
            "aged_cell(cell=17,factor=3)@veh-00001+1.5h"
        )
        assert [(r.kind, r.vehicle_id, r.arm_s) for r in spec.explicit] == [
            (INTERNAL_SHORT, "veh-00003", 120.0),
            (COOLING_FAILURE, "veh-00007", 300.0),
            (AGED_CELL, "veh-00001", 5400.0),
        ]
        assert spec.explicit[1].params == {"module": 2, "load": "none"}
        assert spec.explicit[2].params == {"cell": 17, "factor": 3.0}
        assert spec.random is None
        assert spec.named_vehicles == {"veh-00001", "veh-00003", "veh-00007"}

    def test_random_share_with_kinds_and_window(self) -> None:
        spec = parse_fault_spec("random(kinds=internal_short|dropout,from=30s,to=10m):5%")
        assert spec.random is not None
        assert spec.random.share == pytest.approx(0.05)
        assert spec.random.kinds == (INTERNAL_SHORT, "dropout")
        assert (spec.random.from_s, spec.random.to_s) == (30.0, 600.0)
        assert parse_fault_spec("random:0.5%").random is not None

    @pytest.mark.parametrize(
        ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1.5h", 5400.0), ("250ms", 0.25)]
    )
    def test_times(self, text: str, seconds: float) -> None:
        assert parse_seconds(text, "t") == seconds

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "empty"),
            ("internal_shrt@veh-00003+1s", "unknown fault 'internal_shrt'; choose one of: internal_short"),
            ("internal_short@veh-3+1s", "'veh-3' is not a vehicle id like veh-00003"),
            ("internal_short@veh-00003", "say when after the vehicle, e.g. veh-00003+120s"),
            ("internal_short@veh-00003+soon", "'soon' is not a time"),
            ("internal_short", "write KIND@veh-NNNNN+TIME"),
            ("internal_short(ohm=0)@veh-00003+1s", "ohm: must be a number > 0"),
            ("internal_short(cell=97)@veh-00003+1s", "cell: must be a whole number within 1..96"),
            (
                "internal_short(module=2)@veh-00003+1s",
                "internal_short has no parameter 'module'; it takes: cell, ohm",
            ),
            ("aged_cell(factor=0.5)@veh-00003+1s", "factor: must be a number > 1"),
            ("cooling_failure(module=9)@veh-00003+1s", "module: must be a whole number within 1..8"),
            (
                "stuck_sensor(signal=cell_temp_max)@veh-00003+1s",
                "'cell_temp_max' is not one of battery_voltage",
            ),
            ("dropout(for=0s)@veh-00003+1s", "for: must be longer than 0 s"),
            ("sensor_spikes(when=never)@veh-00003+1s", "'never' is not one of any, moving, awake"),
            ("aged_cell(cell)@veh-00003+1s", "write parameters as name=value"),
            ("aged_cell(cell=1,cell=2)@veh-00003+1s", "parameter 'cell' given twice"),
            ("aged_cell(cell=1@veh-00003+1s", "unbalanced '('"),
            ("random:5", "the share must be a percentage"),
            ("random:150%", "the share must be a percentage"),
            ("random(kinds=fire):5%", "unknown kind 'fire'"),
            ("random(seed=3):5%", "random has no parameter 'seed'"),
            ("random(from=10m,to=1m):5%", "'to' must not be before 'from'"),
            ("random:5%,random:1%", "only one random item"),
            ("dropout@veh-00001+1s,,random:5%", "remove the extra comma"),
        ],
    )
    def test_bad_specs_are_refused_in_one_line_naming_the_fix(self, text: str, message: str) -> None:
        with pytest.raises(FaultSpecError) as exc:
            parse_fault_spec(text)
        assert message in str(exc.value)
        assert "\n" not in str(exc.value)

    def test_every_kind_documents_its_parameters(self) -> None:
        assert set(PARAMETERS) == set(KINDS)
        for params in PARAMETERS.values():
            assert "when" in params and all(p.help for p in params.values())


class TestPlan:
    def test_unspecified_parameters_are_drawn_and_reproducible(self) -> None:
        spec = parse_fault_spec("internal_short@veh-00002+10s,aged_cell(factor=3)@veh-00002+20s")
        a = spec.plan([1, 2, 3], seed=7, capacity_ah=94.0)
        b = spec.plan([1, 2, 3], seed=7, capacity_ah=94.0)
        c = spec.plan([1, 2, 3], seed=8, capacity_ah=94.0)
        assert a == b and a != c
        short, aged = a
        assert (short.vehicle, short.vehicle_id, short.arm_s) == (1, "veh-00002", 10.0)
        assert 1 <= short.params["cell"] <= 96 and short.params["when"] == "any"
        # a hard short drains its cell at 0.7-1.5 C: R = 3.7 V / (C-rate x capacity)
        assert 3.7 / (1.5 * 94) <= short.params["ohm"] <= 3.7 / (0.7 * 94)
        assert aged.params["factor"] == 3.0 and aged.params["when"] == "moving"

    def test_faults_of_vehicles_outside_the_fleet_are_left_out(self) -> None:
        spec = parse_fault_spec("dropout@veh-00042+10s")
        assert spec.plan([1, 2, 3], seed=1, capacity_ah=94.0) == []
        (alone,) = spec.plan([42], seed=1, capacity_ah=94.0)
        assert alone.vehicle == 0

    def test_a_random_share_is_drawn_per_vehicle_so_a_vehicle_is_faulty_alone_or_in_a_fleet(self) -> None:
        spec = parse_fault_spec("random:5%")
        fleet = spec.plan(list(range(1, 2001)), seed=3, capacity_ah=94.0, run_s=3600)
        assert 60 <= len(fleet) <= 140  # about 5 % of 2,000
        assert {f.kind for f in fleet} == set(KINDS)
        assert all(60.0 <= f.arm_s <= 1800.0 for f in fleet)  # default: from 60 s to half the run
        for fault in fleet[:10]:
            index = int(fault.vehicle_id.removeprefix("veh-"))
            (alone,) = spec.plan([index], seed=3, capacity_ah=94.0, run_s=3600)
            assert (alone.kind, alone.arm_s, alone.params) == (fault.kind, fault.arm_s, fault.params)

    def test_the_cooling_scenario_is_a_hot_day_a_low_pack_and_a_fast_charge(self) -> None:
        spec = parse_fault_spec("random(kinds=cooling_failure):100%")
        for fault in spec.plan(list(range(1, 50)), seed=1, capacity_ah=60.0):
            assert 33.0 <= fault.params["ambient"] <= 38.0
            assert 15.0 <= fault.params["start_soc"] <= 30.0
            assert fault.params["load"] == "dc" and fault.params["when"] == "awake"
