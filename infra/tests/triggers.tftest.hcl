# ADR 0001's upgrade triggers, each live in AWS: an alarm (or a budget, or an event rule) that
# notifies the alarm topic and whose text names the trigger and the action, with the action's
# section in docs/operations.md. The three added here: throughput above 5,000 records/s
# sustained, a monthly bill above $50, and an hourly job that runs over 10 minutes or fails.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
  operations  = file("../docs/operations.md")
}

run "every_alarm_names_its_trigger_and_the_runbook_section_that_handles_it" {
  command = plan

  assert {
    condition = alltrue([
      for a in concat([
        aws_cloudwatch_metric_alarm.queue_oldest_message_age, aws_cloudwatch_metric_alarm.dlq_not_empty,
        aws_cloudwatch_metric_alarm.ingest_to_persist_p95, aws_cloudwatch_metric_alarm.duplicate_rate,
        aws_cloudwatch_metric_alarm.aggregator_missing, aws_cloudwatch_metric_alarm.aggregator_not_started,
        aws_cloudwatch_metric_alarm.receiver_5xx_rate, aws_cloudwatch_metric_alarm.throughput,
        aws_cloudwatch_metric_alarm.consumer_failures,
        aws_cloudwatch_metric_alarm.aggregator_runtime, aws_cloudwatch_metric_alarm.clock_off_vehicles,
      ], values(aws_cloudwatch_metric_alarm.anomaly_live), values(aws_cloudwatch_metric_alarm.anomaly_hourly)) : length(regexall("Trigger: [^.]+\\. .*Action: .*docs/operations\\.md#[a-z0-9-]+", a.alarm_description)) == 1
    ])
    error_message = "Every alarm description must say which trigger fired (\"Trigger: ...\") and what to do (\"Action: ... docs/operations.md#section\")."
  }

  assert {
    condition = alltrue([
      for a in concat([
        aws_cloudwatch_metric_alarm.queue_oldest_message_age, aws_cloudwatch_metric_alarm.dlq_not_empty,
        aws_cloudwatch_metric_alarm.ingest_to_persist_p95, aws_cloudwatch_metric_alarm.duplicate_rate,
        aws_cloudwatch_metric_alarm.aggregator_missing, aws_cloudwatch_metric_alarm.aggregator_not_started,
        aws_cloudwatch_metric_alarm.receiver_5xx_rate, aws_cloudwatch_metric_alarm.throughput,
        aws_cloudwatch_metric_alarm.consumer_failures,
        aws_cloudwatch_metric_alarm.aggregator_runtime, aws_cloudwatch_metric_alarm.clock_off_vehicles,
        ], values(aws_cloudwatch_metric_alarm.anomaly_live), values(aws_cloudwatch_metric_alarm.anomaly_hourly)) : alltrue([
        for anchor in regexall("docs/operations\\.md#([a-z0-9-]+)", a.alarm_description) : contains(
          [for h in regexall("(?m)^#{2,3} (.+)$", var.operations) : replace(replace(lower(h[0]), "/[^a-z0-9 -]/", ""), " ", "-")],
          anchor[0]
        )
      ])
    ])
    error_message = "Every docs/operations.md#section an alarm names must be a heading of docs/operations.md."
  }
}

