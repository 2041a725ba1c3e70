# Names, shared defaults and derived values used by every file of this module.
#
# app/pipeline_defaults.json is the one source of names and queue/bucket settings: the embedded
# AWS stack (app/embedded_aws.py) provisions exactly what it says, and this module takes its
# defaults from the same file, so local runs and AWS cannot drift apart.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only the first two zone names are used (network.tf); AWS appends new zones, it does not reorder the existing ones
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  defaults = jsondecode(file("${path.module}/../app/pipeline_defaults.json"))

  name       = coalesce(var.name, local.defaults.name)
  queue_name = var.name == null ? local.defaults.queue_name : var.name
  dlq_name   = var.name == null ? local.defaults.dlq_name : "${var.name}-dlq"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Bucket names are global: the default carries environment and account so it is unique.
  bucket_name = coalesce(var.bucket_name, "${local.defaults.bucket_name}-${var.environment}-${local.account_id}")

  raw_prefix           = local.defaults.raw_prefix
  aggregates_prefix    = local.defaults.aggregates_prefix
  curated_prefix       = local.defaults.curated_prefix
  vehicle_stats_prefix = local.defaults.vehicle_stats_prefix
  anomalies_prefix     = local.defaults.anomalies_prefix

  queue = {
    visibility_timeout_seconds = coalesce(var.queue.visibility_timeout_seconds, local.defaults.queue.visibility_timeout_seconds)
    receive_wait_time_seconds  = local.defaults.queue.receive_wait_time_seconds
    message_retention_seconds  = local.defaults.queue.message_retention_seconds
    max_message_size           = local.defaults.queue.max_message_size
    max_receive_count          = coalesce(var.queue.max_receive_count, local.defaults.queue.max_receive_count)
  }
  dlq_message_retention_seconds = local.defaults.dlq.message_retention_seconds
  lifecycle_days                = local.defaults.lifecycle
  # raw/'s expiry: the variable, or the file's default (the embedded stack expires raw/ at that).
  raw_retention_days = coalesce(var.raw_retention_days, local.defaults.lifecycle.raw_expiration_days)

  tags = merge(
    {
      Application = local.name
      Environment = var.environment
      ManagedBy   = "terraform"
    },
    var.tags,
  )
}
