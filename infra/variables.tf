# ---------------------------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------------------------

variable "environment" {
  description = "Environment name (dev, staging, prod, ...): tags every resource and is part of the default bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 characters: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-central-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region code, e.g. eu-central-1."
  }
}

variable "name" {
  description = "Prefix of every resource name. Default: `name` from app/pipeline_defaults.json, which also names the queue and DLQ exactly as the embedded AWS stack does. Set it only to run two copies in one account."
  type        = string
  default     = null

  validation {
    condition     = var.name == null || can(regex("^[a-z][a-z0-9-]{2,19}$", coalesce(var.name, "x")))
    error_message = "name must be 3-20 characters: lower-case letters, digits and '-' (ALB and target group names are limited to 32)."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged over Application, Environment, ManagedBy)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Image and compute
# ---------------------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the pipeline image in this module's ECR repository (tags are immutable, so use the git SHA or a release, never latest)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid Docker tag (up to 128 of [A-Za-z0-9_.-]) and not 'latest': the repository's tags are immutable."
  }
}

variable "permissions_boundary_name" {
  description = "Name of the IAM policy every role of this module carries as its permissions boundary: infra/bootstrap's permissions_boundary_name output. The deploy role may create and change roles only with it attached. Null (a by-hand apply with admin rights and no bootstrap) sets none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", coalesce(var.permissions_boundary_name, "x")))
    error_message = "permissions_boundary_name must be an IAM policy name (1-128 of letters, digits and +=,.@_-), not an ARN."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of every task: X86_64, or ARM64 (about 20% cheaper on Fargate) when the image is built for arm64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "fargate_spot" {
  description = "Components that run on FARGATE_SPOT (about 70% cheaper; X86_64 only) through a capacity provider strategy instead of the FARGATE launch type: any of receiver, consumer, aggregator. An interruption gives 2 minutes' notice (SIGTERM): the consumer flushes and deletes only messages whose records are in S3, so nothing is lost; an interrupted hourly run is redone by the next run's --lookback; the receiver drains through the ALB, and a single receiver leaves a gap until its replacement starts (dev only). Switching a service onto or off Spot replaces it."
  type        = set(string)
  default     = []

  validation {
    condition     = length(setsubtract(var.fargate_spot, ["receiver", "consumer", "aggregator"])) == 0
    error_message = "fargate_spot may only list receiver, consumer and aggregator."
  }
}

variable "container_insights" {
  description = "ECS Container Insights on the cluster: task-level CPU, memory and RunningTaskCount (the consumer's scaling divisor, the dashboard's task counts), billed as custom metrics (~$20 a month for this cluster). Off, the consumer's backlog math assumes one running task (FILL) and the task widget is empty: fine for dev's one or two tasks."
  type        = bool
  default     = true
}

variable "receiver" {
  description = "Receiver service (telemetry serve behind the ALB): task size, task count range, and the autoscaling targets (ALB requests per task per minute, average CPU %)."
  type = object({
    cpu       = optional(number, 512)
    memory    = optional(number, 1024)
    min_count = optional(number, 2)
    # The capacity plan's design point (20,000 single-record POSTs/s) needs 11 tasks at the CPU
    # target and the request policy below asks for 14 (docs/capacity.md, "Autoscaling maxima").
    max_count = optional(number, 14)
    # ALB requests per task per minute. At the CPU target a 0.5 vCPU task serves ~113,000
    # single-record POSTs a minute by make bench's CPU per POST (docs/capacity.md, "Autoscaling
    # maxima"; 202,000 on a core 1.8 times as fast); 90,000 leaves room for a Fargate vCPU slower
    # than the bench's core. Below that, the request policy would scale out long before the CPU
    # does. Scale it with `cpu`.
    requests_per_target = optional(number, 90000)
    cpu_target_percent  = optional(number, 60)
  })
  default = {}

  validation {
    # Fargate's own table (RegisterTaskDefinition refuses anything else; moto does not check).
    condition = contains(
      var.receiver.cpu == 256 ? [512, 1024, 2048] :
      var.receiver.cpu == 512 ? range(1024, 4097, 1024) :
      var.receiver.cpu == 1024 ? range(2048, 8193, 1024) :
      var.receiver.cpu == 2048 ? range(4096, 16385, 1024) :
      var.receiver.cpu == 4096 ? range(8192, 30721, 1024) :
      var.receiver.cpu == 8192 ? range(16384, 61441, 4096) :
      var.receiver.cpu == 16384 ? range(32768, 122881, 8192) : [],
      var.receiver.memory
    )
    error_message = "receiver: cpu/memory must be a pair in Fargate's table: cpu 256 with memory 512, 1024 or 2048; 512 with 1024-4096; 1024 with 2048-8192; 2048 with 4096-16384; 4096 with 8192-30720 (those in steps of 1024); 8192 with 16384-61440 (steps of 4096); 16384 with 32768-122880 (steps of 8192)."
  }

  validation {
    condition     = var.receiver.min_count >= 1 && var.receiver.min_count <= var.receiver.max_count
    error_message = "receiver.min_count must be at least 1 and not above max_count."
  }

  validation {
    condition     = var.receiver.requests_per_target > 0 && var.receiver.cpu_target_percent >= 10 && var.receiver.cpu_target_percent <= 90
    error_message = "receiver.requests_per_target must be positive and cpu_target_percent between 10 and 90."
  }
}

