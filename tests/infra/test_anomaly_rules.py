"""infra/anomaly_rules.json, the rules infra/alarms.tf alarms on, against the application's rules.

Terraform cannot import Python, so the alarms read their list of rules from a file beside them;
this test keeps that file equal to what the consumer and the hourly job emit as the EMF dimension
`Rule` (app/anomaly/rules.py), and to which of them the consumer alerts on live for each value of
TELEMETRY_LIVE_RULES. An alarm on a rule name the application never sends would stay silent for
ever; a rule without an alarm would never page anyone. Fast: no Terraform, no processes.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from app.anomaly import PER_SAMPLE_RULES, RULES
from app.consumer.live_rules import rules_for
from app.settings import Settings

INFRA = Path(__file__).resolve().parents[2] / "infra"


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    document = json.loads((INFRA / "anomaly_rules.json").read_text(encoding="utf-8"))
    return dict(document["rules"])


def test_the_alarmed_rules_are_the_applications_rules_in_its_order(rules: dict[str, dict[str, Any]]) -> None:
    assert list(rules) == list(RULES)


def test_per_sample_is_the_applications_per_sample_set(rules: dict[str, dict[str, Any]]) -> None:
    assert {name for name, spec in rules.items() if spec["per_sample"] is True} == set(PER_SAMPLE_RULES)
    assert all(isinstance(spec["per_sample"], bool) for spec in rules.values())


def live_alerting(rules: dict[str, dict[str, Any]], mode: str) -> set[str]:
    """What infra/alarms.tf's local.live_alerting_rules computes from the file, per mode."""
    return {
        "all": set(rules),
        "per_sample": {name for name, spec in rules.items() if spec["per_sample"]},
        "off": set(),
    }[mode]


def test_each_live_rules_mode_alarms_live_on_exactly_what_the_consumer_sends(
    rules: dict[str, dict[str, Any]],
) -> None:
    """The live alarms of a mode are the rules rules_for(mode) lets out of the consumer; the
    terraform variable takes the same modes as the setting (consumer.live_rules)."""
    modes = typing.get_args(Settings.model_fields["live_rules"].annotation)
    assert set(modes) == {"all", "per_sample", "off"}
    for mode in modes:
        assert live_alerting(rules, mode) == set(rules_for(mode)), mode
    variables = (INFRA / "variables.tf").read_text(encoding="utf-8")
    allowed = re.search(r"contains\(\[([^\]]*)\], var\.consumer\.live_rules\)", variables)
    assert allowed is not None, "the consumer.live_rules validation is gone from infra/variables.tf"
    assert json.loads(f"[{allowed.group(1)}]") == list(modes)


def test_every_rule_has_a_meaning_for_its_alarm_text(rules: dict[str, dict[str, Any]]) -> None:
    """The text goes after 'Trigger: ... .' in the alarm description (<= 1024 characters in all)."""
    for name, spec in rules.items():
        meaning = spec["meaning"]
        assert isinstance(meaning, str) and 40 <= len(meaning) <= 250, name
        assert meaning.endswith("."), name
        assert "docs/operations.md" not in meaning, name  # the alarm names its section once
