"""The hourly aggregator: one raw S3 partition in, per-vehicle statistics out (issue 6).

`aggregate_hour()` does the work and is usable without the CLI; `render_table()` prints its result
for people. `telemetry aggregate [--hour YYYY-MM-DDTHH]` (app/aggregator/cli.py) is the scheduled
entry point. docs/aggregator.md describes the output and the choices behind each statistic.
"""

from __future__ import annotations

from app.aggregator.job import aggregate_hour, last_complete_hour, output_keys
from app.aggregator.report import HourlyResult, render_table, to_csv, to_document
from app.errors import AggregationError

__all__ = [
    "AggregationError",
    "HourlyResult",
    "aggregate_hour",
    "last_complete_hour",
    "output_keys",
    "render_table",
    "to_csv",
    "to_document",
]
