"""Settings come from the environment; a bad value fails at start-up naming its variable."""

from __future__ import annotations

import pytest

from app.errors import ConfigurationError
from app.resources import pipeline_defaults
from app.settings import load_settings, require_api_keys


def test_defaults_come_from_the_shared_resource_file() -> None:
    settings = load_settings()
    defaults = pipeline_defaults()
    assert settings.queue_name == defaults.queue_name
    assert settings.dlq_name == defaults.dlq_name
    assert settings.bucket == defaults.bucket_name
    assert settings.visibility_timeout_seconds == defaults.queue.visibility_timeout_seconds
    assert settings.max_receive_count == defaults.queue.max_receive_count


def test_every_knob_is_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_FLUSH_MAX_RECORDS", "250")
    monkeypatch.setenv("TELEMETRY_BUCKET", "my-bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    settings = load_settings()
    assert (settings.flush_max_records, settings.bucket) == (250, "my-bucket")
    assert (settings.aws_endpoint_url, settings.aws_region) == ("http://127.0.0.1:5000", "us-west-2")


def test_api_keys_are_a_comma_separated_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_API_KEYS", "k-current-0123456789ab, k-next-0123456789abcd")
    keys = require_api_keys(load_settings())
    assert keys == {b"k-current-0123456789ab", b"k-next-0123456789abcd"}
    assert "k-current" not in repr(load_settings())  # secrets never reach logs through repr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELEMETRY_FLUSH_MAX_RECORDS", "many"),
        ("TELEMETRY_PORT", "70000"),
        ("TELEMETRY_API_KEYS", "changeme"),
        ("TELEMETRY_MESSAGE_MAX_BYTES", "10000000"),
        ("TELEMETRY_LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_values_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as exc:
        load_settings()
    message = str(exc.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    assert value not in message or variable != "TELEMETRY_API_KEYS"


def test_the_deploys_smoke_key_is_accepted_beside_the_fleets(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy.yml posts with a key of its own secret, so it never needs to read the fleet's."""
    monkeypatch.setenv("TELEMETRY_API_KEYS", "k-fleet-0123456789abcd")
    monkeypatch.setenv("TELEMETRY_SMOKE_API_KEYS", "k-smoke-0123456789abcd")
    assert require_api_keys(load_settings()) == {b"k-fleet-0123456789abcd", b"k-smoke-0123456789abcd"}
    assert "k-smoke" not in repr(load_settings())


def test_a_smoke_key_alone_does_not_start_the_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_SMOKE_API_KEYS", "k-smoke-0123456789abcd")
    with pytest.raises(ConfigurationError, match=r"^TELEMETRY_API_KEYS: required"):
        require_api_keys(load_settings())


def test_a_weak_smoke_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_SMOKE_API_KEYS", "changeme")
    with pytest.raises(ConfigurationError, match=r"^TELEMETRY_SMOKE_API_KEYS: "):
        load_settings()


def test_receiver_refuses_to_start_without_keys() -> None:
    with pytest.raises(ConfigurationError, match=r"^TELEMETRY_API_KEYS: required"):
        require_api_keys(load_settings())


def test_a_read_timeout_shorter_than_the_long_poll_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_AWS_READ_TIMEOUT_SECONDS", "10")
    with pytest.raises(ConfigurationError, match=r"^TELEMETRY_AWS_READ_TIMEOUT_SECONDS \(10\) must exceed"):
        load_settings()
