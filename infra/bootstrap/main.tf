# Bootstrap of the deploy identity, applied once per AWS account by a person with admin rights:
#   state_bucket.tf   the S3 bucket (and its KMS key) that holds the main module's Terraform state
#   github_oidc.tf    the account's GitHub Actions OIDC identity provider
#   deploy_role.tf    the role deploy.yml's apply job assumes: only this repository's environment
#                     jobs, scoped to what `terraform apply` of infra/ needs
#   plan_role.tf      the read-only role its plan job assumes before any approval
#   boundary.tf       the permissions boundary every role the deploy role creates must carry
# Everything after this runs from GitHub Actions with short-lived credentials; no access key exists.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  state_bucket_name = coalesce(var.state_bucket_name, "${var.name}-tfstate-${local.account_id}-${var.region}")

  tags = merge(
    {
      Application = var.name
      Component   = "bootstrap"
      ManagedBy   = "terraform"
    },
    var.tags,
  )
}
