"""Log lines and EMF events: the shapes CloudWatch (and a person reading a local log) rely on."""

from __future__ import annotations

import json
import logging
import re

import pytest

from app.observability import EmfMetrics, configure_logging, kv
from tests.conftest import SettingsFactory


def test_kv_formats_one_event_line() -> None:
    assert kv("write_batch", size=3, latency_ms=12.345) == "event=write_batch size=3 latency_ms=12.3"


def test_emf_event_holds_every_value_of_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    EmfMetrics(namespace="Test", service="unit").emit(
        {"LatencyMs": [1.0, 2.0, 3.0], "Records": 3}, units={"LatencyMs": "Milliseconds"}
    )
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["LatencyMs"] == [1.0, 2.0, 3.0]
    assert event["Records"] == 3.0
    definition = event["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == "Test"
    assert {"Name": "LatencyMs", "Unit": "Milliseconds"} in definition["Metrics"]


def test_log_lines_start_with_the_utc_time_then_the_level(
    capsys: pytest.CaptureFixture[str], settings_factory: SettingsFactory
) -> None:
    configure_logging(settings_factory(log_level="INFO"))
    logging.getLogger("app.test").info(kv("hello", n=1))
    logging.getLogger("botocore").info("library chatter stays out")
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO event=hello n=1", line), line
