"""EMF events carry value arrays and go to stdout even where the library would pick its agent."""

from __future__ import annotations

import json

import pytest

from app.observability import EmfMetrics, kv


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
