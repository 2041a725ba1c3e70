# Upgrade triggers as CloudWatch alarms, and the dashboard.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "alarms_and_dashboard" {
  command = apply

  # The upgrade triggers, each notifying the alarm topic.
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.queue_oldest_message_age.metric_name == "ApproximateAgeOfOldestMessage" &&
      aws_cloudwatch_metric_alarm.queue_oldest_message_age.dimensions == tomap({ QueueName = "fleet-telemetry" }) &&
      aws_cloudwatch_metric_alarm.queue_oldest_message_age.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.queue_oldest_message_age.threshold == 60
    )
    error_message = "Alarm when the oldest message in the ingest queue is older than 60 s."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.dlq_not_empty.metric_name == "ApproximateNumberOfMessagesVisible" &&
      aws_cloudwatch_metric_alarm.dlq_not_empty.dimensions == tomap({ QueueName = "fleet-telemetry-dlq" }) &&
      aws_cloudwatch_metric_alarm.dlq_not_empty.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.dlq_not_empty.threshold == 0
    )
    error_message = "Alarm as soon as the DLQ holds a message."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.ingest_to_persist_p95.namespace == "FleetTelemetry" &&
      aws_cloudwatch_metric_alarm.ingest_to_persist_p95.metric_name == "IngestToPersistMs" &&
      aws_cloudwatch_metric_alarm.ingest_to_persist_p95.dimensions == tomap({ Service = "consumer" }) &&
      aws_cloudwatch_metric_alarm.ingest_to_persist_p95.extended_statistic == "p95" &&
      aws_cloudwatch_metric_alarm.ingest_to_persist_p95.threshold == 5000
    )
    error_message = "Alarm when p95 IngestToPersistMs (consumer EMF) exceeds 5000 ms."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.duplicate_rate.metric_name == "DuplicateRate" &&
      aws_cloudwatch_metric_alarm.duplicate_rate.dimensions == tomap({ Service = "aggregator" }) &&
      aws_cloudwatch_metric_alarm.duplicate_rate.threshold == 0.005 &&
      aws_cloudwatch_metric_alarm.duplicate_rate.comparison_operator == "GreaterThanThreshold"
    )
    error_message = "Alarm when the aggregator's DuplicateRate exceeds 0.5%."
  }

  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.receiver_5xx_rate.metric_query : q.id => (q.expression != null && q.expression != "" ? q.expression : one(q.metric).metric_name)
      } == {
      rate      = "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests"
      target5xx = "HTTPCode_Target_5XX_Count"
      elb5xx    = "HTTPCode_ELB_5XX_Count"
      requests  = "RequestCount"
    }
    error_message = "The receiver 5xx rate must be (target + ALB 5xx) / requests, in percent."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.receiver_5xx_rate.threshold == 1
    error_message = "Alarm when more than 1% of ingest requests fail with 5xx."
  }

  # The consumer's own failures, before the backlog shows them.
  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.consumer_failures.metric_query : q.id => (q.expression != null && q.expression != "" ? q.expression : "${one(q.metric).metric_name}/${one(q.metric).stat}/${one(q.metric).dimensions.Service}")
      } == {
      failures = "FILL(receive, 0) + FILL(persist, 0)"
      receive  = "ReceiveFailures/Sum/consumer"
      persist  = "PersistFailures/Sum/consumer"
    }
    error_message = "The consumer alarm must add the consumer's ReceiveFailures and PersistFailures (EMF sums)."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.consumer_failures.threshold == 0 &&
      aws_cloudwatch_metric_alarm.consumer_failures.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.consumer_failures.evaluation_periods == 3 &&
      aws_cloudwatch_metric_alarm.consumer_failures.datapoints_to_alarm == 3 &&
      aws_cloudwatch_metric_alarm.consumer_failures.treat_missing_data == "notBreaching"
    )
    error_message = "Alarm when the consumer failed to receive or persist in each of 3 minutes (no data: fine)."
  }

  assert {
    condition = alltrue([
      for a in [
        aws_cloudwatch_metric_alarm.queue_oldest_message_age, aws_cloudwatch_metric_alarm.dlq_not_empty,
        aws_cloudwatch_metric_alarm.ingest_to_persist_p95, aws_cloudwatch_metric_alarm.duplicate_rate,
        aws_cloudwatch_metric_alarm.aggregator_missing, aws_cloudwatch_metric_alarm.receiver_5xx_rate,
        aws_cloudwatch_metric_alarm.consumer_failures,
      ] : a.alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && a.ok_actions == toset([aws_sns_topic.alarms[0].arn])
    ])
    error_message = "Every alarm must notify the alarm topic, on alarm and on recovery."
  }

  assert {
    condition     = aws_sns_topic.alarms[0].kms_master_key_id == aws_kms_key.this.arn
    error_message = "The alarm topic must be encrypted with the module's key (CloudWatch cannot use aws/sns)."
  }

  assert {
    condition     = anytrue([for s in jsondecode(aws_kms_key.this.policy).Statement : s.Principal == { Service = "cloudwatch.amazonaws.com" }])
    error_message = "The key policy must let CloudWatch publish to the encrypted topic."
  }

  # The dashboard: latency percentiles, throughput, queue depth.
  assert {
    condition = length(setsubtract(
      ["p50", "p95", "p99"],
      flatten([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for m in w.properties.metrics : m[4].stat if m[1] == "IngestToPersistMs"]])
    )) == 0
    error_message = "The dashboard must show IngestToPersistMs p50, p95 and p99."
  }

  assert {
    condition = length(setsubtract(
      ["RecordsAccepted", "BatchRecords", "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "RequestCount", "ReceiveFailures", "PersistFailures"],
      flatten([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for m in w.properties.metrics : m[1]]])
    )) == 0
    error_message = "The dashboard must show throughput (records accepted, persisted), the consumer's failures, queue depth and age, and requests."
  }
}

run "alarms_go_to_an_existing_topic_when_given" {
  command = apply

  variables {
    alarm_topic_arn = "arn:aws:sns:eu-central-1:123456789012:ops-pager"
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops-pager"])
    error_message = "With alarm_topic_arn set, no topic is created and alarms notify the given one."
  }
}


# ADR 0001's trigger is "duplicates stay above 0.5 % for a day": one bad hour (a redrive, a
# redeploy) must not page; 24 hourly data points above the threshold must.
run "duplicate_rate_alarms_after_a_day_not_an_hour" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.duplicate_rate.period == 3600 &&
      aws_cloudwatch_metric_alarm.duplicate_rate.evaluation_periods == 24 &&
      aws_cloudwatch_metric_alarm.duplicate_rate.datapoints_to_alarm == 24
    )
    error_message = "The duplicate-rate alarm must need 24 of 24 hourly data points above the threshold (a day, as ADR 0001's trigger says), not one hour."
  }
}
