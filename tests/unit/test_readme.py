"""The README's configuration table lists every environment variable Settings reads."""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings, env_var_name

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [env_var_name(f) for f in Settings.model_fields if f"| `{env_var_name(f)}` |" not in text]
    assert not missing, f"add these to the README's Configuration table: {missing}"
