"""Every command the docs show exists: `make` targets, `telemetry` sub-commands, scripts.

A new engineer follows README.md, infra/README.md, infra/bootstrap/README.md and docs/ from zero
to a deployed stack; a command that the docs show but the repository lacks is a step they would
have to guess. Only code (fenced blocks and `inline code`) is read, never prose.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_MAKE = re.compile(r"(?<![\w./-])make ([a-z][a-z0-9-]*)")
_TELEMETRY = re.compile(r"(?<![\w./-])telemetry ([a-z][a-z0-9-]*)")
_SCRIPT = re.compile(r"(?<![\w/.-])((?:scripts|docker)/[\w./-]+\.(?:py|sh))")


def _docs() -> list[Path]:
    paths = [ROOT / "README.md", ROOT / "infra" / "README.md", ROOT / "infra" / "bootstrap" / "README.md"]
    paths += sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in paths if p.exists()]


def _code(text: str) -> str:
    fenced = _FENCED.findall(text)
    prose = _FENCED.sub("", text)
    return "\n".join([*fenced, *_INLINE.findall(prose)])


def _targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))


@pytest.mark.parametrize("doc", _docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_in_the_docs_exists(doc: Path) -> None:
    code = _code(doc.read_text(encoding="utf-8"))
    missing = [f"make {t}" for t in sorted(set(_MAKE.findall(code)) - _targets())]
    missing += [f"telemetry {c}" for c in sorted(set(_TELEMETRY.findall(code)) - set(COMMANDS))]
    missing += [s for s in sorted(set(_SCRIPT.findall(code))) if not (ROOT / s).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} shows commands that do not exist: {missing}"


def test_the_reader_finds_commands_in_code_only() -> None:
    text = "Make sure to make friends.\n\n```sh\nmake nonexistent-target\n```\nand `telemetry nope`\n"
    code = _code(text)
    assert _MAKE.findall(code) == ["nonexistent-target"]
    assert _TELEMETRY.findall(code) == ["nope"]
