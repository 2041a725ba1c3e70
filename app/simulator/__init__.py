"""Battery fleet simulator: physics-based telemetry of BMW i3-class packs as contract-v1 records.

`Fleet` is the entry point the load test, the demo and the benchmark use; `telemetry simulate`
(app/simulator/cli.py) writes its records as JSON Lines or posts them to a receiver. The model and
the DBC are described in docs/simulator.md.
"""

from app.simulator.fleet import SAMPLE_PERIOD_S, Fleet, Record, ticks_for, vehicle_id

__all__ = ["SAMPLE_PERIOD_S", "Fleet", "Record", "ticks_for", "vehicle_id"]
