"""The columnar engine held to the contract's model and to the Python fold it replaced.

- The SQL tier of validation never passes a line the model refuses, and what it passes is the
  model's own canonical line (property-based, on the strategies the consumer's reader is held to).
- On generated hours (duplicates, vehicles, refused lines, late clocks) every statistic the engine
  computes equals the reference fold's (app/aggregator/reference.py), which is the definition.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.aggregator import aggregate_hour
from app.aggregator.columnar import PAYLOAD_PATTERN, checked_lines, connect, row_group_rows
from app.aggregator.reference import HourAccumulator
from app.contract import Hour, TelemetryIn, parse_record
from app.errors import ContractError
from app.observability import InMemoryMetrics
from tests.conftest import SettingsFactory
from tests.support.storage import MemoryStore
from tests.support.strategies import stored_line, stored_records

HOUR = Hour("2025-10-19T12")


def sql_passes(lines: list[bytes]) -> list[bool]:
    """The SQL tier's verdict on each line, in order (lines that are not UTF-8 never reach SQL)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (obj INTEGER, line VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(n, line.decode()) for n, line in enumerate(lines)])
    verdicts = con.execute(
        f"SELECT obj, ok FROM ({checked_lines('SELECT obj, line FROM t')}) ORDER BY obj"
    ).fetchall()
    return [bool(ok) for _, ok in verdicts]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(stored_records(), min_size=1, max_size=25))
def test_the_sql_tier_passes_only_the_models_canonical_lines(records: list[dict[str, Any]]) -> None:
    lines = [line for line in map(stored_line, records) if _utf8(line)]
    for line, passed in zip(lines, sql_passes(lines), strict=True):
        if not passed:
            continue  # the contract's reader decides (tests/unit/test_stored.py)
        try:
            canonical = parse_record(line).to_json()
        except (ValueError, orjson.JSONEncodeError):
            pytest.fail(f"the SQL tier passed a line the model refuses: {line!r}")
        assert canonical == line, "the SQL tier passed a line the model spells otherwise"


def _utf8(line: bytes) -> bool:
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


def test_the_sql_tier_passes_what_the_consumer_writes_and_leaves_the_rest_to_the_reader() -> None:
    def line(**payload: Any) -> bytes:
        return (
            TelemetryIn.model_validate(
                {
                    "timestamp": "2025-10-19T12:00:00Z",
                    "vehicle_id": "veh-1",
                    "can_id": "0x18FF50E5",
                    "payload": payload,
                }
            )
            .stamp(datetime(2025, 10, 19, 12, 0, 1, tzinfo=UTC))
            .to_json()
        )

    written = [
        line(a=1.5, b=True, c=-3),
        line(x_1=0.30000000000000004, y=0.0, z=-12345678),
        line(a=1e-7),
        line(a=12345678901234567),  # 17 digits
    ]
    odd = [
        line(a=10**18),  # 19 digits: the reader checks the 64-bit bound
        line(a=1e16),  # orjson writes 1e+16, DuckDB another way: the reader decides
        written[0].replace(b"1.5", b"1.50"),  # another writer's spelling of 1.5
        written[0].replace(b"1.5", b"1.0000000000000001"),  # not the shortest spelling of 1.0
        written[0].replace(b'"veh-1"', b'"veh 1"'),
        written[0].replace(b"0x18FF50E5", b"0x000007FF"),  # a standard id written as extended
        written[0].replace(b"2025-10-19T12:00:00.000Z", b"2025-02-30T12:00:00.000Z"),
        written[0].replace(b'"a":1.5,"b":true', b'"b":true,"a":1.5'),  # names out of order
        written[0].replace(b'"a":1.5,"b":true', b'"a":1.5,"a":true'),  # a name twice
        written[0].replace(b'"c":-3}', b'"c":-3},"extra":1'),  # a key the contract does not have
        written[0] + b" ",
    ]
    assert sql_passes(written + odd) == [True] * len(written) + [False] * len(odd)
    assert PAYLOAD_PATTERN.startswith("\\{")


# --- the engine against the reference fold ------------------------------------------------------


