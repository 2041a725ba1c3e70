# What the deploy role may do, and what it can never make itself: no PowerUserAccess, service
# permissions scoped to what `terraform apply` of infra/ needs, and every role it creates capped
# by a permissions boundary it cannot remove or edit, so that "create a role with *:* and assume
# it" is closed twice over. A separate read-only role plans (before any approval), and the smoke
# test reads its own key, never the fleet's. Policies are jsonencode()d, so these assertions read
# the real documents (a mocked aws_iam_policy_document renders nothing).

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

  # Only for documents still rendered by data sources, if any: everything asserted here is
  # jsonencode()d in the module itself.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_iam_policy" {
    defaults = {
      arn = "arn:aws:iam::123456789012:policy/fleet-telemetry-mocked"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/fleet-telemetry-mocked"
    }
  }

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-central-1:123456789012:key/99999999-8888-7777-6666-555555555555"
    }
  }
}

variables {
  github_repository = "example-org/fleet-telemetry"
  environments      = ["dev"]
}

# One ARN per policy, so "attached exactly these" compares distinct values.
override_resource {
  target = aws_iam_policy.deploy_read
  values = { arn = "arn:aws:iam::123456789012:policy/fleet-telemetry-deploy-read" }
}

override_resource {
  target = aws_iam_policy.deploy_write
  values = { arn = "arn:aws:iam::123456789012:policy/fleet-telemetry-deploy-write" }
}

override_resource {
  target = aws_iam_policy.deploy_iam
  values = { arn = "arn:aws:iam::123456789012:policy/fleet-telemetry-deploy-iam" }
}

override_resource {
  target = aws_iam_policy.plan_state
  values = { arn = "arn:aws:iam::123456789012:policy/fleet-telemetry-plan-state" }
}

override_resource {
  target = aws_iam_policy.workload_boundary
  values = { arn = "arn:aws:iam::123456789012:policy/fleet-telemetry-workload-boundary", name = "fleet-telemetry-workload-boundary" }
}

