# Security groups: ALB -> receiver on the container port only; tasks reach AWS APIs on 443 only.
#
# Groups are named by name_prefix (AWS appends a unique suffix; the Name tag keeps the readable
# name): with create_before_destroy, a change that forces a replacement creates the new group
# while the old one still exists, and a fixed name would make AWS refuse it as a duplicate.

locals {
  receiver_port = 8000
  alb_ports     = var.certificate_arn == null ? [80] : [80, 443]
  vpc_cidr      = local.create_vpc ? aws_vpc.this[0].cidr_block : data.aws_vpc.existing[0].cidr_block
}

data "aws_vpc" "existing" {
  count = local.create_vpc ? 0 : 1
  id    = var.existing_vpc.id
}

resource "aws_security_group" "alb" {
  name_prefix = "${local.name}-alb-" # create_before_destroy: a replacement needs a name of its own
  description = "Ingest ALB: HTTP(S) from the allowed CIDRs, forwards to the receiver tasks"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = { for pair in setproduct(local.alb_ports, var.alb_ingress_cidrs) : "${pair[0]}-${pair[1]}" => pair }

  #checkov:skip=CKV_AWS_260:the ingest endpoint is public by design (vehicles connect from anywhere); port 80 only redirects to HTTPS when a certificate is set
  security_group_id = aws_security_group.alb.id
  description       = "Vehicles to the ingest listener on ${each.value[0]}"
  ip_protocol       = "tcp"
  from_port         = each.value[0]
  to_port           = each.value[0]
  cidr_ipv4         = each.value[1]
}

resource "aws_vpc_security_group_egress_rule" "alb_to_receiver" {
  security_group_id            = aws_security_group.alb.id
  description                  = "ALB to the receiver tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.receiver_port
  to_port                      = local.receiver_port
  referenced_security_group_id = aws_security_group.tasks["receiver"].id
}

# One group per component, so the ALB reaches only the receiver.
resource "aws_security_group" "tasks" {
  for_each = toset(["receiver", "consumer", "aggregator"])

  #checkov:skip=CKV2_AWS_5:attached by the services and, for the aggregator, by the schedule's ecs_parameters, which checkov's graph does not follow
  name_prefix = "${local.name}-${each.key}-" # create_before_destroy: a replacement needs a name of its own
  description = "${each.key} tasks: HTTPS out to AWS APIs${each.key == "receiver" ? ", container port in from the ALB" : ""}"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name}-${each.key}" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "receiver_from_alb" {
  security_group_id            = aws_security_group.tasks["receiver"].id
  description                  = "ALB to the receiver's container port"
  ip_protocol                  = "tcp"
  from_port                    = local.receiver_port
  to_port                      = local.receiver_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  for_each = aws_security_group.tasks

  security_group_id = each.value.id
  description       = "HTTPS to AWS APIs (SQS, S3, ECR, Logs, Secrets Manager) via endpoints, NAT or the internet gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "endpoints" {
  count = local.create_endpoints ? 1 : 0

  name_prefix = "${local.name}-vpc-endpoints-"
  description = "Interface VPC endpoints: HTTPS from inside the VPC"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name}-vpc-endpoints" }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints" {
  count = local.create_endpoints ? 1 : 0

  security_group_id = aws_security_group.endpoints[0].id
  description       = "HTTPS from the VPC to the interface endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.vpc_cidr
}
