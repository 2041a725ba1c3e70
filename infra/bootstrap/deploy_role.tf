# The role deploy.yml's apply job assumes through GitHub OIDC, after the environment's approval.
#
# Who: only jobs of var.github_repository that run in one of var.environments (GitHub protects
# each environment to the main branch; prod adds required reviewers), and optionally main-branch
# jobs with no environment.
#
# What: what `terraform apply` of infra/ needs and nothing broader. No AWS managed policy
# (PowerUserAccess plus IAM on the stack's role names let it create a role with *:* and assume
# it). Three documents of this module instead:
#   deploy_read   Describe/Get/List of the services the stack uses (refresh and plan); shared
#                 with the plan role (plan_role.tf)
#   deploy_write  create/update/delete, scoped to the stack's names where AWS allows it
#                 (queues, bucket, repository, log groups, alarms, topic, secrets, schedule,
#                 rule, Glue database, budget, cluster); network, load balancer, WAF and
#                 autoscaling resources have generated ids and are not scoped by name
#   deploy_iam    the stack's roles, only with the workload boundary (boundary.tf) attached,
#                 which it may neither remove nor edit; PassRole to ECS and Scheduler only; the
#                 state bucket; and explicit denies: it never assumes a role, never changes
#                 itself, the plan role, the OIDC provider or the state key, and never reads the
#                 fleet's API keys (the smoke test has a secret of its own).
# Policies are jsonencode()d so tests/permissions.tftest.hcl asserts on the real documents.

