variable "region" {
  description = "Region of the state bucket and of the deployments it serves."
  type        = string
  default     = "eu-central-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region code, e.g. eu-central-1."
  }
}

variable "name" {
  description = "Prefix of the main module's resource names (its `name`, default from app/pipeline_defaults.json). The deploy role may manage IAM roles with this prefix only."
  type        = string
  default     = "fleet-telemetry"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,19}$", var.name))
    error_message = "name must be 3-20 characters: lower-case letters, digits and '-'."
  }
}

variable "github_repository" {
  description = "The one GitHub repository (owner/name) whose workflows may assume the deploy role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, e.g. example-org/fleet-telemetry."
  }
}

variable "environments" {
  description = "GitHub environments (and Terraform `environment` values) deployed into this account, whose deploy jobs may assume the role: usually one, e.g. [\"dev\"] in the dev account and [\"prod\"] in the prod account, since the main module's names (queue, cluster, ALB) carry no environment. Protect each one in GitHub with \"Deployment branches: main\"."
  type        = list(string)

  validation {
    condition     = length(var.environments) > 0 && alltrue([for e in var.environments : can(regex("^[a-z][a-z0-9-]{1,15}$", e))])
    error_message = "environments must be a non-empty list of names of 2-16 lower-case letters, digits and '-', as the main module's `environment`."
  }
}

variable "allow_main_branch_without_environment" {
  description = "Also trust jobs on the main branch that name no GitHub environment (sub = repo:OWNER/NAME:ref:refs/heads/main). deploy.yml always names one, so this stays off unless a workflow needs it."
  type        = bool
  default     = false
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider. An account has at most one per URL: set false when it exists already, and it is looked up instead."
  type        = bool
  default     = true
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket. Null: <name>-tfstate-<account id>-<region> (bucket names are global)."
  type        = string
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.state_bucket_name, "x")))
    error_message = "state_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, '.' and '-')."
  }
}

variable "state_noncurrent_version_days" {
  description = "Days an overwritten state version is kept (every apply writes one); the way back from a bad apply."
  type        = number
  default     = 90

  validation {
    condition     = var.state_noncurrent_version_days >= 7
    error_message = "state_noncurrent_version_days must be at least 7."
  }
}

variable "max_session_hours" {
  description = "Longest session the deploy role grants (a deploy job plus its ECS wait must fit)."
  type        = number
  default     = 1

  validation {
    condition     = var.max_session_hours >= 1 && var.max_session_hours <= 12
    error_message = "max_session_hours must be between 1 and 12."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged over Application, Component, ManagedBy)."
  type        = map(string)
  default     = {}
}