variable "consumer" {
  description = "Consumer service (telemetry consume): task size, task count range, the SQS backlog per task that autoscaling holds, concurrent long polls per task, the ECS stop timeout (it flushes on SIGTERM), optionally the flush age and record count (TELEMETRY_FLUSH_MAX_AGE_SECONDS, TELEMETRY_FLUSH_MAX_RECORDS), and which anomaly rules alert live (TELEMETRY_LIVE_RULES: per_sample, the default; all only with max_count = 1; off)."
  type = object({
    cpu                  = optional(number, 512)
    memory               = optional(number, 1024)
    min_count            = optional(number, 1)
    max_count            = optional(number, 10)
    backlog_per_task     = optional(number, 100)
    pollers              = optional(number, 4)
    stop_timeout_seconds = optional(number, 30)
    # null: the application's default (TELEMETRY_FLUSH_MAX_AGE_SECONDS, 2 s). A longer age means
    # fewer, larger objects (S3 PUTs are billed each) and a later record in S3.
    flush_max_age_seconds = optional(number)
    # null: the application's default (TELEMETRY_FLUSH_MAX_RECORDS, 100). At thousands of msg/s
    # the count, not the age, sizes the objects: 2,000 cuts S3 PUTs, the consumer's log lines and
    # the hourly job's reads ~14x (docs/capacity.md, "What moves the bill"), for up to the flush
    # age of extra delay at low rates.
    flush_max_records = optional(number)
    # Which anomaly rules the consumer alerts on live (TELEMETRY_LIVE_RULES). Each task judges
    # only the records it received, and SQS spreads a vehicle's messages over every task: the
    # rules judged on one sample alone (per_sample) are right wherever a sample lands, the
    # windowed ones need a vehicle's whole stream and are left to the hourly job
    # (docs/anomalies.md, "Several consumer tasks"; infra/README.md, "Battery anomaly alarms").
    live_rules = optional(string, "per_sample")
  })
  default = {}

  validation {
    condition     = contains(["all", "per_sample", "off"], var.consumer.live_rules)
    error_message = "consumer.live_rules must be all, per_sample or off (TELEMETRY_LIVE_RULES)."
  }

  validation {
    condition     = var.consumer.live_rules != "all" || var.consumer.max_count == 1
    error_message = "consumer.live_rules = all needs consumer.max_count = 1: with several consumer tasks each sees only part of a vehicle's records, and the windowed rules would judge pieces (silent would fire on the other tasks' share). Use per_sample; the hourly job runs every rule on the whole hour."
  }

  validation {
    condition     = var.consumer.flush_max_age_seconds == null || (coalesce(var.consumer.flush_max_age_seconds, 0) > 0 && coalesce(var.consumer.flush_max_age_seconds, 0) <= 30)
    error_message = "consumer.flush_max_age_seconds must be above 0 and at most 30 s (it also bounds how long a record waits for S3), or null for the application's default."
  }

  validation {
    # Fargate's own table (RegisterTaskDefinition refuses anything else; moto does not check).
    condition = contains(
      var.consumer.cpu == 256 ? [512, 1024, 2048] :
      var.consumer.cpu == 512 ? range(1024, 4097, 1024) :
      var.consumer.cpu == 1024 ? range(2048, 8193, 1024) :
      var.consumer.cpu == 2048 ? range(4096, 16385, 1024) :
      var.consumer.cpu == 4096 ? range(8192, 30721, 1024) :
      var.consumer.cpu == 8192 ? range(16384, 61441, 4096) :
      var.consumer.cpu == 16384 ? range(32768, 122881, 8192) : [],
      var.consumer.memory
    )
    error_message = "consumer: cpu/memory must be a pair in Fargate's table: cpu 256 with memory 512, 1024 or 2048; 512 with 1024-4096; 1024 with 2048-8192; 2048 with 4096-16384; 4096 with 8192-30720 (those in steps of 1024); 8192 with 16384-61440 (steps of 4096); 16384 with 32768-122880 (steps of 8192)."
  }

  validation {
    condition     = var.consumer.min_count >= 1 && var.consumer.min_count <= var.consumer.max_count
    error_message = "consumer.min_count must be at least 1 (target tracking does not scale from zero) and not above max_count."
  }

  validation {
    condition     = var.consumer.backlog_per_task > 0 && var.consumer.pollers >= 1 && var.consumer.pollers <= 64
    error_message = "consumer.backlog_per_task must be positive and pollers between 1 and 64."
  }

  validation {
    condition     = var.consumer.stop_timeout_seconds >= 2 && var.consumer.stop_timeout_seconds <= 120
    error_message = "consumer.stop_timeout_seconds must be 2-120 (Fargate's limit is 120)."
  }
}

