# The aggregator: EventBridge Scheduler runs one Fargate task every hour (5 minutes past, UTC),
# which rolls up the last complete hour; the 5 minutes let the consumer flush that hour's tail.
#
# ECS managed tags and tag propagation make RunTask tag the new task, which AWS authorises as a
# second action: the scheduler role holds ecs:TagResource for RunTask (iam.tf), or every run is
# denied. A run that cannot start is retried 3 times within 30 minutes, then dead-lettered
# (sqs.tf) and alarmed on (alarms.tf, aggregator-not-started).

resource "aws_scheduler_schedule" "aggregator" {
  name                         = "${local.name}-aggregator"
  description                  = "Hourly roll-up of raw/ into aggregates/ (telemetry aggregate)"
  schedule_expression          = var.aggregator.schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"

  #checkov:skip=CKV_AWS_297:the schedule holds no data worth a CMK (a task definition ARN, subnet and security group ids); AWS-owned key

  flexible_time_window {
    mode = "OFF"
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this]

  target {
    arn      = aws_ecs_cluster.this.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn     = aws_ecs_task_definition.this["aggregator"].arn
      task_count              = 1
      launch_type             = contains(var.fargate_spot, "aggregator") ? null : "FARGATE"
      platform_version        = "LATEST"
      enable_ecs_managed_tags = true
      propagate_tags          = "TASK_DEFINITION"

      # On Spot (var.fargate_spot): an interrupted run stops (the task-stopped rule says so) and
      # the next hour's --lookback 2 rolls the hour up again.
      dynamic "capacity_provider_strategy" {
        for_each = contains(var.fargate_spot, "aggregator") ? ["FARGATE_SPOT"] : []

        content {
          capacity_provider = capacity_provider_strategy.value
          weight            = 1
        }
      }

      network_configuration {
        subnets          = local.task_subnet_ids
        security_groups  = [aws_security_group.tasks["aggregator"].id]
        assign_public_ip = local.tasks_public
      }
    }

    retry_policy {
      maximum_event_age_in_seconds = 1800 # give up on a run that cannot start within 30 min
      maximum_retry_attempts       = 3
    }

    # A run still not started after the retries goes here (with the error), and alarms.
    dead_letter_config {
      arn = aws_sqs_queue.scheduler_dlq.arn
    }
  }
}
