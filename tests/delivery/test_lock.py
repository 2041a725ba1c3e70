"""requirements.lock: what the image installs (docker/install.sh deps), pinned, hashed, current.

`make lock` regenerates it with `uv pip compile --exclude-newer <date>`, so the same pyproject.toml
and the same date give the same file: the last test regenerates it and compares byte for byte
(uv asks PyPI for the index, as pip does for the container install check).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def _entries() -> list[tuple[Requirement, list[str]]]:
    """(requirement, hashes) for every locked distribution."""
    entries: list[tuple[Requirement, list[str]]] = []
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        stripped = line.strip().rstrip("\\").strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            entries[-1][1].append(stripped.removeprefix("--hash="))
        else:
            entries.append((Requirement(stripped), []))
    return entries


def test_every_locked_distribution_is_pinned_and_hashed() -> None:
    entries = _entries()
    assert entries
    for requirement, hashes in entries:
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", str(requirement)
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), str(requirement)


def test_the_lock_satisfies_every_runtime_dependency_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked: dict[str, Version] = {}
    for requirement, _ in _entries():
        if requirement.marker is None or requirement.marker.evaluate({"python_version": "3.11"}):
            locked[canonicalize_name(requirement.name)] = Version(next(iter(requirement.specifier)).version)
    for text in project["dependencies"]:
        wanted = Requirement(text)
        name = canonicalize_name(wanted.name)
        assert name in locked, (
            f"{wanted.name} is a dependency in pyproject.toml but not in the lock: run make lock"
        )
        assert locked[name] in wanted.specifier, (
            f"{wanted.name}=={locked[name]} breaks {wanted}: run make lock"
        )


def test_no_dev_tool_is_locked_into_the_image() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    locked = {canonicalize_name(r.name) for r, _ in _entries()}
    assert not dev & locked - {canonicalize_name(r.name) for r in map(Requirement, project["dependencies"])}


def _lock_command() -> list[str]:
    """The `uv pip compile` line `make lock` runs, as make prints it without running it."""
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("\\\n", " ")
    lines = [line for line in printed.splitlines() if " pip compile " in line]
    assert len(lines) == 1, printed
    return shlex.split(lines[0])


def test_make_lock_reproduces_the_committed_lock(tmp_path: Path) -> None:
    command = _lock_command()
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).exists():
        pytest.fail("uv is missing: it is a dev dependency (pyproject.toml)")
    command[0] = uv
    out = command.index("-o")
    assert command[out + 1] == "requirements.lock"
    command[out + 1] = str(tmp_path / "requirements.lock")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "requirements.lock").read_text(encoding="utf-8") == LOCK.read_text(encoding="utf-8"), (
        "requirements.lock is not what `make lock` produces from pyproject.toml: run make lock and commit it"
    )
