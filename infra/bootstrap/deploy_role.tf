# The role deploy.yml assumes through GitHub OIDC. Who: only jobs of var.github_repository that run
# in one of var.environments (GitHub protects each environment to the main branch, README.md), and
# optionally main-branch jobs with no environment. What: everything the main module manages except
# IAM (PowerUserAccess), plus IAM limited to the module's own roles, which it may hand only to the
# services that run them; it can never change its own permissions or attach admin policies.

locals {
  deploy_role_name = "${var.name}-github-deploy"

  trusted_subjects = concat(
    [for e in var.environments : "repo:${var.github_repository}:environment:${e}"],
    var.allow_main_branch_without_environment ? ["repo:${var.github_repository}:ref:refs/heads/main"] : [],
  )

  # The main module names its roles "<name>-<environment>-<purpose>" (infra/iam.tf).
  stack_role_arns = [
    for e in var.environments : "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-${e}-*"
  ]
}

data "aws_iam_policy_document" "deploy_trust" {
  statement {
    sid     = "GitHubActionsThisRepositoryOnly"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Exact subjects, no wildcards: a fork, another repository, a pull request or another branch
    # gets a different `sub` and is refused.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = local.trusted_subjects
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = local.deploy_role_name
  description          = "Assumed by ${var.github_repository}'s deploy workflow (GitHub OIDC); no long-lived keys"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust.json
  max_session_duration = var.max_session_hours * 3600
}

resource "aws_iam_role_policy_attachment" "deploy_power_user" {
  role       = aws_iam_role.deploy.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/PowerUserAccess"
}

resource "aws_iam_role_policy" "deploy_iam" {
  name   = "stack-iam"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy_iam.json
}

data "aws_iam_policy_document" "deploy_iam" {
  statement {
    sid = "ManageTheStacksOwnRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:GetRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
      "iam:UpdateAssumeRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:ListRoleTags",
      "iam:PutRolePolicy",
      "iam:GetRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:ListRolePolicies",
      "iam:ListAttachedRolePolicies",
      "iam:AttachRolePolicy",
      "iam:DetachRolePolicy",
      "iam:ListInstanceProfilesForRole",
    ]
    resources = local.stack_role_arns
  }

  statement {
    sid       = "PassTheStacksRolesToTheirServicesOnly"
    actions   = ["iam:PassRole"]
    resources = local.stack_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com", "scheduler.amazonaws.com"]
    }
  }

  statement {
    sid       = "ServiceLinkedRolesOfTheServicesUsed"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "ecs.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
      ]
    }
  }

  statement {
    sid    = "NeverAttachBroadPolicies"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:DetachRolePolicy",
    ]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AdministratorAccess",
        "arn:${local.partition}:iam::aws:policy/PowerUserAccess",
        "arn:${local.partition}:iam::aws:policy/IAMFullAccess",
      ]
    }
  }

  statement {
    sid       = "NeverChangeItself"
    effect    = "Deny"
    actions   = ["iam:*"]
    resources = [aws_iam_role.deploy.arn, local.github_oidc_arn]
  }
}
