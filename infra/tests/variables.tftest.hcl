# Variable validations: wrong values are refused at plan time, naming the variable. Runs group
# several bad values each (every variable listed in expect_failures must fail on its own), which
# keeps the file fast: each run starts the provider once.

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

run "deployment_values_are_checked" {
  command = plan

  variables {
    environment      = "Prod Environment"
    region           = "Frankfurt"
    name             = "a-name-far-too-long-for-an-alb"
    image_tag        = "latest"
    cpu_architecture = "aarch64"
  }

  expect_failures = [var.environment, var.region, var.name, var.image_tag, var.cpu_architecture]
}

run "image_tag_must_be_a_docker_tag" {
  command = plan
  variables { image_tag = "has spaces" }
  expect_failures = [var.image_tag]
}

run "fargate_sizes_and_counts_are_checked" {
  command = plan

  variables {
    receiver   = { cpu = 300 }                                                     # not a Fargate size
    consumer   = { cpu = 256, memory = 8192 }                                      # memory beyond 8x cpu
    aggregator = { cpu = 1024, memory = 2048, schedule_expression = "every hour" } # not cron()/rate()
  }

  expect_failures = [var.receiver, var.consumer, var.aggregator]
}

# Fargate refuses any cpu/memory pair outside its table (RegisterTaskDefinition: "No Fargate
# configuration exists for given values"); moto accepts them all, so only this catches them.
run "memory_outside_fargates_table_is_refused" {
  command = plan

  variables {
    receiver   = { cpu = 512, memory = 1536 }  # 0.5 vCPU takes whole GB: 1024-4096 in 1024 steps
    consumer   = { cpu = 256, memory = 1536 }  # 0.25 vCPU takes 512, 1024 or 2048 only
    aggregator = { cpu = 1024, memory = 3000 } # 1 vCPU takes 2048-8192 in 1024 steps
  }

  expect_failures = [var.receiver, var.consumer, var.aggregator]
}

run "fargate_sizes_at_the_edges_of_the_table_are_accepted" {
  command = plan

  variables {
    receiver   = { cpu = 256, memory = 2048 }
    consumer   = { cpu = 4096, memory = 30720 }
    aggregator = { cpu = 16384, memory = 122880 }
  }
}

run "sizes_beyond_fargates_table_are_refused" {
  command = plan

  variables {
    receiver   = { cpu = 8192, memory = 18432 }   # 8 vCPU takes 16-60 GB in 4 GB steps
    consumer   = { cpu = 16384, memory = 131072 } # 16 vCPU tops out at 120 GB
    aggregator = { cpu = 4096, memory = 31744 }   # 4 vCPU tops out at 30 GB
  }

  expect_failures = [var.receiver, var.consumer, var.aggregator]
}

run "task_counts_are_checked" {
  command = plan

  variables {
    receiver = { min_count = 5, max_count = 2 } # min above max
    consumer = { min_count = 0 }                # target tracking cannot scale from zero
  }

  expect_failures = [var.receiver, var.consumer]
}

run "stop_timeout_within_fargate_limit" {
  command = plan
  variables { consumer = { stop_timeout_seconds = 300 } }
  expect_failures = [var.consumer]
}

run "queue_and_bucket_values_are_checked" {
  command = plan

  variables {
    queue               = { visibility_timeout_seconds = 5 }
    bucket_name         = "Not_A_Bucket"
    bucket_encryption   = "none"
    raw_partition_years = { first = 2030, last = 2025 }
  }

  expect_failures = [var.queue, var.bucket_name, var.bucket_encryption, var.raw_partition_years]
}

run "max_receive_count_range" {
  command = plan
  variables { queue = { max_receive_count = 0 } }
  expect_failures = [var.queue]
}

run "network_values_are_checked" {
  command = plan

  variables {
    existing_vpc      = { id = "vpc-1", public_subnet_ids = ["subnet-a"], private_subnet_ids = ["subnet-b"] } # one AZ
    vpc_cidr          = "10.0.0.0/8"
    task_subnets      = "isolated"
    private_egress    = "proxy"
    alb_ingress_cidrs = ["anywhere"]
    certificate_arn   = "arn:aws:iam::123456789012:server-certificate/x"
    ingest_host_name  = "https://Ingest.example.com/v1"
    route53_zone_id   = "example.com"
  }

  expect_failures = [var.existing_vpc, var.vpc_cidr, var.task_subnets, var.private_egress, var.alb_ingress_cidrs, var.certificate_arn, var.ingest_host_name, var.route53_zone_id]
}

run "secrets_logs_and_alarm_values_are_checked" {
  command = plan

  variables {
    api_keys_secret_arn         = "arn:aws:ssm:eu-central-1:123456789012:parameter/keys"
    secret_recovery_window_days = 3
    log_retention_days          = 45
    log_level                   = "TRACE"
    metrics_namespace           = "AWS/Telemetry"
    alarm_topic_arn             = "arn:aws:sqs:eu-central-1:123456789012:q"
    alarm_thresholds            = { duplicate_rate = 5 } # a fraction, not a percentage
  }

  expect_failures = [
    var.api_keys_secret_arn, var.secret_recovery_window_days, var.log_retention_days, var.log_level,
    var.metrics_namespace, var.alarm_topic_arn, var.alarm_thresholds,
  ]
}

# raw/ is the replay window: under 2 days a job that failed on a Friday night cannot be re-run
# (and S3 expires at the first midnight UTC after the count, so 1 day can mean a few hours past
# the scheduled run's --lookback); a fraction is not a day count S3 takes.
run "raw_retention_below_two_days_is_refused" {
  command = plan
  variables { raw_retention_days = 1 }
  expect_failures = [var.raw_retention_days]
}

run "raw_retention_must_be_whole_days_within_a_year" {
  command = plan
  variables { raw_retention_days = 7.5 }
  expect_failures = [var.raw_retention_days]
}

run "raw_retention_beyond_a_year_is_refused" {
  command = plan
  variables { raw_retention_days = 400 }
  expect_failures = [var.raw_retention_days]
}

# Fargate takes 21-200 GiB of ephemeral storage (20 is the free default).
run "aggregator_storage_outside_fargates_range_is_refused" {
  command = plan
  variables { aggregator = { ephemeral_storage_gib = 250 } }
  expect_failures = [var.aggregator]
}

run "aggregator_storage_below_the_free_20_gib_is_refused" {
  command = plan
  variables { aggregator = { ephemeral_storage_gib = 10 } }
  expect_failures = [var.aggregator]
}
