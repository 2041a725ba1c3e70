# Internet-facing ALB in front of the receiver. HTTPS (TLS 1.2+) when var.certificate_arn is set,
# with port 80 redirecting to it; plain HTTP otherwise, which only dev should run.

locals {
  https = var.certificate_arn != null
}

resource "aws_lb" "this" {
  name                       = local.name
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = local.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 60

  #checkov:skip=CKV_AWS_91:access logs need a separate log bucket with an ELB bucket policy; per-request logs duplicate the receiver's own log lines and ALB metrics
  #checkov:skip=CKV2_AWS_28:the web ACL (waf.tf) is var.waf, on in prod.tfvars; its association is conditional, which checkov's graph does not follow
  #checkov:skip=CKV2_AWS_76:the receiver is Python with no Log4j; the web ACL (waf.tf) rate-limits and adds no AWS managed Log4j rule group
  #checkov:skip=CKV2_AWS_20:HTTP redirects to HTTPS whenever a certificate is set (aws_lb_listener.http_redirect); dev without a certificate serves HTTP on purpose
}

# name_prefix, not name: the group is create_before_destroy (a listener always needs one), so a
# replacement (port, protocol, VPC) must be able to exist beside the old group; AWS refuses two
# target groups of one name. The prefix may be 6 characters at most; AWS appends the rest.
resource "aws_lb_target_group" "receiver" {
  name_prefix          = "recv-"
  port                 = local.receiver_port
  protocol             = "HTTP"
  target_type          = "ip" # awsvpc tasks register by IP
  vpc_id               = local.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; ALB to task traffic stays inside the VPC between two security groups

  lifecycle {
    create_before_destroy = true
  }
}

# No certificate (dev): plain HTTP straight to the receiver.
resource "aws_lb_listener" "http" {
  count = local.https ? 0 : 1

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  #checkov:skip=CKV_AWS_2:created only when no certificate ARN is given (dev); with one, HTTPS serves and port 80 redirects
  #checkov:skip=CKV_AWS_103:plain HTTP listener, TLS policy does not apply (dev only, see above)

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.receiver.arn
  }
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  lifecycle {
    precondition {
      condition     = var.ingest_host_name != null
      error_message = "certificate_arn needs ingest_host_name: the certificate covers your host name, not the ALB's, so vehicles and the smoke test must use it."
    }
  }

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.receiver.arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# The ingest host name as an alias of the ALB, when its Route 53 zone is given (otherwise a CNAME
# in the user's own DNS; infra/README.md).
resource "aws_route53_record" "ingest" {
  count = var.route53_zone_id != null && var.ingest_host_name != null ? 1 : 0

  zone_id = var.route53_zone_id
  name    = var.ingest_host_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