variable "aggregator" {
  description = "Aggregator scheduled task (telemetry aggregate, last complete hour): task size (DuckDB gets half the memory, TELEMETRY_HOURLY_MEMORY_MB), the EventBridge Scheduler expression (UTC), the timeout after which a run is stopped (exit 124, which the task-stopped rule reports) so a stuck run ends before the next one, and the task's ephemeral storage in GiB (20 is Fargate's free default; the hour is staged and spilled there: ~6 GB of JSON for 20 M records)."
  type = object({
    cpu                   = optional(number, 1024)
    memory                = optional(number, 2048)
    schedule_expression   = optional(string, "cron(5 * * * ? *)")
    timeout_seconds       = optional(number, 1800)
    ephemeral_storage_gib = optional(number, 30)
  })
  default = {}

  validation {
    condition     = var.aggregator.ephemeral_storage_gib >= 20 && var.aggregator.ephemeral_storage_gib <= 200 && floor(var.aggregator.ephemeral_storage_gib) == var.aggregator.ephemeral_storage_gib
    error_message = "aggregator.ephemeral_storage_gib must be a whole number of GiB, 20-200: Fargate includes 20 and takes 21-200."
  }

  validation {
    condition     = var.aggregator.timeout_seconds >= 60 && var.aggregator.timeout_seconds <= 3300 && floor(var.aggregator.timeout_seconds) == var.aggregator.timeout_seconds
    error_message = "aggregator.timeout_seconds must be a whole number of seconds, 60-3300: a run must end before the next hourly one starts."
  }

  validation {
    # Fargate's own table (RegisterTaskDefinition refuses anything else; moto does not check).
    condition = contains(
      var.aggregator.cpu == 256 ? [512, 1024, 2048] :
      var.aggregator.cpu == 512 ? range(1024, 4097, 1024) :
      var.aggregator.cpu == 1024 ? range(2048, 8193, 1024) :
      var.aggregator.cpu == 2048 ? range(4096, 16385, 1024) :
      var.aggregator.cpu == 4096 ? range(8192, 30721, 1024) :
      var.aggregator.cpu == 8192 ? range(16384, 61441, 4096) :
      var.aggregator.cpu == 16384 ? range(32768, 122881, 8192) : [],
      var.aggregator.memory
    )
    error_message = "aggregator: cpu/memory must be a pair in Fargate's table: cpu 256 with memory 512, 1024 or 2048; 512 with 1024-4096; 1024 with 2048-8192; 2048 with 4096-16384; 4096 with 8192-30720 (those in steps of 1024); 8192 with 16384-61440 (steps of 4096); 16384 with 32768-122880 (steps of 8192)."
  }

  validation {
    condition     = can(regex("^(cron\\([^)]+\\)|rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\))$", var.aggregator.schedule_expression))
    error_message = "aggregator.schedule_expression must be an EventBridge Scheduler cron(...) or rate(...) expression."
  }
}

