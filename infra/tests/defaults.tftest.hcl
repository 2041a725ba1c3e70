# One source for both stacks: the defaults here are app/pipeline_defaults.json, the file the
# embedded AWS stack (app/embedded_aws.py) provisions from. Each assertion re-reads that file
# itself rather than trusting the module's local.defaults.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
  shared      = jsondecode(file("../app/pipeline_defaults.json"))
}

run "names_and_settings_match_the_embedded_stack" {
  command = apply

  # Names.
  assert {
    condition     = aws_sqs_queue.this.name == var.shared.queue_name && aws_sqs_queue.dlq.name == var.shared.dlq_name
    error_message = "Queue and DLQ names must be those in app/pipeline_defaults.json."
  }

  assert {
    condition     = aws_s3_bucket.this.bucket == "${var.shared.bucket_name}-dev-123456789012"
    error_message = "The bucket name must be <bucket_name from app/pipeline_defaults.json>-<environment>-<account id>."
  }

  assert {
    condition     = aws_ecs_cluster.this.name == var.shared.name && aws_ecr_repository.this.name == var.shared.name
    error_message = "Cluster and repository carry the shared name."
  }

  assert {
    condition     = aws_ecr_repository.this.force_delete == false && aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "By default the repository keeps its images on destroy and its tags are immutable."
  }

  # Queue and DLQ settings.
  assert {
    condition = (
      aws_sqs_queue.this.visibility_timeout_seconds == var.shared.queue.visibility_timeout_seconds &&
      aws_sqs_queue.this.receive_wait_time_seconds == var.shared.queue.receive_wait_time_seconds &&
      aws_sqs_queue.this.message_retention_seconds == var.shared.queue.message_retention_seconds &&
      aws_sqs_queue.this.max_message_size == var.shared.queue.max_message_size &&
      aws_sqs_queue.dlq.message_retention_seconds == var.shared.dlq.message_retention_seconds
    )
    error_message = "Queue and DLQ settings must be those in app/pipeline_defaults.json."
  }

  # Redrive, lifecycle rules, versioning, prefixes.
  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == var.shared.queue.max_receive_count
    error_message = "maxReceiveCount must be the one in app/pipeline_defaults.json."
  }

  assert {
    condition = {
      for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.id => {
        prefix      = r.filter[0].prefix
        transitions = { for t in r.transition : t.storage_class => t.days }
        expiration  = length(r.expiration) > 0 ? r.expiration[0].days : null
        noncurrent  = length(r.noncurrent_version_expiration) > 0 ? r.noncurrent_version_expiration[0].noncurrent_days : null
        abort       = length(r.abort_incomplete_multipart_upload) > 0 ? r.abort_incomplete_multipart_upload[0].days_after_initiation : null
      }
      } == {
      "raw-expiry" = {
        prefix      = var.shared.raw_prefix
        transitions = {}
        expiration  = var.shared.lifecycle.raw_expiration_days
        noncurrent  = var.shared.lifecycle.noncurrent_version_expiration_days
        abort       = null
      }
      "curated-tiering-and-expiry" = {
        prefix      = var.shared.curated_prefix
        transitions = { STANDARD_IA = var.shared.lifecycle.curated_transition_ia_days, GLACIER_IR = var.shared.lifecycle.curated_transition_glacier_ir_days }
        expiration  = var.shared.lifecycle.curated_expiration_days
        noncurrent  = var.shared.lifecycle.noncurrent_version_expiration_days
        abort       = null
      }
      "aggregates-tiering-and-expiry" = {
        prefix      = var.shared.aggregates_prefix
        transitions = { STANDARD_IA = var.shared.lifecycle.aggregates_transition_ia_days }
        expiration  = var.shared.lifecycle.aggregates_expiration_days
        noncurrent  = var.shared.lifecycle.noncurrent_version_expiration_days
        abort       = null
      }
      "vehicle-stats-tiering-and-expiry" = {
        prefix      = var.shared.vehicle_stats_prefix
        transitions = { STANDARD_IA = var.shared.lifecycle.aggregates_transition_ia_days }
        expiration  = var.shared.lifecycle.aggregates_expiration_days
        noncurrent  = var.shared.lifecycle.noncurrent_version_expiration_days
        abort       = null
      }
      "anomalies-tiering-and-expiry" = {
        prefix      = var.shared.anomalies_prefix
        transitions = { STANDARD_IA = var.shared.lifecycle.aggregates_transition_ia_days }
        expiration  = var.shared.lifecycle.aggregates_expiration_days
        noncurrent  = var.shared.lifecycle.noncurrent_version_expiration_days
        abort       = null
      }
      "abort-incomplete-multipart-uploads" = {
        prefix      = ""
        transitions = {}
        expiration  = null
        noncurrent  = null
        abort       = var.shared.lifecycle.abort_incomplete_multipart_days
      }
    }
    error_message = "Lifecycle rules (ids, prefixes, days) must be those app/resources.py:lifecycle_rules builds from app/pipeline_defaults.json."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be Enabled, as in the embedded stack."
  }

  assert {
    condition = alltrue([
      for td in aws_ecs_task_definition.this : {
        for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value if endswith(e.name, "_PREFIX")
        } == {
        TELEMETRY_RAW_PREFIX           = var.shared.raw_prefix
        TELEMETRY_AGGREGATES_PREFIX    = var.shared.aggregates_prefix
        TELEMETRY_CURATED_PREFIX       = var.shared.curated_prefix
        TELEMETRY_VEHICLE_STATS_PREFIX = var.shared.vehicle_stats_prefix
        TELEMETRY_ANOMALIES_PREFIX     = var.shared.anomalies_prefix
      }
    ])
    error_message = "Every container must be told the five shared prefixes (raw, aggregates, curated, vehicle_stats, anomalies) of app/pipeline_defaults.json."
  }
}

