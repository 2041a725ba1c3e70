"""`telemetry query` against moto's S3: the Athena table names, the hours asked for, three formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from app.aggregator import aggregate_hour
from app.aws import s3_client
from app.cli import main
from app.contract import Hour, TelemetryIn
from app.embedded_aws import provision
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.query import render
from app.settings import load_settings
from tests.conftest import SettingsFactory

HOUR = Hour("2025-10-19T12")


def stored(vehicle: str, second: int, **payload: float | bool) -> bytes:
    return (
        TelemetryIn.model_validate(
            {
                "timestamp": f"2025-10-19T12:00:{second:02d}Z",
                "vehicle_id": vehicle,
                "can_id": "0x1F1",
                "payload": payload,
            }
        )
        .stamp(datetime(2025, 10, 19, 12, 0, second, 500_000, tzinfo=UTC))
        .to_json()
    )


@pytest.fixture
def hour(mocked_aws: None, settings_factory: SettingsFactory) -> Iterator[None]:
    settings = settings_factory()
    provision(settings)
    store = S3ObjectStore(s3_client(settings), settings.bucket)
    lines = [
        stored("veh-1", 1, cell_temp_max=30.5, battery_soc=80.0),
        stored("veh-1", 2, cell_temp_max=31.5, battery_soc=79.5),
        stored("veh-2", 1, cell_temp_max=29.0, brake_on=True),
    ]
    body = b"".join(line + b"\n" for line in [*lines, lines[0]])
    store.put(key=f"{HOUR.partition('raw/')}part-1.jsonl", body=body, metadata={}, content_type="x")
    aggregate_hour(store=store, settings=settings, hour=HOUR, metrics=InMemoryMetrics())
    yield


def query(capsys: pytest.CaptureFixture[str], sql: str, *extra: str) -> tuple[int, str, str]:
    code = main(["query", sql, "--hour", HOUR.key, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_per_vehicle_max_over_curated_as_csv(hour: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = query(
        capsys,
        "SELECT vehicle_id, max(cell_temp_max) AS hottest, count(*) AS records FROM curated "
        "WHERE year = '2025' AND hour = '12' GROUP BY vehicle_id ORDER BY vehicle_id",
        "--format",
        "csv",
    )
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["vehicle_id", "hottest", "records"],
        ["veh-1", "31.5", "2"],
        ["veh-2", "29", "1"],
    ]


def test_the_same_question_over_raw_counts_every_stored_copy(
    hour: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = query(
        capsys,
        "SELECT vehicle_id, max(CAST(payload['cell_temp_max'] AS DOUBLE)) AS hottest, count(*) AS lines "
        "FROM raw GROUP BY vehicle_id ORDER BY vehicle_id",
        "--format",
        "json",
    )
    assert code == 0
    assert orjson.loads(out) == [
        {"vehicle_id": "veh-1", "hottest": 31.5, "lines": 3},  # one line is a duplicate
        {"vehicle_id": "veh-2", "hottest": 29.0, "lines": 1},
    ]


def test_vehicle_stats_as_a_table(hour: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = query(
        capsys,
        "SELECT vehicle_id, records, duplicates, signals['battery_soc'].mean AS soc FROM vehicle_stats ORDER BY 1",
    )
    assert code == 0
    assert out.splitlines() == [
        "vehicle_id  records  duplicates    soc",
        "----------  -------  ----------  -----",
        "veh-1             3           1  79.75",
        "veh-2             1           0",
        "(2 rows)",
    ]


def test_an_hour_without_data_answers_with_the_columns_and_no_rows(
    mocked_aws: None, settings_factory: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    provision(settings_factory())
    code, out, _ = query(
        capsys, "SELECT count(*) AS n, min(battery_soc) AS soc FROM curated", "--format", "csv"
    )
    assert (code, out) == (0, "n,soc\n0,\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT * FROM nowhere"], "telemetry query: error: the query failed: Catalog Error"),
        (["SELECT 1", "--from", "2025-10-19T00"], "telemetry query: error: --from/--to: give both ends"),
        (["SELECT 1", "--from", "2025-10-18T00", "--to", "2025-10-19T12"], "at most 24 hours per query"),
        (
            ["SELECT 1", "--hour", "2025-10-19T12", "--to", "2025-10-19T13"],
            "give either --hour or --from/--to",
        ),
        (["SELECT 1", "--from", "2025-10-19T12", "--to", "2025-10-19T11"], "is before --from"),
    ],
)
def test_a_bad_query_or_range_is_one_line_and_exit_2(
    hour: None, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["query", *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and message in err[0]


def test_rendering_every_format_of_a_result() -> None:
    rows = [("veh-1", 1.5, datetime(2025, 10, 19, 12, tzinfo=UTC), None)]
    columns = ["vehicle_id", "value", "at", "note"]
    assert render(columns, rows, "csv") == "vehicle_id,value,at,note\nveh-1,1.5,2025-10-19T12:00:00.000Z,\n"
    assert orjson.loads(render(columns, rows, "json")) == [
        {"vehicle_id": "veh-1", "value": 1.5, "at": "2025-10-19T12:00:00+00:00", "note": None}
    ]
    assert render(columns, [], "table").splitlines()[-1] == "(0 rows)"
    assert load_settings().curated_prefix == "curated/"
