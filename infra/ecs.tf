# ECS Fargate: one image, three commands.
#   receiver    `telemetry serve`     service behind the ALB, autoscaled on requests and CPU
#   consumer    `telemetry consume`   service autoscaled on SQS backlog per task
#   aggregator  `telemetry aggregate` task run every hour by EventBridge Scheduler (scheduler.tf)
#
# EMF: aws-embedded-metrics on ECS would pick its agent sink (TCP 25888) and, with no CloudWatch
# agent beside the task, lose every metric. AWS_EMF_ENVIRONMENT=local sends EMF to stdout,
# awslogs ships it, and CloudWatch extracts the metrics from the log group.
#
# The hourly job's disk: it stages the hour's raw objects and DuckDB spills beyond its memory
# limit (TELEMETRY_HOURLY_MEMORY_MB, half the task's memory; the rest is Python, boto3 and the
# Parquet writer) to TELEMETRY_HOURLY_WORK_DIR. Root filesystems are read-only, so that
# directory is a bind mount of the task's ephemeral storage (var.aggregator.ephemeral_storage_gib,
# 30 GiB by default: an hour of 20 M records stages ~6 GB of JSON, and spill files sit beside
# it). A Fargate bind mount is owned by root (0755) unless the image declares the path as a
# VOLUME owned by its user: the Dockerfile `mkdir`s it, `chown 10001:10001`s it and declares
# `VOLUME ["/var/scratch"]` (infra/README.md, "The hourly job's disk"; tests/delivery checks it).

locals {
  image = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"

  aggregator_scratch = "/var/scratch"

  # One receiver worker process per whole vCPU (a Python process uses one); at least one. The
  # hourly job's DuckDB threads and rules processes likewise: the host's CPU count, which is what
  # the task would see otherwise, is not the task's share.
  receiver_workers = max(1, floor(var.receiver.cpu / 1024))
  aggregator_vcpus = max(1, floor(var.aggregator.cpu / 1024))

  common_environment = {
    AWS_REGION                           = var.region
    AWS_EMF_ENVIRONMENT                  = "local"
    TELEMETRY_QUEUE_URL                  = aws_sqs_queue.this.url
    TELEMETRY_DLQ_URL                    = aws_sqs_queue.dlq.url
    TELEMETRY_BUCKET                     = aws_s3_bucket.this.id
    TELEMETRY_RAW_PREFIX                 = local.raw_prefix
    TELEMETRY_AGGREGATES_PREFIX          = local.aggregates_prefix
    TELEMETRY_CURATED_PREFIX             = local.curated_prefix
    TELEMETRY_VEHICLE_STATS_PREFIX       = local.vehicle_stats_prefix
    TELEMETRY_ANOMALIES_PREFIX           = local.anomalies_prefix
    TELEMETRY_VISIBILITY_TIMEOUT_SECONDS = tostring(local.queue.visibility_timeout_seconds)
    TELEMETRY_MAX_RECEIVE_COUNT          = tostring(local.queue.max_receive_count)
    TELEMETRY_LOG_LEVEL                  = var.log_level
    TELEMETRY_METRICS_NAMESPACE          = var.metrics_namespace
  }

  components = {
    receiver = {
      entry_point  = ["telemetry"]
      command      = ["serve"]
      cpu          = var.receiver.cpu
      memory       = var.receiver.memory
      stop_timeout = 30 # ALB deregistration delay is 30 s too: in-flight requests finish
      environment = {
        TELEMETRY_HOST    = "0.0.0.0"
        TELEMETRY_PORT    = tostring(local.receiver_port)
        TELEMETRY_WORKERS = tostring(local.receiver_workers)
      }
      secrets = [
        { name = "TELEMETRY_API_KEYS", valueFrom = local.api_keys_secret_arn },
        { name = "TELEMETRY_SMOKE_API_KEYS", valueFrom = aws_secretsmanager_secret.smoke_api_key.arn },
      ]
      port_mappings = [{
        name          = "http"
        containerPort = local.receiver_port
        protocol      = "tcp"
        appProtocol   = "http"
      }]
      mount_points = null
      health_check = {
        command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.receiver_port}/healthz', timeout=2)"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 20
      }
    }
    consumer = {
      entry_point  = ["telemetry"]
      command      = ["consume"]
      cpu          = var.consumer.cpu
      memory       = var.consumer.memory
      stop_timeout = var.consumer.stop_timeout_seconds # flushes its buffer on SIGTERM
      environment = merge(
        {
          TELEMETRY_CONSUMER_POLLERS = tostring(var.consumer.pollers)
          # Always stated: the application's own default (all) is right for one task only.
          TELEMETRY_LIVE_RULES = var.consumer.live_rules
        },
        var.consumer.flush_max_age_seconds == null ? {} : { TELEMETRY_FLUSH_MAX_AGE_SECONDS = tostring(var.consumer.flush_max_age_seconds) },
        var.consumer.flush_max_records == null ? {} : { TELEMETRY_FLUSH_MAX_RECORDS = tostring(var.consumer.flush_max_records) },
      )
      secrets       = []
      port_mappings = []
      mount_points  = null
      health_check  = null
    }
    aggregator = {
      # coreutils' timeout (in the Debian base image) ends a stuck run: SIGTERM after
      # timeout_seconds, SIGKILL 20 s later, exit 124, which the task-stopped rule (events.tf)
      # reports; without it a hung run would hold a task until someone noticed.
      entry_point  = ["timeout", "--kill-after=20s", "${var.aggregator.timeout_seconds}s", "telemetry"]
      command      = ["aggregate", "--lookback", "2"] # the last complete hour, and the 2 before for late data
      cpu          = var.aggregator.cpu
      memory       = var.aggregator.memory
      stop_timeout = 30
      environment = {
        TELEMETRY_HOURLY_MEMORY_MB = tostring(floor(var.aggregator.memory / 2))
        TELEMETRY_HOURLY_THREADS   = tostring(local.aggregator_vcpus)
        TELEMETRY_HOURLY_WORK_DIR  = local.aggregator_scratch
      }
      secrets       = []
      port_mappings = []
      mount_points  = [{ sourceVolume = "scratch", containerPath = local.aggregator_scratch, readOnly = false }]
      health_check  = null
    }
  }

  # Attributes that are null (no health check, say) are left out rather than sent as null.
  container_definitions = {
    for component, c in local.components : component => [
      { for key, value in {
        name                   = component
        image                  = local.image
        entryPoint             = c.entry_point # ends in the Dockerfile's ENTRYPOINT, stated so the task does not depend on it
        command                = c.command
        essential              = true
        readonlyRootFilesystem = true
        stopTimeout            = c.stop_timeout
        portMappings           = c.port_mappings
        mountPoints            = c.mount_points
        healthCheck            = c.health_check
        linuxParameters        = { initProcessEnabled = true } # PID 1 forwards SIGTERM, reaps children
        environment = [
          for k, v in merge(local.common_environment, c.environment) : { name = k, value = v }
        ]
        secrets = c.secrets
        logConfiguration = {
          logDriver = "awslogs"
          options = {
            awslogs-group         = aws_cloudwatch_log_group.this[component].name
            awslogs-region        = var.region
            awslogs-stream-prefix = component
            # A CloudWatch Logs hiccup must not block the event loop; 25 MiB buffers it.
            mode            = "non-blocking"
            max-buffer-size = "25m"
          }
        }
      } : key => value if value != null }
    ]
  }
}

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled" # task-level CPU, memory and RunningTaskCount (the consumer's scaling divisor)
  }
}

