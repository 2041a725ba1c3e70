"""`telemetry aggregate` options: the hour it picks and the one-line refusal of a bad --hour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.aggregator.cli import parse_hour
from app.aggregator.job import last_complete_hour
from app.cli import main
from app.contract import Hour
from app.errors import ConfigurationError

NOW = datetime(2025, 10, 19, 13, 4, 59, tzinfo=UTC)


def test_default_hour_is_the_last_complete_one() -> None:
    assert last_complete_hour(NOW) == Hour("2025-10-19T12")
    assert last_complete_hour(NOW).start == datetime(2025, 10, 19, 12, tzinfo=UTC)
    assert last_complete_hour(datetime(2025, 1, 1, 0, 0, tzinfo=UTC)) == Hour("2024-12-31T23")


def test_parse_hour_accepts_the_documented_form() -> None:
    assert parse_hour("2025-10-19T12", now=NOW) == Hour("2025-10-19T12")
    assert parse_hour("2025-10-19T13", now=NOW) == Hour("2025-10-19T13")  # the current hour


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
