# One log group per component. awslogs ships stdout/stderr: our key=value log lines and the EMF
# lines (AWS_EMF_ENVIRONMENT=local), from which CloudWatch extracts the metrics.

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(["receiver", "consumer", "aggregator"])

  name              = "/ecs/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  #checkov:skip=CKV_AWS_338:operational logs, 30 days by default for cost (var.log_retention_days); the metrics extracted from them are kept 15 months by CloudWatch
}
