# Athena over raw/ without crawlers: partition projection must produce the consumer's exact keys,
#   raw/year=YYYY/month=MM/day=DD/hour=HH/part-<uuid>.jsonl

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
}

run "projection_matches_the_object_layout" {
  command = apply

  assert {
    condition     = aws_glue_catalog_table.raw.parameters["storage.location.template"] == "s3://${aws_s3_bucket.this.id}/raw/year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/"
    error_message = "The location template must be raw/year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/ in the data bucket."
  }

  assert {
    condition     = aws_glue_catalog_table.raw.partition_keys[*].name == tolist(["year", "month", "day", "hour"])
    error_message = "Partition keys must be year, month, day, hour, in the key's order."
  }

  assert {
    condition = (
      aws_glue_catalog_table.raw.parameters["projection.enabled"] == "true" &&
      aws_glue_catalog_table.raw.parameters["projection.year.digits"] == "4" &&
      aws_glue_catalog_table.raw.parameters["projection.month.range"] == "1,12" && aws_glue_catalog_table.raw.parameters["projection.month.digits"] == "2" &&
      aws_glue_catalog_table.raw.parameters["projection.day.range"] == "1,31" && aws_glue_catalog_table.raw.parameters["projection.day.digits"] == "2" &&
      aws_glue_catalog_table.raw.parameters["projection.hour.range"] == "0,23" && aws_glue_catalog_table.raw.parameters["projection.hour.digits"] == "2"
    )
    error_message = "Projection must enumerate zero-padded months, days and hours (MM, DD, HH) as the consumer writes them."
  }

  assert {
    condition = {
      for c in aws_glue_catalog_table.raw.storage_descriptor[0].columns : c.name => c.type
      } == {
      timestamp          = "string"
      vehicle_id         = "string"
      can_id             = "string"
      payload            = "map<string,double>"
      ingest_received_at = "string"
    }
    error_message = "Columns must be the v1 record fields."
  }

  assert {
    condition     = aws_glue_catalog_table.raw.storage_descriptor[0].ser_de_info[0].serialization_library == "org.openx.data.jsonserde.JsonSerDe" && aws_glue_catalog_table.raw.storage_descriptor[0].location == "s3://${aws_s3_bucket.this.id}/raw/"
    error_message = "The table must read JSON Lines under raw/."
  }
}
