"""The one `telemetry` command: a sub-command per job, each imported only when it is run.

Each sub-command module exposes `add_arguments(parser)` and `run(args) -> int`. Importing lazily
keeps `telemetry --help` fast and means the receiver image never loads the simulator's numpy.
Errors we raise on purpose (`TelemetryError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from app.errors import TelemetryError

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "local-aws": (
        "app.embedded_aws",
        "start the embedded AWS stack (moto server) with queue, DLQ and bucket",
    ),
    "schema": ("app.schema_cli", "write the contract's JSON Schema to docs/schema/"),
    "serve": ("app.receiver.main", "run the HTTP receiver: validate telemetry, queue it in SQS"),
    "simulate": ("app.simulator.cli", "simulate a battery fleet; write JSON Lines or post to a receiver"),
    "aggregate": ("app.aggregator.cli", "roll one hour of raw S3 data up into per-vehicle statistics"),
    "consume": ("app.consumer.main", "drain the SQS queue into time-partitioned JSON Lines objects in S3"),
    "redrive": ("app.consumer.redrive", "move dead-letter queue messages back to the queue; prints how many"),
}


def _overview() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemetry", description="Fleet telemetry pipeline.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        parser = _overview()
        if args and args[0] not in {"-h", "--help"}:
            parser.error(f"unknown command {args[0]!r}; choose one of: {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if args else 2
    name = args[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"telemetry {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    parsed = parser.parse_args(args[1:])
    try:
        return int(module.run(parsed))
    except TelemetryError as exc:
        print(f"telemetry {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
