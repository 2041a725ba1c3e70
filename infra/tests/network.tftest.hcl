# Network modes: dev (public subnets, no NAT, no endpoints), prod with VPC endpoints, prod with
# NAT gateways, and an existing VPC.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "dev_runs_tasks_in_public_subnets_without_nat" {
  command = apply

  variables {
    task_subnets = "public"
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2 && length(toset(aws_subnet.public[*].availability_zone)) == 2
    error_message = "The VPC must have a public and a private subnet in each of two AZs."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_vpc_endpoint.interface) == 0 && length(aws_vpc_endpoint.s3) == 0
    error_message = "Dev with public task subnets must not pay for NAT gateways or endpoints."
  }

  assert {
    condition     = one(aws_ecs_service.consumer.network_configuration).assign_public_ip && toset(one(aws_ecs_service.consumer.network_configuration).subnets) == toset(aws_subnet.public[*].id)
    error_message = "In public subnets tasks need a public IP to reach AWS APIs."
  }

  assert {
    condition     = aws_scheduler_schedule.aggregator.target[0].ecs_parameters[0].network_configuration[0].assign_public_ip
    error_message = "The scheduled aggregator must get a public IP in public subnets too."
  }

  assert {
    condition     = !anytrue(concat(aws_subnet.public[*].map_public_ip_on_launch, aws_subnet.private[*].map_public_ip_on_launch))
    error_message = "Subnets must not hand out public IPs automatically."
  }
}

run "prod_uses_private_subnets_and_vpc_endpoints" {
  command = apply

  variables {
    environment  = "prod"
    task_subnets = "private"
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["sqs", "ecr.api", "ecr.dkr", "logs", "secretsmanager"])
    error_message = "Private tasks need SQS, ECR (api, dkr), Logs and Secrets Manager interface endpoints."
  }

  assert {
    condition     = aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.eu-central-1.s3"
    error_message = "S3 (data and ECR layers) must go through the free gateway endpoint."
  }

  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled && toset(e.subnet_ids) == toset(aws_subnet.private[*].id)])
    error_message = "Interface endpoints must sit in the private subnets with private DNS."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0
    error_message = "With VPC endpoints there must be no NAT gateway."
  }

  assert {
    condition     = !one(aws_ecs_service.receiver.network_configuration).assign_public_ip && toset(one(aws_ecs_service.receiver.network_configuration).subnets) == toset(aws_subnet.private[*].id)
    error_message = "Prod tasks run in private subnets without public IPs."
  }

  assert {
    condition     = aws_lb.this.subnets == toset(aws_subnet.public[*].id) && !aws_lb.this.internal
    error_message = "The internet-facing ALB sits in the public subnets."
  }
}

run "prod_can_use_nat_gateways_instead" {
  command = apply

  variables {
    environment    = "prod"
    task_subnets   = "private"
    private_egress = "nat_gateway"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 2 && length(aws_route.private_nat) == 2 && length(aws_vpc_endpoint.interface) == 0
    error_message = "nat_gateway mode must create one NAT gateway per AZ and route each private subnet through it."
  }

  assert {
    condition     = length(aws_vpc_endpoint.s3) == 1
    error_message = "The S3 gateway endpoint stays: it is free and keeps S3 bytes off the NAT."
  }
}

run "an_existing_vpc_is_used_as_given" {
  command = apply

  variables {
    existing_vpc = {
      id                 = "vpc-0123456789abcdef0"
      public_subnet_ids  = ["subnet-pub-a", "subnet-pub-b"]
      private_subnet_ids = ["subnet-priv-a", "subnet-priv-b"]
    }
  }

  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_subnet.public) == 0 && length(aws_nat_gateway.this) == 0
    error_message = "With existing_vpc no network is created."
  }

  assert {
    condition     = toset(one(aws_ecs_service.consumer.network_configuration).subnets) == toset(["subnet-priv-a", "subnet-priv-b"]) && aws_lb.this.subnets == toset(["subnet-pub-a", "subnet-pub-b"])
    error_message = "Tasks use the given private subnets, the ALB the given public ones."
  }

  assert {
    condition     = aws_security_group.alb.vpc_id == "vpc-0123456789abcdef0"
    error_message = "Security groups belong to the given VPC."
  }
}

run "only_the_alb_reaches_the_receiver" {
  command = apply

  assert {
    condition     = aws_vpc_security_group_ingress_rule.receiver_from_alb.referenced_security_group_id == aws_security_group.alb.id && aws_vpc_security_group_ingress_rule.receiver_from_alb.from_port == 8000
    error_message = "The receiver accepts connections only from the ALB's security group, on 8000."
  }

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.tasks_https : r.from_port == 443 && r.to_port == 443 && r.ip_protocol == "tcp"])
    error_message = "Tasks may only open HTTPS connections."
  }
}

# Security groups and the target group are create_before_destroy: a change that forces their
# replacement creates the new one while the old one still exists. With a fixed name AWS refuses
# the second (InvalidGroup.Duplicate, DuplicateTargetGroupName); a name_prefix gives each a
# unique name.
run "replaceable_resources_take_a_name_prefix_not_a_fixed_name" {
  command = apply

  variables {
    task_subnets = "private"
  }

  assert {
    condition     = aws_security_group.alb.name_prefix == "fleet-telemetry-alb-"
    error_message = "The ALB security group must be named by name_prefix, or its replacement clashes with it."
  }

  assert {
    condition     = alltrue([for k, sg in aws_security_group.tasks : sg.name_prefix == "fleet-telemetry-${k}-"])
    error_message = "Each task security group must be named by name_prefix, or its replacement clashes with it."
  }

  assert {
    condition     = aws_security_group.endpoints[0].name_prefix == "fleet-telemetry-vpc-endpoints-"
    error_message = "The endpoints security group must be named by name_prefix."
  }

  assert {
    condition     = aws_lb_target_group.receiver.name_prefix == "recv-"
    error_message = "The target group must be named by name_prefix (6 characters at most), or its replacement clashes with it."
  }

  assert {
    condition     = aws_security_group.alb.tags["Name"] == "fleet-telemetry-alb"
    error_message = "The Name tag keeps the readable name."
  }
}
