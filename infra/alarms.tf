# Alarms, all notifying local.alarm_topic_arn (alarm and OK). The first group are ADR 0001's
# upgrade triggers, live; the rest are operational. Each description says which trigger fired and
# what to do, with the section of docs/operations.md that handles it (tests/triggers.tftest.hcl).
#
#   upgrade triggers (ADR 0001, "When to revisit")
#   backlog keeps growing             oldest message age > 60 s for 3 minutes (SQS)
#   duplicates above 0.5 % for a day  aggregator EMF DuplicateRate, 24 hours of 24
#   sustained throughput              receiver EMF RecordsAccepted > 5,000/s in 15 minutes of 15
#   hourly job over 10 minutes        aggregator EMF RuntimeMs > 600,000
#   hourly job failed                 task-stopped rule (events.tf), not started (scheduler DLQ),
#                                     missing (no RuntimeMs for two hours)
#   monthly bill over $50             AWS Budgets (budgets.tf)
#
#   operational
#   DLQ not empty                     a message failed maxReceiveCount times (SQS)
#   p95 ingest-to-persist > 5 s       consumer EMF metric IngestToPersistMs
#   receiver 5xx rate > 1 %           ALB: (target 5xx + ALB 5xx) / requests
#   consumer cannot reach SQS or S3   consumer EMF ReceiveFailures + PersistFailures > 0 in 3
#                                     minutes of 3
#
#   battery anomalies (issue 20; the rules of app/anomaly/rules.py, listed in anomaly_rules.json)
#   one alarm per rule, live          consumer EMF AnomalyAlerts{Service, Rule} > 0 in a minute,
#                                     for the rules the consumer alerts on (consumer.live_rules)
#                                     or else hourly: aggregator EMF AnomalyEpisodes{Service,
#                                     Rule} > 0 in an hour (the job runs every rule on the whole
#                                     hour, which windowed rules need)
#   vehicle clocks off                aggregator EMF ClockOffVehicles / Vehicles > 5 % in an hour

locals {
  alarm_actions = [local.alarm_topic_arn]
  thresholds    = var.alarm_thresholds
}

