# Who may assume the deploy role: this repository's environment jobs, nothing else.
# Plan-time checks with a mocked provider (no AWS account needed): `terraform test`.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  # Policy documents are rendered by the provider; a mock renders an empty, valid one.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  github_repository = "example-org/fleet-telemetry"
  environments      = ["dev", "prod"]
}

run "trusts_exactly_the_repositorys_environments" {
  command = plan

  assert {
    condition = output.trusted_subjects == [
      "repo:example-org/fleet-telemetry:environment:dev",
      "repo:example-org/fleet-telemetry:environment:prod",
    ]
    error_message = "the deploy role must trust exactly the repository's environment jobs, got ${jsonencode(output.trusted_subjects)}"
  }

  assert {
    condition     = alltrue([for s in output.trusted_subjects : !strcontains(s, "*")])
    error_message = "no wildcard may appear in a trusted subject: any branch or fork could match it"
  }

  assert {
    condition     = aws_iam_role.deploy.max_session_duration == 3600
    error_message = "a deploy session should last one hour by default"
  }
}

run "main_branch_without_environment_only_when_asked" {
  command = plan

  variables {
    environments                          = ["prod"]
    allow_main_branch_without_environment = true
  }

  assert {
    condition = output.trusted_subjects == [
      "repo:example-org/fleet-telemetry:environment:prod",
      "repo:example-org/fleet-telemetry:ref:refs/heads/main",
    ]
    error_message = "allow_main_branch_without_environment must add the main branch subject and nothing else"
  }
}

run "state_bucket_is_private_versioned_and_encrypted_with_its_own_key" {
  command = plan

  assert {
    condition     = aws_s3_bucket.state.bucket == "fleet-telemetry-tfstate-123456789012-eu-central-1"
    error_message = "the default state bucket name carries account and region (bucket names are global)"
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.state.block_public_acls &&
      aws_s3_bucket_public_access_block.state.block_public_policy &&
      aws_s3_bucket_public_access_block.state.ignore_public_acls &&
      aws_s3_bucket_public_access_block.state.restrict_public_buckets
    )
    error_message = "the state bucket must block every kind of public access"
  }

  assert {
    condition     = aws_s3_bucket_versioning.state.versioning_configuration[0].status == "Enabled"
    error_message = "state must be versioned: it is the way back from a bad apply"
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.state.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms"
    error_message = "state must be encrypted with the KMS key"
  }

  assert {
    condition     = aws_kms_key.state.enable_key_rotation
    error_message = "the state key must rotate"
  }
}

run "an_existing_oidc_provider_is_reused" {
  command = plan

  variables {
    create_oidc_provider = false
  }

  override_data {
    target = data.aws_iam_openid_connect_provider.github[0]
    values = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0
    error_message = "create_oidc_provider = false must not create a second provider"
  }
}

run "refuses_a_repository_that_is_not_owner_slash_name" {
  command = plan

  variables {
    github_repository = "fleet-telemetry"
  }

  expect_failures = [var.github_repository]
}
