# The receiver's API keys (comma-separated, several at once for rotation), injected into the
# container as TELEMETRY_API_KEYS by ECS at task start. Terraform creates the empty secret only;
# its value is put out of band so no key ever lands in Terraform state (infra/README.md, "From
# zero to deployed", step 5; deploy.yml seeds one random key on an environment's first deploy).

locals {
  api_keys_secret_arn = coalesce(var.api_keys_secret_arn, try(aws_secretsmanager_secret.api_keys[0].arn, null))
}

resource "aws_secretsmanager_secret" "api_keys" {
  count = var.api_keys_secret_arn == null ? 1 : 0

  name                    = "${local.name}/${var.environment}/api-keys"
  description             = "Comma-separated X-API-Key values the receiver accepts (TELEMETRY_API_KEYS)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  #checkov:skip=CKV2_AWS_57:keys are issued to vehicles; rotation is a fleet roll-out (the receiver accepts several keys at once), not a Lambda rotation
}
