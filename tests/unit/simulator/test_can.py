"""Our DBC and the cantools round trip every record goes through."""

from __future__ import annotations

from typing import Any

import cantools
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.contract import TelemetryIn
from app.simulator.can import SIGNALS, CanCodec, Frame, dbc_path, format_can_id, load_database
from app.simulator.cell import CELL_VOLTAGE_ABS_MAX, CELL_VOLTAGE_ABS_MIN
from app.simulator.fleet import SAMPLE_PERIOD_MS
from app.simulator.pack import CELLS_IN_SERIES

RESOLUTION = {
    "battery_soc": 0.01,
    "battery_voltage": 0.1,
    "battery_current": 0.1,
    "cell_voltage_min": 0.001,
    "cell_voltage_max": 0.001,
    "cell_temp_min": 0.1,
    "cell_temp_max": 0.1,
}
UNITS = {
    "battery_soc": "%",
    "battery_voltage": "V",
    "battery_current": "A",
    "cell_voltage_min": "V",
    "cell_voltage_max": "V",
    "cell_temp_min": "degC",
    "cell_temp_max": "degC",
}


@pytest.fixture(scope="module")
def codec() -> CanCodec:
    return CanCodec()


def load_dbc_file() -> cantools.database.can.Database:
    """The DBC file on disk, loaded the way any logger or tool would load it."""
    db = cantools.database.load_file(dbc_path())
    assert isinstance(db, cantools.database.can.Database)
    return db


def signal(name: str) -> Any:
    for message in load_database().messages:
        for s in message.signals:
            if s.name == name:
                return s
    raise KeyError(name)


class TestDbc:
    def test_two_standard_frames_every_200_ms_carry_every_signal_once(self) -> None:
        db = load_dbc_file()
        assert [(m.frame_id, m.length, m.is_extended_frame) for m in db.messages] == [
            (0x1F0, 8, False),
            (0x1F1, 8, False),
        ]
        assert all(m.cycle_time == SAMPLE_PERIOD_MS for m in db.messages)
        names = [s.name for m in db.messages for s in m.signals]
        assert sorted(names) == sorted(SIGNALS)

    @pytest.mark.parametrize("name", SIGNALS)
    def test_resolution_and_unit_are_those_of_a_real_bms(self, name: str) -> None:
        s = signal(name)
        assert s.scale == RESOLUTION[name]
        assert s.unit == UNITS[name]
        assert s.offset == 0

    def test_ranges_cover_the_chemistry_and_the_pack(self) -> None:
        assert signal("cell_voltage_min").minimum <= CELL_VOLTAGE_ABS_MIN
        assert signal("cell_voltage_max").maximum >= CELL_VOLTAGE_ABS_MAX
        assert signal("battery_voltage").maximum >= CELLS_IN_SERIES * CELL_VOLTAGE_ABS_MAX
        assert signal("cell_temp_min").minimum <= -40 and signal("cell_temp_max").maximum >= 100
        assert signal("battery_soc").minimum == 0 and signal("battery_soc").maximum == 100
        # every range fits its raw field, so clipping to the range never wraps the bits
        for name in SIGNALS:
            s = signal(name)
            lo = -(2 ** (s.length - 1)) if s.is_signed else 0
            hi = 2 ** (s.length - 1) - 1 if s.is_signed else 2**s.length - 1
            assert lo * s.scale <= s.minimum and s.maximum <= hi * s.scale

    def test_can_ids_are_the_contracts_canonical_spelling(self, codec: CanCodec) -> None:
        assert codec.can_ids == ("0x1F0", "0x1F1")
        for can_id in codec.can_ids:
            record = TelemetryIn.model_validate(
                {
                    "timestamp": "2025-01-01T00:00:00Z",
                    "vehicle_id": "v",
                    "can_id": can_id,
                    "payload": {"x": 1},
                }
            )
            assert record.can_id == can_id
        assert format_can_id(0x1F0) == "0x1F0" and format_can_id(0x18FF50E5) == "0x18FF50E5"
        assert format_can_id(0x1F0, extended=True) == "0x000001F0"


class TestCodec:
    def test_bit_layout_is_little_endian_16_bit_fields(self, codec: CanCodec) -> None:
        row = [55.55, 360.0, -12.3, 3.701, 3.712, 22.5, -5.0]
        pack, cells = codec.encode(row)
        assert pack == Frame(0x1F0, bytes([0x10, 0x0E, 0x85, 0xFF, 0xB3, 0x15, 0x00, 0x00]))
        # 3701 = 0x0E75, 3712 = 0x0E80, 225 = 0x00E1, -50 = 0xFFCE
        assert cells == Frame(0x1F1, bytes([0x75, 0x0E, 0x80, 0x0E, 0xE1, 0x00, 0xCE, 0xFF]))
        assert codec.decode(pack) == {
            "battery_voltage": 360.0,
            "battery_current": -12.3,
            "battery_soc": 55.55,
        }
        assert codec.decode(cells)["cell_temp_max"] == -5.0

    @settings(max_examples=200, deadline=None)
    @given(
        soc=st.floats(0, 100),
        volts=st.floats(0, 600),
        amps=st.floats(-1000, 1000),
        vmin=st.floats(0, 5),
        vmax=st.floats(0, 5),
        tmin=st.floats(-40, 125),
        tmax=st.floats(-40, 125),
    )
    def test_every_value_in_range_round_trips_within_half_a_step(
        self, soc: float, volts: float, amps: float, vmin: float, vmax: float, tmin: float, tmax: float
    ) -> None:
        codec = CanCodec()
        row = [soc, volts, amps, vmin, vmax, tmin, tmax]
        frames = codec.encode(row)
        decoded: dict[str, float] = {}
        for frame in frames:
            assert len(frame.data) == 8
            decoded.update(codec.decode(frame))
        for name, value in zip(SIGNALS, row, strict=True):
            assert abs(decoded[name] - value) <= RESOLUTION[name] / 2 + 1e-9
        # a decoded payload is exactly representable: encoding it again changes nothing
        again = codec.encode([decoded[n] for n in SIGNALS])
        assert again == frames
        assert [p for _, p in codec.payloads(row)] == [codec.decode(f) for f in frames]

    def test_out_of_range_values_saturate_instead_of_wrapping(self, codec: CanCodec) -> None:
        wild = np.array([[120.0, 9000.0, -5000.0, -1.0, 7.0, -80.0, 300.0]])
        clipped = codec.clip(wild)[0].tolist()
        assert clipped == [100.0, 600.0, -1000.0, 0.0, 5.0, -40.0, 125.0]
        payload = {k: v for _, p in codec.payloads(clipped) for k, v in p.items()}
        assert payload["battery_current"] == -1000.0 and payload["cell_temp_max"] == 125.0

    def test_a_dbc_with_signals_outside_the_sample_is_refused(self) -> None:
        db = cantools.database.load_string(
            'VERSION ""\nNS_ :\nBS_:\nBU_: BMS\n'
            'BO_ 496 X: 8 BMS\n SG_ battery_soc : 0|16@1+ (0.01,0) [0|100] "%" BMS\n'
            ' SG_ mystery : 16|8@1+ (1,0) [0|255] "" BMS\n',
            database_format="dbc",
        )
        with pytest.raises(ValueError, match="mystery"):
            CanCodec(db)
