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
from app.errors import AggregationError, ConfigurationError
from app.object_store import S3ObjectStore
from app.observability import configure_logging, kv, make_metrics
from app.settings import load_settings

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


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    hour = parse_hour(args.hour, now=now) if args.hour else last_complete_hour(now)
    if not 0 <= args.lookback <= MAX_LOOKBACK_HOURS:
        raise ConfigurationError(f"--lookback: expected 0..{MAX_LOOKBACK_HOURS} hours, got {args.lookback}")
    settings = load_settings()
    configure_logging(settings)
    store = S3ObjectStore(s3_client(settings), settings.bucket)
    metrics = make_metrics(settings, service="aggregator")
    # Oldest first, so the hour asked for is the last line of the log and of the table. Hours are
    # independent: one that fails must not keep the others, the newest above all, from being written.
    failed: list[AggregationError] = []
    for back in range(args.lookback, -1, -1):
        try:
            result = aggregate_hour(
                store=store, settings=settings, hour=hour.shift(-back), metrics=metrics, force=args.force
            )
        except AggregationError as exc:
            log.error(kv("aggregate_failed", hour=hour.shift(-back).key, error=exc))
            failed.append(exc)
            continue
        if args.table:
            print(render_table(result), end="", flush=True)
    if failed and args.lookback == 0:
        raise failed[0]
    if failed:
        raise AggregationError(
            f"{len(failed)} of {args.lookback + 1} hours failed (the others were written): "
            + "; ".join(str(exc) for exc in failed)
        )
    return 0