locals {
  deploy_role_name = "${var.name}-github-deploy"
  plan_role_name   = "${var.name}-github-plan"

  trusted_subjects = concat(
    [for e in var.environments : "repo:${var.github_repository}:environment:${e}"],
    var.allow_main_branch_without_environment ? ["repo:${var.github_repository}:ref:refs/heads/main"] : [],
  )

  arn_prefix = "arn:${local.partition}"
  region_acc = "${var.region}:${local.account_id}"

  # The main module names its roles "<name>-<environment>-<purpose>" (infra/iam.tf) and its
  # bucket "<name>-data-<environment>-<account>" by default (infra/main.tf).
  stack_role_arns   = [for e in var.environments : "${local.arn_prefix}:iam::${local.account_id}:role/${var.name}-${e}-*"]
  data_bucket_arn   = "${local.arn_prefix}:s3:::${var.name}-data-*"
  glue_database     = replace(var.name, "-", "_")
  boundary_arn      = "${local.arn_prefix}:iam::${local.account_id}:policy/${local.boundary_name}"
  fleet_keys_arn    = "${local.arn_prefix}:secretsmanager:${local.region_acc}:secret:${var.name}/*/api-keys-*"
  smoke_key_arn     = "${local.arn_prefix}:secretsmanager:${local.region_acc}:secret:${var.name}/*/smoke-api-key-*"
  state_object_arns = "${aws_s3_bucket.state.arn}/${var.name}/*"

  github_trust = {
    for role, subjects in {
      deploy = local.trusted_subjects
      plan   = local.plan_trusted_subjects
      } : role => jsonencode({
        Version = "2012-10-17"
        Statement = [{
          Sid       = "GitHubActionsThisRepositoryOnly"
          Effect    = "Allow"
          Action    = "sts:AssumeRoleWithWebIdentity"
          Principal = { Federated = local.github_oidc_arn }
          # Exact subjects, no wildcards: a fork, another repository, a pull request or another
          # branch gets a different `sub` and is refused.
          Condition = {
            StringEquals = {
              "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
              "token.actions.githubusercontent.com:sub" = subjects
            }
          }
        }]
    })
  }

  # Refresh and plan: read the configuration of what the stack manages, never data (no object
  # reads, no secret values, no queue messages).
  deploy_read = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "ReadTheStacksConfiguration"
        Effect = "Allow"
        Action = [
          "acm:DescribeCertificate", "application-autoscaling:Describe*", "application-autoscaling:ListTagsForResource",
          "budgets:ViewBudget", "budgets:ListTagsForResource", "cloudwatch:Describe*", "cloudwatch:GetDashboard",
          "cloudwatch:ListDashboards", "cloudwatch:ListTagsForResource", "ec2:Describe*", "ecr:DescribeImages",
          "ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource",
          "ecs:Describe*", "ecs:List*", "elasticloadbalancing:Describe*", "events:DescribeRule", "events:ListTagsForResource",
          "events:ListTargetsByRule", "iam:GetOpenIDConnectProvider", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole",
          "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies",
          "iam:ListRoleTags", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases",
          "kms:ListResourceTags", "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
          "route53:GetChange", "route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ListTagsForResource",
          "s3:ListAllMyBuckets", "scheduler:GetSchedule", "scheduler:ListSchedules", "scheduler:ListTagsForResource",
          "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecretVersionIds",
          "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource", "sqs:GetQueueAttributes",
          "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:ListQueues", "wafv2:GetWebACL", "wafv2:GetWebACLForResource",
          "wafv2:ListResourcesForWebACL", "wafv2:ListTagsForResource", "wafv2:ListWebACLs",
        ]
        Resource = "*"
      },
      {
        Sid      = "ReadTheDataBucketsConfigurationNotItsObjects"
        Effect   = "Allow"
        Action   = ["s3:Get*", "s3:List*"]
        Resource = local.data_bucket_arn # the bucket, not "<bucket>/*": no object is readable
      },
      {
        Sid    = "ReadTheGlueTable"
        Effect = "Allow"
        Action = ["glue:GetDatabase", "glue:GetTable", "glue:GetTags", "glue:GetPartitionIndexes"]
        Resource = [
          "${local.arn_prefix}:glue:${local.region_acc}:catalog",
          "${local.arn_prefix}:glue:${local.region_acc}:database/${local.glue_database}_*",
          "${local.arn_prefix}:glue:${local.region_acc}:table/${local.glue_database}_*/*",
        ]
      },
    ]
  }

  deploy_write = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Network"
        Effect = "Allow"
        Action = [
          "ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:CreateSubnet", "ec2:DeleteSubnet",
          "ec2:ModifySubnetAttribute", "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:AssociateRouteTable",
          "ec2:DisassociateRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute",
          "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway",
          "ec2:DetachInternetGateway", "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DisassociateAddress",
          "ec2:CreateNatGateway", "ec2:DeleteNatGateway", "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints",
          "ec2:ModifyVpcEndpoint", "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
          "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress",
          "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
          "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:CreateTags", "ec2:DeleteTags",
        ]
        Resource = "*" # resource ids are generated; EC2 scopes these by id, not name
      },
      {
        Sid      = "LoadBalancerWafAutoscaling"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:*", "wafv2:*", "application-autoscaling:*"]
        Resource = "*" # generated names (target group prefix, scalable targets)
      },
      {
        Sid    = "TheCluster"
        Effect = "Allow"
        Action = ["ecs:*"]
        Resource = [
          "${local.arn_prefix}:ecs:${local.region_acc}:cluster/${var.name}",
          "${local.arn_prefix}:ecs:${local.region_acc}:service/${var.name}/*",
          "${local.arn_prefix}:ecs:${local.region_acc}:task/${var.name}/*",
          "${local.arn_prefix}:ecs:${local.region_acc}:task-set/${var.name}/*",
          "${local.arn_prefix}:ecs:${local.region_acc}:task-definition/${var.name}-*:*",
        ]
      },
      {
        Sid      = "TaskDefinitionsAndImageLogin"
        Effect   = "Allow"
        Action   = ["ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecr:GetAuthorizationToken"]
        Resource = "*" # these actions take no resource
      },
      {
        Sid    = "TheStacksNamedResources"
        Effect = "Allow"
        Action = ["ecr:*", "sqs:*", "s3:*", "logs:*", "cloudwatch:*", "sns:*", "scheduler:*", "events:*", "glue:*"]
        Resource = [
          "${local.arn_prefix}:ecr:${local.region_acc}:repository/${var.name}",
          "${local.arn_prefix}:sqs:${local.region_acc}:${var.name}*",
          local.data_bucket_arn, "${local.data_bucket_arn}/*",
          "${local.arn_prefix}:logs:${local.region_acc}:log-group:/ecs/${var.name}/*",
          "${local.arn_prefix}:cloudwatch:${local.region_acc}:alarm:${var.name}-*",
          # PutScalingPolicy creates target tracking's alarms with the caller's permissions.
          "${local.arn_prefix}:cloudwatch:${local.region_acc}:alarm:TargetTracking-service/${var.name}/*",
          "${local.arn_prefix}:cloudwatch::${local.account_id}:dashboard/${var.name}-*",
          "${local.arn_prefix}:sns:${local.region_acc}:${var.name}-*",
          "${local.arn_prefix}:scheduler:${local.region_acc}:schedule/default/${var.name}-*",
          "${local.arn_prefix}:events:${local.region_acc}:rule/${var.name}-*",
          "${local.arn_prefix}:glue:${local.region_acc}:catalog",
          "${local.arn_prefix}:glue:${local.region_acc}:database/${local.glue_database}_*",
          "${local.arn_prefix}:glue:${local.region_acc}:table/${local.glue_database}_*/*",
        ]
      },
      {
        Sid    = "TheStacksSecretsWithoutTheirValues"
        Effect = "Allow"
        Action = [
          "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:RestoreSecret",
          "secretsmanager:UpdateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource",
          "secretsmanager:UntagResource",
        ]
        Resource = "${local.arn_prefix}:secretsmanager:${local.region_acc}:secret:${var.name}/*"
      },
      {
        Sid      = "TheSmokeTestsOwnKey"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [local.smoke_key_arn]
      },
      {
        Sid      = "TheMonthlyBudget"
        Effect   = "Allow"
        Action   = ["budgets:ModifyBudget", "budgets:ViewBudget", "budgets:TagResource", "budgets:UntagResource"]
        Resource = "${local.arn_prefix}:budgets::${local.account_id}:budget/${var.name}-*"
      },
      {
        Sid      = "TheIngestDnsRecord"
        Effect   = "Allow"
        Action   = ["route53:ChangeResourceRecordSets"]
        Resource = "${local.arn_prefix}:route53:::hostedzone/*"
      },
      {
        Sid      = "CreateTheStacksKey"
        Effect   = "Allow"
        Action   = ["kms:CreateKey"]
        Resource = "*"
      },
      {
        # The stack's key carries Application = <name> (infra/providers.tf default_tags). The
        # state key carries it too, which is why deploy_iam denies the state key by ARN.
        Sid    = "ManageAndUseTheStacksKey"
        Effect = "Allow"
        Action = [
          "kms:EnableKeyRotation", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
          "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:DeleteAlias",
          "kms:UpdateAlias",
        ]
        Resource  = "*"
        Condition = { StringEquals = { "aws:ResourceTag/Application" = var.name } }
      },
      {
        Sid       = "TagTheKeyItCreates"
        Effect    = "Allow"
        Action    = ["kms:TagResource"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:RequestTag/Application" = var.name } }
      },
      {
        Sid      = "TheStacksKeyAlias"
        Effect   = "Allow"
        Action   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
        Resource = "${local.arn_prefix}:kms:${local.region_acc}:alias/${var.name}-*"
      },
      {
        # Seeding the key secrets (PutSecretValue), reading the smoke key, reading raw/ with SSE-KMS.
        Sid      = "EncryptThroughSecretsManagerAndS3"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = "*"
        Condition = {
          StringEquals = {
            "aws:ResourceTag/Application" = var.name
            "kms:ViaService"              = ["secretsmanager.${var.region}.amazonaws.com", "s3.${var.region}.amazonaws.com"]
          }
        }
      },
    ]
  }

  deploy_iam = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "TheStacksRolesOnlyWithTheBoundary"
        Effect    = "Allow"
        Action    = ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"]
        Resource  = local.stack_role_arns
        Condition = { StringEquals = { "iam:PermissionsBoundary" = aws_iam_policy.workload_boundary.arn } }
      },
      {
        Sid    = "TheStacksRoles"
        Effect = "Allow"
        Action = [
          "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
          "iam:TagRole", "iam:UntagRole",
        ]
        Resource = local.stack_role_arns
      },
      {
        Sid       = "PassTheStacksRolesToTheirServicesOnly"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = local.stack_role_arns
        Condition = { StringEquals = { "iam:PassedToService" = ["ecs-tasks.amazonaws.com", "scheduler.amazonaws.com"] } }
      },
      {
        Sid      = "ServiceLinkedRolesOfTheServicesUsed"
        Effect   = "Allow"
        Action   = ["iam:CreateServiceLinkedRole"]
        Resource = "${local.arn_prefix}:iam::${local.account_id}:role/aws-service-role/*"
        Condition = {
          StringEquals = {
            "iam:AWSServiceName" = ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com", "ecs.application-autoscaling.amazonaws.com"]
          }
        }
      },
      {
        Sid      = "TheStateBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = aws_s3_bucket.state.arn
      },
      {
        Sid      = "TheStacksStateAndLock"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = local.state_object_arns
      },
      {
        Sid      = "TheStateKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = aws_kms_key.state.arn
      },
      {
        Sid      = "NeverRemoveABoundary"
        Effect   = "Deny"
        Action   = ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"]
        Resource = "*"
      },
      {
        Sid    = "NeverEditTheBoundary"
        Effect = "Deny"
        Action = [
          "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
          "iam:TagPolicy", "iam:UntagPolicy",
        ]
        Resource = [aws_iam_policy.workload_boundary.arn]
      },
      {
        Sid      = "NeverAssumeARole"
        Effect   = "Deny"
        Action   = ["sts:AssumeRole"]
        Resource = "*"
      },
      {
        Sid       = "NeverAttachBroadPolicies"
        Effect    = "Deny"
        Action    = ["iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:AttachGroupPolicy"]
        Resource  = "*"
        Condition = { ArnLike = { "iam:PolicyARN" = "${local.arn_prefix}:iam::aws:policy/*" } }
      },
      {
        Sid    = "NeverChangeItselfOrTheOtherBootstrapIdentities"
        Effect = "Deny"
        Action = ["iam:*"]
        Resource = [
          "${local.arn_prefix}:iam::${local.account_id}:role/${local.deploy_role_name}",
          "${local.arn_prefix}:iam::${local.account_id}:role/${local.plan_role_name}",
          local.github_oidc_arn,
        ]
      },
      {
        Sid       = "NeverManageTheStateKey"
        Effect    = "Deny"
        NotAction = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource  = aws_kms_key.state.arn
      },
      {
        Sid      = "TheFleetsKeysAreNotTheDeploys"
        Effect   = "Deny"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [local.fleet_keys_arn]
      },
    ]
  }
}

