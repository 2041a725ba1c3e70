# Least privilege: each task role allows exactly what its component does, on exactly its
# resources; the scheduler may run (and tag) only the aggregator and pass only the aggregator's
# roles.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "each_role_allows_exactly_what_its_component_does" {
  command = apply

  # Task roles: exact actions and resources per component.
  assert {
    condition = jsondecode(aws_iam_role_policy.task["receiver"].policy).Statement == [
      { Sid = "PublishToTheQueue", Effect = "Allow", Action = ["sqs:GetQueueAttributes", "sqs:SendMessage"], Resource = aws_sqs_queue.this.arn },
    ]
    error_message = "receiver: only sqs:SendMessage (and GetQueueAttributes, its /readyz probe) on the ingest queue."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.task["consumer"].policy).Statement == [
      { Sid = "ConsumeTheQueue", Effect = "Allow", Action = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"], Resource = aws_sqs_queue.this.arn },
      { Sid = "WriteRawObjects", Effect = "Allow", Action = ["s3:PutObject"], Resource = "arn:aws:s3:::fleet-telemetry-data-dev-123456789012/raw/*" },
    ]
    error_message = "consumer: receive/delete/change-visibility on the queue and PutObject under raw/ only."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.task["aggregator"].policy).Statement == [
      { Sid = "ListRawAndCuratedObjects", Effect = "Allow", Action = ["s3:ListBucket"], Resource = "arn:aws:s3:::fleet-telemetry-data-dev-123456789012", Condition = { StringLike = { "s3:prefix" = ["raw/*", "curated/*"] } } },
      { Sid = "ReadRawObjects", Effect = "Allow", Action = ["s3:GetObject"], Resource = "arn:aws:s3:::fleet-telemetry-data-dev-123456789012/raw/*" },
      { Sid = "ReadCuratedObjects", Effect = "Allow", Action = ["s3:GetObject"], Resource = "arn:aws:s3:::fleet-telemetry-data-dev-123456789012/curated/*" },
      {
        Sid      = "WriteHourlyOutputs"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = [for p in ["aggregates", "curated", "vehicle_stats", "anomalies"] : "arn:aws:s3:::fleet-telemetry-data-dev-123456789012/${p}/*"]
      },
    ]
    error_message = "aggregator: list raw/ and curated/ (an empty hour's refusal), read raw/ and curated/ (the previous hour's lead-in for the rules), write aggregates/, curated/, vehicle_stats/ and anomalies/ (the hourly job's outputs), nothing else."
  }

  # Of what the hourly job writes it reads back only curated/ (the rules' lead-in), and nothing
  # but the consumer writes raw/.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.task["aggregator"].policy).Statement :
      !contains(flatten([s.Action]), "s3:GetObject") || alltrue([for r in flatten([s.Resource]) : endswith(r, "/raw/*") || endswith(r, "/curated/*")])
    ])
    error_message = "The aggregator may read only raw/ and curated/: it writes vehicle_stats/, aggregates/ and anomalies/ without reading them back."
  }

  # anomalies/ (the hour's episodes, episodes.jsonl) is the hourly job's: the consumer, whose live
  # rules only log and emit metrics, may not write there.
  assert {
    condition = [
      for k, p in aws_iam_role_policy.task : k
      if anytrue([for st in jsondecode(p.policy).Statement : contains(flatten([st.Resource]), "arn:aws:s3:::fleet-telemetry-data-dev-123456789012/anomalies/*")])
    ] == ["aggregator"]
    error_message = "Only the aggregator may write under anomalies/."
  }

  assert {
    condition     = alltrue([for k, p in aws_iam_role_policy.task : p.role == aws_iam_role.task[k].id])
    error_message = "Each task policy must be attached to its own component's role."
  }

  assert {
    condition     = alltrue([for k, td in aws_ecs_task_definition.this : td.task_role_arn == aws_iam_role.task[k].arn && td.execution_role_arn == aws_iam_role.execution.arn])
    error_message = "Each task definition must run with its own task role and the execution role."
  }

  assert {
    condition = alltrue([
      for r in aws_iam_role.task : jsondecode(r.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com" &&
      jsondecode(r.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    ])
    error_message = "Task roles must be assumable by ECS tasks of this account only."
  }

  # Execution role: ECR pull, its log groups, the API-key secret.
  assert {
    condition = {
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Sid => s.Action
      } == {
      EcrLogin           = ["ecr:GetAuthorizationToken"]
      PullTheImage       = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      WriteContainerLogs = ["logs:CreateLogStream", "logs:PutLogEvents"]
      ReadTheApiKeys     = ["secretsmanager:GetSecretValue"]
      DecryptTheApiKeys  = ["kms:Decrypt"]
    }
    error_message = "The execution role may only log in to ECR, pull, write logs and read the API-key secret."
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "ReadTheApiKeys"] == [[aws_secretsmanager_secret.api_keys[0].arn, aws_secretsmanager_secret.smoke_api_key.arn]]
    error_message = "The execution role may read only the two API-key secrets (the fleet's and the smoke test's)."
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "PullTheImage"] == [aws_ecr_repository.this.arn]
    error_message = "The execution role may pull only from this module's repository."
  }

  # Scheduler: RunTask of the aggregator, PassRole of its two roles only.
  assert {
    condition = jsondecode(aws_iam_role_policy.scheduler.policy).Statement == [
      {
        Sid       = "RunTheAggregator"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = ["arn:aws:ecs:eu-central-1:123456789012:task-definition/fleet-telemetry-aggregator:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid       = "TagTheTasksItStarts"
        Effect    = "Allow"
        Action    = ["ecs:TagResource"]
        Resource  = ["arn:aws:ecs:eu-central-1:123456789012:task/fleet-telemetry/*"]
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
    error_message = "The scheduler may run only the aggregator's task definition, tag the tasks it starts in this cluster, pass only the aggregator's task and execution roles, and send to its own DLQ."
  }

  assert {
    condition     = !contains(one([for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s.Resource if s.Sid == "PassTheAggregatorsRoles"]), aws_iam_role.task["receiver"].arn) && !contains(one([for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s.Resource if s.Sid == "PassTheAggregatorsRoles"]), aws_iam_role.task["consumer"].arn)
    error_message = "The scheduler must not be able to pass the receiver's or consumer's role."
  }

  assert {
    condition     = jsondecode(aws_iam_role.scheduler.assume_role_policy).Statement[0].Principal.Service == "scheduler.amazonaws.com"
    error_message = "Only EventBridge Scheduler may assume the scheduler role."
  }
}


# infra/bootstrap's deploy role may create and change roles only with its workload boundary
# attached (and never remove it): every role here must carry it when the name is given, which
# both envs/*.tfvars do.
run "every_role_carries_the_permissions_boundary_the_deploy_role_requires" {
  command = apply

  variables {
    permissions_boundary_name = "fleet-telemetry-workload-boundary"
  }

  assert {
    condition = alltrue([
      for r in concat([aws_iam_role.execution, aws_iam_role.scheduler], values(aws_iam_role.task)) :
      r.permissions_boundary == "arn:aws:iam::123456789012:policy/fleet-telemetry-workload-boundary"
    ])
    error_message = "Every role (execution, the three task roles, scheduler) must carry the workload boundary, or the deploy role cannot create it."
  }
}

run "both_environments_name_the_boundary" {
  command = plan

  variables {
    dev_tfvars  = file("envs/dev.tfvars")
    prod_tfvars = file("envs/prod.tfvars")
  }

  assert {
    condition = alltrue([
      for f in [var.dev_tfvars, var.prod_tfvars] : can(regex("(?m)^permissions_boundary_name\\s*=\\s*\"fleet-telemetry-workload-boundary\"", f))
    ])
    error_message = "envs/dev.tfvars and envs/prod.tfvars must set permissions_boundary_name (infra/bootstrap's permissions_boundary_name output)."
  }
}
