# Athena over raw/ without crawlers: a Glue table whose partitions are computed by partition
# projection from the consumer's exact key layout,
#   s3://BUCKET/raw/year=YYYY/month=MM/day=DD/hour=HH/part-<uuid>.jsonl[.gz]
# Partition values are zero-padded strings, as in the keys; filter on them to prune, e.g.
#   WHERE year = '2025' AND month = '10' AND day = '19' AND hour = '12'

resource "aws_glue_catalog_database" "this" {
  name        = replace("${local.name}_${var.environment}", "-", "_")
  description = "Fleet telemetry (${var.environment}): raw records in s3://${local.bucket_name}/${local.raw_prefix}"
}

resource "aws_glue_catalog_table" "raw" {
  database_name = aws_glue_catalog_database.this.name
  name          = "raw"
  description   = "Contract v1 records as the consumer writes them (JSON Lines, optionally gzip)"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                    = "TRUE"
    classification              = "json"
    "projection.enabled"        = "true"
    "projection.year.type"      = "integer"
    "projection.year.range"     = "${var.raw_partition_years.first},${var.raw_partition_years.last}"
    "projection.year.digits"    = "4"
    "projection.month.type"     = "integer"
    "projection.month.range"    = "1,12"
    "projection.month.digits"   = "2"
    "projection.day.type"       = "integer"
    "projection.day.range"      = "1,31"
    "projection.day.digits"     = "2"
    "projection.hour.type"      = "integer"
    "projection.hour.range"     = "0,23"
    "projection.hour.digits"    = "2"
    "storage.location.template" = "s3://${aws_s3_bucket.this.id}/${local.raw_prefix}year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/"
  }

  dynamic "partition_keys" {
    for_each = ["year", "month", "day", "hour"]

    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.this.id}/${local.raw_prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      name                  = "json"
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters = {
        "ignore.malformed.json" = "true" # one bad line must not fail a whole query
        "case.insensitive"      = "false"
      }
    }

    columns {
      name    = "timestamp"
      type    = "string"
      comment = "ISO 8601 UTC, set by the vehicle (may be skewed)"
    }

    columns {
      name    = "vehicle_id"
      type    = "string"
      comment = "Vehicle identifier"
    }

    columns {
      name    = "can_id"
      type    = "string"
      comment = "Hex CAN identifier, e.g. 0x1F0"
    }

    columns {
      name    = "payload"
      type    = "map<string,double>"
      comment = "Signal name to value in standard units"
    }

    columns {
      name    = "ingest_received_at"
      type    = "string"
      comment = "ISO 8601 UTC, set by the receiver; the hour partition is taken from it"
    }
  }
}
