# ECS Fargate: one image and three commands, EMF to stdout, API keys from Secrets Manager,
# graceful stop, circuit breaker with rollback, Container Insights, the ALB in front of the
# receiver, and the hourly schedule of the aggregator.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "tasks_services_alb_and_schedule" {
  command = apply

  # One image, three commands, Fargate, X86_64 by default.
  assert {
    condition = {
      for k, td in aws_ecs_task_definition.this : k => concat(jsondecode(td.container_definitions)[0].entryPoint, jsondecode(td.container_definitions)[0].command)
      } == {
      receiver   = ["telemetry", "serve"]
      consumer   = ["telemetry", "consume"]
      aggregator = ["timeout", "--kill-after=20s", "1800s", "telemetry", "aggregate", "--lookback", "2"]
    }
    error_message = "Receiver, consumer and aggregator must run telemetry serve, consume and aggregate (the aggregator under a 30-minute timeout)."
  }

  assert {
    condition = length(toset([
      for td in aws_ecs_task_definition.this : jsondecode(td.container_definitions)[0].image
    ])) == 1 && endswith(jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].image, "/fleet-telemetry:0123abc")
    error_message = "All three must run the same image, the repository's image_tag."
  }

  assert {
    condition     = alltrue([for td in aws_ecs_task_definition.this : td.requires_compatibilities == toset(["FARGATE"]) && td.network_mode == "awsvpc"])
    error_message = "Every task definition must be Fargate with awsvpc networking."
  }

  assert {
    condition     = alltrue([for td in aws_ecs_task_definition.this : one(td.runtime_platform).cpu_architecture == "X86_64"])
    error_message = "The default CPU architecture must be X86_64."
  }

  # With no CloudWatch agent sidecar, aws-embedded-metrics' ECS mode would send to TCP 25888 and
  # lose every metric. Every task must either set AWS_EMF_ENVIRONMENT=local or run the agent.
  assert {
    condition = alltrue([
      for td in aws_ecs_task_definition.this : (
        contains(jsondecode(td.container_definitions)[*].name, "cloudwatch-agent") ||
        alltrue([
          for c in jsondecode(td.container_definitions) :
          contains(c.environment, { name = "AWS_EMF_ENVIRONMENT", value = "local" })
        ])
      )
    ])
    error_message = "Every container must set AWS_EMF_ENVIRONMENT=local (EMF on stdout, shipped by awslogs), or the task must run a CloudWatch agent."
  }

  assert {
    condition = alltrue([
      for k, td in aws_ecs_task_definition.this :
      jsondecode(td.container_definitions)[0].logConfiguration.logDriver == "awslogs" &&
      jsondecode(td.container_definitions)[0].logConfiguration.options["awslogs-group"] == "/ecs/fleet-telemetry/${k}"
    ])
    error_message = "Each component must ship stdout with awslogs to its own log group."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.retention_in_days == 30 && g.kms_key_id == aws_kms_key.this.arn])
    error_message = "Log groups must have a retention (30 days by default) and be encrypted with the module's key."
  }

  # Every container gets the settings app/settings.py reads; API keys only as a secret, only in the receiver.
  assert {
    condition = alltrue([
      for td in aws_ecs_task_definition.this : length(setsubtract(
        ["AWS_REGION", "TELEMETRY_QUEUE_URL", "TELEMETRY_DLQ_URL", "TELEMETRY_BUCKET", "TELEMETRY_RAW_PREFIX",
          "TELEMETRY_AGGREGATES_PREFIX", "TELEMETRY_VISIBILITY_TIMEOUT_SECONDS", "TELEMETRY_MAX_RECEIVE_COUNT",
        "TELEMETRY_LOG_LEVEL", "TELEMETRY_METRICS_NAMESPACE"],
        jsondecode(td.container_definitions)[0].environment[*].name
      )) == 0
    ])
    error_message = "Every container must get the queue, DLQ, bucket, prefixes, queue settings, log level and metrics namespace."
  }

  assert {
    condition = (
      contains(jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].environment, { name = "TELEMETRY_HOST", value = "0.0.0.0" }) &&
      contains(jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].environment, { name = "TELEMETRY_PORT", value = "8000" }) &&
      jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].portMappings[0].containerPort == 8000
    )
    error_message = "The receiver must listen on 0.0.0.0:8000."
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment, { name = "TELEMETRY_CONSUMER_POLLERS", value = "4" })
    error_message = "The consumer must get its poller count."
  }

  assert {
    condition = contains(jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].environment, {
      name = "TELEMETRY_QUEUE_URL", value = aws_sqs_queue.this.url
    })
    error_message = "TELEMETRY_QUEUE_URL must be the ingest queue's URL."
  }

  assert {
    condition = jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].secrets[0] == {
      name = "TELEMETRY_API_KEYS", valueFrom = aws_secretsmanager_secret.api_keys[0].arn
    }
    error_message = "The receiver's API keys must come from Secrets Manager as a container secret."
  }

  assert {
    condition = alltrue([
      for k in ["consumer", "aggregator"] :
      length(jsondecode(aws_ecs_task_definition.this[k].container_definitions)[0].secrets) == 0 &&
      !contains(jsondecode(aws_ecs_task_definition.this[k].container_definitions)[0].environment[*].name, "TELEMETRY_API_KEYS")
    ])
    error_message = "Only the receiver gets the API keys."
  }

  assert {
    condition     = alltrue([for td in aws_ecs_task_definition.this : jsondecode(td.container_definitions)[0].readonlyRootFilesystem])
    error_message = "Containers must run with a read-only root filesystem."
  }

  # The hourly job: DuckDB holds about half the task's memory and spills the rest, with the
  # staged raw hour, to a scratch volume on the task's ephemeral storage (the root filesystem
  # is read-only).
  assert {
    condition = { for e in jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].environment : e.name => e.value if contains(["TELEMETRY_HOURLY_MEMORY_MB", "TELEMETRY_HOURLY_WORK_DIR"], e.name) } == {
      TELEMETRY_HOURLY_MEMORY_MB = "1024"
      TELEMETRY_HOURLY_WORK_DIR  = "/var/scratch"
    }
    error_message = "The aggregator must get TELEMETRY_HOURLY_MEMORY_MB (half of its 2048 MB) and TELEMETRY_HOURLY_WORK_DIR (its scratch volume)."
  }

  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].mountPoints == [{ sourceVolume = "scratch", containerPath = "/var/scratch", readOnly = false }] &&
      [for v in aws_ecs_task_definition.this["aggregator"].volume : v.name] == ["scratch"] &&
      one(aws_ecs_task_definition.this["aggregator"].ephemeral_storage[*].size_in_gib) == 30
    )
    error_message = "The aggregator must mount a writable scratch volume at /var/scratch on 30 GiB of ephemeral storage (an hour of 20 M records stages ~6 GB of JSON, and DuckDB spills beside it)."
  }

  assert {
    condition = alltrue([
      for k in ["receiver", "consumer"] :
      length(aws_ecs_task_definition.this[k].volume) == 0 && length(aws_ecs_task_definition.this[k].ephemeral_storage) == 0 &&
      !contains(jsondecode(aws_ecs_task_definition.this[k].container_definitions)[0].environment[*].name, "TELEMETRY_HOURLY_MEMORY_MB")
    ])
    error_message = "Only the aggregator gets a scratch volume, extra ephemeral storage and the hourly job's settings."
  }

  # Graceful stop, circuit breaker with rollback, Container Insights.
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].stopTimeout == 30
    error_message = "The consumer needs 30 s after SIGTERM to flush its buffer."
  }

  assert {
    condition = alltrue([
      for s in [aws_ecs_service.receiver, aws_ecs_service.consumer] :
      one(s.deployment_circuit_breaker).enable && one(s.deployment_circuit_breaker).rollback
    ])
    error_message = "Both services must have the deployment circuit breaker with rollback."
  }

  assert {
    condition     = aws_ecs_service.receiver.task_definition == aws_ecs_task_definition.this["receiver"].arn && aws_ecs_service.consumer.task_definition == aws_ecs_task_definition.this["consumer"].arn
    error_message = "Each service must run its own task definition."
  }

  assert {
    condition     = one(aws_ecs_service.receiver.load_balancer).target_group_arn == aws_lb_target_group.receiver.arn && one(aws_ecs_service.receiver.load_balancer).container_port == 8000
    error_message = "The receiver service must register in the ALB's target group on port 8000."
  }

  assert {
    condition     = [for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"] == ["enabled"]
    error_message = "Container Insights must be enabled (the consumer's scaling metric comes from it)."
  }

  # ALB without a certificate (dev): HTTP, health check /healthz.
  assert {
    condition     = length(aws_lb_listener.http) == 1 && length(aws_lb_listener.https) == 0 && aws_lb_listener.http[0].protocol == "HTTP"
    error_message = "Without a certificate (dev) the ALB serves plain HTTP on 80."
  }

  assert {
    condition     = one(aws_lb_target_group.receiver.health_check).path == "/healthz" && aws_lb_target_group.receiver.target_type == "ip"
    error_message = "The target group must health-check /healthz on IP targets."
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields
    error_message = "The ALB must drop invalid header fields."
  }

  assert {
    condition     = output.ingest_url == "http://fleet-telemetry-1234567890.eu-central-1.elb.amazonaws.com/v1/telemetry"
    error_message = "ingest_url must point at the ALB's /v1/telemetry over HTTP in dev."
  }

  # The aggregator runs every hour via EventBridge Scheduler.
  assert {
    condition     = aws_scheduler_schedule.aggregator.schedule_expression == "cron(5 * * * ? *)" && aws_scheduler_schedule.aggregator.schedule_expression_timezone == "UTC"
    error_message = "The aggregator must run every hour, at 5 minutes past (UTC)."
  }

  assert {
    condition = (
      aws_scheduler_schedule.aggregator.target[0].arn == aws_ecs_cluster.this.arn &&
      aws_scheduler_schedule.aggregator.target[0].role_arn == aws_iam_role.scheduler.arn &&
      aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].task_definition_arn == aws_ecs_task_definition.this["aggregator"].arn &&
      aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].launch_type == "FARGATE"
    )
    error_message = "The schedule must RunTask the aggregator's task definition on Fargate in this cluster, with the scheduler role."
  }

  assert {
    condition     = aws_scheduler_schedule.aggregator.flexible_time_window[0].mode == "OFF"
    error_message = "The schedule must fire on time (no flexible window)."
  }
}

