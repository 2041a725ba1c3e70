output "deploy_role_arn" {
  description = "Set as the GitHub variable AWS_DEPLOY_ROLE_ARN (repository or each environment)."
  value       = aws_iam_role.deploy.arn
}

output "trusted_subjects" {
  description = "The OIDC `sub` values the deploy role accepts, one per GitHub environment."
  value       = local.trusted_subjects
}

output "plan_role_arn" {
  description = "Set as the GitHub variable AWS_PLAN_ROLE_ARN of each <environment>-plan environment: the read-only role deploy.yml plans with."
  value       = aws_iam_role.plan.arn
}

output "plan_trusted_subjects" {
  description = "The OIDC `sub` values the plan role accepts: the <environment>-plan GitHub environments."
  value       = local.plan_trusted_subjects
}

output "permissions_boundary_name" {
  description = "The permissions boundary every role of infra/ must carry: its permissions_boundary_name (envs/<environment>.tfvars)."
  value       = aws_iam_policy.workload_boundary.name
}

output "state_bucket" {
  description = "The bucket holding the main module's state: the `bucket` of infra/envs/<environment>.s3.tfbackend."
  value       = aws_s3_bucket.state.id
}

output "state_kms_key_arn" {
  description = "KMS key encrypting the state bucket (the backend's kms_key_id)."
  value       = aws_kms_key.state.arn
}

output "oidc_provider_arn" {
  description = "The account's GitHub Actions OIDC provider."
  value       = local.github_oidc_arn
}

output "backend_configs" {
  description = "Contents of infra/envs/<environment>.s3.tfbackend for each environment (terraform init -backend-config=...)."
  value = {
    for e in var.environments : e => join("\n", [
      "# terraform init -backend-config=envs/${e}.s3.tfbackend (written from infra/bootstrap's backend_configs output)",
      "# use_lockfile is S3-native state locking (a .tflock object beside the state; Terraform >= 1.10, no DynamoDB table).",
      "bucket       = \"${aws_s3_bucket.state.id}\"",
      "key          = \"${var.name}/${e}/terraform.tfstate\"",
      "region       = \"${var.region}\"",
      "encrypt      = true",
      "kms_key_id   = \"${aws_kms_key.state.arn}\"",
      "use_lockfile = true",
      "",
    ])
  }
}
