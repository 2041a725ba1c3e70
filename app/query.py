"""`telemetry query "SQL"`: DuckDB over the pipeline's tables, named as in Athena.

    telemetry query "SELECT vehicle_id, max(cell_temp_max) FROM curated GROUP BY 1" --hour 2025-10-19T12
    telemetry query "SELECT count(*) FROM raw" --from 2025-10-19T00 --to 2025-10-19T23 --format csv

The tables are the Athena ones (infra/glue.tf), so a question asked here is asked there the same
way: `curated` (one typed row per distinct record), `vehicle_stats` (per vehicle per hour) and
`raw` (the JSON Lines as stored, `payload` a map of signal name to text). Each carries the
partition columns `year`, `month`, `day`, `hour` as strings, as Athena's do. Only the hours asked
for (`--hour`, or `--from`/`--to`; default the last complete hour) and only the tables the SQL names
are copied from S3 (the embedded stack's or a real bucket, through boto3), into a temporary
directory that is removed afterwards; DuckDB never downloads anything itself.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import orjson

from app.aggregator.cli import parse_hour
from app.aggregator.columnar import connect, quote
from app.aggregator.job import last_complete_hour
from app.aggregator.staging import PLAIN_SUFFIX
from app.aws import s3_client
from app.contract import Hour
from app.errors import ConfigurationError
from app.object_store import ObjectStore, S3ObjectStore
from app.settings import Settings, load_settings

#: A day of hours at most per query: beyond that, Athena is the tool (it reads S3 in place).
MAX_HOURS: Final = 24
_PARTITIONS: Final = "{'year': VARCHAR, 'month': VARCHAR, 'day': VARCHAR, 'hour': VARCHAR}"
_RAW_COLUMNS: Final = (
    "{'timestamp': 'VARCHAR', 'vehicle_id': 'VARCHAR', 'can_id': 'VARCHAR', "
    "'payload': 'MAP(VARCHAR, VARCHAR)', 'ingest_received_at': 'VARCHAR'}"
)


def _prefixes(settings: Settings) -> dict[str, str]:
    return {
        "curated": settings.curated_prefix,
        "vehicle_stats": settings.vehicle_stats_prefix,
        "raw": settings.raw_prefix,
    }


def tables_named(sql: str, names: Sequence[str]) -> list[str]:
    """The tables `sql` mentions (as whole words, any case): only those are fetched."""
    return [name for name in names if re.search(rf"\b{name}\b", sql, flags=re.IGNORECASE)]


def fetch(store: ObjectStore, *, prefix: str, hours: Sequence[Hour], into: Path, fetchers: int = 8) -> int:
    """Copy the hours' objects of one table under `into`, keeping the year=/month=/... layout."""
    keys = [key for hour in hours for key in store.keys(hour.partition(prefix))]

    def copy(key: str) -> None:
        target = into / key.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get(key).body)

    with ThreadPoolExecutor(max_workers=fetchers) as pool:
        list(pool.map(copy, keys))
    return len(keys)


def define_views(con: duckdb.DuckDBPyConnection, root: Path, present: dict[str, bool]) -> None:
    """One view per table; a table without data for the hours is empty but still has its columns."""
    for name in ("curated", "vehicle_stats"):
        files = quote(str(root / name / "**" / "*.parquet"))
        if present.get(name):
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files}, hive_partitioning = true, "
                f"hive_types = {_PARTITIONS})"
            )
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM ({_empty(name)})")
    if present.get("raw"):
        files = quote(str(root / "raw" / "**" / f"*{PLAIN_SUFFIX}*"))  # .jsonl and .jsonl.gz
        con.execute(
            f"CREATE VIEW raw AS SELECT * FROM read_json({files}, format = 'newline_delimited', "
            f"columns = {_RAW_COLUMNS}, hive_partitioning = true, hive_types = {_PARTITIONS}, "
            "ignore_errors = true)"
        )
    else:
        con.execute(
            "CREATE VIEW raw AS SELECT NULL::VARCHAR AS timestamp, NULL::VARCHAR AS vehicle_id, "
            "NULL::VARCHAR AS can_id, NULL::MAP(VARCHAR, VARCHAR) AS payload, "
            "NULL::VARCHAR AS ingest_received_at, NULL::VARCHAR AS year, NULL::VARCHAR AS month, "
            "NULL::VARCHAR AS day, NULL::VARCHAR AS hour WHERE false"
        )


def _empty(name: str) -> str:
    from app.aggregator.tables import table

    columns = [f'NULL::{c.duckdb_type} AS "{c.name}"' for c in table(name).columns]
    columns += [f"NULL::VARCHAR AS {part}" for part in ("year", "month", "day", "hour")]
    return f"SELECT {', '.join(columns)} WHERE false"


def run_query(
    sql: str, *, store: ObjectStore, settings: Settings, hours: Sequence[Hour]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of `sql` over the tables of `hours`."""
    with tempfile.TemporaryDirectory(prefix="telemetry-query-", dir=settings.hourly_work_dir) as tmp:
        root = Path(tmp)
        prefixes = _prefixes(settings)
        present = {
            name: fetch(
                store, prefix=prefixes[name], hours=hours, into=root / name, fetchers=settings.hourly_fetchers
            )
            > 0
            for name in tables_named(sql, list(prefixes))
        }
        with connect(
            memory_mb=settings.hourly_memory_mb, threads=settings.hourly_threads, work_dir=root
        ) as con:
            define_views(con, root, present)
            try:
                cursor = con.execute(sql)
            except duckdb.Error as exc:
                raise ConfigurationError(f"the query failed: {str(exc).splitlines()[0]}") from None
            columns = [d[0] for d in cursor.description or []]
            return columns, cursor.fetchall()


def render(columns: Sequence[str], rows: Sequence[tuple[Any, ...]], fmt: str) -> str:
    """The result as an aligned text table, CSV, or a JSON array of objects."""
    if fmt == "json":
        return (
            orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str).decode() + "\n"
        )
    cells = [[_cell(v) for v in row] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(cells)
        return out.getvalue()
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) for r in rows if r[i] is not None)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(list(columns)), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help="the query; tables: curated, vehicle_stats, raw (as in Athena)")
    parser.add_argument(
        "--hour", metavar="YYYY-MM-DDTHH", help="one UTC hour (default: the last complete hour)"
    )
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DDTHH", help="first hour of a range")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DDTHH", help="last hour of a range (inclusive)")
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output (default: table)"
    )


def hours_asked(args: argparse.Namespace, *, now: datetime) -> list[Hour]:
    if args.hour and (args.first or args.last):
        raise ConfigurationError("--hour: give either --hour or --from/--to, not both")
    if args.first or args.last:
        if not (args.first and args.last):
            raise ConfigurationError("--from/--to: give both ends of the range")
        first, last = parse_hour(args.first, now=now), parse_hour(args.last, now=now)
        if last < first:
            raise ConfigurationError(f"--to: {last} is before --from {first}")
        hours = Hour.covering(first.start, last.start)
        if len(hours) > MAX_HOURS:
            raise ConfigurationError(
                f"--from/--to: at most {MAX_HOURS} hours per query (Athena reads more in place)"
            )
        return hours
    return [parse_hour(args.hour, now=now) if args.hour else last_complete_hour(now)]


def run(args: argparse.Namespace) -> int:
    hours = hours_asked(args, now=datetime.now(UTC))
    settings = load_settings()
    store = S3ObjectStore(s3_client(settings), settings.bucket)
    columns, rows = run_query(args.sql, store=store, settings=settings, hours=hours)
    sys.stdout.write(render(columns, rows, args.format))
    return 0
