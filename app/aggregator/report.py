"""One hour's result and its three renderings: the JSON document, the CSV beside it, a terminal table.

The JSON is the contract for downstream readers (dashboards, the duplicate-rate alarm); the CSV is
the same per-vehicle numbers flattened for a spreadsheet; the table is for people (`telemetry
aggregate --table`, the end-to-end demo). All three are pure functions of `HourlyResult`, so a re-run
over the same data writes the same bytes except `generated_at`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from app.aggregator.stats import FleetStats, VehicleStats
from app.contract import Hour, format_timestamp

CSV_FIXED_COLUMNS: Final = (
    "vehicle_id",
    "records",
    "distinct",
    "duplicates",
    "first_timestamp",
    "last_timestamp",
)
SIGNAL_COLUMNS: Final = ("min", "max", "mean")


@dataclass(frozen=True, slots=True)
class HourlyResult:
    """Everything one aggregation run computed and where it was written."""

    hour: Hour
    generated_at: datetime
    fleet: FleetStats
    vehicles: Sequence[VehicleStats]
    json_key: str
    csv_key: str

    @property
    def hour_label(self) -> str:
        return self.hour.key


def to_document(result: HourlyResult) -> dict[str, Any]:
    """The `vehicle_stats.json` document (see docs/aggregator.md for every field)."""
    fleet = result.fleet
    latency = fleet.ingest_to_persist_ms
    return {
        "hour": result.hour_label,
        "generated_at": format_timestamp(result.generated_at),
        "fleet": {
            "records": fleet.records,
            "distinct": fleet.distinct,
            "duplicates": fleet.duplicates,
            "duplicate_rate": fleet.duplicate_rate,
            "vehicles": fleet.vehicles,
            "objects": fleet.objects,
            "invalid_lines": fleet.invalid_lines,
            "unreadable_objects": fleet.unreadable_objects,
            "ingest_to_persist_ms": None
            if latency is None
            else {"p50": latency.p50, "p95": latency.p95, "p99": latency.p99, "samples": latency.samples},
            "anomalies": sum(sum(v.anomalies.values()) for v in result.vehicles),
            "clock_off_vehicles": sum(1 for v in result.vehicles if v.clock_off),
        },
        "vehicles": [
            {
                "vehicle_id": v.vehicle_id,
                "records": v.records,
                "distinct": v.distinct,
                "duplicates": v.duplicates,
                "first_timestamp": format_timestamp(v.first_timestamp),
                "last_timestamp": format_timestamp(v.last_timestamp),
                "signals": {
                    name: {"min": s.min, "max": s.max, "mean": s.mean, "count": s.count}
                    for name, s in v.signals.items()
                },
                "vehicle_delay_ms": None
                if v.vehicle_delay_ms is None
                else {"p50": v.vehicle_delay_ms[0], "p95": v.vehicle_delay_ms[1]},
                "clock_offset_ms": v.clock_offset_ms,
                "clock_off": v.clock_off,
                "anomalies": dict(v.anomalies),
            }
            for v in result.vehicles
        ],
    }


def to_json(result: HourlyResult) -> bytes:
    return orjson.dumps(to_document(result), option=orjson.OPT_INDENT_2) + b"\n"


def signal_names(vehicles: Sequence[VehicleStats]) -> list[str]:
    """Every numeric signal any vehicle reported this hour, sorted: the CSV's signal columns."""
    return sorted({name for v in vehicles for name in v.signals})


def to_csv(result: HourlyResult) -> str:
    """One row per vehicle; `<signal>_min/_max/_mean` columns, empty where a vehicle lacks it."""
    names = signal_names(result.vehicles)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_FIXED_COLUMNS, *(f"{name}_{stat}" for name in names for stat in SIGNAL_COLUMNS)])
    for v in result.vehicles:
        row: list[Any] = [
            v.vehicle_id,
            v.records,
            v.distinct,
            v.duplicates,
            format_timestamp(v.first_timestamp),
            format_timestamp(v.last_timestamp),
        ]
        for name in names:
            stats = v.signals.get(name)
            row.extend(("", "", "") if stats is None else (stats.min, stats.max, stats.mean))
        writer.writerow(row)
    return out.getvalue()


def render_table(result: HourlyResult, *, signals: Sequence[str] | None = None) -> str:
    """A plain-text table, one row per vehicle, with the mean of `signals` (default: every one).

    A fleet summary line follows the rows. No dependency: columns are padded to their widest cell.
    """
    names = list(signals) if signals is not None else signal_names(result.vehicles)
    header = ["vehicle_id", "records", "distinct", "dups", "first_timestamp", "last_timestamp"]
    header += [f"{name} mean" for name in names]
    rows = [header]
    for v in result.vehicles:
        row = [
            v.vehicle_id,
            str(v.records),
            str(v.distinct),
            str(v.duplicates),
            format_timestamp(v.first_timestamp),
            format_timestamp(v.last_timestamp),
        ]
        row += [f"{v.signals[n].mean:.2f}" if n in v.signals else "-" for n in names]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left_aligned = {0, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i in left_aligned else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines = [line(rows[0]), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in rows[1:]]
    fleet = result.fleet
    latency = fleet.ingest_to_persist_ms
    summary = (
        f"hour {result.hour_label}: {fleet.vehicles} vehicles, {fleet.records} records, "
        f"{fleet.distinct} distinct, duplicate rate {fleet.duplicate_rate:.2%}, "
        f"{fleet.objects} objects, {fleet.invalid_lines} invalid lines"
    )
    if latency is not None:
        summary += f", ingest-to-persist p50/p95/p99 {latency.p50}/{latency.p95}/{latency.p99} ms"
    lines.append(summary)
    return "\n".join(lines) + "\n"
