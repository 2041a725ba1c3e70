# VPC over two AZs with public and private subnets, or an existing VPC (var.existing_vpc).
#
# dev: tasks in public subnets with a public IP; no NAT gateway and no endpoints to pay for.
# prod: tasks in private subnets reaching AWS through VPC endpoints (S3 gateway; SQS, ECR, Logs,
# Secrets Manager interface endpoints) or through NAT gateways, by var.private_egress.

locals {
  create_vpc = var.existing_vpc == null
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)

  vpc_id             = local.create_vpc ? aws_vpc.this[0].id : var.existing_vpc.id
  public_subnet_ids  = local.create_vpc ? aws_subnet.public[*].id : var.existing_vpc.public_subnet_ids
  private_subnet_ids = local.create_vpc ? aws_subnet.private[*].id : var.existing_vpc.private_subnet_ids

  tasks_public    = var.task_subnets == "public"
  task_subnet_ids = local.tasks_public ? local.public_subnet_ids : local.private_subnet_ids

  create_private_egress = local.create_vpc && !local.tasks_public
  create_nat            = local.create_private_egress && var.private_egress == "nat_gateway"
  create_endpoints      = local.create_private_egress && var.private_egress == "vpc_endpoints"
  nat_count             = local.create_nat ? (var.single_nat_gateway ? 1 : length(local.azs)) : 0

  # Everything a task needs with no route to the internet: SQS (queue), ECR API + DKR (image
  # manifest and layers; layers themselves come from S3), Logs (awslogs, EMF), Secrets Manager
  # (the receiver's API keys are injected at task start).
  interface_endpoints = toset(["sqs", "ecr.api", "ecr.dkr", "logs", "secretsmanager"])
}

resource "aws_vpc" "this" {
  count = local.create_vpc ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # interface endpoints answer on the services' public names

  #checkov:skip=CKV2_AWS_11:VPC flow logs are an account-level decision (usually one central log archive); nothing here needs packet metadata
  tags = { Name = local.name }
}

# Take away the rules AWS puts on the default security group; nothing here uses it.
resource "aws_default_security_group" "this" {
  count = local.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${local.name}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  count = local.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = local.name }
}

resource "aws_subnet" "public" {
  count = local.create_vpc ? length(local.azs) : 0

  vpc_id            = aws_vpc.this[0].id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  # No automatic public IPs: the ALB does not need them and tasks ask for one explicitly in dev.
  map_public_ip_on_launch = false

  tags = { Name = "${local.name}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private" {
  count = local.create_vpc ? length(local.azs) : 0

  vpc_id            = aws_vpc.this[0].id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)

  tags = { Name = "${local.name}-private-${local.azs[count.index]}", Tier = "private" }
}

resource "aws_route_table" "public" {
  count = local.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${local.name}-public" }
}

resource "aws_route" "public_internet" {
  count = local.create_vpc ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count = local.create_vpc ? length(local.azs) : 0

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

# One private route table per AZ, so a NAT gateway per AZ keeps traffic (and failures) in its AZ.
resource "aws_route_table" "private" {
  count = local.create_vpc ? length(local.azs) : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table_association" "private" {
  count = local.create_vpc ? length(local.azs) : 0

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"
  tags   = { Name = "${local.name}-nat-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = { Name = "${local.name}-${local.azs[count.index]}" }
}

resource "aws_route" "private_nat" {
  count = local.create_nat ? length(local.azs) : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

# S3 gateway endpoint: free, and keeps S3 traffic (data and ECR layers) off NAT in either mode.
resource "aws_vpc_endpoint" "s3" {
  count = local.create_private_egress ? 1 : 0

  vpc_id            = aws_vpc.this[0].id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  tags              = { Name = "${local.name}-s3" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.create_endpoints ? local.interface_endpoints : toset([])

  vpc_id              = aws_vpc.this[0].id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
  tags                = { Name = "${local.name}-${each.key}" }
}
