# dev: cheapest shape that still runs the whole pipeline. Tasks in public subnets (public IP, no
# NAT gateway, no VPC endpoints), plain HTTP (no certificate), one task per service, short log
# retention, and everything deletable by `terraform destroy`.
#   terraform apply -var-file=envs/dev.tfvars -var image_tag=<git sha>

environment  = "dev"
region       = "eu-central-1"
task_subnets = "public"

receiver   = { cpu = 256, memory = 512, min_count = 1, max_count = 2 }
consumer   = { cpu = 256, memory = 512, min_count = 1, max_count = 2, pollers = 2 }
aggregator = { cpu = 512, memory = 1024 }

alb_deletion_protection     = false
bucket_force_destroy        = true
ecr_force_delete            = true
secret_recovery_window_days = 0
log_retention_days          = 7
log_level                   = "DEBUG"
