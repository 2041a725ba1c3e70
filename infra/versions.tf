terraform {
  # 1.7 brought mock_provider to `terraform test`; the S3 backend's native lockfile (use_lockfile,
  # set at init time from envs/*.s3.tfbackend) needs 1.10 or newer.
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }

  # Partial configuration: bucket, key, region and use_lockfile come from
  # `terraform init -backend-config=envs/<env>.s3.tfbackend` (see README, "State").
  backend "s3" {}
}
