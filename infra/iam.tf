# Least privilege: one execution role (ECS pulls the image, writes logs, reads the two key secrets)
# and one task role per component allowing only what that component does.
#
#   receiver   sqs:SendMessage on the queue (SendMessageBatch is authorised by SendMessage), and
#              sqs:GetQueueAttributes for its readiness probe (GET /readyz asks for the QueueArn)
#   consumer   sqs:ReceiveMessage, DeleteMessage, ChangeMessageVisibility on the queue;
#              s3:PutObject under raw/
#   aggregator s3:ListBucket limited to raw/ and curated/, s3:GetObject under raw/ and curated/,
#              s3:PutObject under aggregates/, curated/, vehicle_stats/ and anomalies/ (it lists an
#              hour's curated/ when that hour's raw/ is empty, to refuse replacing kept records with
#              nothing, and reads the previous hour's curated file so that the anomaly rules' windows
#              run on across the hour boundary; it reads nothing else it writes)
#   scheduler  ecs:RunTask of the aggregator's task definition in this cluster, ecs:TagResource
#              of the tasks RunTask creates there (the schedule propagates tags, which AWS
#              authorises separately), iam:PassRole of the aggregator's two roles only, and
#              sqs:SendMessage to the schedule's dead-letter queue
#
# Every role carries var.permissions_boundary_name's policy as its permissions boundary (from
# infra/bootstrap): whatever a role's own policy says, it can do no more than that boundary.
#
# Policies are jsonencode()d here rather than built with aws_iam_policy_document, so that the
# terraform tests (mock provider) can read and assert on them.

locals {
  # infra/bootstrap's deploy role creates roles only with this boundary and may not remove it.
  permissions_boundary_arn = var.permissions_boundary_name == null ? null : "arn:${local.partition}:iam::${local.account_id}:policy/${var.permissions_boundary_name}"

  ecs_tasks_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:*" }
      }
    }]
  })

  # With SSE-KMS the bucket's key must be usable by whoever reads or writes objects.
  bucket_kms_statements = local.bucket_kms ? [{
    Sid      = "UseTheBucketKey"
    Effect   = "Allow"
    Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
    Resource = aws_kms_key.this.arn
  }] : []

  task_policies = {
    receiver = {
      Version = "2012-10-17"
      Statement = [{
        Sid      = "PublishToTheQueue"
        Effect   = "Allow"
        Action   = ["sqs:GetQueueAttributes", "sqs:SendMessage"]
        Resource = aws_sqs_queue.this.arn
      }]
    }

    consumer = {
      Version = "2012-10-17"
      Statement = concat([
        {
          Sid      = "ConsumeTheQueue"
          Effect   = "Allow"
          Action   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"]
          Resource = aws_sqs_queue.this.arn
        },
        {
          Sid      = "WriteRawObjects"
          Effect   = "Allow"
          Action   = ["s3:PutObject"]
          Resource = "${aws_s3_bucket.this.arn}/${local.raw_prefix}*"
        },
      ], local.bucket_kms_statements)
    }

    aggregator = {
      Version = "2012-10-17"
      Statement = concat([
        {
          # curated/: an hour whose raw/ is empty is refused if curated/ still has it (raw/ expired)
          Sid       = "ListRawAndCuratedObjects"
          Effect    = "Allow"
          Action    = ["s3:ListBucket"]
          Resource  = aws_s3_bucket.this.arn
          Condition = { StringLike = { "s3:prefix" = ["${local.raw_prefix}*", "${local.curated_prefix}*"] } }
        },
        {
          Sid      = "ReadRawObjects"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = "${aws_s3_bucket.this.arn}/${local.raw_prefix}*"
        },
        {
          # the previous hour's records.parquet: the rules' lead-in (app/aggregator/rules_pass.py)
          Sid      = "ReadCuratedObjects"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = "${aws_s3_bucket.this.arn}/${local.curated_prefix}*"
        },
        {
          # The hour's outputs, each to a fixed key a re-run overwrites. Large Parquet files go up
          # as multipart uploads, which s3:PutObject authorises; one that fails half-way is
          # cleaned up by the bucket's abort-incomplete-multipart-uploads rule (s3.tf).
          Sid      = "WriteHourlyOutputs"
          Effect   = "Allow"
          Action   = ["s3:PutObject"]
          Resource = [for prefix in [local.aggregates_prefix, local.curated_prefix, local.vehicle_stats_prefix, local.anomalies_prefix] : "${aws_s3_bucket.this.arn}/${prefix}*"]
        },
      ], local.bucket_kms_statements)
    }
  }
}

# ---- execution role (ECS agent, not the application) ---------------------------------------

resource "aws_iam_role" "execution" {
  name                 = "${local.name}-${var.environment}-execution"
  description          = "ECS task execution: pull the image, write the container logs, read the API-key secrets"
  permissions_boundary = local.permissions_boundary_arn
  assume_role_policy   = local.ecs_tasks_trust
}

resource "aws_iam_role_policy" "execution" {
  name = "execution"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"] # account-wide by API design
        Resource = "*"
      },
      {
        Sid      = "PullTheImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = aws_ecr_repository.this.arn
      },
      {
        Sid      = "WriteContainerLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for g in aws_cloudwatch_log_group.this : "${g.arn}:*"]
      },
      {
        Sid      = "ReadTheApiKeys"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [local.api_keys_secret_arn, aws_secretsmanager_secret.smoke_api_key.arn]
      },
      {
        Sid       = "DecryptTheApiKeys"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = aws_kms_key.this.arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" } }
      },
    ]
  })
}

# ---- task roles (what the application's boto3 calls may do) ---------------------------------

resource "aws_iam_role" "task" {
  for_each = local.task_policies

  name                 = "${local.name}-${var.environment}-${each.key}"
  description          = "Task role of the ${each.key}: only the calls it makes"
  permissions_boundary = local.permissions_boundary_arn
  assume_role_policy   = local.ecs_tasks_trust
}

resource "aws_iam_role_policy" "task" {
  for_each = local.task_policies

  name   = each.key
  role   = aws_iam_role.task[each.key].id
  policy = jsonencode(each.value)
}

# ---- EventBridge Scheduler -> ECS RunTask (aggregator) -----------------------------------------

resource "aws_iam_role" "scheduler" {
  name                 = "${local.name}-${var.environment}-scheduler"
  description          = "EventBridge Scheduler: run the aggregator task every hour"
  permissions_boundary = local.permissions_boundary_arn
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "scheduler" {
  name = "run-aggregator"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RunTheAggregator"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = ["${aws_ecs_task_definition.this["aggregator"].arn_without_revision}:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        # The schedule sets enable_ecs_managed_tags and propagate_tags: RunTask then tags the
        # task it creates, and IAM checks ecs:TagResource for it (AWS's own
        # AmazonEC2ContainerServiceEventsRole grants it with this condition).
        Sid       = "TagTheTasksItStarts"
        Effect    = "Allow"
        Action    = ["ecs:TagResource"]
        Resource  = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"]
        Condition = { StringEquals = { "ecs:CreateAction" = ["RunTask"] } }
      },
      {
        Sid       = "PassTheAggregatorsRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = [aws_iam_role.task["aggregator"].arn, aws_iam_role.execution.arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      {
        Sid      = "DeadLetterRunsThatCannotStart"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = aws_sqs_queue.scheduler_dlq.arn
      },
    ]
  })
}