resource "aws_iam_role" "deploy" {
  name                 = local.deploy_role_name
  description          = "Assumed by ${var.github_repository}'s deploy workflow (GitHub OIDC) to apply infra/; no long-lived keys"
  assume_role_policy   = local.github_trust["deploy"]
  max_session_duration = var.max_session_hours * 3600
}

resource "aws_iam_policy" "deploy_read" {
  name        = "${var.name}-deploy-read"
  description = "Read the configuration of what infra/ manages (refresh and plan), never its data"
  policy      = jsonencode(local.deploy_read)

  #checkov:skip=CKV_AWS_355:Describe/List actions of EC2, ELB, ECS and others take no resource; the statement holds reads only
  #checkov:skip=CKV_AWS_288:the reads are configuration (Describe/Get*Policy/List), not data: object reads and secret values are not in the document
}

resource "aws_iam_policy" "deploy_write" {
  name        = "${var.name}-deploy-write"
  description = "Create, change and delete what infra/ manages, scoped to its names where AWS allows"
  policy      = jsonencode(local.deploy_write)

  #checkov:skip=CKV_AWS_355:EC2 network, ELB, WAF and autoscaling resources have generated ids, and RegisterTaskDefinition, GetAuthorizationToken and CreateKey take no resource
  #checkov:skip=CKV_AWS_290:the same: write access on those services cannot be scoped by name; everything named is (queues, bucket, repository, logs, alarms, topic, secrets, schedule, rule, Glue, budget, cluster)
  #checkov:skip=CKV_AWS_289:KMS key policies and resource policies of the stack's own resources are part of what infra/ manages (the key by its Application tag)
  #checkov:skip=CKV_AWS_288:the data bucket is the stack's own (force destroy in dev, the smoke test reads raw/)
}

resource "aws_iam_policy" "deploy_iam" {
  name        = "${var.name}-deploy-iam"
  description = "The stack's roles (only with the workload boundary), the state, and the denies that keep the deploy role from escalating"
  policy      = jsonencode(local.deploy_iam)

  #checkov:skip=CKV_AWS_286:role creation is only allowed with the workload boundary attached (iam:PermissionsBoundary), which the role may neither remove nor edit
  #checkov:skip=CKV_AWS_289:same: permissions management of the stack's own roles, bounded
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = {
    read  = aws_iam_policy.deploy_read.arn
    write = aws_iam_policy.deploy_write.arn
    iam   = aws_iam_policy.deploy_iam.arn
  }

  role       = aws_iam_role.deploy.name
  policy_arn = each.value
}