# Both Fargate capacity providers on the cluster, so a component listed in var.fargate_spot can
# run on a FARGATE_SPOT strategy; the others keep the FARGATE launch type.
resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  lifecycle {
    precondition {
      condition     = length(var.fargate_spot) == 0 || var.cpu_architecture == "X86_64"
      error_message = "fargate_spot needs cpu_architecture = X86_64: Fargate Spot runs Linux X86_64 tasks only."
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.components

  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions    = jsonencode(local.container_definitions[each.key])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # The aggregator's scratch volume: a bind mount on the task's ephemeral storage (see the top).
  dynamic "volume" {
    for_each = each.value.mount_points == null ? [] : toset([for m in each.value.mount_points : m.sourceVolume])

    content {
      name = volume.value
    }
  }

  # Fargate includes 20 GiB; only a larger size is set (and billed per GiB-hour of the task).
  dynamic "ephemeral_storage" {
    for_each = each.key == "aggregator" && var.aggregator.ephemeral_storage_gib > 20 ? [var.aggregator.ephemeral_storage_gib] : []

    content {
      size_in_gib = ephemeral_storage.value
    }
  }
}

resource "aws_ecs_service" "receiver" {
  name                               = "${local.name}-receiver"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this["receiver"].arn
  desired_count                      = var.receiver.min_count
  launch_type                        = contains(var.fargate_spot, "receiver") ? null : "FARGATE"
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = 30
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  # On Spot (var.fargate_spot) instead of the launch type; an interruption is a SIGTERM with
  # two minutes' notice, handled as a normal stop (drain, flush).
  dynamic "capacity_provider_strategy" {
    for_each = contains(var.fargate_spot, "receiver") ? ["FARGATE_SPOT"] : []

    content {
      capacity_provider = capacity_provider_strategy.value
      weight            = 1
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = local.task_subnet_ids
    security_groups  = [aws_security_group.tasks["receiver"].id]
    assign_public_ip = local.tasks_public
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.receiver.arn
    container_name   = "receiver"
    container_port   = local.receiver_port
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by Application Auto Scaling after creation
  }

  depends_on = [aws_lb_listener.http, aws_lb_listener.https, aws_iam_role_policy.execution, aws_ecs_cluster_capacity_providers.this]
}

resource "aws_ecs_service" "consumer" {
  name                               = "${local.name}-consumer"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this["consumer"].arn
  desired_count                      = var.consumer.min_count
  launch_type                        = contains(var.fargate_spot, "consumer") ? null : "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  # On Spot (var.fargate_spot) instead of the launch type; an interruption is a SIGTERM with
  # two minutes' notice, handled as a normal stop (drain, flush).
  dynamic "capacity_provider_strategy" {
    for_each = contains(var.fargate_spot, "consumer") ? ["FARGATE_SPOT"] : []

    content {
      capacity_provider = capacity_provider_strategy.value
      weight            = 1
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = local.task_subnet_ids
    security_groups  = [aws_security_group.tasks["consumer"].id]
    assign_public_ip = local.tasks_public
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by Application Auto Scaling after creation
  }

  depends_on = [aws_iam_role_policy.execution, aws_ecs_cluster_capacity_providers.this]
}
