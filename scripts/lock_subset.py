#!/usr/bin/env python3
"""The part of requirements.lock a few packages need, hashes included: pip install from a lock.

    python3 scripts/lock_subset.py boto3 < requirements.lock > smoke-requirements.txt
    python3 -m pip install --require-hashes --no-deps -r smoke-requirements.txt

deploy.yml's smoke test needs boto3 on the runner. `pip install boto3` would resolve whatever
PyPI serves that minute, unpinned and unchecked; installing the whole lock would pull in the
application's heavy dependencies for one script. This prints the lock's blocks (pins and every
`--hash`) of the named packages and of everything they depend on, found through the lock's own
`# via` annotations (uv pip compile writes them), so `--require-hashes --no-deps` installs
exactly what `make lock` resolved and nothing else, before any credential is in the job.

Exit 2, naming it, when a requested package is not in the lock. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==")
_VIA_INLINE = re.compile(r"^\s+# via (?P<name>\S.*)$")
_VIA_LINE = re.compile(r"^\s+#   (?P<name>\S.*)$")


def canonical(name: str) -> str:
    """PEP 503 normalised name: the lock and the command line may spell a name differently."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Block:
    name: str
    lines: list[str] = field(default_factory=list)  # the requirement and its hash lines
    via: set[str] = field(default_factory=set)  # the packages (or files) that need it


def parse(text: str) -> list[Block]:
    """The lock's blocks in file order."""
    blocks: list[Block] = []
    in_via = False
    for line in text.splitlines():
        match = _REQUIREMENT.match(line)
        if match:
            blocks.append(Block(name=canonical(match.group("name")), lines=[line]))
            in_via = False
            continue
        if not blocks or not line.strip():
            continue
        block = blocks[-1]
        if line.lstrip().startswith("--hash=") or (block.lines and block.lines[-1].endswith("\\")):
            block.lines.append(line)
        elif line.strip() == "# via":
            in_via = True
        elif inline := _VIA_INLINE.match(line):
            block.via.add(canonical(inline.group("name").split(" ")[0]))
        elif in_via and (listed := _VIA_LINE.match(line)):
            block.via.add(canonical(listed.group("name").split(" ")[0]))
    return blocks


def closure(blocks: Iterable[Block], roots: Iterable[str]) -> set[str]:
    """The roots and every package that one of them, directly or not, depends on."""
    blocks = list(blocks)
    needed = {canonical(r) for r in roots}
    changed = True
    while changed:
        changed = False
        for block in blocks:
            if block.name not in needed and block.via & needed:
                needed.add(block.name)
                changed = True
    return needed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+", help="packages whose pins (with dependencies) to print")
    args = parser.parse_args(argv)
    blocks = parse(sys.stdin.read())
    present = {b.name for b in blocks}
    missing = sorted({canonical(p) for p in args.packages} - present)
    if missing:
        print(f"lock_subset: not in the lock: {', '.join(missing)}", file=sys.stderr)
        return 2
    needed = closure(blocks, args.packages)
    for block in blocks:
        if block.name in needed:
            print("\n".join(block.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
