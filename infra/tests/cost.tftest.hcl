# Cost options: Fargate Spot per component (a capacity provider strategy), Container Insights as
# a variable, the consumer's flush age, and the dev profile that stays under $50 a month at
# 1 msg/s (infra/README.md, "Costs per month") without weakening prod.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
  dev_tfvars  = file("envs/dev.tfvars")
  prod_tfvars = file("envs/prod.tfvars")
}

run "everything_on_demand_by_default" {
  command = apply

  assert {
    condition = (
      aws_ecs_service.receiver.launch_type == "FARGATE" && length(aws_ecs_service.receiver.capacity_provider_strategy) == 0 &&
      aws_ecs_service.consumer.launch_type == "FARGATE" && length(aws_ecs_service.consumer.capacity_provider_strategy) == 0 &&
      aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].launch_type == "FARGATE"
    )
    error_message = "By default every task runs on on-demand Fargate."
  }

  assert {
    condition     = [for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"] == ["enabled"]
    error_message = "Container Insights stays on by default (the dashboard's task counts, the consumer's scaling metric)."
  }

  assert {
    condition     = length(setintersection(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment[*].name, ["TELEMETRY_FLUSH_MAX_AGE_SECONDS", "TELEMETRY_FLUSH_MAX_RECORDS"])) == 0
    error_message = "Without consumer.flush_max_age_seconds and flush_max_records the consumer keeps the application's defaults."
  }
}

run "spot_for_the_consumer_and_the_hourly_job" {
  command = apply

  variables {
    fargate_spot       = ["consumer", "aggregator"]
    container_insights = false
    consumer           = { flush_max_age_seconds = 15, flush_max_records = 2000 }
  }

  assert {
    condition     = toset(aws_ecs_cluster_capacity_providers.this.capacity_providers) == toset(["FARGATE", "FARGATE_SPOT"]) && aws_ecs_cluster_capacity_providers.this.cluster_name == aws_ecs_cluster.this.name
    error_message = "The cluster must have the FARGATE and FARGATE_SPOT capacity providers for a strategy to use them."
  }

  assert {
    # (launch_type is left unset, so AWS fills it in: the mock invents a value for it.)
    condition     = [for s in aws_ecs_service.consumer.capacity_provider_strategy : [s.capacity_provider, s.weight]] == [["FARGATE_SPOT", 1]]
    error_message = "consumer in fargate_spot: its service must run on a FARGATE_SPOT capacity provider strategy instead of the launch type."
  }

  assert {
    condition = (
      aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].launch_type == null &&
      [for s in aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].capacity_provider_strategy : s.capacity_provider] == ["FARGATE_SPOT"]
    )
    error_message = "aggregator in fargate_spot: the schedule must start it on FARGATE_SPOT."
  }

  assert {
    condition     = aws_ecs_service.receiver.launch_type == "FARGATE" && length(aws_ecs_service.receiver.capacity_provider_strategy) == 0
    error_message = "Components not listed in fargate_spot stay on on-demand Fargate."
  }

  assert {
    condition     = [for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"] == ["disabled"]
    error_message = "container_insights = false must turn Container Insights off."
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment, { name = "TELEMETRY_FLUSH_MAX_AGE_SECONDS", value = "15" })
    error_message = "consumer.flush_max_age_seconds must reach the consumer as TELEMETRY_FLUSH_MAX_AGE_SECONDS."
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment, { name = "TELEMETRY_FLUSH_MAX_RECORDS", value = "2000" })
    error_message = "consumer.flush_max_records must reach the consumer as TELEMETRY_FLUSH_MAX_RECORDS."
  }
}

run "spot_is_refused_with_arm64" {
  command = plan

  variables {
    fargate_spot     = ["consumer"]
    cpu_architecture = "ARM64"
  }

  # Fargate Spot runs Linux X86_64 tasks only (AWS, "Fargate capacity providers").
  expect_failures = [aws_ecs_cluster_capacity_providers.this]
}

run "cost_values_are_checked" {
  command = plan

  variables {
    fargate_spot = ["worker"]
    consumer     = { flush_max_age_seconds = 120 }
  }

  expect_failures = [var.fargate_spot, var.consumer]
}

run "dev_is_the_under_50_dollar_profile_and_prod_keeps_its_shape" {
  command = plan

  assert {
    condition = alltrue([
      can(regex("(?m)^task_subnets\\s*=\\s*\"public\"", var.dev_tfvars)),
      can(regex("(?m)^fargate_spot\\s*=\\s*\\[\"receiver\", \"consumer\", \"aggregator\"\\]", var.dev_tfvars)),
      can(regex("(?m)^container_insights\\s*=\\s*false", var.dev_tfvars)),
      can(regex("(?m)^receiver\\s*=\\s*\\{ cpu = 256, memory = 512,", var.dev_tfvars)),
      can(regex("(?m)^consumer\\s*=\\s*\\{ cpu = 256, memory = 512,.*flush_max_age_seconds = 15", var.dev_tfvars)),
      !can(regex("(?m)^(private_egress|waf)\\s*=", var.dev_tfvars)),
    ])
    error_message = "envs/dev.tfvars must keep the profile infra/README.md itemises: public subnets (no NAT, no endpoints), the smallest Fargate sizes, all on Spot, no Container Insights, a 15 s flush, no WAF."
  }

  assert {
    condition = alltrue([
      can(regex("(?m)^task_subnets\\s*=\\s*\"private\"", var.prod_tfvars)),
      can(regex("(?m)^private_egress\\s*=\\s*\"vpc_endpoints\"", var.prod_tfvars)),
      !can(regex("(?m)^(fargate_spot|container_insights)\\s*=", var.prod_tfvars)),
    ])
    error_message = "envs/prod.tfvars keeps private subnets with VPC endpoints, on-demand Fargate and Container Insights."
  }
}
