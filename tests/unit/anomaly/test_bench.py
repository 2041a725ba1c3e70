"""The benchmarks' bookkeeping (their figures are printed by the scripts, never asserted here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.anomaly import Thresholds
from bench import detection_offline, rules_bench


def test_rules_bench_counts_every_record() -> None:
    m = rules_bench.measure(vehicles=3, seconds=4.0, repeat=1)
    assert m["records"] == 3 * 20 * 2
    assert m["in_order_us"] > 0 and m["live_us"] > 0 and m["parse_us"] > 0
    assert m["in_order_us"] <= m["in_order_us_median"]


def test_rules_bench_prints_one_line_with_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    code = rules_bench.main(["--vehicles", "2", "--seconds", "2", "--repeat", "1"])
    line = capsys.readouterr().out.strip()
    assert line.startswith("rules: 40 records of 2 vehicles -> in order") and "budget 5 us" in line
    assert code == (0 if "budget 5 us: ok" in line else 1)


def test_detection_scores_each_fault_against_its_onset() -> None:
    spec = "dropout(for=15s)@veh-00002+5s,sensor_spikes(signal=cell_temp_max)@veh-00003+5s"
    kwargs = {"vehicles": 3, "seed": 1, "first_index": 1, "faults": spec}
    run = detection_offline.run_fleet("t", kwargs, 40 / 3600, Thresholds())
    tally = detection_offline.Tally()
    detection_offline.score(run, tally)
    result = detection_offline.summary(tally)
    assert result["healthy_alerts"] == 0 and result["pre_onset_alerts"] == 0
    assert result["healthy_vehicle_hours"] == pytest.approx(40 / 3600)
    assert result["by_kind"]["dropout"]["delay_p50_s"] == pytest.approx(10.0, abs=0.3)
    assert result["by_kind"]["sensor_spikes"]["delay_p50_s"] == 0.0
    assert result["by_kind"]["sensor_spikes"]["first_rules"] == {"out_of_range": 1}
    assert "dropout" in detection_offline.report(result)


def test_detection_quick_run_writes_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.json"
    code = detection_offline.main(["--quick", "--part", "faulty", "--out", str(out)])
    assert out.exists() and "faulty:" in capsys.readouterr().out
    assert code == 0
