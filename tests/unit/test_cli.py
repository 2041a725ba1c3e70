"""The `telemetry` command: sub-commands, help, and one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.cli import COMMANDS, main, optional_modules

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_sub_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command_exits_non_zero_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_configuration_error_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEMETRY_PORT", "not-a-port")
    assert main(["local-aws", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("telemetry local-aws: error: TELEMETRY_PORT:")


def test_schema_writes_both_checked_in_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema, openapi = tmp_path / "schema" / "record.json", tmp_path / "openapi.json"
    assert main(["schema", "--out", str(schema), "--openapi-out", str(openapi)]) == 0
    for written, checked_in in (
        (schema, "docs/schema/telemetry-record-v1.json"),
        (openapi, "docs/openapi.json"),
    ):
        assert written.read_text(encoding="utf-8") == (ROOT / checked_in).read_text(encoding="utf-8")
    assert capsys.readouterr().out.splitlines() == [f"wrote {schema}", f"wrote {openapi}"]


def test_a_command_whose_extra_is_missing_names_it_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As in the image, which installs no extra: `telemetry local-aws` needs moto (`[local]`)."""
    monkeypatch.setitem(sys.modules, "moto", None)  # `import moto` now fails as if not installed
    monkeypatch.setitem(sys.modules, "moto.server", None)
    assert main(["local-aws", "--port", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "telemetry local-aws: error: needs the optional dependencies 'local' (moto is not installed): "
        "pip install 'fleet-telemetry[local]'"
    ]


def test_every_optional_module_maps_to_the_extra_that_installs_it() -> None:
    assert optional_modules() == {"numpy": "sim", "cantools": "sim", "httpx": "sim", "moto": "local"}