run "alb_serves_https_with_a_certificate" {
  command = apply

  variables {
    certificate_arn  = "arn:aws:acm:eu-central-1:123456789012:certificate/abcd-1234"
    ingest_host_name = "ingest.example.com"
    route53_zone_id  = "Z0123456789ABCDEFGHIJ"
  }

  assert {
    condition     = length(aws_lb_listener.http) == 0 && aws_lb_listener.https[0].protocol == "HTTPS" && aws_lb_listener.https[0].certificate_arn == var.certificate_arn
    error_message = "With a certificate, the ALB must serve HTTPS with it."
  }

  assert {
    condition     = startswith(aws_lb_listener.https[0].ssl_policy, "ELBSecurityPolicy-TLS13")
    error_message = "The HTTPS listener must use a TLS 1.3/1.2 policy."
  }

  assert {
    condition     = one(aws_lb_listener.http_redirect[0].default_action).type == "redirect" && one(one(aws_lb_listener.http_redirect[0].default_action).redirect).protocol == "HTTPS"
    error_message = "Port 80 must redirect to HTTPS."
  }

  assert {
    condition     = output.ingest_url == "https://ingest.example.com/v1/telemetry"
    error_message = "ingest_url must be https on the certificate's host name when a certificate is set."
  }

  assert {
    condition = (
      aws_route53_record.ingest[0].name == "ingest.example.com" &&
      aws_route53_record.ingest[0].zone_id == var.route53_zone_id &&
      one(aws_route53_record.ingest[0].alias).name == aws_lb.this.dns_name
    )
    error_message = "With a hosted zone, the ingest host name must be an alias of the ALB."
  }
}

