"""The two Parquet tables the hourly job writes, as declared in app/pipeline_defaults.json.

The same file feeds infra/glue.tf (the Athena tables) and this module (the columns DuckDB writes),
so what Athena expects and what the job writes cannot drift apart. Types are given in Athena's
words there; `duckdb_type` translates them.

- `curated`: one row per distinct record of the hour, typed. The payload's well-known signals (the
  `signal` columns) get columns of their own; every other signal stays, exactly as sent, in
  `other_signals` (a JSON object), so nothing the contract accepts is lost.
- `vehicle_stats`: the per-vehicle rows of vehicle_stats.json, for SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from app.contract import Hour
from app.resources import pipeline_defaults

_DUCKDB_TYPES: Final = {
    "string": "VARCHAR",
    # UTC instants, written as Parquet TIMESTAMP(isAdjustedToUTC=true): Athena and DuckDB read them
    # as timestamps without guessing a zone.
    "timestamp": "TIMESTAMPTZ",
    "double": "DOUBLE",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "boolean": "BOOLEAN",
    "map<string,bigint>": "MAP(VARCHAR, BIGINT)",
    "map<string,struct<min:double,max:double,mean:double,count:bigint>>": (
        "MAP(VARCHAR, STRUCT(min DOUBLE, max DOUBLE, mean DOUBLE, count BIGINT))"
    ),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    athena_type: str
    comment: str
    signal: bool = False

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB_TYPES[self.athena_type]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    file_name: str
    columns: tuple[Column, ...]

    def key(self, prefix: str, hour: Hour) -> str:
        """The table's one object for `hour`: a fixed key, so a re-run replaces it in one PUT."""
        return f"{hour.partition(prefix)}{self.file_name}"

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.signal)

    def ddl(self) -> str:
        """The column list of a CREATE TABLE in DuckDB."""
        return ", ".join(f'"{c.name}" {c.duckdb_type}' for c in self.columns)


@cache
def table(name: str) -> Table:
    spec = pipeline_defaults().tables[name]
    return Table(
        name=name,
        file_name=spec["file_name"],
        columns=tuple(
            Column(c["name"], c["type"], c["comment"], bool(c.get("signal", False))) for c in spec["columns"]
        ),
    )


def curated() -> Table:
    return table("curated")


def vehicle_stats() -> Table:
    return table("vehicle_stats")