# ---------------------------------------------------------------------------------------------
# Queue (defaults from app/pipeline_defaults.json)
# ---------------------------------------------------------------------------------------------

variable "queue" {
  description = "Overrides of the queue settings in app/pipeline_defaults.json; null keeps the shared default. The same values reach the consumer as TELEMETRY_VISIBILITY_TIMEOUT_SECONDS and TELEMETRY_MAX_RECEIVE_COUNT."
  type = object({
    visibility_timeout_seconds = optional(number)
    max_receive_count          = optional(number)
  })
  default = {}

  validation {
    condition     = var.queue.visibility_timeout_seconds == null || (coalesce(var.queue.visibility_timeout_seconds, 0) >= 10 && coalesce(var.queue.visibility_timeout_seconds, 0) <= 43200)
    error_message = "queue.visibility_timeout_seconds must be 10-43200: the consumer flushes every 2 s and extends visibility at half the timeout."
  }

  validation {
    condition     = var.queue.max_receive_count == null || (coalesce(var.queue.max_receive_count, 0) >= 1 && coalesce(var.queue.max_receive_count, 0) <= 1000)
    error_message = "queue.max_receive_count must be 1-1000."
  }
}

# ---------------------------------------------------------------------------------------------
# Bucket
# ---------------------------------------------------------------------------------------------

variable "bucket_name" {
  description = "Data bucket name. Default: `<bucket_name from app/pipeline_defaults.json>-<environment>-<account id>`, globally unique."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.bucket_name, "xxx")))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')."
  }
}

variable "bucket_encryption" {
  description = "Default encryption of the data bucket: SSE-S3 (no per-request cost) or SSE-KMS with this module's customer-managed key and an S3 Bucket Key."
  type        = string
  default     = "SSE-S3"

  validation {
    condition     = contains(["SSE-S3", "SSE-KMS"], var.bucket_encryption)
    error_message = "bucket_encryption must be SSE-S3 or SSE-KMS."
  }
}

variable "bucket_force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds data. Keep false outside throw-away environments."
  type        = bool
  default     = false
}

variable "ecr_force_delete" {
  description = "Allow `terraform destroy` to delete the image repository while it still holds images. Keep false outside throw-away environments: running tasks pull from it."
  type        = bool
  default     = false
}

variable "raw_retention_days" {
  description = "Days raw/ (the consumer's JSON Lines) is kept: the replay window in which a failed or wrong hour can be re-run (`telemetry aggregate --hour`) from the records as stored. The data itself is kept in curated/ (curated_expiration_days). Null: lifecycle.raw_expiration_days of app/pipeline_defaults.json (7: a weekend plus the days to fix and re-run; infra/README.md, \"Retention\"). raw/ never transitions, whatever this says."
  type        = number
  default     = null

  validation {
    # S3 expires an object at the first midnight UTC after its count of days, so 2 days keeps
    # every raw object at least 48 h: past the scheduled run's --lookback (2 h; the app allows
    # at most 24) and its retries, and past a night's failure noticed the next morning.
    condition = var.raw_retention_days == null || (
      floor(coalesce(var.raw_retention_days, 0)) == coalesce(var.raw_retention_days, 0) &&
      coalesce(var.raw_retention_days, 0) >= 2 && coalesce(var.raw_retention_days, 0) <= 365
    )
    error_message = "raw_retention_days must be a whole number of days, 2-365: under 2 days raw/ could expire before a failed hour (or the scheduled run's --lookback) is re-run; beyond a year raw/ is an untiered archive, which is curated/'s job."
  }
}

