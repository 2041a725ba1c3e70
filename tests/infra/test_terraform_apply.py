"""`terraform apply` of infra/ against moto server, then the pipeline on what Terraform made.

The root module is copied to a temporary folder with the one file it reads from outside
(app/pipeline_defaults.json, same relative layout), given an override file that points every AWS
endpoint at a bare moto server on 127.0.0.1 and keeps state local, and applied with
envs/dev.tfvars. boto3 then checks that what exists is what was planned, the real receiver and
consumer run against the queue and bucket Terraform created until a record lands in S3, and
`terraform destroy` removes it all.

Resources whose APIs moto 5.2.5 lacks are left out of the apply with `-target` of every other
planned resource (never by changing the module); `MOTO_EXCLUSIONS` says why, and infra/README.md
lists the same. Slow (minutes): runs from `make infra-apply-test`, not from `make test`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from app.aggregator.job import aggregate_hour, episodes_jsonl
from app.aggregator.tables import table
from app.anomaly import PER_SAMPLE_RULES, RULES, Episode
from app.aws import s3_client
from app.contract import Hour
from app.object_store import S3ObjectStore
from app.observability import InMemoryMetrics
from app.resources import lifecycle_rules, pipeline_defaults
from app.settings import load_settings
from loadtest.stack import PipelineStack, free_port
from tests.support.records import partition_of, record_line

pytestmark = [pytest.mark.infra_apply, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-central-1"
IMAGE_TAG = "apply-test"
API_KEY = "infra-apply-test-key-0123456789"
RAW_KEY = re.compile(r"raw/year=\d{4}/month=\d{2}/day=\d{2}/hour=\d{2}/part-[0-9a-f-]{36}\.jsonl(\.gz)?")

#: resource type -> why moto 5.2.5 cannot take it (mirrored in infra/README.md, "moto exclusions").
MOTO_EXCLUSIONS: dict[str, str] = {
    "aws_appautoscaling_target": (
        "moto lacks Application Auto Scaling ListTagsForResource, which the provider calls after "
        "RegisterScalableTarget and retries until its timeout"
    ),
    "aws_appautoscaling_policy": "needs the scalable targets above",
    "aws_sqs_queue_redrive_allow_policy": (
        "moto ignores the RedriveAllowPolicy attribute (the provider waits for it forever) and "
        "setting it clears the DLQ's Policy attribute"
    ),
    "aws_budgets_budget": (
        "moto lacks Budgets DescribeSubscribersForNotification and ListTagsForResource, with which "
        "the provider reads a budget's notifications and tags back"
    ),
}

#: Every service the module calls; each endpoint goes to the moto server.
ENDPOINT_SERVICES = (
    "applicationautoscaling",
    "budgets",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "events",
    "glue",
    "iam",
    "kms",
    "logs",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
    "wafv2",
)


def terraform_binary() -> str:
    binary = shutil.which(os.environ.get("TERRAFORM", "terraform"))
    if binary is None:
        pytest.fail("terraform not found on PATH: install Terraform >= 1.7 (CI uses 1.11)")
    return binary


def plugin_dir() -> str | None:
    """The offline provider mirror TF_PLUGIN_DIR names (the Makefile passes it on), if any."""
    return os.environ.get("TF_PLUGIN_DIR") or None


def override_tf(endpoint: str) -> str:
    endpoints = "\n".join(f'    {service:<22} = "{endpoint}"' for service in ENDPOINT_SERVICES)
    return f"""# Written by tests/infra/test_terraform_apply.py: local state, every endpoint on moto server.
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


