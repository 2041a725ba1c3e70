"""Draw docs/img/simulator-drive.png: one vehicle's 30-minute drive, as the pipeline receives it.

Run `python -m app.simulator.plot` (matplotlib is a dev dependency). Every curve is taken from the
decoded records (what a logger would send), except speed, which is not a CAN signal here and is
read from the simulator for context. The start time and seed are fixed so the picture is
reproducible.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np

from app.simulator.can import SIGNALS
from app.simulator.fleet import SAMPLE_PERIOD_S, Fleet

DEFAULT_OUT: Final = Path("docs/img/simulator-drive.png")
DEFAULT_SEED: Final = 1
DEFAULT_MINUTES: Final = 30.0
FIXED_START: Final = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)


def drive_trace(seed: int, minutes: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minutes, speed km/h, samples) of vehicle veh-00001 on a drive, samples from decoded records."""
    fleet = Fleet(1, seed, start=FIXED_START, start_mode="drive")
    rows: list[list[float]] = []
    speed: list[float] = []
    for batch in fleet.ticks(minutes * 60.0):
        payload: dict[str, float] = {}
        for record in batch:
            payload.update(record["payload"])
        rows.append([payload[name] for name in SIGNALS])
        speed.append(float(fleet.schedule.speed_ms[0]) * 3.6)
    t = np.arange(1, len(rows) + 1) * SAMPLE_PERIOD_S / 60.0
    return t, np.array(speed), np.array(rows)


def render(out: Path, *, seed: int = DEFAULT_SEED, minutes: float = DEFAULT_MINUTES) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, speed, s = drive_trace(seed, minutes)
    col = {name: i for i, name in enumerate(SIGNALS)}
    fig, axes = plt.subplots(5, 1, figsize=(10, 11), sharex=True, constrained_layout=True)
    fig.suptitle(
        f"Simulated 30-minute drive of one BMW i3-class pack (94 Ah, 96s), seed {seed}: decoded CAN records"
    )

    ax = axes[0]
    current = s[:, col["battery_current"]]
    ax.plot(t, current, lw=0.6, color="tab:blue")
    ax.fill_between(
        t, current, 0, where=current < 0, color="tab:green", alpha=0.5, label="regenerative braking"
    )
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("battery_current [A]\n(+ discharge)")
    twin = ax.twinx()
    twin.plot(t, speed, lw=0.8, color="tab:gray", alpha=0.6)
    twin.set_ylabel("speed [km/h]", color="tab:gray")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[1]
    ax.plot(t, s[:, col["battery_voltage"]], lw=0.6, color="tab:purple")
    ax.set_ylabel("battery_voltage [V]")

    ax = axes[2]
    ax.plot(t, s[:, col["battery_soc"]], color="tab:orange")
    ax.set_ylabel("battery_soc [%]")

    ax = axes[3]
    vmin, vmax = s[:, col["cell_voltage_min"]], s[:, col["cell_voltage_max"]]
    ax.fill_between(t, vmin, vmax, color="tab:red", alpha=0.35, lw=0, label="cell_voltage_min .. max")
    ax.plot(t, vmin, lw=0.4, color="tab:red")
    ax.plot(t, vmax, lw=0.4, color="tab:red")
    ax.set_ylabel("cell voltage [V]")
    ax.legend(loc="upper right", fontsize=8)
    twin = ax.twinx()
    twin.plot(t, 1000 * (vmax - vmin), lw=0.4, color="tab:gray", alpha=0.7)
    twin.set_ylabel("max - min [mV]", color="tab:gray")
    ax.set_zorder(twin.get_zorder() + 1)  # the band in front of the spread line
    ax.patch.set_visible(False)

    ax = axes[4]
    tmin, tmax = s[:, col["cell_temp_min"]], s[:, col["cell_temp_max"]]
    ax.fill_between(
        t, tmin, tmax, color="tab:brown", alpha=0.35, lw=0, label="cell_temp_min .. max (8 module sensors)"
    )
    ax.plot(t, tmin, lw=0.6, color="tab:brown")
    ax.plot(t, tmax, lw=0.6, color="tab:brown")
    ax.set_ylabel("temperature [°C]")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("time [min]")
    for ax in axes:
        ax.grid(alpha=0.3)

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES)
    args = parser.parse_args(argv)
    print(f"wrote {render(args.out, seed=args.seed, minutes=args.minutes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
