# Battery anomalies (issue 20): one alarm per rule of app/anomaly/rules.py, on the path that sees
# the rule right. The consumer alerts live on the rules consumer.live_rules names
# (TELEMETRY_LIVE_RULES; per_sample by default, since several consumer tasks each see part of a
# vehicle's records); every other rule alarms on the hourly job's episodes. The list of rules is
# infra/anomaly_rules.json, re-read here; tests/infra/test_anomaly_rules.py keeps it equal to the
# application's.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
  rules       = jsondecode(file("anomaly_rules.json")).rules
}

run "per_sample_rules_alarm_live_and_the_windowed_ones_hourly" {
  command = apply

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment, { name = "TELEMETRY_LIVE_RULES", value = "per_sample" })
    error_message = "By default the consumer alerts live only on the per-sample rules (TELEMETRY_LIVE_RULES=per_sample): it runs as several tasks, each seeing part of a vehicle's records."
  }

  assert {
    condition = (
      toset(keys(aws_cloudwatch_metric_alarm.anomaly_live)) == toset([for r, spec in var.rules : r if spec.per_sample]) &&
      toset(keys(aws_cloudwatch_metric_alarm.anomaly_hourly)) == toset([for r, spec in var.rules : r if !spec.per_sample])
    )
    error_message = "per_sample: the per-sample rules (out_of_range, over_temperature, temperature_spread, cell_voltage_spread) alarm live, the windowed ones on the hourly job's episodes."
  }

  # One alarm per rule, whichever the path: every rule has one, none has two.
  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.anomaly_live) + length(aws_cloudwatch_metric_alarm.anomaly_hourly) == length(var.rules) &&
      setunion(keys(aws_cloudwatch_metric_alarm.anomaly_live), keys(aws_cloudwatch_metric_alarm.anomaly_hourly)) == toset(keys(var.rules))
    )
    error_message = "Every rule of anomaly_rules.json must have exactly one alarm, live or hourly."
  }

  # Live: the consumer's AnomalyAlerts, one event per episode opened, Sum over a minute.
  assert {
    condition = alltrue([
      for rule, a in aws_cloudwatch_metric_alarm.anomaly_live :
      a.namespace == "FleetTelemetry" && a.metric_name == "AnomalyAlerts" &&
      a.dimensions == tomap({ Service = "consumer", Rule = rule }) &&
      a.statistic == "Sum" && a.period == 60 && a.evaluation_periods == 1 &&
      a.comparison_operator == "GreaterThanThreshold" && a.threshold == 0 &&
      a.treat_missing_data == "notBreaching"
    ])
    error_message = "A live alarm must fire on AnomalyAlerts{Service=consumer, Rule=<rule>} Sum > 0 in 60 s, missing data not breaching."
  }

  # Hourly: the aggregator's AnomalyEpisodes, once per hour with episodes, Sum over an hour.
  assert {
    condition = alltrue([
      for rule, a in aws_cloudwatch_metric_alarm.anomaly_hourly :
      a.namespace == "FleetTelemetry" && a.metric_name == "AnomalyEpisodes" &&
      a.dimensions == tomap({ Service = "aggregator", Rule = rule }) &&
      a.statistic == "Sum" && a.period == 3600 && a.evaluation_periods == 1 &&
      a.comparison_operator == "GreaterThanThreshold" && a.threshold == 0 &&
      a.treat_missing_data == "notBreaching"
    ])
    error_message = "An hourly alarm must fire on AnomalyEpisodes{Service=aggregator, Rule=<rule>} Sum > 0 in an hour, missing data not breaching."
  }

  assert {
    condition = alltrue([
      for a in concat(values(aws_cloudwatch_metric_alarm.anomaly_live), values(aws_cloudwatch_metric_alarm.anomaly_hourly), [aws_cloudwatch_metric_alarm.clock_off_vehicles]) :
      a.alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && a.ok_actions == toset([aws_sns_topic.alarms[0].arn])
    ])
    error_message = "Every anomaly alarm must notify the alarm topic, on alarm and on recovery."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.anomaly_live["cell_voltage_spread"].alarm_name == "fleet-telemetry-dev-anomaly-live-cell-voltage-spread" &&
      aws_cloudwatch_metric_alarm.anomaly_hourly["resistance_spread"].alarm_name == "fleet-telemetry-dev-anomaly-hourly-resistance-spread" &&
      length(toset([for a in concat(values(aws_cloudwatch_metric_alarm.anomaly_live), values(aws_cloudwatch_metric_alarm.anomaly_hourly)) : a.alarm_name])) == length(var.rules)
    )
    error_message = "Anomaly alarms are named <name>-<environment>-anomaly-<live|hourly>-<rule>, one name per rule."
  }

  # The text an operator reads: the rule verbatim (the Rule dimension, the log's rule=), what it
  # means physically, and CloudWatch's 1024-character limit.
  assert {
    condition = alltrue([
      for rule, a in merge(aws_cloudwatch_metric_alarm.anomaly_live, aws_cloudwatch_metric_alarm.anomaly_hourly) :
      startswith(a.alarm_description, "Trigger: battery anomaly ${rule}, ") &&
      strcontains(a.alarm_description, var.rules[rule].meaning) &&
      endswith(a.alarm_description, "docs/operations.md#${replace(rule, "_", "-")}.") &&
      length(a.alarm_description) <= 1024
    ])
    error_message = "Each anomaly alarm's description must name its rule, say what it means (anomaly_rules.json) and end with the rule's section of docs/operations.md, within 1024 characters."
  }

  # Clocks: the share of the hour's vehicles whose clock is off, not their count.
  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.clock_off_vehicles.metric_query : q.id => (
        q.expression != null && q.expression != "" ? q.expression : "${one(q.metric).metric_name} ${one(q.metric).stat} ${one(q.metric).period} ${one(q.metric).dimensions["Service"]}"
      )
      } == {
      share    = "100 * clockoff / vehicles"
      clockoff = "ClockOffVehicles Sum 3600 aggregator"
      vehicles = "Vehicles Sum 3600 aggregator"
    }
    error_message = "The clock alarm must compare ClockOffVehicles with Vehicles (both the aggregator's, Sum over an hour) in percent."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.clock_off_vehicles.threshold == 5 &&
      aws_cloudwatch_metric_alarm.clock_off_vehicles.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.clock_off_vehicles.treat_missing_data == "notBreaching" &&
      length(aws_cloudwatch_metric_alarm.clock_off_vehicles.alarm_description) <= 1024
    )
    error_message = "Alarm when more than 5% (alarm_thresholds.clock_off_percent) of an hour's vehicles have a clock off."
  }
}

