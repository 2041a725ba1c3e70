# The role deploy.yml's plan job assumes, before any approval: it reads the stack (deploy_read in
# deploy_role.tf) and the state, and writes nothing but Terraform's lock file. So a prod plan is
# there to read when someone is asked to approve its apply, and the approval still guards every
# write. Trusted only for the "<environment>-plan" GitHub environments of this repository (no
# reviewers on those, "Deployment branches: main" as on the others).

locals {
  plan_trusted_subjects = [for e in var.environments : "repo:${var.github_repository}:environment:${e}-plan"]

  plan_state = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "TheStateBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = aws_s3_bucket.state.arn
      },
      {
        Sid      = "ReadTheStacksState"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.state_object_arns
      },
      {
        Sid      = "HoldTheLockWhilePlanning"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = "${local.state_object_arns}.tflock"
      },
      {
        Sid      = "TheStateKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.state.arn
      },
    ]
  }
}

resource "aws_iam_role" "plan" {
  name                 = local.plan_role_name
  description          = "Assumed by ${var.github_repository}'s deploy workflow to plan infra/ (read-only, before approval)"
  assume_role_policy   = local.github_trust["plan"]
  max_session_duration = var.max_session_hours * 3600
}

resource "aws_iam_policy" "plan_state" {
  name        = "${var.name}-plan-state"
  description = "Read the stack's Terraform state and hold its lock while planning"
  policy      = jsonencode(local.plan_state)
}

resource "aws_iam_role_policy_attachment" "plan" {
  for_each = {
    read  = aws_iam_policy.deploy_read.arn
    state = aws_iam_policy.plan_state.arn
  }

  role       = aws_iam_role.plan.name
  policy_arn = each.value
}