run "the_deploy_role_cannot_make_itself_admin" {
  command = apply

  # No broad AWS managed policy: PowerUserAccess with IAM on <name>-<env>-* let it create a role
  # with *:* and assume it.
  assert {
    condition     = alltrue([for a in values(aws_iam_role_policy_attachment.deploy) : !startswith(a.policy_arn, "arn:aws:iam::aws:policy/")])
    error_message = "The deploy role must not hold an AWS managed policy (PowerUserAccess, ReadOnlyAccess, ...): its permissions are the scoped documents of this module."
  }

  assert {
    condition = alltrue(flatten([
      for p in [aws_iam_policy.deploy_read, aws_iam_policy.deploy_write, aws_iam_policy.deploy_iam] : [
        for s in jsondecode(p.policy).Statement : !anytrue([for a in flatten([try(s.Action, [])]) : a == "*" || a == "iam:*" || a == "sts:*"]) if s.Effect == "Allow"
      ]
    ]))
    error_message = "No Allow statement of the deploy role may grant *, iam:* or sts:*."
  }

  # Every role it creates or changes carries the boundary ...
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.deploy_iam.policy).Statement :
      try(s.Condition.StringEquals["iam:PermissionsBoundary"], "") == aws_iam_policy.workload_boundary.arn
      if s.Effect == "Allow" && length(setintersection(toset(flatten([try(s.Action, [])])), toset([
        "iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary", "iam:AttachRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
      ]))) > 0
    ])
    error_message = "CreateRole, PutRolePolicy, PutRolePermissionsBoundary (and the attach/detach/delete of policies) must be allowed only with iam:PermissionsBoundary = the workload boundary."
  }

  # ... which it can neither remove nor edit, and it may not assume any role at all.
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.deploy_iam.policy).Statement :
      s.Effect == "Deny" && contains(flatten([try(s.Action, [])]), "iam:DeleteRolePermissionsBoundary") && s.Resource == "*"
    ])
    error_message = "The deploy role must be denied iam:DeleteRolePermissionsBoundary on every role."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.deploy_iam.policy).Statement :
      s.Effect == "Deny" && contains(flatten([s.Resource]), aws_iam_policy.workload_boundary.arn) &&
      length(setsubtract(toset(["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"]), toset(flatten([try(s.Action, [])])))) == 0
    ])
    error_message = "The deploy role must be denied editing or deleting the boundary policy."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.deploy_iam.policy).Statement :
      s.Effect == "Deny" && contains(flatten([try(s.Action, [])]), "sts:AssumeRole") && s.Resource == "*"
    ])
    error_message = "The deploy role must be denied sts:AssumeRole: no role it can shape may become its way out."
  }

  # The boundary itself: the union of what the stack's roles do, no IAM beyond PassRole to ECS.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.workload_boundary.policy).Statement :
      alltrue([for a in flatten([try(s.Action, [])]) : a != "*" && !endswith(a, ":*") && (!startswith(a, "iam:") || a == "iam:PassRole")])
    ])
    error_message = "The boundary may allow no wildcard action and no IAM action but iam:PassRole."
  }

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_policy.workload_boundary.policy).Statement : s.Action])) == toset([
      "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
      "s3:GetObject", "s3:PutObject", "s3:ListBucket", "kms:Decrypt", "kms:GenerateDataKey",
      "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
      "logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue", "ecs:RunTask", "ecs:TagResource", "iam:PassRole",
    ])
    error_message = "The boundary must be exactly the union of the stack roles' actions (infra/iam.tf)."
  }

  # The fleet's keys are never the deploy's to read; the smoke key is.
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.deploy_iam.policy).Statement :
      s.Effect == "Deny" && contains(flatten([try(s.Action, [])]), "secretsmanager:GetSecretValue") &&
      contains(flatten([s.Resource]), "arn:aws:secretsmanager:eu-central-1:123456789012:secret:fleet-telemetry/*/api-keys-*")
    ])
    error_message = "The deploy role must be denied the fleet's API-key secrets."
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_policy.deploy_write.policy).Statement : s.Resource
      if s.Effect == "Allow" && contains(flatten([try(s.Action, [])]), "secretsmanager:GetSecretValue")
    ] == [["arn:aws:secretsmanager:eu-central-1:123456789012:secret:fleet-telemetry/*/smoke-api-key-*"]]
    error_message = "The deploy role may read only the smoke test's secret."
  }

  assert {
    condition = alltrue(flatten([
      for p in [aws_iam_policy.deploy_read, aws_iam_policy.deploy_write, aws_iam_policy.deploy_iam] : [
        for s in jsondecode(p.policy).Statement : !anytrue([for a in flatten([try(s.Action, [])]) : contains(["secretsmanager:*", "secretsmanager:Get*", "secretsmanager:GetSecretValue"], a)]) || s.Sid == "TheSmokeTestsOwnKey"
        if s.Effect == "Allow"
      ]
    ]))
    error_message = "Only the smoke-key statement may allow reading a secret's value."
  }

  # Application Auto Scaling creates target tracking's alarms with the caller's permissions.
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.deploy_write.policy).Statement :
      s.Effect == "Allow" && contains(flatten([try(s.Action, [])]), "cloudwatch:*") &&
      contains(flatten([s.Resource]), "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:TargetTracking-service/fleet-telemetry/*")
    ])
    error_message = "The deploy role must be able to create the target tracking alarms of the stack's services (PutScalingPolicy makes them as the caller)."
  }

  # IAM refuses managed policies over 6,144 characters: the documents must fit.
  assert {
    condition = alltrue([
      for p in [aws_iam_policy.deploy_read, aws_iam_policy.deploy_write, aws_iam_policy.deploy_iam, aws_iam_policy.plan_state, aws_iam_policy.workload_boundary] :
      length(p.policy) <= 6144
    ])
    error_message = "Every managed policy must fit IAM's 6,144-character limit; lengths: ${jsonencode([for p in [aws_iam_policy.deploy_read, aws_iam_policy.deploy_write, aws_iam_policy.deploy_iam, aws_iam_policy.plan_state, aws_iam_policy.workload_boundary] : length(p.policy)])}"
  }
}

run "a_read_only_role_plans_before_any_approval" {
  command = apply

  assert {
    condition     = output.plan_trusted_subjects == ["repo:example-org/fleet-telemetry:environment:dev-plan"]
    error_message = "The plan role must trust exactly the <environment>-plan GitHub environments (no reviewers, so the plan is there to read before the apply's approval)."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role.plan.assume_role_policy).Statement : s.Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:example-org/fleet-telemetry:environment:dev-plan"]])
    error_message = "The plan role's trust policy must name the plan environments' subjects exactly."
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_policy.plan_state.policy).Statement : [
        for a in flatten([try(s.Action, [])]) : contains(["s3:ListBucket", "s3:GetObject", "kms:Decrypt", "kms:GenerateDataKey"], a) || (
          contains(["s3:PutObject", "s3:DeleteObject"], a) && alltrue([for r in flatten([s.Resource]) : endswith(r, ".tflock")])
        )
      ] if s.Effect == "Allow"
    ]))
    error_message = "The plan role may write nothing but Terraform's lock file."
  }

  assert {
    condition     = toset([for a in values(aws_iam_role_policy_attachment.plan) : a.policy_arn]) == toset([aws_iam_policy.deploy_read.arn, aws_iam_policy.plan_state.arn])
    error_message = "The plan role holds the read policy and the state read policy, nothing else."
  }
}

run "the_state_bucket_refuses_old_tls" {
  command = apply

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.state.policy).Statement :
      s.Effect == "Deny" && try(tonumber(s.Condition.NumericLessThan["s3:TlsVersion"]), 0) == 1.2
      ]) && anytrue([
      for s in jsondecode(aws_s3_bucket_policy.state.policy).Statement :
      s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "The state bucket must deny requests without TLS and with TLS older than 1.2."
  }
}
