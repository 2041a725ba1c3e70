"""The benchmark's bookkeeping (its speed is reported by `make bench`, never asserted here)."""

from __future__ import annotations

import pytest

from bench.simulator_bench import REQUIRED_RECORDS_PER_S, main, measure


def test_measure_counts_every_record_of_the_fleet() -> None:
    m = measure(vehicles=3, seconds=1.0, repeat=2)
    assert m["records"] == 3 * 5 * 2  # vehicles x steps of 200 ms x frames per step
    assert m["records_per_s"] == pytest.approx(m["records"] / m["wall_s"])
    assert m["records_per_s"] >= m["records_per_s_median"] > 0
    assert m["ratio_to_required"] == pytest.approx(m["records_per_s"] / REQUIRED_RECORDS_PER_S)


def test_main_prints_one_line_with_the_figure(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--vehicles", "2", "--seconds", "0.4", "--repeat", "1"])
    line = capsys.readouterr().out.strip()
    assert line.startswith("simulator: 2 vehicles x 0.4 s simulated = 8 records")
    assert "records/s" in line
    assert code == (0 if "required: ok" in line else 1)  # the exit status follows the verdict