variable "raw_partition_years" {
  description = "Years the Athena partition projection of raw/, curated/ and vehicle_stats/ enumerates (inclusive)."
  type = object({
    first = number
    last  = number
  })
  default = { first = 2025, last = 2035 }

  validation {
    condition     = var.raw_partition_years.first >= 2000 && var.raw_partition_years.first <= var.raw_partition_years.last && var.raw_partition_years.last <= 2100
    error_message = "raw_partition_years must satisfy 2000 <= first <= last <= 2100."
  }
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "existing_vpc" {
  description = "Use this VPC instead of creating one. It must already give tasks in the chosen subnets a way to AWS APIs (NAT or VPC endpoints)."
  type = object({
    id                 = string
    public_subnet_ids  = list(string)
    private_subnet_ids = list(string)
  })
  default = null

  validation {
    condition     = var.existing_vpc == null || (length(try(var.existing_vpc.public_subnet_ids, [])) >= 2 && length(try(var.existing_vpc.private_subnet_ids, [])) >= 2)
    error_message = "existing_vpc needs at least two public and two private subnets (two AZs)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC this module creates (ignored with existing_vpc); split into /20-or-smaller public and private subnets over two AZs."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /24."
  }
}

variable "task_subnets" {
  description = "Where tasks run: private (no public IP; reach AWS through VPC endpoints or NAT) or public (public IP, no NAT or endpoint cost; for dev)."
  type        = string
  default     = "private"

  validation {
    condition     = contains(["private", "public"], var.task_subnets)
    error_message = "task_subnets must be private or public."
  }
}

variable "private_egress" {
  description = "How tasks in private subnets reach AWS APIs: vpc_endpoints (S3 gateway; SQS, ECR, Logs, Secrets Manager interface endpoints) or nat_gateway. Only used when this module creates the VPC and task_subnets is private."
  type        = string
  default     = "vpc_endpoints"

  validation {
    condition     = contains(["vpc_endpoints", "nat_gateway"], var.private_egress)
    error_message = "private_egress must be vpc_endpoints or nat_gateway."
  }
}

variable "single_nat_gateway" {
  description = "With private_egress = nat_gateway: one NAT gateway for both AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate for the ALB's HTTPS listener (HTTP then redirects to HTTPS). Null serves plain HTTP: dev only, API keys would cross the internet in clear."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", coalesce(var.certificate_arn, "x")))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "ingest_host_name" {
  description = "DNS name vehicles use to reach the ALB (e.g. ingest.example.com); required with certificate_arn, which must cover it. ingest_url (and deploy.yml's smoke test) use it instead of the ALB's own name, which no certificate of yours can cover."
  type        = string
  default     = null

  validation {
    condition     = var.ingest_host_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", coalesce(var.ingest_host_name, "x")))
    error_message = "ingest_host_name must be a lower-case DNS name such as ingest.example.com (no scheme, no path)."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of ingest_host_name: when set, the module creates the alias record to the ALB. Null: create a CNAME to the alb_dns_name output in your own DNS."
  type        = string
  default     = null

  validation {
    condition     = var.route53_zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", coalesce(var.route53_zone_id, "x")))
    error_message = "route53_zone_id must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ."
  }
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the ALB listeners (vehicles connect from anywhere by default)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrnetmask(c))])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDRs."
  }
}

variable "waf" {
  description = "Flood guard of the public ingest endpoint: a WAFv2 web ACL on the ALB blocking a source IP above requests_per_ip requests in window_seconds (60, 120, 300 or 600). Off by default, on in prod.tfvars. Costs $6 a month plus $0.60 per million requests (infra/README.md, Costs)."
  type = object({
    enabled         = optional(bool, false)
    requests_per_ip = optional(number, 3000)
    window_seconds  = optional(number, 300)
  })
  default = {}

  validation {
    condition     = var.waf.requests_per_ip >= 10 && var.waf.requests_per_ip <= 2000000000 && contains([60, 120, 300, 600], var.waf.window_seconds)
    error_message = "waf.requests_per_ip must be 10-2,000,000,000 (WAF's limits) and waf.window_seconds one of 60, 120, 300, 600."
  }
}