run "throughput_bill_and_hourly_job_triggers_are_live" {
  command = apply

  # Throughput: records accepted by the receivers, per second, sustained for 15 minutes.
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.throughput.namespace == "FleetTelemetry" &&
      aws_cloudwatch_metric_alarm.throughput.metric_name == "RecordsAccepted" &&
      aws_cloudwatch_metric_alarm.throughput.dimensions == tomap({ Service = "receiver" }) &&
      aws_cloudwatch_metric_alarm.throughput.statistic == "Sum" &&
      aws_cloudwatch_metric_alarm.throughput.threshold == 5000 * aws_cloudwatch_metric_alarm.throughput.period &&
      aws_cloudwatch_metric_alarm.throughput.evaluation_periods * aws_cloudwatch_metric_alarm.throughput.period >= 900 &&
      aws_cloudwatch_metric_alarm.throughput.datapoints_to_alarm == aws_cloudwatch_metric_alarm.throughput.evaluation_periods
    )
    error_message = "Alarm when the receivers accept more than 5,000 records/s in every minute of 15 (sustained, not a burst)."
  }

  # The monthly bill: an AWS Budgets cost budget of the account, notifying the alarm topic.
  assert {
    condition = (
      aws_budgets_budget.monthly[0].budget_type == "COST" &&
      aws_budgets_budget.monthly[0].time_unit == "MONTHLY" &&
      tonumber(aws_budgets_budget.monthly[0].limit_amount) == 50 &&
      aws_budgets_budget.monthly[0].limit_unit == "USD" &&
      anytrue([
        for n in aws_budgets_budget.monthly[0].notification :
        n.notification_type == "ACTUAL" && n.comparison_operator == "GREATER_THAN" && n.threshold == 100 &&
        n.threshold_type == "PERCENTAGE" && n.subscriber_sns_topic_arns == toset([aws_sns_topic.alarms[0].arn])
      ])
    )
    error_message = "A monthly cost budget of $50 must notify the alarm topic when the actual bill passes it."
  }

  # The hourly job: failed (non-zero exit, OOM, failed to start, Spot interruption) ...
  assert {
    condition = (
      jsondecode(aws_cloudwatch_event_rule.aggregator_failed.event_pattern).source == ["aws.ecs"] &&
      jsondecode(aws_cloudwatch_event_rule.aggregator_failed.event_pattern)["detail-type"] == ["ECS Task State Change"] &&
      jsondecode(aws_cloudwatch_event_rule.aggregator_failed.event_pattern).detail.lastStatus == ["STOPPED"] &&
      jsondecode(aws_cloudwatch_event_rule.aggregator_failed.event_pattern).detail.clusterArn == [aws_ecs_cluster.this.arn] &&
      jsondecode(aws_cloudwatch_event_rule.aggregator_failed.event_pattern).detail.taskDefinitionArn == [{ prefix = "arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-aggregator:" }]
    )
    error_message = "The task-stopped rule must match STOPPED aggregator tasks of this cluster."
  }

  assert {
    condition = jsonencode(jsondecode(aws_cloudwatch_event_rule.aggregator_failed.event_pattern).detail["$or"]) == jsonencode([
      { containers = { exitCode = [{ numeric = [">", 0] }] } },
      { containers = { reason = [{ prefix = "OutOfMemoryError" }] } },
      { stopCode = ["TaskFailedToStart", "SpotInterruption"] },
    ])
    error_message = "The rule must fire on a non-zero exit (the timeout's 124 included), an out-of-memory kill, a task that never started and a Spot interruption."
  }

  assert {
    condition = (
      aws_cloudwatch_event_target.aggregator_failed.arn == aws_sns_topic.alarms[0].arn &&
      strcontains(one(aws_cloudwatch_event_target.aggregator_failed.input_transformer).input_template, "Trigger: ") &&
      strcontains(one(aws_cloudwatch_event_target.aggregator_failed.input_transformer).input_template, "Action: ")
    )
    error_message = "A failed run must notify the alarm topic with a message naming the trigger and the action."
  }

  # ... or slow: its runtime over 10 minutes, and a timeout that ends a stuck run.
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.aggregator_runtime.metric_name == "RuntimeMs" &&
      aws_cloudwatch_metric_alarm.aggregator_runtime.dimensions == tomap({ Service = "aggregator" }) &&
      aws_cloudwatch_metric_alarm.aggregator_runtime.statistic == "Maximum" &&
      aws_cloudwatch_metric_alarm.aggregator_runtime.threshold == 600000
    )
    error_message = "Alarm when an hourly run takes more than 10 minutes (RuntimeMs > 600,000)."
  }

  assert {
    condition = (
      slice(jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].entryPoint, 0, 1) == ["timeout"] &&
      contains(jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].entryPoint, "1800s") &&
      jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].entryPoint[length(jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].entryPoint) - 1] == "telemetry"
    )
    error_message = "The aggregator must run under timeout (30 minutes by default), so a stuck run ends with exit 124 (and fires the task-stopped rule) before the next one starts."
  }

  assert {
    condition = alltrue([
      for k in ["receiver", "consumer"] : jsondecode(aws_ecs_task_definition.this[k].container_definitions)[0].entryPoint == ["telemetry"]
    ])
    error_message = "Only the hourly job runs under a timeout; the services run for ever."
  }

  # Who may publish to the encrypted topic: EventBridge and Budgets need the topic policy and
  # the key policy (CloudWatch already has both).
  assert {
    condition = alltrue([
      for svc in ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"] : anytrue([
        for s in jsondecode(aws_sns_topic_policy.alarms[0].policy).Statement :
        s.Effect == "Allow" && s.Principal == { Service = svc } && s.Action == "sns:Publish" && s.Resource == aws_sns_topic.alarms[0].arn
      ])
    ])
    error_message = "The alarm topic's policy must let CloudWatch, EventBridge and Budgets publish."
  }

  assert {
    condition = [
      for s in jsondecode(aws_sns_topic_policy.alarms[0].policy).Statement : s.Condition
      if s.Principal == { Service = "events.amazonaws.com" }
    ] == [{ ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.aggregator_failed.arn } }]
    error_message = "EventBridge may publish to the topic for the aggregator rule only."
  }

  assert {
    condition = alltrue([
      for svc in ["events.amazonaws.com", "budgets.amazonaws.com"] : anytrue([
        for s in jsondecode(aws_kms_key.this.policy).Statement :
        s.Effect == "Allow" && contains(flatten([try(s.Principal.Service, [])]), svc) &&
        contains(flatten([s.Action]), "kms:GenerateDataKey*") && contains(flatten([s.Action]), "kms:Decrypt")
      ])
    ])
    error_message = "EventBridge and Budgets must be allowed to use the topic's key, or their messages to the encrypted topic are dropped."
  }
}

run "the_budget_is_optional_and_its_amount_a_variable" {
  command = plan

  variables {
    monthly_budget_usd = 200
    alarm_thresholds   = { records_per_second = 8000, aggregator_runtime_seconds = 900 }
    aggregator         = { timeout_seconds = 2400 }
  }

  assert {
    condition     = tonumber(aws_budgets_budget.monthly[0].limit_amount) == 200
    error_message = "monthly_budget_usd must set the budget's amount."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.throughput.threshold == 8000 * aws_cloudwatch_metric_alarm.throughput.period && aws_cloudwatch_metric_alarm.aggregator_runtime.threshold == 900000
    error_message = "The throughput and runtime thresholds must come from alarm_thresholds."
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["aggregator"].container_definitions)[0].entryPoint, "2400s")
    error_message = "aggregator.timeout_seconds must reach the task's timeout."
  }
}

run "no_budget_when_the_account_has_one_already" {
  command = plan

  variables {
    monthly_budget_usd = null
  }

  assert {
    condition     = length(aws_budgets_budget.monthly) == 0
    error_message = "monthly_budget_usd = null must create no budget (an organisation may own budgets centrally)."
  }
}