def isolated_env(**extra: str) -> dict[str, str]:
    """This process's environment without AWS_/TELEMETRY_ variables: nothing real leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TELEMETRY_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        CHECKPOINT_DISABLE="1",  # no version check call from terraform
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
    )
    env.update(extra)
    return env


@dataclass
class Terraform:
    binary: str
    workdir: Path
    env: dict[str, str]
    log: Path

    def run(self, *args: str, timeout: float = 900) -> str:
        started = time.monotonic()
        result = subprocess.run(
            [self.binary, f"-chdir={self.workdir}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ terraform {' '.join(args[:3])} ... ({time.monotonic() - started:.1f} s)\n")
            log.write(result.stdout[-20_000:] + result.stderr[-20_000:] + "\n")
        if result.returncode != 0:
            raise AssertionError(
                f"terraform {args[0]} failed ({result.returncode}):\n{result.stderr[-4000:]}\n{result.stdout[-4000:]}"
            )
        return result.stdout


@dataclass
class Applied:
    endpoint: str
    outputs: dict[str, Any]
    planned: list[str]
    applied: list[str]
    excluded: list[str]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bare moto server (no resources: Terraform creates them) on a free loopback port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=isolated_env(),
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"moto server did not start: {log_path.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.2)
            yield endpoint
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def applied(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    root = tmp_path_factory.mktemp("tf")
    workdir = root / "infra"
    shutil.copytree(
        REPO / "infra",
        workdir,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "bootstrap", "tests"),
    )
    (root / "app").mkdir()
    shutil.copy2(REPO / "app" / "pipeline_defaults.json", root / "app" / "pipeline_defaults.json")
    (workdir / "moto_override.tf").write_text(override_tf(moto_endpoint), encoding="utf-8")

    tf = Terraform(terraform_binary(), workdir, isolated_env(), root / "terraform.log")
    mirror = plugin_dir()
    tf.run("init", "-input=false", "-no-color", *([f"-plugin-dir={mirror}"] if mirror else []))

    variables = ["-var-file=envs/dev.tfvars", f"-var=image_tag={IMAGE_TAG}", f"-var=region={REGION}"]
    tf.run("plan", "-input=false", "-no-color", "-out=plan.tfplan", *variables)
    plan = json.loads(tf.run("show", "-json", "plan.tfplan"))
    planned = [
        change["address"]
        for change in plan["resource_changes"]
        if change["mode"] == "managed" and "create" in change["change"]["actions"]
    ]
    excluded = [a for a in planned if a.split("[")[0].split(".")[0] in MOTO_EXCLUSIONS]
    targets = [a for a in planned if a not in excluded]

    try:
        tf.run(
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-parallelism=20",
            *variables,
            *(f"-target={a}" for a in targets),
        )
        state = json.loads(tf.run("show", "-json"))
        outputs = {k: v["value"] for k, v in json.loads(tf.run("output", "-json")).items()}
        resources = state["values"]["root_module"].get("resources", [])
        yield Applied(
            endpoint=moto_endpoint,
            outputs=outputs,
            planned=planned,
            applied=[r["address"] for r in resources if r["mode"] == "managed"],
            excluded=excluded,
        )
    finally:
        tf.run("destroy", "-input=false", "-no-color", "-auto-approve", "-parallelism=20", *variables)
        leftover = json.loads(tf.run("show", "-json")).get("values") or {}
        assert not leftover.get("root_module", {}).get("resources"), (
            "terraform destroy left resources in state"
        )


def test_everything_but_the_moto_exclusions_is_applied(applied: Applied) -> None:
    assert sorted(applied.applied) == sorted(set(applied.planned) - set(applied.excluded))
    assert {a.split(".")[0] for a in applied.excluded} == set(MOTO_EXCLUSIONS)
    assert len(applied.applied) > 60


def test_queue_and_dlq_are_wired_as_planned(applied: Applied) -> None:
    defaults = pipeline_defaults()
    sqs = applied.client("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=applied.outputs["queue_url"], AttributeNames=["All"])[
        "Attributes"
    ]
    dlq = sqs.get_queue_attributes(QueueUrl=applied.outputs["dlq_url"], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": defaults.queue.max_receive_count,
    }
    assert queue["QueueArn"].endswith(f":{defaults.queue_name}")
    assert dlq["QueueArn"].endswith(f":{defaults.dlq_name}")
    assert int(queue["VisibilityTimeout"]) == defaults.queue.visibility_timeout_seconds
    assert int(queue["ReceiveMessageWaitTimeSeconds"]) == defaults.queue.receive_wait_time_seconds
    assert int(dlq["MessageRetentionPeriod"]) == defaults.dlq_message_retention_seconds == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] == dlq["SqsManagedSseEnabled"] == "true"
    assert json.loads(queue["Policy"])["Statement"][0]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_bucket_matches_the_embedded_stack(applied: Applied) -> None:
    s3 = applied.client("s3")
    bucket = applied.outputs["bucket_name"]
    assert bucket == f"{pipeline_defaults().bucket_name}-dev-123456789012"

    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    expected = lifecycle_rules(pipeline_defaults())

    def shape(rule: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "ID": rule["ID"],
            "Status": rule["Status"],
            "Prefix": rule.get("Filter", {}).get("Prefix", rule.get("Prefix")),
            "Transitions": sorted((t["Days"], t["StorageClass"]) for t in rule.get("Transitions", [])),
            "Expiration": rule.get("Expiration", {}).get("Days"),
            "Noncurrent": rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
            "Abort": rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
        }

    assert sorted(map(shape, rules), key=lambda r: r["ID"]) == sorted(
        map(shape, expected), key=lambda r: r["ID"]
    )

    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"


def test_ecs_services_schedule_and_alarms_exist(applied: Applied) -> None:
    ecs = applied.client("ecs")
    cluster = applied.outputs["ecs_cluster_name"]
    services = ecs.describe_services(
        cluster=cluster, services=list(applied.outputs["ecs_service_names"].values())
    )
    assert {s["serviceName"]: s["status"] for s in services["services"]} == {
        name: "ACTIVE" for name in applied.outputs["ecs_service_names"].values()
    }
    for service in services["services"]:
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        container = task["containerDefinitions"][0]
        assert {"name": "AWS_EMF_ENVIRONMENT", "value": "local"} in container["environment"]
        assert task["runtimePlatform"]["cpuArchitecture"] == "X86_64"

    scheduler = applied.client("scheduler")
    schedule = scheduler.get_schedule(Name=f"{pipeline_defaults().name}-aggregator")
    assert schedule["ScheduleExpression"] == "cron(5 * * * ? *)"
    assert (
        ":task-definition/fleet-telemetry-aggregator:"
        in schedule["Target"]["EcsParameters"]["TaskDefinitionArn"]
    )

    alarms = {a["AlarmName"] for a in applied.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    prefix = f"{pipeline_defaults().name}-dev-"
    assert {
        prefix + suffix
        for suffix in (
            "queue-oldest-message-age",
            "dlq-not-empty",
            "ingest-to-persist-p95",
            "duplicate-rate",
            "aggregator-missing",
            "aggregator-not-started",
            "aggregator-runtime",
            "throughput",
            "receiver-5xx-rate",
            "clock-off-vehicles",
        )
    } <= alarms

    table = applied.client("glue").get_table(DatabaseName="fleet_telemetry_dev", Name="raw")["Table"]
    assert table["Parameters"]["projection.enabled"] == "true"

    groups = applied.client("elbv2").describe_target_groups()["TargetGroups"]
    assert [g["HealthCheckPath"] for g in groups] == ["/healthz"]


def test_athena_tables_and_the_hourly_jobs_task_are_as_planned(applied: Applied) -> None:
    """curated and vehicle_stats over the job's Parquet, raw over every record; the job's disk."""
    glue = applied.client("glue")
    tables = {
        t["Name"]: t for t in glue.get_tables(DatabaseName=applied.outputs["glue_database"])["TableList"]
    }
    assert set(tables) == {"raw", "curated", "vehicle_stats", "anomalies"}
    raw = tables["raw"]["StorageDescriptor"]
    assert raw["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"
    assert {c["Name"]: c["Type"] for c in raw["Columns"]}["payload"] == "map<string,string>"
    for name in ("curated", "vehicle_stats"):
        sd = tables[name]["StorageDescriptor"]
        assert sd["SerdeInfo"]["SerializationLibrary"] == (
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        # The columns the hourly job writes (app/aggregator/tables.py reads the same file).
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
            (c.name, c.athena_type) for c in table(name).columns
        ]
        assert tables[name]["Parameters"]["projection.enabled"] == "true"
    # anomalies: the keys of the lines the hourly job writes, in its order, read like raw.
    line = episodes_jsonl([Episode("veh-1", "silent", 0, 10_000, 10.0, 10.0, "")]).decode()
    anomalies = tables["anomalies"]["StorageDescriptor"]
    assert [c["Name"] for c in anomalies["Columns"]] == list(json.loads(line))
    assert anomalies["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"
    assert anomalies["Location"].endswith(f"/{pipeline_defaults().anomalies_prefix}")
    assert tables["anomalies"]["Parameters"]["projection.enabled"] == "true"
    assert applied.outputs["athena_tables"] == {
        t: f"{applied.outputs['glue_database']}.{t}" for t in ("raw", "curated", "vehicle_stats", "anomalies")
    }

    ecs = applied.client("ecs")
    schedule = applied.client("scheduler").get_schedule(Name=f"{pipeline_defaults().name}-aggregator")
    task = ecs.describe_task_definition(
        taskDefinition=schedule["Target"]["EcsParameters"]["TaskDefinitionArn"]
    )["taskDefinition"]
    container = task["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container["environment"]}
    defaults = pipeline_defaults()
    assert env["TELEMETRY_CURATED_PREFIX"] == defaults.curated_prefix
    assert env["TELEMETRY_VEHICLE_STATS_PREFIX"] == defaults.vehicle_stats_prefix
    assert env["TELEMETRY_ANOMALIES_PREFIX"] == defaults.anomalies_prefix
    assert env["TELEMETRY_HOURLY_MEMORY_MB"] == str(int(task["memory"]) // 2)  # dev: 1024 MB -> 512
    assert container["mountPoints"] == [
        {"sourceVolume": "scratch", "containerPath": env["TELEMETRY_HOURLY_WORK_DIR"], "readOnly": False}
    ]
    assert [v["name"] for v in task["volumes"]] == ["scratch"]
    assert task["ephemeralStorage"] == {"sizeInGiB": 30}


def test_one_alarm_per_anomaly_rule_on_the_path_the_consumer_leaves_it(applied: Applied) -> None:
    """dev runs the consumer with TELEMETRY_LIVE_RULES=per_sample: the per-sample rules alarm on
    the consumer's AnomalyAlerts, the windowed ones on the hourly job's AnomalyEpisodes, each rule
    once, to the alarm topic (infra/README.md, "Battery anomaly alarms")."""
    ecs = applied.client("ecs")
    consumer = ecs.describe_services(
        cluster=applied.outputs["ecs_cluster_name"],
        services=[applied.outputs["ecs_service_names"]["consumer"]],
    )["services"][0]
    task = ecs.describe_task_definition(taskDefinition=consumer["taskDefinition"])["taskDefinition"]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}
    assert env["TELEMETRY_LIVE_RULES"] == "per_sample"

    topic = applied.outputs["alarm_topic_arn"]
    paginator = applied.client("cloudwatch").get_paginator("describe_alarms")
    alarms = [a for page in paginator.paginate() for a in page["MetricAlarms"]]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        if alarm.get("MetricName") in {"AnomalyAlerts", "AnomalyEpisodes"}:
            dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            by_rule.setdefault(dims["Rule"], []).append({**alarm, "dims": dims})
    assert sorted(by_rule) == sorted(RULES)
    for rule, found in by_rule.items():
        assert len(found) == 1, rule
        alarm = found[0]
        live = rule in PER_SAMPLE_RULES
        assert alarm["MetricName"] == ("AnomalyAlerts" if live else "AnomalyEpisodes"), rule
        assert alarm["dims"] == {"Service": "consumer" if live else "aggregator", "Rule": rule}
        assert alarm["Namespace"] == "FleetTelemetry"
        assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 60 if live else 3600, 0.0)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic]

    role = applied.client("iam").get_role_policy(
        RoleName=f"{pipeline_defaults().name}-dev-aggregator", PolicyName="aggregator"
    )
    document = role["PolicyDocument"]
    statements = json.loads(document) if isinstance(document, str) else document
    writes = next(s for s in statements["Statement"] if s["Sid"] == "WriteHourlyOutputs")
    assert (
        f"arn:aws:s3:::{applied.outputs['bucket_name']}/{pipeline_defaults().anomalies_prefix}*"
        in writes["Resource"]
    )


def test_receiver_and_consumer_move_a_record_into_the_terraform_bucket(
    applied: Applied, tmp_path: Path, record_factory: Any
) -> None:
    """The real processes, configured only by Terraform's outputs, put one record into S3."""
    env = {
        **applied.outputs["app_environment"],
        "AWS_ENDPOINT_URL": applied.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TELEMETRY_FLUSH_MAX_AGE_SECONDS": "1",
    }
    vehicle = f"veh-tf-{uuid.uuid4().hex[:8]}"
    s3 = applied.client("s3")
    bucket = applied.outputs["bucket_name"]
    # The stand-in speaks plain HTTP, and moto applies the TLS-only Deny without evaluating its
    # aws:SecureTransport condition, so the policy (checked above) would refuse every PutObject.
    # Take it off moto's copy of the bucket; the module keeps it (infra/README.md, moto deviations).
    s3.delete_bucket_policy(Bucket=bucket)
    with PipelineStack(tmp_path, api_key=API_KEY, env=isolated_env(**env)) as stack:
        url = stack.start_receiver()
        stack.start_consumer()
        answer = httpx.post(
            f"{url}/v1/telemetry",
            json=record_factory(vehicle_id=vehicle),
            headers={"X-API-Key": API_KEY},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200

        deadline = time.monotonic() + 60
        found: list[tuple[str, dict[str, Any]]] = []
        while not found and time.monotonic() < deadline:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="raw/"):
                for obj in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
                    records = [json.loads(line) for line in body.splitlines()]
                    found += [(obj["Key"], r) for r in records if r["vehicle_id"] == vehicle]
            time.sleep(0.5)
    assert len(found) == 1, "the accepted record did not land in the Terraform-made bucket"
    key, record = found[0]
    # The layout the Glue table's partition projection expects (infra/glue.tf).
    assert RAW_KEY.fullmatch(key), key
    received = datetime.fromisoformat(record["ingest_received_at"].replace("Z", "+00:00"))
    assert key.startswith(received.strftime("raw/year=%Y/month=%m/day=%d/hour=%H/")), key


