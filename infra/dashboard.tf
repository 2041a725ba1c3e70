# One dashboard: latency percentiles, throughput, queue depth, receiver health, task counts, the
# hourly job, and the battery anomalies (every rule, live and hourly, whichever path alarms).

locals {
  ns = var.metrics_namespace

  latency_metrics = [
    for pair in setproduct(["IngestToPersistMs", "EndToEndMs", "QueueTimeMs"], ["p50", "p95", "p99"]) :
    [local.ns, pair[0], "Service", "consumer", { stat = pair[1], label = "${pair[0]} ${pair[1]}" }]
  ]

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title   = "Latency percentiles (ms)"
        region  = var.region
        view    = "timeSeries"
        period  = 60
        metrics = local.latency_metrics
        annotations = {
          horizontal = [{ label = "p95 ingest-to-persist alarm", value = local.thresholds.ingest_to_persist_p95_ms }]
        }
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title  = "Throughput (per minute)"
        region = var.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = [
          [local.ns, "RecordsAccepted", "Service", "receiver", { label = "records accepted" }],
          [local.ns, "RecordsRejected", "Service", "receiver", { label = "records rejected" }],
          [local.ns, "BatchRecords", "Service", "consumer", { label = "records persisted" }],
          [local.ns, "MessagesDeleted", "Service", "consumer", { label = "SQS messages deleted" }],
          [local.ns, "ReceiveFailures", "Service", "consumer", { label = "failed receives (alarm)", yAxis = "right" }],
          [local.ns, "PersistFailures", "Service", "consumer", { label = "failed PUTs (alarm)", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title  = "Queue depth"
        region = var.region
        view   = "timeSeries"
        period = 60
        stat   = "Maximum"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.this.name, { label = "visible" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", aws_sqs_queue.this.name, { label = "in flight" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dlq.name, { label = "DLQ" }],
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.this.name, { label = "oldest age (s)", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Receiver (ALB)"
        region = var.region
        view   = "timeSeries"
        period = 60
        stat   = "Sum"
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", aws_lb.this.arn_suffix, { label = "requests" }],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", aws_lb.this.arn_suffix, "TargetGroup", aws_lb_target_group.receiver.arn_suffix, { label = "target 5xx" }],
          ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", aws_lb.this.arn_suffix, { label = "ALB 5xx" }],
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", aws_lb.this.arn_suffix, { stat = "p95", label = "p95 response (s)", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Running tasks"
        region = var.region
        view   = "timeSeries"
        period = 60
        stat   = "Average"
        metrics = [
          ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", aws_ecs_cluster.this.name, "ServiceName", aws_ecs_service.receiver.name, { label = "receiver" }],
          ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", aws_ecs_cluster.this.name, "ServiceName", aws_ecs_service.consumer.name, { label = "consumer" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "Hourly aggregation"
        region = var.region
        view   = "timeSeries"
        period = 3600
        stat   = "Maximum"
        metrics = [
          [local.ns, "DuplicateRate", "Service", "aggregator", { label = "duplicate rate" }],
          [local.ns, "Records", "Service", "aggregator", { label = "records", yAxis = "right" }],
          [local.ns, "Vehicles", "Service", "aggregator", { label = "vehicles", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 18, width = 12, height = 6
      properties = {
        title   = "Battery anomalies live (alerts per minute, per rule)"
        region  = var.region
        view    = "timeSeries"
        period  = 60
        stat    = "Sum"
        metrics = [for rule in keys(local.anomaly_rules) : [local.ns, "AnomalyAlerts", "Service", "consumer", "Rule", rule, { label = rule }]]
      }
    },
    {
      type = "metric", x = 12, y = 18, width = 12, height = 6
      properties = {
        title  = "Battery anomalies hourly (episodes per rule) and vehicles with a clock off"
        region = var.region
        view   = "timeSeries"
        period = 3600
        stat   = "Sum"
        metrics = concat(
          [for rule in keys(local.anomaly_rules) : [local.ns, "AnomalyEpisodes", "Service", "aggregator", "Rule", rule, { label = rule }]],
          [[local.ns, "ClockOffVehicles", "Service", "aggregator", { label = "vehicles with a clock off", yAxis = "right" }]],
        )
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${local.name}-${var.environment}"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
