#!/usr/bin/env python3
"""Deploy only commits whose CI passed: ask GitHub how ci.yml's latest run of each commit ended.

    GH_TOKEN=... python3 scripts/ci_gate.py --repo OWNER/NAME --sha SHA [--sha SHA ...]

deploy.yml's first job runs it before anything touches AWS. A push to main deploys only after
ci.yml finished on that commit, and a deploy by hand (or a rollback to an older image) is held
to the same rule, so a red or unfinished CI run can never reach an environment. For each SHA it
asks for ci.yml's runs of that commit that a push to main started (never a pull request's, whose
code GitHub runs from a fork or a branch) and requires the latest of them to be completed with
success; an older green run does not excuse a newer red one.

Output, for $GITHUB_OUTPUT: `sha=` and `ci_run_id=` of the first SHA (the commit being deployed;
its CI run holds the image artifact the deploy pushes). Exit 0 when every SHA passed; 1, with a
`::error::` line GitHub shows as an annotation, when one did not; 2 on bad usage.

It calls the `gh` CLI (on every GitHub-hosted runner, authenticated by GH_TOKEN) rather than the
REST API itself, so tests put a fake `gh` first on PATH and run the real script. Standard library
only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

#: A full commit SHA: a short one could name several commits, and images are tagged with the full one.
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


class GateError(Exception):
    """The commit may not be deployed; the message says why, for the annotation."""


@dataclass(frozen=True)
class CiRun:
    run_id: int
    run_number: int
    status: str
    conclusion: str | None
    url: str


def _gh_runs(repo: str, workflow: str, sha: str, branch: str) -> list[dict[str, Any]]:
    """ci.yml's runs of one commit that a push to `branch` started (GitHub filters server-side)."""
    command = [
        "gh", "api", "--method", "GET", f"repos/{repo}/actions/workflows/{workflow}/runs",
        "-f", f"head_sha={sha}", "-f", "event=push", "-f", f"branch={branch}", "-f", "per_page=100",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv, no shell
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GateError(f"could not ask GitHub about CI of {sha}: {exc}") from exc
    if result.returncode != 0:
        raise GateError(f"could not ask GitHub about CI of {sha}: {result.stderr.strip()[:300]}")
    try:
        runs = json.loads(result.stdout)["workflow_runs"]
    except (ValueError, KeyError, TypeError) as exc:
        raise GateError(f"GitHub's answer about CI of {sha} is not a list of workflow runs") from exc
    if not isinstance(runs, list):
        raise GateError(f"GitHub's answer about CI of {sha} is not a list of workflow runs")
    return runs


def latest_run(runs: list[dict[str, Any]], *, sha: str, branch: str) -> CiRun | None:
    """The newest run of exactly this commit, pushed to `branch` (the filters checked again here:
    a pull request from a fork's own `main` must never count as main)."""
    mine = [
        r
        for r in runs
        if r.get("head_sha") == sha and r.get("event") == "push" and r.get("head_branch") == branch
    ]
    if not mine:
        return None
    newest = max(mine, key=lambda r: int(r.get("run_number", 0)))
    return CiRun(
        run_id=int(newest["id"]),
        run_number=int(newest.get("run_number", 0)),
        status=str(newest.get("status")),
        conclusion=newest.get("conclusion"),
        url=str(newest.get("html_url", "")),
    )


def check(repo: str, workflow: str, sha: str, branch: str) -> CiRun:
    """The passing CI run of `sha`, or GateError saying why the commit may not be deployed."""
    run = latest_run(_gh_runs(repo, workflow, sha, branch), sha=sha, branch=branch)
    if run is None:
        raise GateError(
            f"{sha} has no {workflow} run from a push to {branch}: only commits on {branch} whose CI "
            "passed are deployed"
        )
    if run.status != "completed":
        raise GateError(f"{workflow} on {sha} is still {run.status} ({run.url}); deploy once it has passed")
    if run.conclusion != "success":
        raise GateError(f"{workflow} on {sha} ended {run.conclusion} ({run.url}); refusing to deploy it")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument(
        "--sha",
        action="append",
        required=True,
        help="full commit SHA; repeat for each commit whose CI must have passed (first: the one deployed)",
    )
    parser.add_argument("--workflow", default="ci.yml", help="the CI workflow's file name")
    parser.add_argument("--branch", default="main", help="the branch whose pushes may deploy")
    args = parser.parse_args(argv)
    for sha in args.sha:
        if not FULL_SHA.match(sha):
            parser.error(f"{sha!r} is not a full 40-character commit SHA")

    runs: list[CiRun] = []
    try:
        for sha in args.sha:
            runs.append(check(args.repo, args.workflow, sha, args.branch))
    except GateError as exc:
        print(f"::error title=deploy refused::{exc}", file=sys.stderr, flush=True)
        return 1
    for sha, run in zip(args.sha, runs, strict=True):
        print(f"ci_gate: {sha} passed {args.workflow} (run {run.run_number}, {run.url})", file=sys.stderr)
    print(f"sha={args.sha[0]}")
    print(f"ci_run_id={runs[0].run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
