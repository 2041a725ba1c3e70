# Ingest queue and its dead-letter queue, as the embedded AWS stack provisions them
# (app/embedded_aws.py); every number comes from app/pipeline_defaults.json.
#
# SSE-SQS rather than a customer-managed key: no KMS request per message batch and no key policy
# for the producers to get right; the data is encrypted at rest either way.

resource "aws_sqs_queue" "dlq" {
  name                      = local.dlq_name
  message_retention_seconds = local.dlq_message_retention_seconds # 14 days, the SQS maximum
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "this" {
  name                       = local.queue_name
  visibility_timeout_seconds = local.queue.visibility_timeout_seconds
  receive_wait_time_seconds  = local.queue.receive_wait_time_seconds # long polling
  message_retention_seconds  = local.queue.message_retention_seconds
  max_message_size           = local.queue.max_message_size
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = local.queue.max_receive_count
  })

  lifecycle {
    # The consumer holds messages while it buffers and flushes the rest on SIGTERM within the
    # ECS stop timeout; a visibility timeout shorter than that hands those messages to another
    # consumer while the first is still writing them: duplicates.
    precondition {
      condition     = local.queue.visibility_timeout_seconds > var.consumer.stop_timeout_seconds
      error_message = "The queue's visibility timeout must exceed consumer.stop_timeout_seconds, or messages held during shutdown are delivered twice."
    }
  }
}

# Where EventBridge Scheduler puts an hourly run it could not start after its retries (RunTask
# denied, no Fargate capacity, a bad network setting): the event, with the error as message
# attributes, stays 14 days and raises the aggregator-not-started alarm (alarms.tf).
resource "aws_sqs_queue" "scheduler_dlq" {
  name                      = "${local.name}-aggregator-schedule-dlq"
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  sqs_managed_sse_enabled   = true
}

# Only the ingest queue may use the DLQ as its dead-letter target (and redrive back to it).
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

resource "aws_sqs_queue_policy" "this" {
  for_each = {
    queue         = aws_sqs_queue.this
    dlq           = aws_sqs_queue.dlq
    scheduler_dlq = aws_sqs_queue.scheduler_dlq
  }

  queue_url = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = each.value.arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}
