# One customer-managed key for the pipeline's control-plane data: the alarm topic (CloudWatch,
# EventBridge and Budgets cannot publish to a topic under the AWS-managed aws/sns key), the
# container log groups, the API-key secrets, and the data bucket when
# var.bucket_encryption = "SSE-KMS".
# The queues use SSE-SQS (see sqs.tf). Cost: $1 per month plus requests.

resource "aws_kms_key" "this" {
  description             = "${local.name} (${var.environment}): alarm topic, log groups, API-key secret, data bucket with SSE-KMS"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        # EventBridge (the aggregator's task-stopped rule) and AWS Budgets publish to the
        # encrypted topic too. EventBridge's request to KMS carries no aws:SourceArn or
        # aws:SourceAccount, so a condition on them would silently drop every message; the
        # topic policy (sns.tf) is where the source is pinned.
        Sid       = "EventBridgeAndBudgetsPublishToTheEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "budgets.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsThisModulesLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/ecs/${local.name}/*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}-${var.environment}"
  target_key_id = aws_kms_key.this.key_id
}