resource "aws_cloudwatch_metric_alarm" "queue_oldest_message_age" {
  alarm_name          = "${local.name}-${var.environment}-queue-oldest-message-age"
  alarm_description   = "Trigger: backlog keeps growing (ADR 0001). The oldest message in ${aws_sqs_queue.this.name} is older than ${local.thresholds.oldest_message_age_seconds} s for 3 minutes: consumers are not keeping up. Action: check the consumer tasks, raise consumer.max_count at the ceiling, see docs/operations.md#backlog-the-queue-grows."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.oldest_message_age_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${local.name}-${var.environment}-dlq-not-empty"
  alarm_description   = "Trigger: a message failed every receive (operational). ${aws_sqs_queue.dlq.name} holds messages whose records failed ${local.queue.max_receive_count} times; they are safe there for 14 days. Action: find why in the consumer log, fix it, then telemetry redrive, see docs/operations.md#dead-letter-queue-inspect-fix-redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ingest_to_persist_p95" {
  alarm_name          = "${local.name}-${var.environment}-ingest-to-persist-p95"
  alarm_description   = "Trigger: records reach S3 late (operational). The p95 time from the receiver's ingest_received_at to the record being in S3 exceeds ${local.thresholds.ingest_to_persist_p95_ms} ms. Action: check the backlog, S3 retries and the consumer's flush settings, see docs/operations.md#ingest-to-persist-latency."
  namespace           = var.metrics_namespace
  metric_name         = "IngestToPersistMs"
  dimensions          = { Service = "consumer" }
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.ingest_to_persist_p95_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "duplicate_rate" {
  alarm_name          = "${local.name}-${var.environment}-duplicate-rate"
  alarm_description   = "Trigger: duplicates above the threshold for a day (ADR 0001). The aggregator counted more than ${local.thresholds.duplicate_rate * 100}% duplicate records in every hour of the last 24. Action: check consumer restarts, the visibility timeout and client retries, then revisit ADR 0001, see docs/operations.md#duplicate-rate."
  namespace           = var.metrics_namespace
  metric_name         = "DuplicateRate"
  dimensions          = { Service = "aggregator" }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 24 # ADR 0001: "above 0.5 % for a day"; one bad hour (a redrive) is not a trigger
  datapoints_to_alarm = 24
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.duplicate_rate
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "aggregator_missing" {
  alarm_name          = "${local.name}-${var.environment}-aggregator-missing"
  alarm_description   = "Trigger: hourly job failed (ADR 0001), no run for two hours. No aggregator run reported RuntimeMs for two hours: the schedule, the task or its role is broken. Action: read the task-stopped notifications and the scheduler DLQ, fix, replay the hours, see docs/operations.md#hourly-job-failed-slow-not-started-or-missing."
  namespace           = var.metrics_namespace
  metric_name         = "RuntimeMs"
  dimensions          = { Service = "aggregator" }
  statistic           = "SampleCount"
  period              = 3600
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "aggregator_not_started" {
  alarm_name          = "${local.name}-${var.environment}-aggregator-not-started"
  alarm_description   = "Trigger: hourly job failed (ADR 0001), not started. EventBridge Scheduler could not start the aggregator after its retries; the run is in ${aws_sqs_queue.scheduler_dlq.name} with the error. Action: read the message, fix the role, network or capacity, replay the hour, see docs/operations.md#hourly-job-failed-slow-not-started-or-missing."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.scheduler_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "receiver_5xx_rate" {
  alarm_name          = "${local.name}-${var.environment}-receiver-5xx-rate"
  alarm_description   = "Trigger: ingest requests fail (operational). More than ${local.thresholds.receiver_5xx_percent}% of ingest requests end in 5xx: receiver errors, SQS refusing, or no healthy task. Action: check the receiver tasks and SQS, see docs/operations.md#receiver-errors-5xx."
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.receiver_5xx_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    label       = "5xx % of requests"
    expression  = "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests"
    return_data = true
  }

  metric_query {
    id = "target5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.receiver.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "elb5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }
}

# Receives or PUTs that failed after botocore's retries, every minute for three: credentials, IAM, the
# KMS key policy, an endpoint or an outage. The backlog alarm would fire too, minutes later and
# pointing at capacity; this one names the cause while the queue still holds everything.
resource "aws_cloudwatch_metric_alarm" "consumer_failures" {
  alarm_name          = "${local.name}-${var.environment}-consumer-failures"
  alarm_description   = "Trigger: the consumer cannot reach SQS or S3 (operational). Receives or S3 PUTs failed after retries in each of the last 3 minutes (ReceiveFailures + PersistFailures); records stay in SQS meanwhile. Action: read the consumer's receive_failed and persist_failed lines, fix the permission, key policy or endpoint, see docs/operations.md#consumer-cannot-reach-sqs-or-s3."
  evaluation_periods  = 3
  datapoints_to_alarm = 3 # one failed minute (an SQS or S3 blip the next poll survives) is not a page
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "failures"
    label       = "failed receives + failed PUTs"
    expression  = "FILL(receive, 0) + FILL(persist, 0)"
    return_data = true
  }

  metric_query {
    id = "receive"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "ReceiveFailures"
      dimensions  = { Service = "consumer" }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "persist"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "PersistFailures"
      dimensions  = { Service = "consumer" }
      stat        = "Sum"
      period      = 60
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "throughput" {
  alarm_name          = "${local.name}-${var.environment}-throughput"
  alarm_description   = "Trigger: sustained throughput (ADR 0001). The receivers accepted more than ${local.thresholds.records_per_second} records/s in each of the last 15 minutes, beyond what the pipeline was measured for. Action: check the scaling ceilings and the SQS bill, ask the fleet to batch, revisit ADR 0001, see docs/operations.md#sustained-throughput."
  namespace           = var.metrics_namespace
  metric_name         = "RecordsAccepted"
  dimensions          = { Service = "receiver" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 15
  datapoints_to_alarm = 15 # sustained: every minute of a quarter of an hour, not a burst
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.records_per_second * 60
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "aggregator_runtime" {
  alarm_name          = "${local.name}-${var.environment}-aggregator-runtime"
  alarm_description   = "Trigger: hourly job over its time (ADR 0001). An aggregator run took more than ${local.thresholds.aggregator_runtime_seconds / 60} minutes (RuntimeMs); at ${var.aggregator.timeout_seconds / 60} minutes it is stopped. Action: check the hour's record count and the task's memory, give it more or move the roll-up to Athena, see docs/operations.md#hourly-job-failed-slow-not-started-or-missing."
  namespace           = var.metrics_namespace
  metric_name         = "RuntimeMs"
  dimensions          = { Service = "aggregator" }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.aggregator_runtime_seconds * 1000
  treat_missing_data  = "notBreaching" # a run that never ends reports nothing: the timeout and the task-stopped rule catch it
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  lifecycle {
    precondition {
      condition     = local.thresholds.aggregator_runtime_seconds < var.aggregator.timeout_seconds
      error_message = "alarm_thresholds.aggregator_runtime_seconds must be below aggregator.timeout_seconds: a run stopped by the timeout reports no runtime, so the alarm could never fire."
    }
  }
}

# ---- battery anomalies ----------------------------------------------------------------------------
# One alarm per rule of app/anomaly/rules.py (anomaly_rules.json; tests/infra/test_anomaly_rules.py
# keeps the two equal), on exactly one path, so a fault notifies once:
# - live, for the rules the consumer alerts on (TELEMETRY_LIVE_RULES = consumer.live_rules): each
#   alert is one AnomalyAlerts{Service=consumer, Rule} event, sent when an episode opens; Sum > 0
#   over a minute notifies within about a minute of the record reaching S3.
# - hourly, for the others: the windowed rules need a vehicle's whole stream, which one of several
#   consumer tasks does not see (docs/anomalies.md, "Several consumer tasks"), so with per_sample
#   (the default) they are the hourly job's, which emits AnomalyEpisodes{Service=aggregator, Rule}
#   per hour with episodes. The scheduled run redoes the two hours before (--lookback 2), so an
#   hour's episodes are sent up to three hours running: one-hour periods keep the alarm in ALARM
#   through them (one notification); OK returns a few periods after the last report (CloudWatch
#   looks back a few periods for the latest data point before treating missing ones).
# Missing data is not breaching: no alert, no metric.

locals {
  anomaly_rules = jsondecode(file("${path.module}/anomaly_rules.json")).rules

  live_alerting_rules = {
    all        = keys(local.anomaly_rules)
    per_sample = [for rule, spec in local.anomaly_rules : rule if spec.per_sample]
    off        = []
  }[var.consumer.live_rules]

  anomaly_alarms_live   = { for rule, spec in local.anomaly_rules : rule => spec if contains(local.live_alerting_rules, rule) }
  anomaly_alarms_hourly = { for rule, spec in local.anomaly_rules : rule => spec if !contains(local.live_alerting_rules, rule) }
}

resource "aws_cloudwatch_metric_alarm" "anomaly_live" {
  for_each = local.anomaly_alarms_live

  alarm_name          = "${local.name}-${var.environment}-anomaly-live-${replace(each.key, "_", "-")}"
  alarm_description   = "Trigger: battery anomaly ${each.key}, found live (operational). ${each.value.meaning} A consumer task found it in records stored within the last minute; its log line event=anomaly rule=${each.key} names the vehicle, the value and the limit. Action: confirm it in the vehicle's records and hand the vehicle to the fleet's maintenance, see docs/operations.md#${replace(each.key, "_", "-")}."
  namespace           = var.metrics_namespace
  metric_name         = "AnomalyAlerts"
  dimensions          = { Service = "consumer", Rule = each.key }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "anomaly_hourly" {
  for_each = local.anomaly_alarms_hourly

  alarm_name          = "${local.name}-${var.environment}-anomaly-hourly-${replace(each.key, "_", "-")}"
  alarm_description   = "Trigger: battery anomaly ${each.key}, found by the hourly job (operational). ${each.value.meaning} The job judged an hour's complete records and wrote each episode to anomalies/.../episodes.jsonl (the Athena table anomalies); the consumer does not alert on this rule live (consumer.live_rules = ${var.consumer.live_rules}). Action: find the episodes and vehicles, confirm them in the records and hand the vehicles to the fleet's maintenance, see docs/operations.md#${replace(each.key, "_", "-")}."
  namespace           = var.metrics_namespace
  metric_name         = "AnomalyEpisodes"
  dimensions          = { Service = "aggregator", Rule = each.key }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Vehicle clocks: the hourly job flags a vehicle whose receiver-minus-vehicle time never came within
# TELEMETRY_CLOCK_OFFSET_LIMIT_SECONDS (30 s) in the hour: a clock off, or records that all arrived
# late (store and forward after a dead spot). One such vehicle is a maintenance item, not a page (it
# is in vehicle_stats.clock_off), and an alarm on the count would sit in ALARM for as long as it
# drives; a share of the fleet at once is systemic (a time source, a firmware release, a carrier
# outage) and blinds the rules, which order each vehicle's samples by its own clock. Sum over Sum:
# the runs of --lookback report three hours each time, counted alike in both.
resource "aws_cloudwatch_metric_alarm" "clock_off_vehicles" {
  alarm_name          = "${local.name}-${var.environment}-clock-off-vehicles"
  alarm_description   = "Trigger: vehicle clocks off across the fleet (operational). More than ${local.thresholds.clock_off_percent}% of the vehicles of an hour sent timestamps more than the clock offset limit away from the receiver's time: a fleet time source, a firmware release or late uploads after a carrier outage; the rules order each vehicle's samples by its clock. Action: find the vehicles in vehicle_stats and what they share, see docs/operations.md#vehicle-clocks-off."
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.clock_off_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "share"
    label       = "vehicles with a clock off, % of the hour's vehicles"
    expression  = "100 * clockoff / vehicles"
    return_data = true
  }

  metric_query {
    id = "clockoff"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "ClockOffVehicles"
      dimensions  = { Service = "aggregator" }
      stat        = "Sum"
      period      = 3600
    }
  }

  metric_query {
    id = "vehicles"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "Vehicles"
      dimensions  = { Service = "aggregator" }
      stat        = "Sum"
      period      = 3600
    }
  }
}