variable "alb_deletion_protection" {
  description = "Protect the ALB from deletion (turn off in throw-away environments so destroy works)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Secrets, logs, alarms
# ---------------------------------------------------------------------------------------------

variable "api_keys_secret_arn" {
  description = "Existing Secrets Manager secret holding the receiver's comma-separated API keys. Null creates an empty secret; put its value out of band (never through Terraform state)."
  type        = string
  default     = null

  validation {
    condition     = var.api_keys_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:", coalesce(var.api_keys_secret_arn, "x")))
    error_message = "api_keys_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted API-key secret stays recoverable (0 deletes at once, for throw-away environments)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30."
  }
}

variable "log_retention_days" {
  description = "Retention of the containers' CloudWatch log groups (they also carry the EMF metrics, which CloudWatch keeps separately)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 3653)."
  }
}

variable "log_level" {
  description = "TELEMETRY_LOG_LEVEL of every container."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the pipeline's EMF metrics (TELEMETRY_METRICS_NAMESPACE); the alarms and dashboard read it."
  type        = string
  default     = "FleetTelemetry"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 of [A-Za-z0-9._/#:-] and must not start with AWS/."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic that receives alarm and OK notifications. Null creates an encrypted topic; subscribe to it out of band."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:", coalesce(var.alarm_topic_arn, "x")))
    error_message = "alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "alarm_thresholds" {
  description = "Alarm thresholds: oldest queued message age (s), p95 ingest-to-persist latency (ms), duplicate rate (fraction, for a day), receiver 5xx rate (% of requests), sustained throughput (records/s accepted, ADR 0001's 5,000), the hourly job's runtime (s, ADR 0001's 10 minutes), and the share of an hour's vehicles whose clock is off (%)."
  type = object({
    oldest_message_age_seconds = optional(number, 60)
    ingest_to_persist_p95_ms   = optional(number, 5000)
    duplicate_rate             = optional(number, 0.005)
    receiver_5xx_percent       = optional(number, 1)
    records_per_second         = optional(number, 5000)
    aggregator_runtime_seconds = optional(number, 600)
    clock_off_percent          = optional(number, 5)
  })
  default = {}

  validation {
    condition     = var.alarm_thresholds.records_per_second > 0 && var.alarm_thresholds.aggregator_runtime_seconds >= 60
    error_message = "alarm_thresholds: records_per_second must be positive and aggregator_runtime_seconds at least 60."
  }

  validation {
    condition     = var.alarm_thresholds.oldest_message_age_seconds > 0 && var.alarm_thresholds.ingest_to_persist_p95_ms > 0 && var.alarm_thresholds.receiver_5xx_percent > 0 && var.alarm_thresholds.receiver_5xx_percent <= 100 && var.alarm_thresholds.clock_off_percent >= 0 && var.alarm_thresholds.clock_off_percent < 100
    error_message = "alarm_thresholds: ages and latencies must be positive, receiver_5xx_percent in (0, 100], clock_off_percent in [0, 100)."
  }

  validation {
    condition     = var.alarm_thresholds.duplicate_rate > 0 && var.alarm_thresholds.duplicate_rate < 1
    error_message = "alarm_thresholds.duplicate_rate is a fraction: between 0 and 1 (0.005 = 0.5%)."
  }
}

variable "monthly_budget_usd" {
  description = "ADR 0001's cost trigger: an AWS Budgets cost budget for the whole account (one account per environment) of this many US dollars a month, notifying the alarm topic when the actual bill passes it (and when the forecast does). Null creates none (an organisation that manages budgets centrally). The first two budgets of an account are free, then $0.02 a day each."
  type        = number
  default     = 50
  nullable    = true

  validation {
    condition     = var.monthly_budget_usd == null || coalesce(var.monthly_budget_usd, 0) >= 1
    error_message = "monthly_budget_usd must be at least 1 (US dollars), or null for no budget."
  }
}
