"""The AWS resources the pipeline needs, read from the one file that Terraform reads too.

`pipeline_defaults.json` beside this module is the single source of names and queue/bucket
settings: the embedded AWS stack provisions exactly this, `Settings` takes its defaults from it, and
`infra/` decodes the same file for its variable defaults, so local and cloud cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class QueueDefaults:
    visibility_timeout_seconds: int
    receive_wait_time_seconds: int
    message_retention_seconds: int
    max_message_size: int
    max_receive_count: int


@dataclass(frozen=True, slots=True)
class LifecycleDefaults:
    #: raw/ is the replay window (infra's raw_retention_days defaults to it): no transitions.
    raw_expiration_days: int
    aggregates_transition_ia_days: int
    aggregates_expiration_days: int
    curated_transition_ia_days: int
    curated_transition_glacier_ir_days: int
    curated_expiration_days: int
    abort_incomplete_multipart_days: int
    noncurrent_version_expiration_days: int


@dataclass(frozen=True, slots=True)
class PipelineDefaults:
    name: str
    queue_name: str
    dlq_name: str
    bucket_name: str
    raw_prefix: str
    aggregates_prefix: str
    curated_prefix: str
    vehicle_stats_prefix: str
    anomalies_prefix: str
    queue: QueueDefaults
    dlq_message_retention_seconds: int
    lifecycle: LifecycleDefaults
    #: The Athena tables of the hourly job's Parquet output, as in the file (infra/glue.tf reads it too).
    tables: dict[str, Any]


@cache
def pipeline_defaults() -> PipelineDefaults:
    """Load the shared defaults once; cached because Settings asks for them on every build."""
    raw: dict[str, Any] = json.loads(
        resources.files("app").joinpath("pipeline_defaults.json").read_text(encoding="utf-8")
    )
    return PipelineDefaults(
        name=raw["name"],
        queue_name=raw["queue_name"],
        dlq_name=raw["dlq_name"],
        bucket_name=raw["bucket_name"],
        raw_prefix=raw["raw_prefix"],
        aggregates_prefix=raw["aggregates_prefix"],
        curated_prefix=raw["curated_prefix"],
        vehicle_stats_prefix=raw["vehicle_stats_prefix"],
        anomalies_prefix=raw["anomalies_prefix"],
        queue=QueueDefaults(**raw["queue"]),
        dlq_message_retention_seconds=raw["dlq"]["message_retention_seconds"],
        lifecycle=LifecycleDefaults(**raw["lifecycle"]),
        tables={name: table for name, table in raw["tables"].items() if not name.startswith("_")},
    )


def lifecycle_rules(defaults: PipelineDefaults) -> list[dict[str, Any]]:
    """S3 lifecycle rules in the PutBucketLifecycleConfiguration shape (infra/s3.tf makes the same).

    raw/ is the replay window: the curated Parquet keeps the data, so raw/ only has to outlive
    the time it takes to notice a failed hour and re-run it; it expires after a few days and never
    transitions (an object that expires before day 30 cannot go to STANDARD_IA). The kept data
    tiers: STANDARD_IA needs >= 30 days in STANDARD and GLACIER_IR bills >= 90 days; S3 does not
    transition objects under 128 KiB by default. Versioning is on (an overwritten or deleted object
    stays recoverable for a while), so every rule also expires noncurrent versions.
    """
    lc = defaults.lifecycle
    return [
        {
            "ID": "raw-expiry",
            "Status": "Enabled",
            "Filter": {"Prefix": defaults.raw_prefix},
            "Expiration": {"Days": lc.raw_expiration_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": lc.noncurrent_version_expiration_days},
        },
        {
            "ID": "curated-tiering-and-expiry",
            "Status": "Enabled",
            "Filter": {"Prefix": defaults.curated_prefix},
            "Transitions": [
                {"Days": lc.curated_transition_ia_days, "StorageClass": "STANDARD_IA"},
                {"Days": lc.curated_transition_glacier_ir_days, "StorageClass": "GLACIER_IR"},
            ],
            "Expiration": {"Days": lc.curated_expiration_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": lc.noncurrent_version_expiration_days},
        },
        *(
            {
                "ID": f"{name}-tiering-and-expiry",
                "Status": "Enabled",
                "Filter": {"Prefix": prefix},
                "Transitions": [{"Days": lc.aggregates_transition_ia_days, "StorageClass": "STANDARD_IA"}],
                "Expiration": {"Days": lc.aggregates_expiration_days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": lc.noncurrent_version_expiration_days},
            }
            for name, prefix in (
                ("aggregates", defaults.aggregates_prefix),
                ("vehicle-stats", defaults.vehicle_stats_prefix),
                ("anomalies", defaults.anomalies_prefix),
            )
        ),
        {
            "ID": "abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": lc.abort_incomplete_multipart_days},
        },
    ]
