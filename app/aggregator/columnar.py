"""The hourly job's engine: DuckDB over one staged hour, in memory bounded by a setting.

One pass over the staged lines validates them, groups them by record identity and keeps, per
distinct record, its earliest `ingest_received_at`, its number of copies and the ingest-to-persist
latency of each copy. Everything else (the curated rows, the statistics, both Parquet files) comes
from that table of distinct records. DuckDB spills to the work directory when the hour does not fit
`memory_mb`, so the memory a run needs does not grow with the hour. No extension is installed or
loaded at run time (json and parquet are built into the wheel; httpfs, which DuckDB would download,
is never used: S3 is read through boto3 in app/aggregator/staging.py).

Validation is the consumer's two tiers, made columnar. The fast tier is SQL (`checked_lines`): DuckDB
parses each line once into its fields, the contract's own patterns and bounds check them, and the
line's length must equal the canonical length of those fields, so a line passes only if it is a
valid record spelled exactly as the consumer spells one (any extra key, whitespace, escape or other
spelling of a number changes the length). Every other line goes to `app.stored.decode_line`, the
contract's reader, which re-spells it canonically or refuses it; so the job accepts exactly what the
contract accepts (tests/unit/aggregator/test_columnar.py holds the SQL to the model, property-based).
A record's identity is the contract's identity fields (timestamp, vehicle, CAN id, payload), grouped
by value: the same partition `record_identity` makes, without hashing every line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from app.aggregator.staging import MAX_FILE_BYTES, StagedHour
from app.aggregator.stats import FleetStats, SignalStats, VehicleStats, latency_percentiles
from app.aggregator.tables import curated, vehicle_stats
from app.anomaly import Episode
from app.contract import (
    CANONICAL_CAN_ID_PATTERN,
    MAX_CAN_ID,
    MAX_SIGNAL_NAME_LENGTH,
    MAX_SIGNALS,
    MAX_STANDARD_CAN_ID,
    MAX_VEHICLE_ID_LENGTH,
    SIGNAL_NAME_PATTERN,
    STORED_TIMESTAMP_PATTERN,
    SYNTHETIC_VEHICLE_PREFIX,
    VEHICLE_ID_PATTERN,
)
from app.errors import ContractError
from app.stored import decode_line

log = logging.getLogger(__name__)

#: DuckDB's strptime format of a stored timestamp (`%g`: milliseconds).
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%gZ"
#: A stored line's fields, parsed once per line by DuckDB's JSON reader (yyjson).
_FIELDS: Final = (
    '{"timestamp": "VARCHAR", "vehicle_id": "VARCHAR", "can_id": "VARCHAR", '
    '"payload": "JSON", "ingest_received_at": "VARCHAR"}'
)
#: A canonical line is its variable parts plus this many bytes of keys, quotes and timestamps.
_CANONICAL_OVERHEAD: Final = 127
#: A DOUBLE holds every integer up to 2^53 exactly; a known signal beyond it keeps its JSON spelling.
_EXACT_IN_DOUBLE: Final = 2**53
#: A signal value as DuckDB spells it back: a boolean, an integer of at most 18 digits (so within a
#: signed 64-bit integer), or a finite float. Anything else (19-digit integers) is the reader's.
_NUMBER: Final = r"-?(?:[0-9]{1,18}|[0-9]+\.[0-9]+(?:e[-+]?[0-9]+)?|[0-9]+e[-+]?[0-9]+)"
_VALUE: Final = rf"(?:true|false|{_NUMBER})"
_PAIR: Final = rf'"{SIGNAL_NAME_PATTERN}":{_VALUE}'
PAYLOAD_PATTERN: Final = rf"\{{{_PAIR}(?:,{_PAIR})*\}}"
_SETTINGS: Final = {
    # Nothing is downloaded at run time, whatever a query names.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "preserve_insertion_order": False,
}


def quote(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _real_timestamp(text: str) -> str:
    return (
        f"regexp_full_match({text}, {quote(STORED_TIMESTAMP_PATTERN)}) "
        f"AND try_strptime({text}, '{TIMESTAMP_FORMAT}') IS NOT NULL AND {text}[:4] <> '0000'"
    )


def checked_lines(source: str, *, trusted: bool = False) -> str:
    """SQL over `source` (obj, line): each line's fields and `ok`, true when the line is a valid
    record written exactly as the consumer writes one (a subset of what the model accepts).

    JSON is parsed once per line; the checks are the contract's patterns and bounds on the fields,
    and the line's length against the canonical length of those fields: any other spelling (extra
    keys, whitespace, escapes, a number written otherwise) makes it longer or shorter, and the line
    goes to the contract's reader instead. `trusted` lines (re-spelled by that reader) skip the length.
    """
    vid, can = "r.vehicle_id", "r.can_id"
    shape = [
        "r IS NOT NULL",
        _real_timestamp("r.timestamp"),
        _real_timestamp("r.ingest_received_at"),
        f"regexp_full_match({vid}, {quote(VEHICLE_ID_PATTERN)}) AND length({vid}) <= {MAX_VEHICLE_ID_LENGTH}",
        f"regexp_full_match({can}, {quote(CANONICAL_CAN_ID_PATTERN)})",
        f"(CASE length({can}) WHEN 5 THEN TRY_CAST({can} AS BIGINT) <= {MAX_STANDARD_CAN_ID} "
        f"ELSE TRY_CAST({can} AS BIGINT) BETWEEN {MAX_STANDARD_CAN_ID + 1} AND {MAX_CAN_ID} END)",
        f"regexp_full_match(payload, {quote(PAYLOAD_PATTERN)})",
    ]
    if not trusted:
        shape.append(
            f"length(line) = length({vid}) + length({can}) + length(payload) + {_CANONICAL_OVERHEAD}"
        )
    names = [
        f"len(names) <= {MAX_SIGNALS}",
        "names = list_sort(names)",
        "len(list_distinct(names)) = len(names)",
        f"list_bool_and(list_transform(names, lambda n: length(n) <= {MAX_SIGNAL_NAME_LENGTH}))",
    ]
    return f"""
        SELECT obj, line, r, payload, coalesce(shape_ok AND {" AND ".join(names)}, false) AS ok
        FROM (
            SELECT *, CASE WHEN shape_ok THEN json_keys(payload) END AS names
            FROM (
                SELECT *, coalesce({" AND ".join(shape)}, false) AS shape_ok
                FROM (
                    SELECT obj, line, r, r.payload::VARCHAR AS payload
                    FROM (SELECT obj, line, try(json_transform(line, {quote(_FIELDS)})) AS r FROM ({source}))
                )
            )
        )
    """


def connect(*, memory_mb: int, threads: int, work_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to `work_dir` beyond `memory_mb` and downloads nothing."""
    config: dict[str, Any] = {
        **_SETTINGS,
        "memory_limit": f"{memory_mb}MB",
        "temp_directory": str(work_dir / "spill"),
        "threads": threads or cpus(),
    }
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ values print and group in UTC, whatever the host says
    con.execute("SET enable_progress_bar = false")  # the job's output is a log: no bar of carriage returns
    return con


