output "ingest_url" {
  description = "Where vehicles POST telemetry (X-API-Key header)."
  value       = "${local.https ? "https" : "http"}://${coalesce(var.ingest_host_name, aws_lb.this.dns_name)}/v1/telemetry"
}

output "alb_dns_name" {
  description = "DNS name of the ingest ALB (point a CNAME or alias record at it)."
  value       = aws_lb.this.dns_name
}

output "queue_url" {
  description = "URL of the ingest queue (TELEMETRY_QUEUE_URL)."
  value       = aws_sqs_queue.this.url
}

output "dlq_url" {
  description = "URL of the dead-letter queue (TELEMETRY_DLQ_URL)."
  value       = aws_sqs_queue.dlq.url
}

output "bucket_name" {
  description = "Data bucket (TELEMETRY_BUCKET)."
  value       = aws_s3_bucket.this.id
}

output "log_groups" {
  description = "CloudWatch log group of each component."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "ecr_repository_url" {
  description = "Push the image here, tagged with the value you pass as image_tag."
  value       = aws_ecr_repository.this.repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster running the services and the scheduled aggregator."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "ECS services by component."
  value       = { receiver = aws_ecs_service.receiver.name, consumer = aws_ecs_service.consumer.name }
}

output "ecs_service_task_definitions" {
  description = "Service name => the task definition ARN (with revision) this apply gave it: deploy.yml's rollout check (scripts/ecs_rollout.py) requires each service to complete its rollout on exactly this one."
  value = {
    (aws_ecs_service.receiver.name) = aws_ecs_task_definition.this["receiver"].arn
    (aws_ecs_service.consumer.name) = aws_ecs_task_definition.this["consumer"].arn
  }
}

output "api_keys_secret_arn" {
  description = "Secrets Manager secret whose value (comma-separated keys) the receiver reads as TELEMETRY_API_KEYS."
  value       = local.api_keys_secret_arn
}

output "smoke_api_key_secret_arn" {
  description = "Secrets Manager secret holding the deploy smoke test's own key (TELEMETRY_SMOKE_API_KEYS); the deploy role may read it, never the fleet's."
  value       = aws_secretsmanager_secret.smoke_api_key.arn
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = local.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard with latency percentiles, throughput and queue depth."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "athena_table" {
  description = "Glue database.table over raw/ (partition projection; no crawler). Kept for existing scripts; athena_tables names all four."
  value       = "${aws_glue_catalog_database.this.name}.${aws_glue_catalog_table.raw.name}"
}

output "glue_database" {
  description = "Glue database of the Athena tables (raw, curated, vehicle_stats, anomalies); docs/queries.md."
  value       = aws_glue_catalog_database.this.name
}

output "athena_tables" {
  description = "Athena table name => database.table: raw (JSON Lines, the replay window), curated (one typed row per distinct record, Parquet), vehicle_stats (per vehicle per hour, Parquet) and anomalies (the hourly job's anomaly episodes, JSON Lines)."
  value = {
    for t in concat([aws_glue_catalog_table.raw], values(aws_glue_catalog_table.parquet), [aws_glue_catalog_table.anomalies]) :
    t.name => "${aws_glue_catalog_database.this.name}.${t.name}"
  }
}

output "app_environment" {
  description = "The non-secret environment every container gets; also lets a local process talk to these resources."
  value       = local.common_environment
}