# The dashboard shows every rule on both paths, whichever alarms.
run "the_dashboard_shows_every_rule_live_and_hourly" {
  command = apply

  assert {
    condition = alltrue([
      for metric in ["AnomalyAlerts", "AnomalyEpisodes"] : toset(flatten([
        for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for m in w.properties.metrics : m[5] if m[1] == metric && length(m) > 6]
      ])) == toset(keys(var.rules))
    ])
    error_message = "The dashboard must chart AnomalyAlerts and AnomalyEpisodes for every rule."
  }

  assert {
    condition     = contains(flatten([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for m in w.properties.metrics : m[1]]]), "ClockOffVehicles")
    error_message = "The dashboard must chart ClockOffVehicles."
  }
}

run "one_consumer_task_may_alert_live_on_every_rule" {
  command = apply

  variables {
    consumer = { min_count = 1, max_count = 1, live_rules = "all" }
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment, { name = "TELEMETRY_LIVE_RULES", value = "all" })
    error_message = "consumer.live_rules must reach the consumer as TELEMETRY_LIVE_RULES."
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.anomaly_live)) == toset(keys(var.rules)) && length(aws_cloudwatch_metric_alarm.anomaly_hourly) == 0
    error_message = "live_rules = all: every rule alarms live, none again an hour later."
  }
}

run "without_live_rules_every_rule_alarms_hourly" {
  command = plan

  variables {
    consumer = { live_rules = "off" }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.anomaly_live) == 0 && toset(keys(aws_cloudwatch_metric_alarm.anomaly_hourly)) == toset(keys(var.rules))
    error_message = "live_rules = off: no live alarm, every rule alarms on the hourly job's episodes."
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this["consumer"].container_definitions)[0].environment, { name = "TELEMETRY_LIVE_RULES", value = "off" })
    error_message = "live_rules = off must reach the consumer, which then starts no rules thread."
  }
}

# With several tasks, each engine sees a vehicle in pieces: silent would fire on the other tasks'
# share and the windowed rules judge fragments (docs/anomalies.md, "Several consumer tasks").
run "every_rule_live_is_refused_with_several_consumer_tasks" {
  command = plan

  variables {
    consumer = { max_count = 2, live_rules = "all" }
  }

  expect_failures = [var.consumer]
}

run "live_rules_values_are_checked" {
  command = plan

  variables {
    consumer = { live_rules = "windowed" }
  }

  expect_failures = [var.consumer]
}

run "the_clock_threshold_is_a_variable_and_alarms_follow_an_existing_topic" {
  command = plan

  variables {
    alarm_thresholds = { clock_off_percent = 20 }
    alarm_topic_arn  = "arn:aws:sns:eu-central-1:123456789012:ops-pager"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.clock_off_vehicles.threshold == 20
    error_message = "alarm_thresholds.clock_off_percent must set the clock alarm's threshold."
  }

  assert {
    condition = alltrue([
      for a in concat(values(aws_cloudwatch_metric_alarm.anomaly_live), values(aws_cloudwatch_metric_alarm.anomaly_hourly), [aws_cloudwatch_metric_alarm.clock_off_vehicles]) :
      a.alarm_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops-pager"])
    ])
    error_message = "With alarm_topic_arn set, the anomaly alarms notify that topic."
  }
}