# --- the task roles against the calls the code makes ------------------------------------------
#: S3 operations the hourly job makes -> the IAM action AWS authorises each with.
S3_ACTIONS: Mapping[str, str] = {
    "ListObjectsV2": "s3:ListBucket",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allowed(statements: list[dict[str, Any]], operation: str, bucket: str, params: Mapping[str, Any]) -> bool:
    """Whether an identity policy of Allow statements (the shape iam.tf writes) allows one S3 call.

    Only what the task roles use is understood (exact actions, `*` in resources, StringLike on
    s3:prefix); anything else fails the test rather than being guessed at.
    """
    action = S3_ACTIONS[operation]
    if action == "s3:ListBucket":
        resource, prefix = f"arn:aws:s3:::{bucket}", params.get("Prefix", "")
    else:
        resource, prefix = f"arn:aws:s3:::{bucket}/{params['Key']}", None
    for statement in statements:
        assert statement["Effect"] == "Allow", f"the evaluator knows no Deny: {statement}"
        condition = statement.get("Condition", {})
        assert set(condition) <= {"StringLike"} and set(condition.get("StringLike", {})) <= {"s3:prefix"}, (
            f"the evaluator knows no such condition: {condition}"
        )
        if action not in _listed(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in _listed(statement["Resource"])):
            continue
        like = condition.get("StringLike", {}).get("s3:prefix")
        if like is not None and (
            prefix is None or not any(fnmatch.fnmatchcase(prefix, p) for p in _listed(like))
        ):
            continue
        return True
    return False


def test_every_s3_call_of_the_hourly_job_is_allowed_by_its_task_role(
    applied: Applied, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto does not enforce IAM, so a call the role does not allow passes every other test.

    Two hours with records and one quiet hour: the second reads the first's curated file (the
    rules' lead-in), the quiet one lists curated/ to decide whether it may write over it (with
    ListBucket on raw/ only, AWS refused that and every quiet hour failed).
    """
    document = applied.client("iam").get_role_policy(
        RoleName=f"{pipeline_defaults().name}-dev-aggregator", PolicyName="aggregator"
    )["PolicyDocument"]
    statements = (json.loads(document) if isinstance(document, str) else document)["Statement"]
    bucket = applied.outputs["bucket_name"]
    for name in [k for k in os.environ if k.startswith(("AWS_", "TELEMETRY_"))]:
        monkeypatch.delenv(name)
    env = isolated_env(
        **applied.outputs["app_environment"],
        AWS_ENDPOINT_URL=applied.endpoint,
        TELEMETRY_HOURLY_WORK_DIR=str(tmp_path),
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    s3 = s3_client(settings)
    s3.delete_bucket_policy(Bucket=bucket)  # moto's unconditional TLS Deny (the receiver test says why)
    hour = Hour("2025-10-19T12")
    for each in (hour, hour.shift(1)):
        line = record_line(1, ingest=each.start + timedelta(seconds=1), vehicle="veh-iam")
        s3.put_object(
            Bucket=bucket, Key=f"{partition_of(line, settings.raw_prefix)}part-iam.jsonl", Body=line + b"\n"
        )

    calls: list[tuple[str, dict[str, Any]]] = []
    s3.meta.events.register(
        "before-parameter-build.s3", lambda params, model, **_: calls.append((model.name, dict(params)))
    )
    for each in (hour, hour.shift(1), hour.shift(2)):  # with records, with records and a lead-in, quiet
        aggregate_hour(
            store=S3ObjectStore(s3, bucket), settings=settings, hour=each, metrics=InMemoryMetrics()
        )

    assert {operation for operation, _ in calls} >= {"ListObjectsV2", "GetObject", "PutObject"}
    assert any(op == "ListObjectsV2" and p["Prefix"].startswith(settings.curated_prefix) for op, p in calls)
    lead_in = [
        op
        for op, p in calls
        if op != "ListObjectsV2" and p.get("Key", "").startswith(settings.curated_prefix)
    ]
    assert "GetObject" in lead_in and "PutObject" in lead_in
    denied = [
        (op, p.get("Prefix", p.get("Key"))) for op, p in calls if not allowed(statements, op, bucket, p)
    ]
    assert not denied, f"the aggregator's role does not allow: {denied}"
    # ...and the evaluator does refuse: the role as it was before curated/ could be listed
    before = [
        {**s, "Condition": {"StringLike": {"s3:prefix": [f"{settings.raw_prefix}*"]}}}
        if "Condition" in s
        else s
        for s in statements
    ]
    assert {op for op, p in calls if not allowed(before, op, bucket, p)} == {"ListObjectsV2"}
    # ...and the role as it was before the rules read the previous hour back
    unread = [s for s in statements if s.get("Sid") != "ReadCuratedObjects"]
    assert {op for op, p in calls if not allowed(unread, op, bucket, p)} == {"GetObject", "HeadObject"} & set(
        lead_in
    )
