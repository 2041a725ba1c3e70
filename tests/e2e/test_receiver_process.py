"""`telemetry serve` as a real process: SIGTERM drains in-flight publishes, start-up errors are one line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
import pytest

from app.contract import parse_record
from loadtest.stack import DEFAULT_API_KEY, PipelineStack

pytestmark = pytest.mark.e2e


def record(i: int) -> dict[str, Any]:
    return {
        "timestamp": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "vehicle_id": f"veh-{i:05d}",
        "can_id": "0x1F0",
        "payload": {"battery_soc": 50.0 + i / 100},
    }


def queued_vehicle_ids(env: dict[str, str]) -> list[str]:
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"])
    found: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=env["TELEMETRY_QUEUE_URL"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return found
        found += [parse_record(line).vehicle_id for m in messages for line in m["Body"].split("\n")]


def test_sigterm_lets_in_flight_requests_finish_and_their_records_reach_sqs(tmp_path: Path) -> None:
    with PipelineStack(tmp_path) as stack:
        env = stack.start_aws()
        # A long linger holds every request inside the publisher when the signal arrives.
        url = stack.start_receiver(TELEMETRY_PUBLISH_LINGER_MS="1000")
        receiver = stack.receivers()[0]

        async def scenario() -> tuple[float, list[tuple[int, float]]]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:

                async def post(i: int) -> tuple[int, float]:
                    response = await client.post(
                        "/v1/telemetry", json=record(i), headers={"X-API-Key": DEFAULT_API_KEY}
                    )
                    return response.status_code, time.monotonic()

                tasks = [asyncio.create_task(post(i)) for i in range(20)]
                await asyncio.sleep(0.4)
                assert not any(task.done() for task in tasks)
                signalled = time.monotonic()
                receiver.send(signal.SIGTERM)
                return signalled, list(await asyncio.gather(*tasks))

        signalled, answers = asyncio.run(scenario())
        assert [status for status, _ in answers] == [202] * 20
        assert all(done > signalled for _, done in answers)  # answered after SIGTERM: drained, not dropped
        receiver.popen.wait(timeout=20)
        assert receiver.popen.returncode == 0, receiver.log()[-2000:]
        assert sorted(queued_vehicle_ids(env)) == [f"veh-{i:05d}" for i in range(20)]
        assert "event=receiver_drained signal=SIGTERM" in receiver.log()
        assert "event=receiver_stopped" in receiver.log()
        assert DEFAULT_API_KEY not in receiver.log()

        # Same stack: a queue that does not exist stops start-up with one line.
        missing = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve"],
            env={
                **stack.child_env,
                "TELEMETRY_QUEUE_URL": "",
                "TELEMETRY_QUEUE_NAME": "no-such-queue",
                "TELEMETRY_API_KEYS": DEFAULT_API_KEY,
                "TELEMETRY_PORT": "0",
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert missing.returncode == 2
        assert (
            missing.stderr.strip()
            .splitlines()[-1]
            .startswith("telemetry serve: error: cannot find SQS queue 'no-such-queue'")
        )


def test_serve_without_api_keys_refuses_to_start_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "telemetry serve: error: TELEMETRY_API_KEYS: required by the receiver (comma-separated keys)"
    )


def test_two_workers_serve_one_port_and_drain_on_sigterm(tmp_path: Path) -> None:
    with PipelineStack(tmp_path) as stack:
        env = stack.start_aws()
        url = stack.start_receiver(TELEMETRY_WORKERS="2", TELEMETRY_PUBLISH_LINGER_MS="1000")
        receiver = stack.receivers()[0]
        deadline = time.monotonic() + 30
        while receiver.log().count("event=receiver_worker_started") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = {
            line.split("pid=")[1].split()[0]
            for line in receiver.log().splitlines()
            if "receiver_worker_started" in line
        }
        assert len(workers) == 2 and str(receiver.pid) not in workers

        async def scenario() -> list[int]:
            limits = httpx.Limits(max_connections=20)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

                async def post(i: int) -> int:
                    response = await client.post(
                        "/v1/telemetry/batch", json=[record(i)], headers={"X-API-Key": DEFAULT_API_KEY}
                    )
                    return response.status_code

                tasks = [asyncio.create_task(post(i)) for i in range(20)]
                await asyncio.sleep(0.4)
                receiver.send(signal.SIGTERM)
                return list(await asyncio.gather(*tasks))

        assert asyncio.run(scenario()) == [202] * 20
        receiver.popen.wait(timeout=30)
        assert receiver.popen.returncode == 0, receiver.log()[-2000:]
        assert sorted(queued_vehicle_ids(env)) == [f"veh-{i:05d}" for i in range(20)]
        assert "event=receiver_stopped" in receiver.log()
        assert not any(
            psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
            for pid in workers
        )
