"""Locust load test: every Locust user is one simulated vehicle posting at the 200 ms cadence.

Options (besides Locust's own `--host`, `--users`, ...): `--messages` stops the run once that many
records were accepted (202) in total, `--mode single|batch` posts each record on its own or one
request per `--batch-ticks` ticks, `--api-key` authenticates, `--run-dir` is where the list of
accepted records is written for `loadtest.verify` to look for in S3. `--faults` (or the environment
variable TELEMETRY_LOADTEST_FAULTS, which `make loadtest` and `make demo` pass through) injects
simulator faults, e.g. `random(from=5s,to=60s):5%`: each user is one vehicle, so a random share
picks each vehicle on its own; the ground truth goes to `<run-dir>/faults.jsonl` as faults start.
Works against the local stack and a deployed ALB alike.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import gevent
import orjson
from locust import FastHttpUser, constant_pacing, events, task
from locust.env import Environment

from app.errors import FaultSpecError
from app.simulator import Fleet
from app.simulator.faults import FaultSpec, parse_fault_spec
from loadtest.accepted import AcceptedLog, identity_of

TICK_SECONDS = 0.2
_user_numbers = itertools.count(1)


def _add_options(parser: Any) -> None:
    parser.add_argument("--messages", type=int, default=10_000, help="stop after this many accepted records")
    parser.add_argument(
        "--mode", choices=["single", "batch"], default="single", help="one record per POST or batches"
    )
    parser.add_argument("--batch-ticks", type=int, default=5, help="ticks per batch request in batch mode")
    parser.add_argument(
        "--api-key", default=os.environ.get("TELEMETRY_LOADTEST_API_KEY", ""), help="X-API-Key"
    )
    parser.add_argument("--run-dir", default="out/loadtest", help="where accepted.jsonl is written")
    parser.add_argument("--seed", type=int, default=42, help="simulator seed")
    parser.add_argument(
        "--faults",
        default=os.environ.get("TELEMETRY_LOADTEST_FAULTS", ""),
        help="simulator faults, e.g. random(from=5s,to=60s):5%% (docs/simulator.md)",
    )


class Quota:
    """Counts accepted records across users; a user reserves before sending so we stop at N."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.reserved = 0
        self.accepted = 0

    def reserve(self, wanted: int) -> int:
        granted = max(0, min(wanted, self.target - self.reserved))
        self.reserved += granted
        return granted

    def settle(self, reserved: int, accepted: int) -> None:
        self.reserved -= reserved - accepted
        self.accepted += accepted

    @property
    def done(self) -> bool:
        return self.accepted >= self.target


_state: dict[str, Any] = {}


class TruthLog:
    """The faults' ground truth of every user, one JSON line per fault as it starts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = path.open("wb")

    def add(self, fleet: Fleet) -> None:
        events = fleet.new_fault_events()
        if events:
            self._stream.write(b"".join(orjson.dumps(e.to_json()) + b"\n" for e in events))
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()


def _fault_spec(text: str) -> FaultSpec | None:
    if not text:
        return None
    try:
        return parse_fault_spec(text)
    except FaultSpecError as exc:
        raise SystemExit(f"--faults: {exc}") from None


def _on_start(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    run_dir = Path(opts.run_dir if opts else "out/loadtest")
    _state["quota"] = Quota(opts.messages if opts else 10_000)
    _state["log"] = AcceptedLog(run_dir)
    _state["faults"] = _fault_spec(opts.faults if opts else "")
    _state["truth"] = TruthLog(run_dir / "faults.jsonl") if _state["faults"] is not None else None


def _on_stop(environment: Environment, **_: Any) -> None:
    for name in ("log", "truth"):
        closable: AcceptedLog | TruthLog | None = _state.get(name)
        if closable is not None:
            closable.close()


events.init_command_line_parser.add_listener(_add_options)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_stop)  # type: ignore[no-untyped-call]


class Vehicle(FastHttpUser):
    """One vehicle: its own pack and schedule, a tick every 200 ms of wall time."""

    wait_time = constant_pacing(TICK_SECONDS)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.number = next(_user_numbers)
        # wall_clock: the vehicle stamps each frame with the time it samples it, as a real one does
        self.fleet = Fleet(
            1,
            seed=opts.seed if opts else 42,
            first_index=self.number,
            wall_clock=True,
            faults=_state.get("faults"),
        )
        self.mode = opts.mode if opts else "single"
        self.batch_ticks = opts.batch_ticks if opts else 5
        self.headers = {"X-API-Key": opts.api_key if opts else "", "Content-Type": "application/json"}
        self.pending: list[dict[str, Any]] = []

    @task
    def tick(self) -> None:
        quota: Quota = _state["quota"]
        if quota.done:
            runner = self.environment.runner
            if runner is not None and not _state.get("quitting"):
                # One greenlet of its own stops the runner: a user that stops the runner it runs in
                # makes Locust stop users twice and log errors for each.
                _state["quitting"] = True
                gevent.spawn(runner.quit)
            return
        records = self.fleet.step()
        truth: TruthLog | None = _state.get("truth")
        if truth is not None:
            truth.add(self.fleet)
        if self.mode == "single":
            for record in records:
                self._post("/v1/telemetry", [record], single=True)
            return
        self.pending.extend(records)
        if len(self.pending) >= 2 * self.batch_ticks:
            batch, self.pending = self.pending, []
            self._post("/v1/telemetry/batch", batch, single=False)

    def _post(self, path: str, records: list[dict[str, Any]], *, single: bool) -> None:
        quota: Quota = _state["quota"]
        granted = quota.reserve(len(records))
        if granted == 0:
            return
        records = records[:granted]
        body = orjson.dumps(records[0] if single else records).decode()
        accepted: list[dict[str, Any]] = []
        with self.client.post(path, data=body, headers=self.headers, catch_response=True) as response:
            if response.status_code == 202:
                rejected = (
                    {r["index"] for r in (response.json() or {}).get("rejected", [])} if not single else set()
                )
                accepted = [r for i, r in enumerate(records) if i not in rejected]
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
        quota.settle(granted, len(accepted))
        log: AcceptedLog = _state["log"]
        log.add(identity_of(r) for r in accepted)
