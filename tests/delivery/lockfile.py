"""What a lock file must be, checked from the files in the repository alone.

Two locks, both written by `make lock` (uv) and installed hash-checked: requirements.lock is what
the image installs (runtime dependencies only), requirements-dev.lock is what .venv installs
(runtime and dev tools, with the runtime pins as constraints, so the tests run the image's versions).

`problems()` holds a lock against pyproject.toml without asking any registry: every requirement is
present and pinned inside its specifier, every pin is exact and hashed, and every pin is pulled in by
something (the project, or another pin, by uv's `# via` annotations). `pin_changes()` compares the
pins of the committed lock with those of a re-resolution that prefers them, which is how the tests
tell "a release we pin disappeared from the registry" from "the registry published something new"
(the second changes nothing). Every message is one line that says what to run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT: Final = Path(__file__).resolve().parents[2]
RUNTIME_LOCK: Final = "requirements.lock"
DEV_LOCK: Final = "requirements-dev.lock"
FIX: Final = "run `make lock` and commit the lock files"
#: How uv names the project in `# via`; a `-c FILE` annotation is a constraint, not a parent.
_PROJECT_VIA: Final = re.compile(r"^[A-Za-z0-9._-]+ \(pyproject\.toml\)$")
_HASH: Final = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Pin:
    """One locked line: `name==version ; marker`, its hashes and what pulled it in."""

    name: str
    version: str
    marker: str
    exact: bool
    hashes: tuple[str, ...]
    via: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.marker

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "")


def parse(text: str) -> list[Pin]:
    """The pins of a `uv pip compile --generate-hashes` file, with their hashes and `# via` parents."""
    rows: list[dict[str, Any]] = []
    in_via = False
    for raw in text.splitlines():
        line = raw.strip().removesuffix("\\").strip()
        if not line:
            continue
        if line.startswith("--hash="):
            rows[-1]["hashes"].append(line.removeprefix("--hash="))
        elif line.startswith("#"):
            comment = line.lstrip("#").strip()
            if not rows:
                continue  # the header
            if comment.startswith("via"):
                rest = comment.removeprefix("via").strip()
                in_via = not rest
                if rest:
                    rows[-1]["via"].append(rest)
            elif in_via and comment:
                rows[-1]["via"].append(comment)
        else:
            in_via = False
            requirement = Requirement(line)
            specifiers = list(requirement.specifier)
            exact = len(specifiers) == 1 and specifiers[0].operator == "=="
            rows.append(
                {
                    "name": canonicalize_name(requirement.name),
                    "version": specifiers[0].version if exact else str(requirement.specifier),
                    "marker": str(requirement.marker or ""),
                    "exact": exact,
                    "hashes": [],
                    "via": [],
                }
            )
    return [
        Pin(
            name=r["name"],
            version=r["version"],
            marker=r["marker"],
            exact=r["exact"],
            hashes=tuple(r["hashes"]),
            via=tuple(r["via"]),
        )
        for r in rows
    ]


def requirements(pyproject: Mapping[str, Any], *, extras: Iterable[str] = ()) -> list[Requirement]:
    """The project's runtime dependencies plus those of `extras`, an extra naming the project's own
    extras (`fleet-telemetry[sim,local]`) expanded into theirs."""
    project = pyproject["project"]
    own = canonicalize_name(project.get("name", ""))
    found = [Requirement(text) for text in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == own:
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def load_pyproject(root: Path = ROOT) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def problems(lock_name: str, pins: list[Pin], wanted: list[Requirement]) -> list[str]:
    """Everything wrong with `pins` as a lock of `wanted`, one line each (empty: the lock is sound)."""
    found: list[str] = []
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
        if not pin.exact:
            found.append(f"{lock_name}: {pin.name} is not pinned to one version ({pin.version}): {FIX}")
        elif not pin.hashes or not all(_HASH.fullmatch(h) for h in pin.hashes):
            found.append(f"{lock_name}: {pin} carries no sha256 hash: {FIX}")
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        locked = by_name.get(name)
        if not locked:
            found.append(f"{lock_name} lacks {requirement.name}, a dependency in pyproject.toml: {FIX}")
            continue
        for pin in locked:
            if pin.exact and pin.version not in requirement.specifier:
                found.append(
                    f"{lock_name} pins {pin}, outside pyproject.toml's {requirement.name}"
                    f"{requirement.specifier}: {FIX}"
                )
    for pin in _unreachable(pins, {canonicalize_name(r.name) for r in wanted}):
        found.append(f"{lock_name} holds {pin}, which nothing in pyproject.toml pulls in: {FIX}")
    return found


def _unreachable(pins: list[Pin], direct: set[str]) -> list[Pin]:
    """Pins not pulled in by the project: neither one of its requirements nor required by a pin that is.

    Parents come from uv's `# via` lines; a line that names the project counts only for a package
    pyproject.toml really requires, so a hand-added pin cannot pass by copying the annotation.
    """
    names = {pin.name for pin in pins}
    reached: set[str] = set()
    changed = True
    while changed:
        changed = False
        for pin in pins:
            if pin.name in reached:
                continue
            for parent in pin.via:
                if (_PROJECT_VIA.match(parent) and pin.name in direct) or (
                    canonicalize_name(parent) in names and canonicalize_name(parent) in reached
                ):
                    reached.add(pin.name)
                    changed = True
                    break
    return [pin for pin in pins if pin.name not in reached]


def mismatched_with(runtime: list[Pin], dev: list[Pin]) -> list[str]:
    """Dev pins that differ from the image's: the tests would not run what the image runs."""
    image = {pin.key: pin for pin in runtime}
    return [
        f"{DEV_LOCK} pins {pin} but {RUNTIME_LOCK} pins {image[pin.key]}: {FIX}"
        for pin in dev
        if pin.key in image and image[pin.key].version != pin.version
    ]


def pin_changes(lock_name: str, committed: list[Pin], resolved: list[Pin]) -> list[str]:
    """How a re-resolution that prefers the committed pins differs from them, one line per pin.

    Hashes are not compared: a wheel added later to a pinned release adds a hash without changing
    what the image installs.
    """
    before = {pin.key: pin for pin in committed}
    after = {pin.key: pin for pin in resolved}
    found: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old.version != new.version:
            found.append(
                f"{lock_name} pins {old} but re-resolving with it as a preference gives {new}: the "
                f"pinned release is gone from the registry or no longer fits; {FIX}"
            )
        elif old is None and new is not None:
            found.append(f"{lock_name} lacks {new}, which re-resolving pyproject.toml adds: {FIX}")
        elif old is not None and new is None:
            found.append(f"{lock_name} pins {old}, which re-resolving pyproject.toml drops: {FIX}")
    return found
