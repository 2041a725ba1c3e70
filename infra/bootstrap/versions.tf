terraform {
  # 1.10: the S3 backend's native lock file (use_lockfile), which the main module's state uses
  # in the bucket created here.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }

  # This module creates the state bucket, so its own first apply keeps state locally
  # (terraform.tfstate, git-ignored). README.md, "Move this module's state into the bucket",
  # shows how to migrate it afterwards.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
