# Application Auto Scaling of the two services.
#
# receiver: target tracking on ALB requests per task and on average CPU; whichever asks for more
#           tasks wins, and scale-in happens only when both agree.
# consumer: target tracking on SQS backlog per task, the metric AWS recommends for queue workers:
#           visible messages / running tasks (metric math). A task long-polls with
#           consumer.pollers concurrent receives of up to 10 messages, so a backlog of
#           backlog_per_task messages drains in a few receive rounds; more backlog adds tasks.
#           Both sides are FILLed: SQS stops reporting an idle queue (no data = no backlog, 0) and
#           RunningTaskCount has no data without Container Insights or
#           while no task reports (assume 1). A bare division would then have no data at all, and
#           target tracking does nothing on missing data: no scale-out when it matters.

resource "aws_appautoscaling_target" "this" {
  for_each = {
    receiver = { service = aws_ecs_service.receiver.name, min = var.receiver.min_count, max = var.receiver.max_count }
    consumer = { service = aws_ecs_service.consumer.name, min = var.consumer.min_count, max = var.consumer.max_count }
  }

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${each.value.service}"
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "receiver_requests" {
  name               = "${local.name}-receiver-requests-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this["receiver"].service_namespace
  scalable_dimension = aws_appautoscaling_target.this["receiver"].scalable_dimension
  resource_id        = aws_appautoscaling_target.this["receiver"].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.receiver.requests_per_target # per task per minute
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.receiver.arn_suffix}"
    }
  }
}

resource "aws_appautoscaling_policy" "receiver_cpu" {
  name               = "${local.name}-receiver-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this["receiver"].service_namespace
  scalable_dimension = aws_appautoscaling_target.this["receiver"].scalable_dimension
  resource_id        = aws_appautoscaling_target.this["receiver"].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.receiver.cpu_target_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "consumer_backlog" {
  name               = "${local.name}-consumer-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this["consumer"].service_namespace
  scalable_dimension = aws_appautoscaling_target.this["consumer"].scalable_dimension
  resource_id        = aws_appautoscaling_target.this["consumer"].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.consumer.backlog_per_task
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "Messages visible in the queue"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"

            dimensions {
              name  = "QueueName"
              value = aws_sqs_queue.this.name
            }
          }
        }
      }

      metrics {
        id          = "running"
        label       = "Running consumer tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }

            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.consumer.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_task"
        label       = "Visible messages per running consumer task"
        expression  = "FILL(visible, 0) / FILL(running, 1)"
        return_data = true
      }
    }
  }
}
