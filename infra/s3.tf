# Data bucket: raw/ (consumer output, JSON Lines by hour: the replay window), curated/ and
# vehicle_stats/ (the hourly job's Parquet), aggregates/ (its JSON and CSV documents) and
# anomalies/ (its anomaly episodes, JSON Lines).
# Same settings as the embedded AWS stack (app/embedded_aws.py, app/resources.py:lifecycle_rules).
#
# Versioning: Enabled. The consumer may overwrite an object (a redelivered batch writes the same
# key) and an operator may delete one by mistake; the previous version stays recoverable for
# noncurrent_version_expiration_days (7 by default) and then expires, so the cost is a week of
# the few overwritten objects, not a second copy of the data.
#
# Lifecycle and object size: since September 2024 S3 does not transition objects smaller than
# 128 KB unless a rule asks for it (transition_default_minimum_object_size). Raw objects are one
# consumer flush each (a few records per 2 s flush at low rates, well under 128 KB) and live
# only raw_retention_days, so raw/ has no transitions at all. The hourly job's objects are one
# per hour: curated/, vehicle_stats/ and anomalies/ tier. See infra/README.md, "Costs per month".

locals {
  bucket_kms = var.bucket_encryption == "SSE-KMS"
}

resource "aws_s3_bucket" "this" {
  bucket        = local.bucket_name
  force_destroy = var.bucket_force_destroy

  #checkov:skip=CKV_AWS_18:server access logs of a write-mostly telemetry bucket would cost more than they tell; use CloudTrail data events where an audit trail is required
  #checkov:skip=CKV_AWS_144:raw telemetry is re-creatable from the vehicles' buffers for its retention; cross-region replication doubles storage cost
  #checkov:skip=CKV2_AWS_62:nothing consumes object-created events; the aggregator runs on a schedule
  #checkov:skip=CKV_AWS_145:SSE-KMS is optional (var.bucket_encryption); SSE-S3 is the default to avoid per-request KMS charges
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.bucket_kms ? "aws:kms" : "AES256"
      kms_master_key_id = local.bucket_kms ? aws_kms_key.this.arn : null
    }
    bucket_key_enabled = true # one KMS request per bucket key, not per object (SSE-KMS)
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        # A TLS floor as well: TLS 1.0 and 1.1 are refused whatever a client negotiates.
        Sid       = "DenyTlsOlderThan1_2"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
      },
    ]
  })

  # A bucket policy is refused while the public access block is still being written.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  # raw/: the replay window. Expires after var.raw_retention_days and never transitions: an
  # object that expires before day 30 cannot go to STANDARD_IA (and would pay IA's 30-day minimum
  # if it did); at the default flush its objects are under 128 KB, which S3 does not transition
  # anyway. The data is kept in curated/ (below), typed, deduplicated and ~30x smaller.
  rule {
    id     = "raw-expiry"
    status = "Enabled"

    filter {
      prefix = local.raw_prefix
    }

    expiration {
      days = local.raw_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = local.lifecycle_days.noncurrent_version_expiration_days
    }
  }

  # curated/: the data kept, tiered as raw/ was (IA at 30 days, Glacier IR at 90, expiry at
  # curated_expiration_days). One Parquet object per hour, well above 128 KB at any real rate.
  rule {
    id     = "curated-tiering-and-expiry"
    status = "Enabled"

    filter {
      prefix = local.curated_prefix
    }

    transition {
      days          = local.lifecycle_days.curated_transition_ia_days
      storage_class = "STANDARD_IA"
    }

    transition {
      days          = local.lifecycle_days.curated_transition_glacier_ir_days
      storage_class = "GLACIER_IR"
    }

    expiration {
      days = local.lifecycle_days.curated_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = local.lifecycle_days.noncurrent_version_expiration_days
    }
  }

  # aggregates/ (JSON and CSV documents), vehicle_stats/ (the same statistics as Parquet) and
  # anomalies/ (the episodes the rules found in the hour, JSON Lines): IA after
  # aggregates_transition_ia_days, expiry after aggregates_expiration_days.
  dynamic "rule" {
    for_each = {
      "aggregates"    = local.aggregates_prefix
      "vehicle-stats" = local.vehicle_stats_prefix
      "anomalies"     = local.anomalies_prefix
    }

    content {
      id     = "${rule.key}-tiering-and-expiry"
      status = "Enabled"

      filter {
        prefix = rule.value
      }

      transition {
        days          = local.lifecycle_days.aggregates_transition_ia_days
        storage_class = "STANDARD_IA"
      }

      expiration {
        days = local.lifecycle_days.aggregates_expiration_days
      }

      noncurrent_version_expiration {
        noncurrent_days = local.lifecycle_days.noncurrent_version_expiration_days
      }
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = local.lifecycle_days.abort_incomplete_multipart_days
    }
  }

  # Rules only apply to versioned objects the way we expect once versioning is on.
  depends_on = [aws_s3_bucket_versioning.this]

  lifecycle {
    # S3 refuses a STANDARD_IA transition before day 30; IA bills at least 30 days and GLACIER_IR
    # at least 90, so leaving a class earlier pays for days the object no longer spends there.
    # raw/ has no transitions; its retention is validated in variables.tf.
    precondition {
      condition = (
        local.lifecycle_days.curated_transition_ia_days >= 30 &&
        local.lifecycle_days.curated_transition_glacier_ir_days >= local.lifecycle_days.curated_transition_ia_days + 30 &&
        local.lifecycle_days.curated_expiration_days >= local.lifecycle_days.curated_transition_glacier_ir_days + 90 &&
        local.lifecycle_days.aggregates_transition_ia_days >= 30 &&
        local.lifecycle_days.aggregates_expiration_days >= local.lifecycle_days.aggregates_transition_ia_days + 30
      )
      error_message = "Lifecycle days in app/pipeline_defaults.json break a storage-class minimum: curated STANDARD_IA at day >= 30, GLACIER_IR >= IA + 30, expiry >= GLACIER_IR + 90; aggregates, vehicle_stats and anomalies expiry >= IA + 30."
    }

    # Kept data must outlive the replay window it is rebuilt from.
    precondition {
      condition     = local.lifecycle_days.curated_expiration_days > local.raw_retention_days && local.lifecycle_days.aggregates_expiration_days > local.raw_retention_days
      error_message = "raw_retention_days must be shorter than curated_expiration_days and aggregates_expiration_days (app/pipeline_defaults.json): raw/ is the replay window of data kept longer."
    }
  }
}
