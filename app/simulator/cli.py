"""`telemetry simulate`: run a simulated fleet and write its records, or post them to a receiver.

    telemetry simulate --vehicles 100 --duration 600 --seed 7 --out fleet.jsonl
    telemetry simulate --vehicles 10 --duration 300 --realtime --target http://127.0.0.1:8000 --api-key K
    telemetry simulate --vehicles 100 --duration 3600 --faults random:5% --out fleet.jsonl

`--faults` injects faults (grammar in app/simulator/faults.py, physics in docs/simulator.md); the
ground truth, one JSON line per fault as it starts, goes to `--truth`, by default beside `--out`
(`fleet.jsonl` -> `fleet.faults.jsonl`).

As fast as possible, the simulated clock runs from `now - duration` to now, so every timestamp is
in the past (the receiver refuses any more than 5 minutes ahead). With `--realtime` one step is
taken every 200 ms of wall time and stamped with the wall clock. Exit status: 0 when every record
was written or accepted, 1 when some were rejected or could not be delivered, 2 for bad options.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
import orjson

from app.errors import ConfigurationError, FaultSpecError
from app.simulator.faults import FaultSpec, parse_fault_spec, vehicle_id_of
from app.simulator.fleet import Fleet, Record
from app.simulator.sender import MAX_BATCH_RECORDS, BatchSender, batches, make_client
from app.simulator.usage import START_MODES

MAX_VEHICLES = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vehicles", type=int, required=True, help="number of vehicles (veh-00001...)")
    parser.add_argument("--duration", type=float, required=True, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same data (default 0)")
    parser.add_argument("--realtime", action="store_true", help="pace to the wall clock, stamp with it")
    parser.add_argument("--first-index", type=int, default=1, help="number of the first vehicle")
    parser.add_argument("--capacity-ah", type=float, default=94.0, help="cell capacity: 60, 94 or 120 Ah")
    parser.add_argument(
        "--start-mode", choices=START_MODES, default="mixed", help="what every vehicle does first"
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="JSON Lines file to write, or - for stdout")
    where.add_argument("--target", help="receiver base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="X-API-Key for --target")
    parser.add_argument(
        "--batch-size", type=int, default=MAX_BATCH_RECORDS, help="records per request (<= 500)"
    )
    parser.add_argument(
        "--faults",
        help="faults to inject, e.g. internal_short@veh-00003+120s,random:5%% (see docs/simulator.md)",
    )
    parser.add_argument(
        "--truth", help="where the faults' ground truth goes (JSON Lines; default: beside --out)"
    )


def _check(args: argparse.Namespace) -> None:
    """Refuse what cannot work, naming the option, before any record is made."""
    if not 1 <= args.vehicles <= MAX_VEHICLES:
        raise ConfigurationError(f"--vehicles: must be within 1..{MAX_VEHICLES}")
    if not args.duration > 0:
        raise ConfigurationError("--duration: must be a positive number of seconds")
    if args.seed < 0:
        raise ConfigurationError("--seed: must be >= 0")
    if args.first_index < 1:
        raise ConfigurationError("--first-index: must be >= 1")
    if not 10.0 <= args.capacity_ah <= 500.0:
        raise ConfigurationError("--capacity-ah: must be within 10..500 Ah")
    if args.target is not None:
        parts = urlsplit(args.target)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError("--target: must be an http:// or https:// URL with a host")
        if not args.api_key:
            raise ConfigurationError("--api-key: required with --target")
        if not 1 <= args.batch_size <= MAX_BATCH_RECORDS:
            raise ConfigurationError(f"--batch-size: must be within 1..{MAX_BATCH_RECORDS}")
    args.fault_spec = _fault_spec(args)
    if args.truth is not None and args.fault_spec is None:
        raise ConfigurationError("--truth: only with --faults")


def _fault_spec(args: argparse.Namespace) -> FaultSpec | None:
    """The parsed --faults, checked against this fleet; its truth file decided."""
    if args.faults is None:
        return None
    try:
        spec = parse_fault_spec(args.faults)
    except FaultSpecError as exc:
        raise ConfigurationError(f"--faults: {exc}") from None
    fleet_ids = {vehicle_id_of(i) for i in range(args.first_index, args.first_index + args.vehicles)}
    outside = sorted(spec.named_vehicles - fleet_ids)
    if outside:
        last = vehicle_id_of(args.first_index + args.vehicles - 1)
        raise ConfigurationError(
            f"--faults: {outside[0]} is not in this fleet ({vehicle_id_of(args.first_index)}..{last})"
        )
    if args.truth is None:
        if args.out is None or args.out == "-":
            raise ConfigurationError("--truth: say where the faults' ground truth goes (a JSON Lines file)")
        out = Path(args.out)
        args.truth = str(out.with_name(out.name.removesuffix(".jsonl") + ".faults.jsonl"))
    return spec


class _TruthWriter:
    """Appends each fault to the truth file as it starts, so a long or real-time run has it live."""

    def __init__(self, path: Path) -> None:
        try:
            self._stream = path.open("wb")
        except OSError as exc:
            raise ConfigurationError(f"--truth: cannot write {path}: {exc.strerror}") from None
        self.path = path
        self.written = 0

    def write(self, fleet: Fleet) -> None:
        events = fleet.new_fault_events()
        if events:
            self._stream.write(b"".join(orjson.dumps(e.to_json()) + b"\n" for e in events))
            self._stream.flush()
            self.written += len(events)

    def close(self) -> None:
        self._stream.close()


def _ticks(args: argparse.Namespace) -> Iterator[list[Record]]:
    start = None if args.realtime else datetime.now(UTC) - timedelta(seconds=args.duration)
    fleet = Fleet(
        args.vehicles,
        args.seed,
        first_index=args.first_index,
        capacity_ah=args.capacity_ah,
        start=start,
        wall_clock=args.realtime,
        start_mode=args.start_mode,
        faults=args.fault_spec,
        fault_run_s=args.duration,
    )
    ticks = fleet.ticks(args.duration, realtime=args.realtime)
    if args.fault_spec is None:
        return ticks
    return _with_truth(fleet, ticks, _TruthWriter(Path(args.truth)))


def _with_truth(fleet: Fleet, ticks: Iterator[list[Record]], writer: _TruthWriter) -> Iterator[list[Record]]:
    try:
        for tick in ticks:
            writer.write(fleet)
            yield tick
    finally:
        writer.close()
        planned = len(fleet.fault_plan)
        print(
            f"simulate: {writer.written} of {planned} planned faults started; ground truth in {writer.path}",
            file=sys.stderr,
        )


def _write(ticks: Iterator[list[Record]], stream: BinaryIO, *, flush_each_tick: bool) -> int:
    written = 0
    dumps = orjson.dumps
    for tick in ticks:
        stream.write(b"".join(dumps(r) + b"\n" for r in tick))
        written += len(tick)
        if flush_each_tick:
            stream.flush()
    stream.flush()
    return written


def _write_out(args: argparse.Namespace) -> int:
    ticks = _ticks(args)
    if args.out == "-":
        try:
            written = _write(ticks, sys.stdout.buffer, flush_each_tick=args.realtime)
        except BrokenPipeError:  # `| head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        where = "stdout"
    else:
        path = Path(args.out)
        try:
            stream = path.open("wb")
        except OSError as exc:
            raise ConfigurationError(f"--out: cannot write {path}: {exc.strerror}") from None
        with stream:
            written = _write(ticks, stream, flush_each_tick=args.realtime)
        where = str(path)
    print(
        f"simulate: wrote {written} records ({args.vehicles} vehicles, {args.duration:g} s) to {where}",
        file=sys.stderr,
    )
    return 0


def _post(args: argparse.Namespace, client: httpx.Client | None) -> int:
    with contextlib.ExitStack() as stack:
        if client is None:  # ours to close; a client passed in belongs to the caller
            client = stack.enter_context(make_client())
        sender = BatchSender(client, target=args.target, api_key=args.api_key)
        report = sender.send_all(batches(_ticks(args), args.batch_size, per_tick=args.realtime))
    print(f"simulate: {report.summary()}")
    return 0 if report.ok else 1


def run(args: argparse.Namespace, *, client: httpx.Client | None = None) -> int:
    """`client` is the seam for tests (an in-process receiver); the CLI builds its own."""
    _check(args)
    if args.target is not None:
        return _post(args, client)
    return _write_out(args)
