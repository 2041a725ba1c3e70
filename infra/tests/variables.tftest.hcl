# Variable validations: each wrong value is refused at plan time, naming the variable.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "defaults_are_valid" {
  command = plan
}

run "environment_must_be_a_short_slug" {
  command = plan
  variables { environment = "Prod Environment" }
  expect_failures = [var.environment]
}

run "image_tag_latest_is_refused" {
  command = plan
  variables { image_tag = "latest" }
  expect_failures = [var.image_tag]
}

run "image_tag_must_be_a_docker_tag" {
  command = plan
  variables { image_tag = "has spaces" }
  expect_failures = [var.image_tag]
}

run "cpu_architecture_is_x86_64_or_arm64" {
  command = plan
  variables { cpu_architecture = "aarch64" }
  expect_failures = [var.cpu_architecture]
}

run "region_must_look_like_a_region" {
  command = plan
  variables { region = "Frankfurt" }
  expect_failures = [var.region]
}

run "name_length_is_limited_by_alb_names" {
  command = plan
  variables { name = "a-name-far-too-long-for-an-alb" }
  expect_failures = [var.name]
}

run "fargate_sizes_are_checked" {
  command = plan
  variables { receiver = { cpu = 300 } }
  expect_failures = [var.receiver]
}

run "fargate_memory_must_fit_the_cpu" {
  command = plan
  variables { consumer = { cpu = 256, memory = 8192 } }
  expect_failures = [var.consumer]
}

run "min_count_cannot_exceed_max_count" {
  command = plan
  variables { receiver = { min_count = 5, max_count = 2 } }
  expect_failures = [var.receiver]
}

run "consumer_cannot_scale_to_zero" {
  command = plan
  variables { consumer = { min_count = 0 } }
  expect_failures = [var.consumer]
}

run "stop_timeout_within_fargate_limit" {
  command = plan
  variables { consumer = { stop_timeout_seconds = 300 } }
  expect_failures = [var.consumer]
}

run "schedule_must_be_cron_or_rate" {
  command = plan
  variables { aggregator = { schedule_expression = "every hour" } }
  expect_failures = [var.aggregator]
}

run "visibility_timeout_range" {
  command = plan
  variables { queue = { visibility_timeout_seconds = 5 } }
  expect_failures = [var.queue]
}

run "max_receive_count_range" {
  command = plan
  variables { queue = { max_receive_count = 0 } }
  expect_failures = [var.queue]
}

run "bucket_name_must_be_valid" {
  command = plan
  variables { bucket_name = "Not_A_Bucket" }
  expect_failures = [var.bucket_name]
}

run "bucket_encryption_choices" {
  command = plan
  variables { bucket_encryption = "none" }
  expect_failures = [var.bucket_encryption]
}

run "existing_vpc_needs_two_azs" {
  command = plan
  variables {
    existing_vpc = { id = "vpc-1", public_subnet_ids = ["subnet-a"], private_subnet_ids = ["subnet-b"] }
  }
  expect_failures = [var.existing_vpc]
}

run "vpc_cidr_must_be_a_cidr" {
  command = plan
  variables { vpc_cidr = "10.0.0.0/8" }
  expect_failures = [var.vpc_cidr]
}

run "task_subnets_choices" {
  command = plan
  variables { task_subnets = "isolated" }
  expect_failures = [var.task_subnets]
}

run "private_egress_choices" {
  command = plan
  variables { private_egress = "proxy" }
  expect_failures = [var.private_egress]
}

run "certificate_must_be_an_acm_arn" {
  command = plan
  variables { certificate_arn = "arn:aws:iam::123456789012:server-certificate/x" }
  expect_failures = [var.certificate_arn]
}

run "alb_ingress_must_be_cidrs" {
  command = plan
  variables { alb_ingress_cidrs = ["anywhere"] }
  expect_failures = [var.alb_ingress_cidrs]
}

run "secret_arn_must_be_secrets_manager" {
  command = plan
  variables { api_keys_secret_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/keys" }
  expect_failures = [var.api_keys_secret_arn]
}

run "secret_recovery_window_choices" {
  command = plan
  variables { secret_recovery_window_days = 3 }
  expect_failures = [var.secret_recovery_window_days]
}

run "log_retention_must_be_a_cloudwatch_value" {
  command = plan
  variables { log_retention_days = 45 }
  expect_failures = [var.log_retention_days]
}

run "log_level_choices" {
  command = plan
  variables { log_level = "TRACE" }
  expect_failures = [var.log_level]
}

run "metrics_namespace_not_aws" {
  command = plan
  variables { metrics_namespace = "AWS/Telemetry" }
  expect_failures = [var.metrics_namespace]
}

run "alarm_topic_must_be_sns" {
  command = plan
  variables { alarm_topic_arn = "arn:aws:sqs:eu-central-1:123456789012:q" }
  expect_failures = [var.alarm_topic_arn]
}

run "duplicate_rate_is_a_fraction" {
  command = plan
  variables { alarm_thresholds = { duplicate_rate = 0.5e1 } }
  expect_failures = [var.alarm_thresholds]
}

run "partition_years_ordered" {
  command = plan
  variables { raw_partition_years = { first = 2030, last = 2025 } }
  expect_failures = [var.raw_partition_years]
}
