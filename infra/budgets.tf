# ADR 0001's cost trigger, live: an AWS Budgets cost budget of the account (one account per
# environment, so the account's bill is this environment's), var.monthly_budget_usd a month.
# It notifies the alarm topic when the actual month-to-date cost passes the amount (the trigger)
# and, earlier, when AWS forecasts that it will. Budgets evaluates a few times a day from billing
# data, so the notification comes hours after the cost, not minutes. The topic's policy and the
# key's policy let budgets.amazonaws.com publish (sns.tf, kms.tf); with an existing
# alarm_topic_arn, that topic must allow it too.

resource "aws_budgets_budget" "monthly" {
  count = var.monthly_budget_usd == null ? 0 : 1

  name         = "${local.name}-${var.environment}-monthly-bill"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [local.alarm_topic_arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [local.alarm_topic_arn]
  }

  depends_on = [aws_sns_topic_policy.alarms]
}
