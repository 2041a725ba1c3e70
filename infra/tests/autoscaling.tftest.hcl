# Autoscaling: the receiver tracks ALB requests per task and CPU; the consumer tracks SQS
# backlog per task (visible messages / running tasks, metric math).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "receiver_scales_on_requests_and_cpu" {
  command = apply

  # Both services' desired counts are scalable targets.
  assert {
    condition = {
      for k, t in aws_appautoscaling_target.this : k => [t.service_namespace, t.scalable_dimension, t.resource_id, t.min_capacity, t.max_capacity]
      } == {
      receiver = ["ecs", "ecs:service:DesiredCount", "service/fleet-telemetry/fleet-telemetry-receiver", 2, 14]
      consumer = ["ecs", "ecs:service:DesiredCount", "service/fleet-telemetry/fleet-telemetry-consumer", 1, 10]
    }
    error_message = "Receiver (2-14 tasks) and consumer (1-10 tasks) desired counts must be scalable."
  }

  # The receiver tracks ALB requests per task and CPU.
  assert {
    condition = (
      aws_appautoscaling_policy.receiver_requests.policy_type == "TargetTrackingScaling" &&
      one(aws_appautoscaling_policy.receiver_requests.target_tracking_scaling_policy_configuration).target_value == 90000 &&
      one(one(aws_appautoscaling_policy.receiver_requests.target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "ALBRequestCountPerTarget" &&
      one(one(aws_appautoscaling_policy.receiver_requests.target_tracking_scaling_policy_configuration).predefined_metric_specification).resource_label == "app/fleet-telemetry/50dc6c495c0c9188/targetgroup/fleet-telemetry-receiver/73e2d6bc24d8a067"
    )
    error_message = "The receiver must track 90,000 ALB requests per task per minute on its own target group."
  }

  assert {
    condition = (
      one(aws_appautoscaling_policy.receiver_cpu.target_tracking_scaling_policy_configuration).target_value == 60 &&
      one(one(aws_appautoscaling_policy.receiver_cpu.target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "ECSServiceAverageCPUUtilization"
    )
    error_message = "The receiver must also track 60% average CPU."
  }

  assert {
    condition     = aws_appautoscaling_policy.receiver_requests.resource_id == aws_appautoscaling_target.this["receiver"].resource_id && aws_appautoscaling_policy.receiver_cpu.resource_id == aws_appautoscaling_target.this["receiver"].resource_id
    error_message = "Both receiver policies must scale the receiver service."
  }
}

run "consumer_tracks_backlog_per_task" {
  command = apply

  variables {
    consumer = { backlog_per_task = 250 }
  }

  assert {
    condition     = aws_appautoscaling_policy.consumer_backlog.resource_id == aws_appautoscaling_target.this["consumer"].resource_id
    error_message = "The backlog policy must scale the consumer service."
  }

  assert {
    condition     = one(aws_appautoscaling_policy.consumer_backlog.target_tracking_scaling_policy_configuration).target_value == 250
    error_message = "The target must be consumer.backlog_per_task."
  }

  assert {
    condition = {
      for m in one(one(aws_appautoscaling_policy.consumer_backlog.target_tracking_scaling_policy_configuration).customized_metric_specification).metrics :
      m.id => length(m.metric_stat) > 0 ? "${m.metric_stat[0].metric[0].namespace}/${m.metric_stat[0].metric[0].metric_name}" : m.expression
      } == {
      visible          = "AWS/SQS/ApproximateNumberOfMessagesVisible"
      running          = "ECS/ContainerInsights/RunningTaskCount"
      backlog_per_task = "FILL(visible, 0) / FILL(running, 1)"
    }
    error_message = "Backlog per task must be SQS visible messages divided by running consumer tasks, each FILLed: RunningTaskCount has no data without Container Insights or while no task reports, and an idle queue stops reporting; a bare division then has no data and target tracking stops scaling."
  }

  assert {
    condition = [
      for m in one(one(aws_appautoscaling_policy.consumer_backlog.target_tracking_scaling_policy_configuration).customized_metric_specification).metrics : m.id if m.return_data
    ] == ["backlog_per_task"]
    error_message = "Only the backlog-per-task expression may be returned to target tracking."
  }

  assert {
    condition = [
      for m in one(one(aws_appautoscaling_policy.consumer_backlog.target_tracking_scaling_policy_configuration).customized_metric_specification).metrics :
      { for d in m.metric_stat[0].metric[0].dimensions : d.name => d.value } if m.id == "visible"
    ] == [{ QueueName = "fleet-telemetry" }]
    error_message = "The backlog must be measured on the ingest queue."
  }
}
