# The data bucket: encryption (SSE-S3 by default, SSE-KMS on request), public access block,
# ownership, TLS-only policy, and lifecycle day counts valid for their storage classes.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "bucket_is_private_encrypted_and_tiered_within_class_minimums" {
  command = apply

  # Private, encrypted, ACLs off, TLS only.
  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls &&
      aws_s3_bucket_public_access_block.this.block_public_policy &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets
    )
    error_message = "All four public access block settings must be on."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.this.bucket == aws_s3_bucket.this.id && aws_s3_bucket_server_side_encryption_configuration.this.bucket == aws_s3_bucket.this.id
    error_message = "Public access block and encryption must apply to the data bucket."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "AES256"
    error_message = "Default encryption must be SSE-S3 (AES256)."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }

  assert {
    condition = (
      jsondecode(aws_s3_bucket_policy.this.policy).Statement[0].Effect == "Deny" &&
      jsondecode(aws_s3_bucket_policy.this.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false" &&
      toset(jsondecode(aws_s3_bucket_policy.this.policy).Statement[0].Resource) == toset([aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"])
    )
    error_message = "The bucket policy must deny every request without TLS, on the bucket and its objects."
  }

  assert {
    condition     = aws_s3_bucket.this.force_destroy == false
    error_message = "By default destroy must not delete data."
  }

  # Lifecycle day counts valid for their storage classes.
  assert {
    condition = alltrue(flatten([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule : [
        for t in r.transition : t.days >= 30 if contains(["STANDARD_IA", "ONEZONE_IA"], t.storage_class)
      ]
    ]))
    error_message = "S3 refuses STANDARD_IA/ONEZONE_IA transitions before day 30."
  }

  # Every rule that transitions also expires, and only after the object has spent each class's
  # minimum billed duration there (IA 30 days, GLACIER_IR 90).
  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      one(r.expiration[*].days) >= max([for t in r.transition : t.days + (t.storage_class == "GLACIER_IR" ? 90 : 30)]...)
      if length(r.transition) > 0
    ])
    error_message = "Objects must stay in each class its minimum billed duration (IA 30 days, GLACIER_IR 90) before they expire."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      lookup({ for t in r.transition : t.storage_class => t.days }, "GLACIER_IR", 0) >= lookup({ for t in r.transition : t.storage_class => t.days }, "STANDARD_IA", 0) + 30
      if length(r.transition) > 1
    ])
    error_message = "GLACIER_IR must come at least 30 days after STANDARD_IA (IA's minimum billed duration)."
  }

  assert {
    condition = alltrue([
      for prefix in ["curated/", "vehicle_stats/", "aggregates/", "anomalies/"] :
      length([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.filter[0].prefix == prefix && length(r.expiration) > 0]) == 1
    ])
    error_message = "curated/, vehicle_stats/, aggregates/ and anomalies/ must each have one lifecycle rule that expires them."
  }

  assert {
    condition     = toset(flatten([for r in aws_s3_bucket_lifecycle_configuration.this.rule : [for t in r.transition : t.storage_class] if r.filter[0].prefix == "curated/"])) == toset(["STANDARD_IA", "GLACIER_IR"])
    error_message = "curated/ (the data kept) must tier to STANDARD_IA and then GLACIER_IR, as raw/ used to."
  }

  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if length(r.abort_incomplete_multipart_upload) > 0 && r.filter[0].prefix == ""]) == 1
    error_message = "One rule over the whole bucket must abort incomplete multipart uploads."
  }

  assert {
    condition     = alltrue([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.status == "Enabled"])
    error_message = "Every lifecycle rule must be enabled."
  }
}

run "sse_kms_uses_the_module_key_and_the_roles_may_use_it" {
  command = apply

  variables {
    bucket_encryption = "SSE-KMS"
  }

  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.this.arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled
    )
    error_message = "SSE-KMS must use the module's key with an S3 Bucket Key."
  }

  assert {
    condition = alltrue([
      for c in ["consumer", "aggregator"] : contains(
        [for s in jsondecode(aws_iam_role_policy.task[c].policy).Statement : s.Resource if s.Sid == "UseTheBucketKey"],
        aws_kms_key.this.arn
      )
    ])
    error_message = "With SSE-KMS, consumer and aggregator must be allowed to use the bucket key."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The customer-managed key must rotate."
  }
}

# TLS 1.0 and 1.1 are refused at the bucket, whatever a client or SDK would negotiate
# (AWS's S3 security best practice: deny s3:TlsVersion below 1.2).
run "bucket_refuses_tls_older_than_1_2" {
  command = apply

  assert {
    condition = anytrue([
      for st in jsondecode(aws_s3_bucket_policy.this.policy).Statement :
      st.Effect == "Deny" && st.Principal == "*" && st.Action == "s3:*" &&
      try(tonumber(st.Condition.NumericLessThan["s3:TlsVersion"]), 0) == 1.2 &&
      toset(st.Resource) == toset([aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"])
    ])
    error_message = "The bucket policy must deny every request made with TLS older than 1.2 (s3:TlsVersion < 1.2), on the bucket and its objects."
  }
}

# raw/ is the replay window now that curated/ keeps the data: it expires after
# raw_retention_days (7 by default: the seeds' cost lever; infra/README.md says why) and never
# transitions, since an object expiring before day 30 cannot go to STANDARD_IA and would pay IA's
# 30-day minimum if it did.
run "raw_is_a_replay_window_of_raw_retention_days" {
  command = apply

  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.this.rule : {
        expiration  = one(r.expiration[*].days)
        transitions = length(r.transition)
        noncurrent  = one(r.noncurrent_version_expiration[*].noncurrent_days)
      } if r.filter[0].prefix == "raw/"
      ] == [
      { expiration = 7, transitions = 0, noncurrent = 7 },
    ]
    error_message = "raw/ must have one rule: expire at raw_retention_days (default 7), no transitions, noncurrent versions after 7 days."
  }
}

run "raw_retention_follows_the_variable" {
  command = apply

  variables {
    raw_retention_days = 14
  }

  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.this.rule : one(r.expiration[*].days) if r.filter[0].prefix == "raw/"] == [14]
    error_message = "raw/ must expire after raw_retention_days."
  }

  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.this.rule : length(r.transition) if r.filter[0].prefix == "raw/"] == [0]
    error_message = "raw/ must not transition at any retention: it is the replay window; curated/ is the copy that is kept and tiered."
  }
}