run "a_certificate_needs_the_host_name_it_covers" {
  command = plan

  variables {
    certificate_arn = "arn:aws:acm:eu-central-1:123456789012:certificate/abcd-1234"
  }

  expect_failures = [aws_lb_listener.https]
}

run "without_a_zone_no_dns_record_is_made" {
  command = plan

  variables {
    certificate_arn  = "arn:aws:acm:eu-central-1:123456789012:certificate/abcd-1234"
    ingest_host_name = "ingest.example.com"
  }

  assert {
    condition     = length(aws_route53_record.ingest) == 0
    error_message = "Without route53_zone_id the user's own DNS holds the record."
  }
}

run "arm64_is_a_variable" {
  command = plan

  variables {
    cpu_architecture = "ARM64"
  }

  assert {
    condition     = alltrue([for td in aws_ecs_task_definition.this : one(td.runtime_platform).cpu_architecture == "ARM64"])
    error_message = "cpu_architecture must reach every task definition."
  }
}


# deploy.yml's smoke test posts with a key of its own, from a secret of its own: the deploy role
# may read that one and is denied the fleet's (infra/bootstrap).
run "the_smoke_test_has_a_key_of_its_own" {
  command = apply

  assert {
    condition = jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].secrets == [
      { name = "TELEMETRY_API_KEYS", valueFrom = aws_secretsmanager_secret.api_keys[0].arn },
      { name = "TELEMETRY_SMOKE_API_KEYS", valueFrom = aws_secretsmanager_secret.smoke_api_key.arn },
    ]
    error_message = "The receiver must get the fleet's keys and the smoke test's key, each from its own secret."
  }

  assert {
    condition     = aws_secretsmanager_secret.smoke_api_key.arn != aws_secretsmanager_secret.api_keys[0].arn && aws_secretsmanager_secret.smoke_api_key.name == "fleet-telemetry/dev/smoke-api-key" && aws_secretsmanager_secret.smoke_api_key.kms_key_id == aws_kms_key.this.arn
    error_message = "The smoke key lives in its own secret, <name>/<environment>/smoke-api-key, under the module's key."
  }

  assert {
    condition     = toset(flatten([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "ReadTheApiKeys"])) == toset([aws_secretsmanager_secret.api_keys[0].arn, aws_secretsmanager_secret.smoke_api_key.arn])
    error_message = "The execution role may read exactly the two key secrets."
  }

  assert {
    condition     = output.smoke_api_key_secret_arn == aws_secretsmanager_secret.smoke_api_key.arn
    error_message = "deploy.yml finds the smoke key through the smoke_api_key_secret_arn output."
  }
}

