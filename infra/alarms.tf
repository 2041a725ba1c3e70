# Upgrade triggers as CloudWatch alarms, all notifying local.alarm_topic_arn (alarm and OK).
#
#   oldest message age > 60 s        consumers fall behind (SQS)
#   DLQ not empty                    a message failed maxReceiveCount times (SQS)
#   p95 ingest-to-persist > 5 s      consumer EMF metric IngestToPersistMs
#   duplicate rate > 0.5 % for a day aggregator EMF metric DuplicateRate, 24 hours of 24
#   aggregator did not run           no aggregator RuntimeMs for two hours
#   aggregator not started           a run in the schedule's dead-letter queue (scheduler.tf)
#   receiver 5xx rate > 1 %          ALB: (target 5xx + ALB 5xx) / requests

locals {
  alarm_actions = [local.alarm_topic_arn]
  thresholds    = var.alarm_thresholds
}

resource "aws_cloudwatch_metric_alarm" "queue_oldest_message_age" {
  alarm_name          = "${local.name}-${var.environment}-queue-oldest-message-age"
  alarm_description   = "Oldest message in ${aws_sqs_queue.this.name} is older than ${local.thresholds.oldest_message_age_seconds} s: consumers are not keeping up (scale or investigate)."
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
  alarm_description   = "${aws_sqs_queue.dlq.name} holds messages: records failed ${local.queue.max_receive_count} times. Inspect, fix, then `telemetry redrive`."
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
  alarm_description   = "p95 time from the receiver's ingest_received_at to the record being in S3 exceeds ${local.thresholds.ingest_to_persist_p95_ms} ms."
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
  alarm_description   = "The aggregator saw more than ${local.thresholds.duplicate_rate * 100}% duplicate records in every hour of a day: revisit the consumer's idempotent keys or the visibility timeout."
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
  alarm_description   = "No aggregator run reported RuntimeMs for two hours: the schedule, the task or its role is broken."
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
  alarm_description   = "EventBridge Scheduler could not start the hourly aggregator after its retries: the run is in ${aws_sqs_queue.scheduler_dlq.name} with the error. Read it, fix the role, network or capacity, then replay the hour (docs/operations.md)."
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
  alarm_description   = "More than ${local.thresholds.receiver_5xx_percent}% of ingest requests end in 5xx (receiver errors, SQS refusing, or no healthy task)."
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
