"""Fixtures shared by every test layer: factories for records and settings, moto in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.settings import Settings

VALID_KEY = "k-test-0123456789abcdef"
OTHER_KEY = "k-rotated-fedcba9876543210"

RecordFactory = Callable[..., dict[str, Any]]
SettingsFactory = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's AWS or TELEMETRY_ variables, nor real credentials."""
    import os

    for key in list(os.environ):
        if key.startswith(("TELEMETRY_", "AWS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EMF_ENVIRONMENT", "local")


@pytest.fixture
def record_factory() -> RecordFactory:
    """A valid contract-v1 record as a client sends it; keyword overrides replace fields."""

    def make(**overrides: Any) -> dict[str, Any]:
        now = datetime.now(UTC) - timedelta(seconds=1)
        record: dict[str, Any] = {
            "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "vehicle_id": "veh-00123",
            "can_id": "0x1F0",
            "payload": {"battery_soc": 85.5, "battery_voltage": 400.2, "battery_current": -15.3},
        }
        record.update(overrides)
        return record

    return make


@pytest.fixture
def settings_factory() -> SettingsFactory:
    """Settings as a deployment would have them, with keyword overrides."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"api_keys": [VALID_KEY, OTHER_KEY], "metrics_enabled": False}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    """moto in-process: every boto3 call in the test goes to moto's memory.

    With the local stack's fixes (app/moto_speedups.py): the consumer's threads delete at once, and
    plain moto can put a deleted message back when they do.
    """
    from moto import mock_aws

    from app import moto_speedups

    moto_speedups.apply()
    with mock_aws():
        yield
