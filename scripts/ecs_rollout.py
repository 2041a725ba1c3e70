#!/usr/bin/env python3
"""Wait until every ECS service runs the task definition just applied, its rollout COMPLETED.

    python3 scripts/ecs_rollout.py --cluster CLUSTER --expected '{"SERVICE": "TASK_DEFINITION_ARN", ...}'

deploy.yml runs it after `terraform apply`, with the map from the `ecs_service_task_definitions`
output. `aws ecs wait services-stable` is not enough: a deployment whose tasks never become
healthy is rolled back by the circuit breaker to the previous task definition, and the service is
then "stable" again, on the old image, so the wait succeeds and the smoke test passes against the
old code. Here a service passes only when its PRIMARY deployment runs the expected task
definition, its rolloutState is COMPLETED, it is the only deployment left and its running count
is its desired count. A PRIMARY deployment on another task definition (a rollback) or a FAILED
rollout fails at once; anything else is waited for, up to --timeout.

Exit 0 when every service completed; 1, with a `::error::` line, on a rollback, a failed rollout,
an AWS error or the timeout; 2 on bad usage. It calls the `aws` CLI (on every GitHub-hosted
runner, with the job's credentials), so tests put a fake `aws` first on PATH. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: ECS answers describe-services for at most 10 services per call.
MAX_SERVICES_PER_CALL = 10


class RolloutError(Exception):
    """A service will not reach the expected task definition; the message says which and why."""


@dataclass(frozen=True)
class Verdict:
    done: bool
    line: str  # one line of progress for the log


def describe(cluster: str, services: list[str]) -> dict[str, dict[str, Any]]:
    """describe-services through the AWS CLI, keyed by service name."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(services), MAX_SERVICES_PER_CALL):
        chunk = services[start : start + MAX_SERVICES_PER_CALL]
        command = [
            "aws",
            "ecs",
            "describe-services",
            "--cluster",
            cluster,
            "--services",
            *chunk,
            "--output",
            "json",
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv, no shell
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RolloutError(f"aws ecs describe-services failed: {exc}") from exc
        if result.returncode != 0:
            raise RolloutError(f"aws ecs describe-services failed: {result.stderr.strip()[:300]}")
        try:
            answer = json.loads(result.stdout)
        except ValueError as exc:
            raise RolloutError("aws ecs describe-services answered something that is not JSON") from exc
        for failure in answer.get("failures", []):
            raise RolloutError(f"service {failure.get('arn')}: {failure.get('reason')}")
        for service in answer.get("services", []):
            found[str(service["serviceName"])] = service
    return found


def judge(name: str, service: Mapping[str, Any] | None, expected: str) -> Verdict:
    """Where one service's rollout stands; RolloutError when it cannot end on `expected`."""
    if service is None:
        raise RolloutError(f"{name}: not found in the cluster")
    deployments = list(service.get("deployments", []))
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        raise RolloutError(f"{name}: no PRIMARY deployment")
    events: list[dict[str, Any]] = list(service.get("events", []))
    event = str(events[0].get("message", "")) if events else ""
    if primary.get("taskDefinition") != expected:
        raise RolloutError(
            f"{name}: rolled back: the service runs {primary.get('taskDefinition')}, not the new {expected}"
            f" (the circuit breaker replaced a deployment whose tasks did not become healthy). Last event: {event}"
        )
    state = primary.get("rolloutState", "")
    running, desired = primary.get("runningCount"), primary.get("desiredCount")
    if state == "FAILED":
        raise RolloutError(
            f"{name}: rollout FAILED: {primary.get('rolloutStateReason', '')}. Last event: {event}"
        )
    done = state == "COMPLETED" and len(deployments) == 1 and running == desired
    return Verdict(
        done=done,
        line=f"{name}: {state or 'no rolloutState'} {running}/{desired} tasks, {len(deployments)} deployment(s)",
    )


def wait(
    cluster: str,
    expected: Mapping[str, str],
    *,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll until every service is done; RolloutError on a rollback, a failure or the timeout."""
    deadline = clock() + timeout
    names = sorted(expected)
    while True:
        services = describe(cluster, names)
        verdicts = [judge(name, services.get(name), expected[name]) for name in names]
        for verdict in verdicts:
            print(f"ecs_rollout: {verdict.line}", flush=True)
        if all(v.done for v in verdicts):
            return
        if clock() >= deadline:
            pending = "; ".join(v.line for v in verdicts if not v.done)
            raise RolloutError(f"not completed after {timeout:.0f} s: {pending}")
        sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument(
        "--expected",
        required=True,
        help='JSON object {"service name": "task definition ARN"} (terraform output)',
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for every rollout")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between polls")
    args = parser.parse_args(argv)
    try:
        expected = json.loads(args.expected)
    except ValueError:
        parser.error("--expected is not JSON")
    if (
        not isinstance(expected, dict)
        or not expected
        or not all(isinstance(v, str) for v in expected.values())
    ):
        parser.error('--expected must be a non-empty JSON object {"service": "task definition ARN"}')
    try:
        wait(args.cluster, expected, timeout=args.timeout, interval=args.interval)
    except RolloutError as exc:
        print(f"::error title=deploy did not complete::{exc}", file=sys.stderr, flush=True)
        return 1
    print(f"ecs_rollout: every service runs its new task definition ({len(expected)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
