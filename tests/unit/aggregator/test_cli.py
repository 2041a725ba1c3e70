"""`telemetry aggregate` options: the hour it picks and the one-line refusal of a bad --hour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.aggregator.cli import parse_hour
from app.aggregator.job import floor_hour, hour_path, last_complete_hour
from app.cli import main
from app.errors import ConfigurationError

NOW = datetime(2025, 10, 19, 13, 4, 59, tzinfo=UTC)


def test_default_hour_is_the_last_complete_one() -> None:
    assert last_complete_hour(NOW) == datetime(2025, 10, 19, 12, tzinfo=UTC)
    assert last_complete_hour(datetime(2025, 1, 1, 0, 0, tzinfo=UTC)) == datetime(
        2024, 12, 31, 23, tzinfo=UTC
    )


def test_hour_is_floored_in_utc_and_must_be_aware() -> None:
    berlin = datetime.fromisoformat("2025-10-19T14:30:00+02:00")
    assert floor_hour(berlin) == datetime(2025, 10, 19, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        floor_hour(datetime(2025, 10, 19, 12))


def test_partition_path_matches_the_consumer_layout() -> None:
    hour = datetime(2025, 3, 4, 5, tzinfo=UTC)
    assert hour_path("raw/", hour) == "raw/year=2025/month=03/day=04/hour=05/"


def test_parse_hour_accepts_the_documented_form() -> None:
    assert parse_hour("2025-10-19T12", now=NOW) == datetime(2025, 10, 19, 12, tzinfo=UTC)
    assert parse_hour("2025-10-19T13", now=NOW) == datetime(2025, 10, 19, 13, tzinfo=UTC)  # current hour


@pytest.mark.parametrize("text", ["2025-10-19", "2025-10-19T12:00", "2025-10-19 12", "19/10/2025T12", ""])
def test_malformed_hour_names_the_expected_format(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"--hour: expected YYYY-MM-DDTHH"):
        parse_hour(text, now=NOW)


def test_impossible_and_future_hours_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a real date and hour"):
        parse_hour("2025-02-30T12", now=NOW)
    with pytest.raises(ConfigurationError, match="has not begun"):
        parse_hour("2025-10-19T14", now=NOW)


def test_cli_turns_a_bad_hour_into_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["aggregate", "--hour", "2025-10-19T1"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "telemetry aggregate: error: --hour: expected YYYY-MM-DDTHH (a UTC hour, e.g. 2025-10-19T12), "
        "got '2025-10-19T1'"
    ]
    assert captured.out == ""
