"""The one `telemetry` command: a sub-command per job, each imported only when it is run.

Each sub-command module exposes `add_arguments(parser)` and `run(args) -> int`. Importing lazily
keeps `telemetry --help` fast and lets a command whose optional dependencies are missing (the image
installs none: `telemetry simulate` needs `[sim]`, `telemetry local-aws` needs `[local]`) fail with
one line naming the extra to install, never a traceback. Which module belongs to which extra is
read from the package's own metadata (pyproject.toml), not kept in a second list here. Errors we
raise on purpose (`TelemetryError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from functools import cache
from importlib import metadata

from app.errors import MissingExtraError, TelemetryError

DISTRIBUTION = "fleet-telemetry"
#: `moto[server]>=5.0.20; extra == "local"`: the distribution's name and the extra that requires it.
_EXTRA_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*).*;.*\bextra\s*==\s*['\"]([a-z0-9_-]+)['\"]")

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "local-aws": (
        "app.embedded_aws",
        "start the embedded AWS stack (moto server) with queue, DLQ and bucket",
    ),
    "schema": (
        "app.schema_cli",
        "write the contract's JSON Schema and the receiver's OpenAPI document to docs/",
    ),
    "serve": ("app.receiver.main", "run the HTTP receiver: validate telemetry, queue it in SQS"),
    "simulate": ("app.simulator.cli", "simulate a battery fleet; write JSON Lines or post to a receiver"),
    "aggregate": ("app.aggregator.cli", "roll one hour of raw S3 data up into per-vehicle statistics"),
    "query": ("app.query", "SQL (DuckDB) over the curated, vehicle_stats and raw tables of some hours"),
    "consume": ("app.consumer.main", "drain the SQS queue into time-partitioned JSON Lines objects in S3"),
    "redrive": ("app.consumer.redrive", "move dead-letter queue messages back to the queue; prints how many"),
}


def _overview() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemetry", description="Fleet telemetry pipeline.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    return parser


@cache
def optional_modules() -> dict[str, str]:
    """Top-level module -> the extra that installs it, from the installed package's requirements."""
    found: dict[str, str] = {}
    for text in metadata.requires(DISTRIBUTION) or []:
        match = _EXTRA_REQUIREMENT.match(text)
        if match is None:
            continue  # a dependency of the image itself
        module, extra = match.group(1).lower().replace("-", "_"), match.group(2)
        if extra != "dev" and module != DISTRIBUTION.replace("-", "_"):
            found.setdefault(module, extra)
    return found


def _missing_extra(command: str, exc: ModuleNotFoundError) -> MissingExtraError | None:
    top = (exc.name or "").split(".")[0]
    extra = optional_modules().get(top)
    return None if extra is None else MissingExtraError(command, extra, top)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        parser = _overview()
        if args and args[0] not in {"-h", "--help"}:
            parser.error(f"unknown command {args[0]!r}; choose one of: {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if args else 2
    name = args[0]
    try:
        module = importlib.import_module(COMMANDS[name][0])
        parser = argparse.ArgumentParser(prog=f"telemetry {name}", description=COMMANDS[name][1])
        module.add_arguments(parser)
        parsed = parser.parse_args(args[1:])
        return int(module.run(parsed))
    except ModuleNotFoundError as exc:
        missing = _missing_extra(name, exc)
        if missing is None:
            raise  # not an optional dependency: a broken install, and its traceback says which
        print(f"telemetry {name}: error: {missing}", file=sys.stderr)
        return 2
    except TelemetryError as exc:
        print(f"telemetry {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
