"""docs/img/simulator-drive.png: the data behind it, and a short render."""

from __future__ import annotations

import struct
from pathlib import Path

from app.simulator.can import SIGNALS
from app.simulator.plot import drive_trace, render


def test_the_trace_is_the_decoded_records_of_one_drive() -> None:
    minutes, speed, samples = drive_trace(seed=1, minutes=1.0)
    assert samples.shape == (300, len(SIGNALS)) and len(minutes) == len(speed) == 300
    assert minutes[-1] == 1.0 and speed.max() > 0  # the car moved: start_mode="drive"


def test_render_writes_a_png_of_the_figure_size(tmp_path: Path) -> None:
    out = render(tmp_path / "img" / "drive.png", seed=1, minutes=0.5)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width > 800 and height > width  # one column of stacked panels