@st.composite
def hours(draw: st.DrawFn) -> tuple[list[list[bytes]], int]:
    """Objects of stored lines: a few vehicles, repeated frames, some refused lines; and how many."""
    vehicles = draw(st.lists(st.sampled_from(["veh-1", "veh-2", "veh-3", "smoke-x"]), min_size=1, max_size=3))
    frames = []
    for n in range(draw(st.integers(min_value=0, max_value=30))):
        vehicle = draw(st.sampled_from(vehicles))
        offset = draw(st.integers(min_value=-7200_000, max_value=3599_000))  # vehicle clocks run late
        payload = draw(
            st.dictionaries(
                st.sampled_from(["battery_soc", "cell_temp_max", "odometer", "brake_on"]),
                st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000), st.booleans()),
                min_size=1,
                max_size=3,
            )
        )
        record = TelemetryIn.model_validate(
            {
                "timestamp": HOUR.start + timedelta(milliseconds=offset),
                "vehicle_id": vehicle,
                "can_id": draw(st.sampled_from(["0x1F0", "0x1F1"])),
                "payload": payload,
            }
        )
        for copy in range(draw(st.integers(min_value=1, max_value=3))):
            frames.append(record.stamp(HOUR.start + timedelta(seconds=n, milliseconds=copy * 500)).to_json())
    bad = draw(st.lists(st.sampled_from([b"{not json", b'{"vehicle_id":"v"}', b"[1]"]), max_size=3))
    lines = draw(st.permutations(frames + bad))
    cut = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(lines)), max_size=3)))
    objects = [lines[a:b] for a, b in zip([0, *cut], [*cut, len(lines)], strict=True)]
    return [o for o in objects if o], len(bad)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(hour=hours())
def test_every_statistic_equals_the_reference_fold(
    hour: tuple[list[list[bytes]], int], settings_factory: SettingsFactory, tmp_path: Path
) -> None:
    objects, bad = hour
    store = MemoryStore()
    reference = HourAccumulator()
    flushed = HOUR.start + timedelta(minutes=59)
    for n, lines in enumerate(objects):
        store.put(
            key=f"{HOUR.partition('raw/')}part-{n:03d}.jsonl",
            body=b"".join(line + b"\n" for line in lines),
            metadata={"flushed-at": flushed.isoformat()},
            content_type="x",
        )
        for line in lines:
            if line.startswith(b'{"timestamp"') and b'"vehicle_id":"smoke-' in line:
                continue  # synthetic traffic is left out of the statistics
            with contextlib.suppress(ContractError):  # counted as invalid by the fold itself
                reference.add_line(line, flushed_at_ms=round(flushed.timestamp() * 1000))
    result = aggregate_hour(
        store=store,
        settings=settings_factory(hourly_work_dir=str(tmp_path)),
        hour=HOUR,
        metrics=InMemoryMetrics(),
    )
    expected = reference.fleet(objects=len(objects), unreadable_objects=0)
    assert result.fleet == expected
    assert result.fleet.invalid_lines == bad
    assert len(result.vehicles) == len(reference.vehicles())
    for got, want in zip(result.vehicles, reference.vehicles(), strict=True):
        assert (got.vehicle_id, got.records, got.distinct, got.first_timestamp, got.last_timestamp) == (
            want.vehicle_id,
            want.records,
            want.distinct,
            want.first_timestamp,
            want.last_timestamp,
        )
        assert got.signals.keys() == want.signals.keys()
        for name, stats in got.signals.items():
            reference_stats = want.signals[name]
            assert (stats.min, stats.max, stats.count) == (
                reference_stats.min,
                reference_stats.max,
                reference_stats.count,
            )
            assert stats.mean == pytest.approx(reference_stats.mean, rel=1e-12, abs=1e-9)


def test_row_groups_hold_up_to_a_million_rows_and_never_tiny_ones() -> None:
    assert row_group_rows(0) == 100_000
    assert row_group_rows(3_600_000) == 450_000
    assert row_group_rows(20_000_000) == 1_000_000


def test_the_jobs_duckdb_downloads_nothing_and_spills_where_told(tmp_path: Path) -> None:
    con = connect(memory_mb=300, threads=1, work_dir=tmp_path)

    def setting(name: str) -> Any:
        row = con.execute(f"SELECT current_setting('{name}')").fetchone()
        assert row is not None
        return row[0]

    assert setting("autoinstall_known_extensions") is False
    assert setting("autoload_known_extensions") is False
    assert setting("temp_directory") == str(tmp_path / "spill")
    assert setting("threads") == 1


def test_the_jobs_duckdb_draws_no_progress_bar_into_its_log(tmp_path: Path) -> None:
    # DuckDB's own default differs under pytest, so ask a plain interpreter, as the task runs it.
    probe = (
        "import duckdb, pathlib; from app.aggregator.columnar import connect; "
        "q = \"SELECT current_setting('enable_progress_bar')\"; "
        "print(duckdb.connect().execute(q).fetchone()[0], "
        f"connect(memory_mb=300, threads=1, work_dir=pathlib.Path({str(tmp_path)!r})).execute(q).fetchone()[0])"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    # DuckDB's default draws one; the job's connection does not
    assert answer.stdout.split() == ["True", "False"]