run "the_deploy_knows_which_task_definition_each_service_must_end_on" {
  command = apply

  assert {
    condition = output.ecs_service_task_definitions == {
      (aws_ecs_service.receiver.name) = aws_ecs_task_definition.this["receiver"].arn
      (aws_ecs_service.consumer.name) = aws_ecs_task_definition.this["consumer"].arn
    }
    error_message = "ecs_service_task_definitions must map each service to the task definition this apply registered (scripts/ecs_rollout.py checks the rollout against it)."
  }
}

# dev's sizes (0.5 vCPU / 1 GB): DuckDB's limit follows the task's memory, and 20 GiB (the free
# default) leaves the task definition without an ephemeral_storage block.
run "the_hourly_jobs_memory_and_storage_follow_its_size" {
  command = plan

  variables {
    aggregator = { cpu = 512, memory = 1024, ephemeral_storage_gib = 20 }
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].environment, { name = "TELEMETRY_HOURLY_MEMORY_MB", value = "512" })
    error_message = "TELEMETRY_HOURLY_MEMORY_MB must be half of aggregator.memory (512 of 1024)."
  }

  assert {
    condition     = length(aws_ecs_task_definition.this["aggregator"].ephemeral_storage) == 0 && length(aws_ecs_task_definition.this["aggregator"].volume) == 1
    error_message = "At 20 GiB (Fargate's free default) the task definition must not set ephemeral_storage, and still mount the scratch volume."
  }
}

# One receiver worker process per whole vCPU, and the hourly job's threads and rules processes per
# vCPU of its task (not the host's CPU count, which a Fargate task also sees).
run "workers_and_threads_follow_the_task_cpu" {
  command = plan

  variables {
    receiver   = { cpu = 2048, memory = 4096 }
    aggregator = { cpu = 4096, memory = 8192 }
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].environment, { name = "TELEMETRY_WORKERS", value = "2" })
    error_message = "A 2-vCPU receiver must run TELEMETRY_WORKERS=2."
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].environment, { name = "TELEMETRY_HOURLY_THREADS", value = "4" })
    error_message = "A 4-vCPU hourly job must get TELEMETRY_HOURLY_THREADS=4."
  }
}

run "a_receiver_under_one_vcpu_runs_one_worker" {
  command = plan

  variables {
    receiver = { cpu = 512, memory = 1024 }
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["receiver"].container_definitions)[0].environment, { name = "TELEMETRY_WORKERS", value = "1" })
    error_message = "A receiver with half a vCPU must run one worker."
  }
}
