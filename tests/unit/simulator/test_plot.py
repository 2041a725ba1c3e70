"""The data behind docs/img/simulator-drive.png (rendering is left to the script: matplotlib is slow)."""

from __future__ import annotations

from app.simulator.can import SIGNALS
from app.simulator.plot import drive_trace


def test_the_trace_is_the_decoded_records_of_one_drive() -> None:
    minutes, speed, samples = drive_trace(seed=1, minutes=1.0)
    assert samples.shape == (300, len(SIGNALS)) and len(minutes) == len(speed) == 300
    assert minutes[-1] == 1.0 and speed.max() > 0  # the car moved: start_mode="drive"
