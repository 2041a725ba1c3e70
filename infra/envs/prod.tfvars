# prod: tasks in private subnets reaching AWS through VPC endpoints, HTTPS only, two receivers
# in two AZs at least, the data bucket encrypted with the module's KMS key, and nothing that
# `terraform destroy` could delete with data in it.
#   terraform apply -var-file=envs/prod.tfvars -var image_tag=<git sha>

environment    = "prod"
region         = "eu-central-1"
task_subnets   = "private"
private_egress = "vpc_endpoints"

# Replace with your ingest host name and the ACM certificate that covers it (issued and
# DNS-validated in the ALB's region). With route53_zone_id the module creates the alias record;
# without it, CNAME the host name to the alb_dns_name output in your own DNS.
ingest_host_name = "ingest.example.com"
certificate_arn  = "arn:aws:acm:eu-central-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
# route53_zone_id = "Z0123456789ABCDEFGHIJ"

receiver = { cpu = 512, memory = 1024, min_count = 2, max_count = 20 }
consumer = { cpu = 512, memory = 1024, min_count = 2, max_count = 20, backlog_per_task = 100 }

# ARM64 is about 20% cheaper on Fargate; switch once the image is built for linux/arm64 (the
# `platforms:` of the build step in .github/workflows/deploy.yml).
cpu_architecture = "X86_64"

# Flood guard on the public endpoint: a source IP above 3,000 requests in 5 minutes (10/s) gets
# 403 until it slows down. Vehicles behind one carrier NAT share that: raise it, or batch.
# $6 a month plus $0.60 per million requests (infra/README.md, Costs per month).
waf = { enabled = true, requests_per_ip = 3000, window_seconds = 300 }

bucket_encryption       = "SSE-KMS"
alb_deletion_protection = true
log_retention_days      = 90

# ADR 0001's cost trigger is $50; prod's own design cost at 1 msg/s is ~$230 (infra/README.md,
# "Costs per month"), so its budget warns above that instead of every month.
monthly_budget_usd = 300

# An existing on-call topic; null creates an encrypted one to subscribe to.
# alarm_topic_arn = "arn:aws:sns:eu-central-1:111122223333:ops-pager"

# infra/bootstrap's permissions_boundary_name output: the deploy role creates and changes roles
# only with this boundary attached (and may never remove it).
permissions_boundary_name = "fleet-telemetry-workload-boundary"
