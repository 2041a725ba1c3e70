"""`telemetry aggregate [--hour YYYY-MM-DDTHH] [--table]`: the scheduled hourly entry point.

Settings, logging, metrics and the S3 client are built here, once, and passed down. A malformed or
future `--hour` is a ConfigurationError, which the `telemetry` command prints as one line, exit 2.
With `--lookback`, an hour that fails is logged (`event=aggregate_failed`) and the others still
run; the command then exits 2 with one line naming each failed hour.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from app.aggregator.job import aggregate_hour, last_complete_hour
from app.aggregator.report import render_table
from app.aws import s3_client
from app.contract import Hour
from app.errors import AggregationError, ConfigurationError, TelemetryError
from app.object_store import S3ObjectStore
from app.observability import Metrics, configure_logging, kv, make_metrics
from app.settings import Settings, load_settings

log = logging.getLogger(__name__)


def parse_hour(text: str, *, now: datetime) -> Hour:
    """The UTC hour `text` names; refused when malformed or not yet begun (there is nothing to read)."""
    try:
        hour = Hour.parse(text)
    except ValueError as exc:
        raise ConfigurationError(f"--hour: {exc}") from None
    if hour > Hour.of(now):
        raise ConfigurationError(f"--hour: {text} has not begun yet (now is {now:%Y-%m-%dT%H:%M}Z)")
    return hour


#: a day: beyond that, replay an hour by hand (`--hour`), as docs/operations.md describes
MAX_LOOKBACK_HOURS = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hour",
        metavar="YYYY-MM-DDTHH",
        help="UTC hour to aggregate (default: the last complete hour)",
    )
    parser.add_argument(
        "--lookback",
        type=int,
        default=0,
        metavar="N",
        help="also re-aggregate the N hours before it (late data: a backlog or a DLQ redrive fills an "
        "hour after its first run; re-runs overwrite, so this is safe)",
    )
    parser.add_argument("--table", action="store_true", help="also print the per-vehicle table on stdout")
    parser.add_argument(
        "--force",
        action="store_true",
        help="re-aggregate an hour whose raw/ is empty even though curated/ has it (replaces it with "
        "an empty hour; without this such an hour is refused, since curated/ outlives raw/)",
    )


def _aggregate(
    store: S3ObjectStore, settings: Settings, hour: Hour, metrics: Metrics, args: argparse.Namespace
) -> None:
    result = aggregate_hour(store=store, settings=settings, hour=hour, metrics=metrics, force=args.force)
    if args.table:
        print(render_table(result), end="", flush=True)


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    hour = parse_hour(args.hour, now=now) if args.hour else last_complete_hour(now)
    if not 0 <= args.lookback <= MAX_LOOKBACK_HOURS:
        raise ConfigurationError(f"--lookback: expected 0..{MAX_LOOKBACK_HOURS} hours, got {args.lookback}")
    settings = load_settings()
    configure_logging(settings)
    store = S3ObjectStore(s3_client(settings), settings.bucket)
    metrics = make_metrics(settings, service="aggregator")
    if args.lookback == 0:
        _aggregate(store, settings, hour, metrics, args)
        return 0
    # Oldest first, so the hour asked for is the last line of the log and of the table, and each
    # hour's rules lead in from the previous hour as just written (rules_pass.py). One that fails
    # must not keep the others, the newest above all, from being written: the next then leads in
    # from what the failed hour held before, or starts its windows empty.
    failed: list[Hour] = []
    for each in (hour.shift(-back) for back in range(args.lookback, -1, -1)):
        try:
            _aggregate(store, settings, each, metrics, args)
        except TelemetryError as exc:
            failed.append(each)
            log.error(kv("aggregate_failed", hour=each.key, error=exc))
        except Exception as exc:  # a bug, ours or a library's (DuckDB, the disk): with its traceback
            failed.append(each)
            log.exception(kv("aggregate_failed", hour=each.key, error_type=type(exc).__name__))
    if failed:
        raise AggregationError(
            f"{len(failed)} of {args.lookback + 1} hours failed: {', '.join(h.key for h in failed)} "
            f"(event=aggregate_failed says why; the other {args.lookback + 1 - len(failed)} were "
            "written); re-run one with --hour"
        )
    return 0
