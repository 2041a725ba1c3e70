# Values the mocked AWS provider returns for data sources the module reads. Resources get
# generated values for computed attributes, except where a test needs a realistic shape.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDATESTTESTTESTTEST"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
    zone_ids = ["euc1-az2", "euc1-az3", "euc1-az1"]
  }
}

mock_data "aws_vpc" {
  defaults = {
    cidr_block = "10.99.0.0/16"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::fleet-telemetry-data-dev-123456789012"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-central-1:123456789012:fleet-telemetry"
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/fleet-telemetry"
  }
}

# Distinct from the ingest queue, so the redrive assertions compare two different ARNs.
override_resource {
  target = aws_sqs_queue.dlq
  values = {
    arn = "arn:aws:sqs:eu-central-1:123456789012:fleet-telemetry-dlq"
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/fleet-telemetry-dlq"
  }
}

override_resource {
  target = aws_sqs_queue.scheduler_dlq
  values = {
    arn = "arn:aws:sqs:eu-central-1:123456789012:fleet-telemetry-aggregator-schedule-dlq"
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/fleet-telemetry-aggregator-schedule-dlq"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-central-1:123456789012:fleet-telemetry-dev-alarms"
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn    = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    key_id = "11111111-2222-3333-4444-555555555555"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/fleet-telemetry-dev-role"
  }
}

mock_resource "aws_ecs_cluster" {
  defaults = {
    arn = "arn:aws:ecs:eu-central-1:123456789012:cluster/fleet-telemetry"
  }
}

mock_resource "aws_ecs_task_definition" {
  defaults = {
    arn                  = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-task:1"
    arn_without_revision = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-task"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/fleet-telemetry/50dc6c495c0c9188"
    arn_suffix = "app/fleet-telemetry/50dc6c495c0c9188"
    dns_name   = "fleet-telemetry-1234567890.eu-central-1.elb.amazonaws.com"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/fleet-telemetry-receiver/73e2d6bc24d8a067"
    arn_suffix = "targetgroup/fleet-telemetry-receiver/73e2d6bc24d8a067"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:fleet-telemetry/dev/api-keys-AbCdEf"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-central-1:123456789012:log-group:/ecs/fleet-telemetry/component"
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-central-1:123456789012:repository/fleet-telemetry"
    repository_url = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/fleet-telemetry"
  }
}

mock_resource "aws_ecs_service" {
  defaults = {
    id = "arn:aws:ecs:eu-central-1:123456789012:service/fleet-telemetry/service"
  }
}

# One ARN per role, so "each task definition uses its own role" compares distinct values.
override_resource {
  target = aws_iam_role.task["receiver"]
  values = { arn = "arn:aws:iam::123456789012:role/fleet-telemetry-dev-receiver" }
}

override_resource {
  target = aws_iam_role.task["consumer"]
  values = { arn = "arn:aws:iam::123456789012:role/fleet-telemetry-dev-consumer" }
}

override_resource {
  target = aws_iam_role.task["aggregator"]
  values = { arn = "arn:aws:iam::123456789012:role/fleet-telemetry-dev-aggregator" }
}

override_resource {
  target = aws_iam_role.execution
  values = { arn = "arn:aws:iam::123456789012:role/fleet-telemetry-dev-execution" }
}

override_resource {
  target = aws_ecs_task_definition.this["aggregator"]
  values = {
    arn                  = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-aggregator:1"
    arn_without_revision = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-aggregator"
  }
}

mock_resource "aws_wafv2_web_acl" {
  defaults = {
    arn = "arn:aws:wafv2:eu-central-1:123456789012:regional/webacl/fleet-telemetry-prod-ingest/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
  }
}

override_resource {
  target = aws_secretsmanager_secret.smoke_api_key
  values = {
    arn  = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:fleet-telemetry/dev/smoke-api-key-GhIjKl"
    name = "fleet-telemetry/dev/smoke-api-key"
  }
}
