"""scripts/smoke.py runs with the standard library and boto3 only, so it keeps its own copy of the
partition layout; this holds that copy to the contract's."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from app.contract import Hour

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smoke.py"


@pytest.fixture(scope="module")
def smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 10, 19, 12, 34, 56, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),  # across a year
        datetime(2024, 2, 29, 0, 0, 0, tzinfo=UTC),  # a leap day at midnight
    ],
)
def test_the_smoke_scripts_partitions_are_the_contracts(smoke: ModuleType, moment: datetime) -> None:
    expected = [Hour.of(moment + timedelta(hours=h)).partition("raw/") for h in (-1, 0, 1)]
    assert smoke.hour_prefixes("raw/", moment) == expected