def cpus() -> int:
    """CPUs this process may run on (the task's share of the host, where the kernel says so)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: The identity fields of a record, as columns of the grouped tables.
_IDENTITY: Final = "ts, vehicle_id, can_id, payload"


def scan(files: Sequence[Path]) -> str:
    """SQL reading staging files as (obj, line): DuckDB's CSV reader, no quoting, 0x1F between.

    The buffer holds the largest file whole, so no line spans two buffers: DuckDB 2.0.1 raised an
    internal error (in `StringValueScanner::TryMoveToNextBuffer`) on a line that did, once in an
    18 M-record hour. The staging files are at most `staging.MAX_FILE_BYTES`, DuckDB's default
    buffer size, unless one object is larger.
    """
    paths = "[" + ", ".join(quote(str(p)) for p in files) + "]"
    return (
        f"read_csv({paths}, columns={{'obj': 'INTEGER', 'line': 'VARCHAR'}}, delim=chr(31), "
        "quote='', escape='', header=false, auto_detect=false, new_line='\\n', "
        f"buffer_size={buffer_bytes(files)})"
    )


def buffer_bytes(files: Sequence[Path]) -> int:
    """A CSV buffer that holds the largest of `files` whole (never below DuckDB's default)."""
    largest = max((p.stat().st_size for p in files), default=0)
    return max(MAX_FILE_BYTES, largest + 1)


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A stored line the contract refuses: which object, which line (1-based, when known), why."""

    obj: int
    line_number: int | None
    error: ContractError


@dataclass(frozen=True, slots=True)
class HourTotals:
    """What the engine found in the hour: the statistics, and what it left out and why."""

    fleet: FleetStats
    vehicles: list[VehicleStats]
    synthetic_records: int
    invalid: list[InvalidLine]


class HourEngine:
    """One hour on one connection: `load` the staged lines, then write the tables and count."""

    def __init__(self, con: duckdb.DuckDBPyConnection, staged: StagedHour, work_dir: Path) -> None:
        self._con = con
        self._staged = staged
        self._work_dir = work_dir
        self._invalid: list[InvalidLine] = []
        self._synthetic = 0

    def load(self) -> None:
        """Validate every staged line once; build the distinct records, then the curated rows."""
        con = self._con
        con.execute("CREATE TEMP TABLE objects (obj INTEGER, flushed_ms BIGINT)")
        rows = [(o.number, o.flushed_at_ms) for o in self._staged.objects]
        if rows:
            con.executemany("INSERT INTO objects VALUES (?, ?)", rows)
        staged = (
            f"SELECT obj, line FROM {scan(self._staged.files)} WHERE line IS NOT NULL AND trim(line) <> ''"
            if self._staged.files
            else "SELECT NULL::INTEGER AS obj, NULL::VARCHAR AS line WHERE false"
        )
        self._group("line_groups", checked_lines(staged))
        fixed = self._fix()
        groups = "SELECT * FROM line_groups"
        if fixed is not None:
            self._group("fixed_groups", checked_lines(f"SELECT obj, line FROM {scan([fixed])}", trusted=True))
            groups += " UNION ALL SELECT * FROM fixed_groups"
        con.execute(
            f"""
            CREATE TEMP TABLE latencies AS
            SELECT latency, synthetic, sum(copies)::BIGINT AS copies FROM ({groups})
            WHERE kind = 'latency' GROUP BY latency, synthetic
            """
        )
        # Copies of one record in both the staged and the re-spelled lines are still one record.
        records = f"SELECT * FROM ({groups}) WHERE kind = 'record'"
        if fixed is not None:
            records = (
                f"SELECT 'record' AS kind, {_IDENTITY}, min(ingest) AS ingest, sum(copies) AS copies "
                f"FROM ({records}) GROUP BY {_IDENTITY}"
            )
        self._curate(records)
        con.execute("DROP TABLE line_groups")  # the curated rows hold all that is needed from here
        if fixed is not None:
            con.execute("DROP TABLE fixed_groups")

    def _group(self, name: str, checked: str) -> None:
        """One pass over the lines, three groupings (GROUPING SETS): records by identity (the
        identity fields, by value; the earliest arrival, the copies), the latency histogram, and
        every line that is not `ok`, whole, with the objects it came from, for the contract's reader."""
        self._con.execute(
            f"""
            CREATE TEMP TABLE {name} AS
            SELECT CASE WHEN grouping(latency) = 0 THEN 'latency' WHEN ok THEN 'record' ELSE 'bad' END AS kind,
                   ts, vehicle_id, can_id, payload, bad_line, latency, synthetic,
                   min(ingest) AS ingest, count(*) AS copies, list(obj) FILTER (WHERE NOT ok) AS bad_objects
            FROM (
                SELECT ok, obj,
                       CASE WHEN ok THEN strptime(r.timestamp, '{TIMESTAMP_FORMAT}') END AS ts,
                       CASE WHEN ok THEN r.vehicle_id END AS vehicle_id,
                       CASE WHEN ok THEN r.can_id END AS can_id,
                       CASE WHEN ok THEN payload END AS payload,
                       CASE WHEN ok THEN NULL ELSE line END AS bad_line,
                       ingest,
                       CASE WHEN ok THEN o.flushed_ms - epoch_ms(ingest) END AS latency,
                       coalesce(starts_with(r.vehicle_id, {quote(SYNTHETIC_VEHICLE_PREFIX)}), false) AS synthetic
                FROM (
                    SELECT *, CASE WHEN ok THEN strptime(r.ingest_received_at, '{TIMESTAMP_FORMAT}') END AS ingest
                    FROM ({checked})
                ) AS lines JOIN objects AS o USING (obj)
            )
            GROUP BY GROUPING SETS ((ok, ts, vehicle_id, can_id, payload, bad_line), (latency, synthetic))
            HAVING grouping(latency) = 1 OR latency IS NOT NULL
            """
        )

    def _fix(self) -> Path | None:
        """The contract's reader on each line the SQL did not pass: its canonical lines to a file."""
        slow: list[tuple[int, int | None, bytes]] = list(self._staged.odd_lines)
        for line, objects in self._con.execute(
            "SELECT bad_line, bad_objects FROM line_groups WHERE kind = 'bad'"
        ).fetchall():
            slow.extend((int(obj), None, str(line).encode()) for obj in objects)
        if not slow:
            return None
        path = self._work_dir / "fixed.txt"
        refused: list[tuple[int, int | None, bytes, ContractError]] = []
        with path.open("wb") as out:
            for obj, number, line in slow:
                try:
                    record = decode_line(line)
                except ContractError as exc:
                    refused.append((obj, number, line, exc))
                    continue
                out.write(b"%d\x1f%s\n" % (obj, record.line))
        self._invalid = self._numbered(refused)
        return path

    def _numbered(self, refused: list[tuple[int, int | None, bytes, ContractError]]) -> list[InvalidLine]:
        """Each refused line with its line number in its object (read back from the staging file)."""
        objects = {o.number: o for o in self._staged.objects}
        positions: dict[int, dict[bytes, list[int]]] = {}
        found = []
        for obj, known, line, exc in refused:
            number = known
            if number is None:
                if obj not in positions:
                    where: dict[bytes, list[int]] = {}
                    for n, staged in enumerate(objects[obj].staged_lines(), start=1):
                        where.setdefault(staged, []).append(n)
                    positions[obj] = where
                candidates = positions[obj].get(line, [])
                number = candidates.pop(0) if candidates else None
            found.append(InvalidLine(obj=obj, line_number=number, error=_renumbered(exc, number)))
        return sorted(found, key=lambda i: (i.obj, i.line_number or 0))

    def _curate(self, records: str) -> None:
        """Typed rows, one per distinct record; synthetic (smoke test) vehicles counted and left out."""
        signals = curated().signals
        extracted = "json_extract(payload, [" + ", ".join(f"'$.{name}'" for name in signals) + "])"
        typed = []
        for i, name in enumerate(signals, start=1):
            value = f"signal_values[{i}]"
            # A known signal gets its column when it is a number a DOUBLE holds exactly; a boolean,
            # or an integer beyond 2^53, stays in other_signals as sent.
            typed.append(
                f"CASE WHEN json_type({value}) = 'DOUBLE' OR (json_type({value}) IN ('BIGINT', 'UBIGINT') "
                f"AND abs(TRY_CAST({value} AS HUGEINT)) <= {_EXACT_IN_DOUBLE}) "
                f'THEN TRY_CAST({value} AS DOUBLE) END AS "{name}"'
            )
        removed = ", ".join(f'CASE WHEN "{name}" IS NOT NULL THEN \'"{name}":null\' END' for name in signals)
        typed_count = " + ".join(f'("{name}" IS NOT NULL)::INTEGER' for name in signals)
        self._synthetic = int(
            self._scalar(
                f"SELECT coalesce(sum(copies), 0) FROM ({records}) "
                f"WHERE starts_with(vehicle_id, {quote(SYNTHETIC_VEHICLE_PREFIX)})"
            )
        )
        self._con.execute(
            f"""
            CREATE TEMP TABLE curated AS
            SELECT vehicle_id, ts::TIMESTAMPTZ AS "timestamp", can_id, ingest::TIMESTAMPTZ AS ingest_received_at,
                   {", ".join(f'"{name}"' for name in signals)},
                   CASE WHEN len(json_keys(payload)) > {typed_count}
                        THEN json_merge_patch(payload, '{{' || concat_ws(',', {removed}) || '}}')::VARCHAR
                   END AS other_signals,
                   copies::INTEGER AS copies
            FROM (
                SELECT *, {", ".join(typed)}
                FROM (SELECT *, {extracted} AS signal_values FROM ({records}))
            )
            WHERE NOT starts_with(vehicle_id, {quote(SYNTHETIC_VEHICLE_PREFIX)})
            """
        )

    def write_curated(self, path: Path, *, row_group_rows: int) -> int:
        """The curated table as one zstd Parquet file, sorted by vehicle and time; returns its rows."""
        columns = ", ".join(f'"{c.name}"' for c in curated().columns)
        self._con.execute(
            f'COPY (SELECT {columns} FROM curated ORDER BY vehicle_id, "timestamp", can_id) '
            f"TO {quote(str(path))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {row_group_rows})"
        )
        return int(self._scalar("SELECT count(*) FROM curated"))

    def newest_event_ms(self) -> int | None:
        """The fleet's newest sample (vehicle time) this hour, if any record."""
        newest = self._scalar('SELECT max(epoch_ms("timestamp")) FROM curated')
        return None if newest is None else int(newest)

    def distinct_records(self) -> int:
        return int(self._scalar("SELECT count(*) FROM curated"))

    def record_anomalies(self, episodes: Sequence[Episode]) -> None:
        """The episodes' count per vehicle and rule, for the per-vehicle statistics (`totals`)."""
        self._con.execute(
            "CREATE TEMP TABLE anomaly_counts (vehicle_id VARCHAR, rule VARCHAR, episodes BIGINT)"
        )
        counts: dict[tuple[str, str], int] = {}
        for episode in episodes:
            key = (episode.vehicle_id, episode.rule)
            counts[key] = counts.get(key, 0) + 1
        if counts:
            self._con.executemany(
                "INSERT INTO anomaly_counts VALUES (?, ?, ?)", [(v, r, n) for (v, r), n in counts.items()]
            )

    def totals(self, *, objects: int, unreadable_objects: int, clock_limit_ms: int) -> HourTotals:
        """Fleet and per-vehicle statistics, as the Python aggregator defined them (docs/aggregator.md)."""
        con = self._con
        records, distinct, vehicles = con.execute(
            "SELECT coalesce(sum(copies), 0), count(*), count(DISTINCT vehicle_id) FROM curated"
        ).fetchall()[0]
        histogram = con.execute(
            "SELECT latency, sum(copies) FROM latencies WHERE NOT synthetic GROUP BY latency"
        ).fetchall()
        fleet = FleetStats(
            records=int(records),
            distinct=int(distinct),
            vehicles=int(vehicles),
            objects=objects,
            invalid_lines=len(self._invalid),
            unreadable_objects=unreadable_objects,
            ingest_to_persist_ms=latency_percentiles({int(k): int(v) for k, v in histogram}),
        )
        return HourTotals(
            fleet=fleet,
            vehicles=self._vehicles(clock_limit_ms),
            synthetic_records=self._synthetic,
            invalid=list(self._invalid),
        )

    def _vehicles(self, clock_limit_ms: int) -> list[VehicleStats]:
        """Per vehicle: counts, first and last timestamp, and each numeric signal's statistics."""
        con = self._con
        known = " UNION ALL ".join(
            f'SELECT vehicle_id, \'{name}\' AS name, "{name}" AS value FROM curated WHERE "{name}" IS NOT NULL'
            for name in curated().signals
        )
        other = (
            "SELECT vehicle_id, name, TRY_CAST(json_extract(other_signals, '$.\"' || name || '\"') AS DOUBLE) "
            "AS value FROM (SELECT vehicle_id, other_signals, unnest(json_keys(other_signals)) AS name "
            "FROM curated WHERE other_signals IS NOT NULL) "
            "WHERE json_type(other_signals, '$.\"' || name || '\"') IN ('DOUBLE', 'BIGINT', 'UBIGINT')"
        )
        con.execute(
            "CREATE TEMP TABLE signal_stats AS SELECT vehicle_id, name, min(value) AS min, max(value) AS max, "
            f"avg(value) AS mean, count(*) AS count FROM ({known} UNION ALL {other}) GROUP BY vehicle_id, name"
        )
        if not _exists(con, "anomaly_counts"):
            con.execute(
                "CREATE TEMP TABLE anomaly_counts (vehicle_id VARCHAR, rule VARCHAR, episodes BIGINT)"
            )
        con.execute(
            f"""
            CREATE TEMP TABLE vehicle_rows AS
            SELECT vehicle_id, sum(copies) AS records, count(*) AS distinct_records,
                   min("timestamp") AS first_timestamp, max("timestamp") AS last_timestamp,
                   quantile_disc(delay, 0.5) AS vehicle_delay_p50_ms, quantile_disc(delay, 0.95) AS vehicle_delay_p95_ms,
                   min(delay) AS clock_offset_ms, abs(min(delay)) > {clock_limit_ms} AS clock_off
            FROM (SELECT *, epoch_ms(ingest_received_at) - epoch_ms("timestamp") AS delay FROM curated)
            GROUP BY vehicle_id
            """
        )
        anomalies: dict[str, dict[str, int]] = {}
        for vehicle_id, rule, episodes in con.execute(
            "SELECT vehicle_id, rule, episodes FROM anomaly_counts ORDER BY vehicle_id, rule"
        ).fetchall():
            anomalies.setdefault(vehicle_id, {})[rule] = int(episodes)
        per_signal: dict[str, dict[str, SignalStats]] = {}
        for vehicle_id, name, low, high, mean, count in con.execute(
            "SELECT vehicle_id, name, min, max, mean, count FROM signal_stats ORDER BY vehicle_id, name"
        ).fetchall():
            per_signal.setdefault(vehicle_id, {})[name] = SignalStats(
                min=float(low), max=float(high), mean=float(mean), count=int(count)
            )
        return [
            VehicleStats(
                vehicle_id=vehicle_id,
                records=int(records),
                distinct=int(distinct),
                first_timestamp=_utc(first),
                last_timestamp=_utc(last),
                signals=per_signal.get(vehicle_id, {}),
                vehicle_delay_ms=(int(p50), int(p95)),
                clock_offset_ms=int(offset),
                clock_off=bool(off),
                anomalies=anomalies.get(vehicle_id, {}),
            )
            for vehicle_id, records, distinct, first, last, p50, p95, offset, off in con.execute(
                "SELECT * FROM vehicle_rows ORDER BY vehicle_id"
            ).fetchall()
        ]

    def write_vehicle_stats(self, path: Path) -> None:
        """The per-vehicle rows as Parquet, in the columns of the vehicle_stats table (after `totals`)."""
        table = vehicle_stats()
        select = {
            "vehicle_id": "v.vehicle_id",
            "records": "v.records::BIGINT",
            "distinct_records": "v.distinct_records::BIGINT",
            "duplicates": "(v.records - v.distinct_records)::BIGINT",
            "first_timestamp": "v.first_timestamp",
            "last_timestamp": "v.last_timestamp",
            "signals": "coalesce(s.signals, MAP {})",
            "vehicle_delay_p50_ms": "v.vehicle_delay_p50_ms",
            "vehicle_delay_p95_ms": "v.vehicle_delay_p95_ms",
            "clock_offset_ms": "v.clock_offset_ms",
            "clock_off": "v.clock_off",
            "anomalies": "coalesce(a.anomalies, MAP {})",
        }
        columns = ", ".join(f'{select[c.name]}::{c.duckdb_type} AS "{c.name}"' for c in table.columns)
        self._con.execute(
            f"""
            COPY (
                SELECT {columns}
                FROM vehicle_rows AS v LEFT JOIN (
                    SELECT vehicle_id, map_from_entries(list(
                        struct_pack(k := name, v := struct_pack(min := min, max := max, mean := mean, count := count))
                        ORDER BY name)) AS signals
                    FROM signal_stats GROUP BY vehicle_id
                ) AS s USING (vehicle_id)
                LEFT JOIN (
                    SELECT vehicle_id, map_from_entries(list(struct_pack(k := rule, v := episodes) ORDER BY rule))
                        AS anomalies
                    FROM anomaly_counts GROUP BY vehicle_id
                ) AS a USING (vehicle_id)
                ORDER BY v.vehicle_id
            ) TO {quote(str(path))} (FORMAT parquet, COMPRESSION zstd)
            """
        )

    def _scalar(self, sql: str) -> Any:
        return self._con.execute(sql).fetchall()[0][0]


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()
    return bool(found[0][0])


def _renumbered(exc: ContractError, number: int | None) -> ContractError:
    """The reader names lines from 1 within what it was given; say the line within the object."""
    if number is None:
        return exc
    return ContractError(f"line {number}", exc.rule, kind=exc.kind)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def row_group_rows(records: int) -> int:
    """Rows per Parquet row group: at most a million (tens of MB before compression, the size
    Athena splits work on), at least 100,000 so small hours are not cut into many tiny groups."""
    return max(100_000, min(1_000_000, -(-records // 8)))
