# The public ingest endpoint's flood guard: a WAFv2 web ACL on the ALB with a rate-based rule per
# source IP. Floods without a valid key would otherwise reach the tasks (which answer 401 only
# after the work of a request) and scale them out. A variable, off by default, on in prod.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
  prod_tfvars = file("envs/prod.tfvars")
}

run "no_web_acl_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_wafv2_web_acl.ingest) == 0 && length(aws_wafv2_web_acl_association.ingest) == 0
    error_message = "Without waf.enabled there is no web ACL (it costs $6 a month plus $0.60 per million requests)."
  }
}

run "the_web_acl_rate_limits_each_source_ip_on_the_alb" {
  command = apply

  variables {
    waf = { enabled = true, requests_per_ip = 2000, window_seconds = 120 }
  }

  assert {
    condition     = aws_wafv2_web_acl.ingest[0].scope == "REGIONAL" && length(one(aws_wafv2_web_acl.ingest[0].default_action).allow) == 1
    error_message = "The web ACL must be regional (an ALB's) and let through what no rule blocks."
  }

  assert {
    condition = [
      for r in aws_wafv2_web_acl.ingest[0].rule : {
        limit  = one(one(r.statement).rate_based_statement).limit
        window = one(one(r.statement).rate_based_statement).evaluation_window_sec
        key    = one(one(r.statement).rate_based_statement).aggregate_key_type
        block  = length(one(r.action).block)
      }
    ] == [{ limit = 2000, window = 120, key = "IP", block = 1 }]
    error_message = "One rule: block a source IP above waf.requests_per_ip requests in waf.window_seconds."
  }

  assert {
    condition     = alltrue([for r in aws_wafv2_web_acl.ingest[0].rule : one(r.visibility_config).cloudwatch_metrics_enabled && one(r.visibility_config).sampled_requests_enabled])
    error_message = "The rule must publish its metrics (BlockedRequests) and sampled requests, or no one sees what it blocks."
  }

  assert {
    condition     = aws_wafv2_web_acl_association.ingest[0].resource_arn == aws_lb.this.arn && aws_wafv2_web_acl_association.ingest[0].web_acl_arn == aws_wafv2_web_acl.ingest[0].arn
    error_message = "The web ACL must be associated with the ingest ALB."
  }
}

run "prod_turns_the_web_acl_on" {
  command = plan

  assert {
    condition     = can(regex("(?m)^waf\\s*=\\s*\\{[^}]*enabled\\s*=\\s*true", var.prod_tfvars))
    error_message = "envs/prod.tfvars must set waf = { enabled = true, ... }: the public endpoint needs its flood guard in production."
  }
}

run "waf_values_are_checked" {
  command = plan

  variables {
    waf = { enabled = true, requests_per_ip = 5, window_seconds = 90 }
  }

  expect_failures = [var.waf]
}
