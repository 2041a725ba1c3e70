"""Anomaly rules over telemetry: per record, and per vehicle over a 60-second ring buffer.

`RuleEngine` is the one entry point, for the live consumer (`observe` each record, `tick` each
second) and the hourly job (`observe` the hour's sorted records, then `close`). The rules and their
`Thresholds` are in rules.py, the ring buffer in window.py; docs/anomalies.md has the physics and
the measured figures.
"""

from app.anomaly.engine import EngineStats, RuleEngine
from app.anomaly.rules import PER_SAMPLE_RULES, RULES, Alert, Episode, Thresholds
from app.anomaly.timestamps import event_ms

__all__ = [
    "PER_SAMPLE_RULES",
    "RULES",
    "Alert",
    "EngineStats",
    "Episode",
    "RuleEngine",
    "Thresholds",
    "event_ms",
]
