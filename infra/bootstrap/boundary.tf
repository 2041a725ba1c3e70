# The permissions boundary of every role the deploy role creates (infra/ sets it through
# permissions_boundary_name; deploy_iam refuses CreateRole and PutRolePolicy without it and
# denies removing or editing it). A boundary caps what a role's own policies can grant: even a
# role given "*:*" can do no more than this, the union of what the stack's roles need
# (infra/iam.tf): the queues, the data bucket, the repository, the log groups, the key secrets,
# running (and tagging) the aggregator and passing its roles to ECS. No IAM beyond that PassRole.

locals {
  boundary_name = "${var.name}-workload-boundary"

  workload_boundary = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "TheQueues"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        Resource = "${local.arn_prefix}:sqs:${local.region_acc}:${var.name}*"
      },
      {
        Sid      = "TheDataBucket"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
        Resource = [local.data_bucket_arn, "${local.data_bucket_arn}/*"]
      },
      {
        Sid       = "KeysThroughS3AndSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = ["s3.${var.region}.amazonaws.com", "secretsmanager.${var.region}.amazonaws.com"] } }
      },
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "PullTheImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = "${local.arn_prefix}:ecr:${local.region_acc}:repository/${var.name}"
      },
      {
        Sid      = "WriteTheLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${local.arn_prefix}:logs:${local.region_acc}:log-group:/ecs/${var.name}/*"
      },
      {
        Sid      = "ReadTheKeySecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = "${local.arn_prefix}:secretsmanager:${local.region_acc}:secret:${var.name}/*"
      },
      {
        Sid      = "RunTheAggregator"
        Effect   = "Allow"
        Action   = ["ecs:RunTask"]
        Resource = "${local.arn_prefix}:ecs:${local.region_acc}:task-definition/${var.name}-*:*"
      },
      {
        Sid       = "TagTheTasksItRuns"
        Effect    = "Allow"
        Action    = ["ecs:TagResource"]
        Resource  = "${local.arn_prefix}:ecs:${local.region_acc}:task/${var.name}/*"
        Condition = { StringEquals = { "ecs:CreateAction" = ["RunTask"] } }
      },
      {
        Sid       = "PassTheStacksRolesToEcs"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = "${local.arn_prefix}:iam::${local.account_id}:role/${var.name}-*"
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
    ]
  }
}

resource "aws_iam_policy" "workload_boundary" {
  name        = local.boundary_name
  description = "Permissions boundary of the roles infra/ creates: the most any of them may ever do"
  policy      = jsonencode(local.workload_boundary)

  #checkov:skip=CKV_AWS_355:ecr:GetAuthorizationToken takes no resource; kms:Decrypt is limited to calls through S3 and Secrets Manager (kms:ViaService)
  #checkov:skip=CKV_AWS_290:a boundary grants nothing by itself; it caps the stack roles' own policies
}
