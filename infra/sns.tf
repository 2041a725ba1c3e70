# Where alarms go: an existing topic (var.alarm_topic_arn) or one created here, encrypted with
# this module's key (whose policy lets CloudWatch publish). Subscriptions are made out of band.

locals {
  alarm_topic_arn = coalesce(var.alarm_topic_arn, try(aws_sns_topic.alarms[0].arn, null))
}

resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == null ? 1 : 0

  name              = "${local.name}-${var.environment}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
}
