# ADR 0001's "hourly job failed" trigger, live: every aggregator task that stops badly notifies
# the alarm topic at once, with a message that names the trigger and the action.
#
#   non-zero exit    the job failed; 124 is the timeout (ecs.tf) ending a stuck run
#   OutOfMemoryError the task's memory limit killed it (exit 137 too, matched either way)
#   TaskFailedToStart image pull, secret, network or capacity: no exit code at all
#   SpotInterruption on FARGATE_SPOT the run was reclaimed; the next run's --lookback redoes it
#
# A run that exits 0 matches nothing. Runs that never start are the scheduler DLQ's alarm, runs
# that never report are aggregator-missing (alarms.tf).

resource "aws_cloudwatch_event_rule" "aggregator_failed" {
  name        = "${local.name}-${var.environment}-aggregator-failed"
  description = "Trigger: hourly job failed (ADR 0001). An aggregator task stopped with a non-zero exit, out of memory, without starting, or by Spot interruption."

  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn        = [aws_ecs_cluster.this.arn]
      lastStatus        = ["STOPPED"]
      taskDefinitionArn = [{ prefix = "${aws_ecs_task_definition.this["aggregator"].arn_without_revision}:" }]
      "$or" = [
        { containers = { exitCode = [{ numeric = [">", 0] }] } },
        { containers = { reason = [{ prefix = "OutOfMemoryError" }] } },
        { stopCode = ["TaskFailedToStart", "SpotInterruption"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "aggregator_failed" {
  rule      = aws_cloudwatch_event_rule.aggregator_failed.name
  target_id = "alarm-topic"
  arn       = local.alarm_topic_arn

  input_transformer {
    input_paths = {
      task     = "$.detail.taskArn"
      stopCode = "$.detail.stopCode"
      reason   = "$.detail.stoppedReason"
      exitCode = "$.detail.containers[0].exitCode"
      detail   = "$.detail.containers[0].reason"
    }
    input_template = "\"${local.name}-${var.environment}: Trigger: hourly job failed (ADR 0001). The aggregator task <task> stopped: <stopCode>, <reason>, exit code <exitCode> <detail>. Action: read the task's log and reason, fix, replay the hour; docs/operations.md#hourly-job-failed-slow-not-started-or-missing\""
  }
}
