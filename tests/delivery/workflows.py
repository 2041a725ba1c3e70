"""Rules for our GitHub Actions workflows beyond what the JSON Schema checks.

The schema (check-jsonschema's vendored `vendor.github-workflows`) says a workflow is well formed;
these say it is safe to run: every third-party action pinned to a full commit SHA with the release
in a comment, read-only default permissions, a timeout on every job, a concurrency group, and no
long-lived AWS keys anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_LONG_LIVED_KEYS = re.compile(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY", re.I)


def load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError("a workflow is a mapping")
    if True in doc:  # YAML 1.1 reads the key `on` as the boolean true
        doc["on"] = doc.pop(True)
    return doc


def pin_problems(text: str) -> Iterable[str]:
    for number, line in enumerate(text.splitlines(), start=1):
        match = _USES.match(line)
        if not match:
            continue
        ref = match.group("ref").strip("'\"")
        if ref.startswith("./"):
            continue  # an action of this repository: pinned by the commit being run
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                yield f"line {number}: {ref} must be pinned by digest"
            continue
        _, _, version = ref.partition("@")
        if not _SHA.match(version):
            yield f"line {number}: {ref} is not pinned to a full commit SHA"
        elif not (match.group("comment") or "").strip():
            yield f"line {number}: {ref} needs the release it was taken from in a comment (# vX.Y.Z)"


def problems(text: str) -> list[str]:
    """Every rule the workflow breaks, one line each."""
    try:
        doc = load(text)
    except (yaml.YAMLError, ValueError) as exc:
        return [f"unreadable workflow: {exc}"]
    found = list(pin_problems(text))
    if doc.get("permissions") != {"contents": "read"}:
        found.append("top-level permissions must be exactly `contents: read`; jobs add what they need")
    if "concurrency" not in doc:
        found.append("no concurrency group: two runs of the same ref would overlap")
    for name, job in (doc.get("jobs") or {}).items():
        if "timeout-minutes" not in job:
            found.append(f"job {name}: no timeout-minutes (the default is 6 hours)")
        perms = job.get("permissions")
        if isinstance(perms, str):
            found.append(f"job {name}: permissions must be listed, not `{perms}`")
        elif isinstance(perms, dict):
            for scope, level in perms.items():
                if level == "write" and scope not in {"id-token"}:
                    found.append(f"job {name}: `{scope}: write` is more than a build or deploy needs")
    if _LONG_LIVED_KEYS.search(text):
        found.append("long-lived AWS keys: assume a role through GitHub OIDC instead")
    return found
