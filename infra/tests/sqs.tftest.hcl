# The queue and its DLQ: redrive wiring, maxReceiveCount, encryption, long polling, retention,
# and the visibility timeout's consistency with the consumer's stop timeout.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "queue_and_dlq_as_the_consumer_needs_them" {
  command = apply

  # Redrive: the queue's policy targets the DLQ; only the queue may use the DLQ.
  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq.arn
    error_message = "The ingest queue's redrive policy must target the DLQ's ARN."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 5
    error_message = "maxReceiveCount must be 5 (app/pipeline_defaults.json)."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq.redrive_allow_policy).redrivePermission == "byQueue"
    error_message = "The DLQ's redrive-allow policy must name its source queues (byQueue)."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq.redrive_allow_policy).sourceQueueArns == [aws_sqs_queue.this.arn]
    error_message = "Only the ingest queue may use the DLQ."
  }

  assert {
    condition     = aws_sqs_queue_redrive_allow_policy.dlq.queue_url == aws_sqs_queue.dlq.id
    error_message = "The redrive-allow policy must be set on the DLQ."
  }

  # Encryption at rest and TLS in transit on both queues.
  assert {
    condition     = aws_sqs_queue.this.sqs_managed_sse_enabled && aws_sqs_queue.dlq.sqs_managed_sse_enabled
    error_message = "Both queues must have server-side encryption (SSE-SQS)."
  }

  assert {
    condition = alltrue([
      for p in aws_sqs_queue_policy.this : jsondecode(p.policy).Statement[0].Effect == "Deny" &&
      jsondecode(p.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    ])
    error_message = "Both queues must deny requests that do not use TLS."
  }

  # Long polling, visibility timeout consistent with the consumer, DLQ retention.
  assert {
    condition     = aws_sqs_queue.this.receive_wait_time_seconds == 20
    error_message = "The queue must long-poll (20 s wait)."
  }

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 60
    error_message = "Visibility timeout must be 60 s: the consumer flushes every 2 s and extends visibility at half the timeout."
  }

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds > var.consumer.stop_timeout_seconds
    error_message = "Visibility timeout must exceed the consumer's stop timeout."
  }

  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds == 14 * 24 * 3600
    error_message = "The DLQ must keep messages 14 days."
  }

  assert {
    condition     = aws_sqs_queue.this.max_message_size == 262144
    error_message = "Max message size must be 256 KiB (the provider's cap)."
  }
}

run "visibility_timeout_overrides_reach_the_consumer" {
  command = apply

  variables {
    queue = { visibility_timeout_seconds = 120, max_receive_count = 8 }
  }

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 120 && jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 8
    error_message = "Queue overrides must reach the queue."
  }

  assert {
    condition = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment,
    { name = "TELEMETRY_VISIBILITY_TIMEOUT_SECONDS", value = "120" })
    error_message = "The consumer must be told the same visibility timeout as the queue has."
  }

  assert {
    condition = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment,
    { name = "TELEMETRY_MAX_RECEIVE_COUNT", value = "8" })
    error_message = "The consumer must be told the same maxReceiveCount as the redrive policy has."
  }
}

run "visibility_shorter_than_the_stop_timeout_is_refused" {
  command = plan

  variables {
    queue    = { visibility_timeout_seconds = 20 }
    consumer = { stop_timeout_seconds = 30 }
  }

  expect_failures = [aws_sqs_queue.this]
}
