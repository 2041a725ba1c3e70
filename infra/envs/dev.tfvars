# dev: the cheapest shape that still runs the whole pipeline, under $50 a month at 1 msg/s
# (itemised in infra/README.md, "Costs per month"). Tasks in public subnets with a public IP and
# a security group that lets nothing in but the ALB (no NAT gateway, no VPC endpoints), plain
# HTTP (no certificate), the smallest Fargate sizes, every component on Fargate Spot, no
# Container Insights, a 15 s flush (fewer S3 PUTs), short log retention, and everything
# deletable by `terraform destroy`. Prod keeps its own shape (prod.tfvars).
#   terraform apply -var-file=envs/dev.tfvars -var image_tag=<git sha>

environment  = "dev"
region       = "eu-central-1"
task_subnets = "public"

receiver   = { cpu = 256, memory = 512, min_count = 1, max_count = 2 }
consumer   = { cpu = 256, memory = 512, min_count = 1, max_count = 2, pollers = 2, flush_max_age_seconds = 15 }
aggregator = { cpu = 512, memory = 1024 }

# Spot is X86_64 only; an interruption is a SIGTERM with 2 minutes' notice: the consumer deletes
# messages only once S3 holds their records, and the next hourly run redoes an interrupted one.
fargate_spot       = ["receiver", "consumer", "aggregator"]
container_insights = false

# A record waits up to the 15 s flush in the consumer before it reaches S3.
alarm_thresholds = { ingest_to_persist_p95_ms = 20000 }

alb_deletion_protection     = false
bucket_force_destroy        = true
ecr_force_delete            = true
secret_recovery_window_days = 0
log_retention_days          = 7
log_level                   = "DEBUG"

# infra/bootstrap's permissions_boundary_name output: the deploy role creates and changes roles
# only with this boundary attached (and may never remove it).
permissions_boundary_name = "fleet-telemetry-workload-boundary"
