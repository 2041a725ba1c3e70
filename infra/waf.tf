# Flood guard of the public ingest endpoint (var.waf; on in prod.tfvars): a WAFv2 web ACL on the
# ALB with one rate-based rule per source IP. Without it, a flood without a valid key still
# reaches the receiver tasks (which answer 401 only after reading the request) and, through the
# requests-per-task target, scales them out. The rule blocks a source IP above
# waf.requests_per_ip requests in waf.window_seconds, with 403, until its rate falls again.
#
# What it does not do: a flood spread over many addresses stays under every per-IP limit (that
# is AWS Shield Advanced's or Bot Control's job), and vehicles behind one carrier-grade NAT
# share a limit (raise requests_per_ip, or have them batch records per request).
# Cost: $5 a month for the web ACL, $1 per rule, $0.60 per million requests (infra/README.md).

resource "aws_wafv2_web_acl" "ingest" {
  count = var.waf.enabled ? 1 : 0

  name        = "${local.name}-${var.environment}-ingest"
  description = "Rate limit per source IP in front of the ingest ALB"
  scope       = "REGIONAL"

  #checkov:skip=CKV2_AWS_31:no WAF logging destination (Firehose, S3 or a log group at $0.50/GB of request logs); the rule's CloudWatch metrics and sampled requests show what it blocks
  #checkov:skip=CKV_AWS_192:the receiver is Python with no Log4j; the AWS managed KnownBadInputs group would add a rule's cost and WCUs for nothing here

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-source-ip"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf.requests_per_ip
        evaluation_window_sec = var.waf.window_seconds
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-${var.environment}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name}-${var.environment}-ingest"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "ingest" {
  count = var.waf.enabled ? 1 : 0

  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.ingest[0].arn
}
