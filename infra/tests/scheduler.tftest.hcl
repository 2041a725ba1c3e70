# The hourly schedule on a real account: EventBridge Scheduler starts the aggregator with
# ecs:RunTask and, because the schedule asks for ECS managed tags and tag propagation, tags the
# new task too. AWS authorises that second call separately (ecs:TagResource with
# ecs:CreateAction = RunTask, as AWS's own AmazonEC2ContainerServiceEventsRole policy grants); without it
# RunTask is denied and the aggregator never runs. moto enforces no IAM, so only this file shows it.
# A run that still cannot start after the retries lands in a dead-letter queue that alarms.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "the_scheduler_may_tag_the_tasks_it_starts" {
  command = apply

  assert {
    condition = !(
      aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].enable_ecs_managed_tags ||
      aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].propagate_tags != null
      ) || anytrue([
        for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement :
        s.Effect == "Allow" && contains(flatten([s.Action]), "ecs:TagResource") &&
        try(s.Condition.StringEquals["ecs:CreateAction"], null) == ["RunTask"]
    ])
    error_message = "The schedule tags the tasks it starts (managed tags, propagate_tags), so the scheduler role needs ecs:TagResource with ecs:CreateAction = RunTask; without it every RunTask is denied."
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s.Resource
      if contains(flatten([s.Action]), "ecs:TagResource")
    ] == [["arn:aws:ecs:eu-central-1:123456789012:task/fleet-telemetry/*"]]
    error_message = "ecs:TagResource must be limited to tasks of this cluster."
  }

  assert {
    condition     = aws_scheduler_schedule.aggregator.target[0].retry_policy[0].maximum_retry_attempts > 0 && aws_scheduler_schedule.aggregator.target[0].retry_policy[0].maximum_event_age_in_seconds <= 3600
    error_message = "A failed start must be retried, and given up on within the hour (before the next run)."
  }

  assert {
    condition     = length(aws_scheduler_schedule.aggregator.target[0].dead_letter_config) == 1
    error_message = "A run the scheduler could not start must go to a dead-letter queue, not vanish."
  }
}

run "runs_that_cannot_start_go_to_a_dead_letter_queue_that_alarms" {
  command = apply

  assert {
    condition     = aws_scheduler_schedule.aggregator.target[0].dead_letter_config[0].arn == aws_sqs_queue.scheduler_dlq.arn
    error_message = "The schedule's dead-letter queue must be the module's scheduler DLQ."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement :
      s.Effect == "Allow" && contains(flatten([s.Action]), "sqs:SendMessage") && s.Resource == aws_sqs_queue.scheduler_dlq.arn
    ])
    error_message = "EventBridge Scheduler sends to the DLQ with the schedule's role: it needs sqs:SendMessage on it."
  }

  assert {
    condition     = aws_sqs_queue.scheduler_dlq.sqs_managed_sse_enabled && aws_sqs_queue.scheduler_dlq.message_retention_seconds == 1209600
    error_message = "The scheduler DLQ must be encrypted and keep failed runs 14 days."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_policy.this["scheduler_dlq"].policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "The scheduler DLQ must refuse requests without TLS, as the other queues do."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.aggregator_not_started.metric_name == "ApproximateNumberOfMessagesVisible" &&
      aws_cloudwatch_metric_alarm.aggregator_not_started.dimensions == tomap({ QueueName = aws_sqs_queue.scheduler_dlq.name }) &&
      aws_cloudwatch_metric_alarm.aggregator_not_started.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.aggregator_not_started.threshold == 0 &&
      aws_cloudwatch_metric_alarm.aggregator_not_started.alarm_actions == toset([aws_sns_topic.alarms[0].arn])
    )
    error_message = "A message in the scheduler DLQ (a run that never started) must raise an alarm on the alarm topic."
  }
}
