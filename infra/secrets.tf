# The receiver's API keys (comma-separated, several at once for rotation), injected into the
# container as TELEMETRY_API_KEYS by ECS at task start. Terraform creates the empty secret only;
# its value is put out of band so no key ever lands in Terraform state (infra/README.md, "From
# zero to deployed", step 5; deploy.yml seeds one random key on an environment's first deploy).
#
# The smoke test's key has a secret of its own (TELEMETRY_SMOKE_API_KEYS): deploy.yml reads it to
# post its one record, and the deploy role is denied the fleet's secret (infra/bootstrap), so a
# deploy never handles a key that vehicles use. Also created empty and seeded by deploy.yml.

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

resource "aws_secretsmanager_secret" "smoke_api_key" {
  name                    = "${local.name}/${var.environment}/smoke-api-key"
  description             = "The deploy's smoke-test key, accepted by the receiver beside the fleet's (TELEMETRY_SMOKE_API_KEYS)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  #checkov:skip=CKV2_AWS_57:a random key the deploy seeds and reads itself; replace it by putting a new value and redeploying the receiver
}
