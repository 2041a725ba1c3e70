# Athena without crawlers: one Glue database and four tables whose partitions are computed by
# partition projection from the exact key layout the pipeline writes,
#   raw/year=YYYY/month=MM/day=DD/hour=HH/part-<uuid>.jsonl[.gz]      the consumer (JSON Lines)
#   curated/year=YYYY/month=MM/day=DD/hour=HH/records.parquet         the hourly job
#   vehicle_stats/year=YYYY/month=MM/day=DD/hour=HH/vehicle_stats.parquet
#   anomalies/year=YYYY/month=MM/day=DD/hour=HH/episodes.jsonl        the hourly job (JSON Lines)
# Partition values are zero-padded strings, as in the keys; filter on them to prune, e.g.
#   WHERE year = '2025' AND month = '10' AND day = '19' AND hour = '12'
# `telemetry query` (app/query.py) gives the first three names and partition columns to DuckDB, so
# a question is written once (docs/queries.md); anomalies is Athena's alone (vehicle_stats.anomalies
# counts the episodes per rule locally too).
#
# curated and vehicle_stats: their columns are app/pipeline_defaults.json's `tables`, the list
# app/aggregator/tables.py writes, decoded here rather than listed twice. Types are Athena's (Hive
# DDL) names. Parquet carries its own types, so Athena reads these files without guessing:
# - timestamp columns are Parquet TIMESTAMP(MICROS, isAdjustedToUTC=true) (INT64); Athena reads
#   Parquet's built-in timestamp types into `timestamp` (a Hive table holds no zone, and Hive
#   `timestamp` is read at millisecond precision: the records carry milliseconds). Values are UTC.
# - vehicle_stats.signals is a Parquet MAP (the standard key_value group) of STRUCTs, declared as
#   map<string,struct<min:double,max:double,mean:double,count:bigint>>; Athena's ParquetHiveSerDe
#   matches columns and struct fields by name (its default for Parquet, stated below), so the
#   order of the struct's fields in a file does not matter.
#
# raw: why the Hive JSON SerDe and why payload is map<string,string> (infra/README.md, "Athena").
# - The data contract accepts numbers and booleans as signal values, integers up to 2^63-1
#   among them. map<string,double> cannot hold them all: a boolean fails a Hive JSON SerDe
#   query outright (and reads as null under OpenX), an integer beyond 2^53 loses digits.
#   map<string,string> takes every scalar as the text it was sent as (true, 85.5,
#   9223372036854775807), which SQL then CASTs: CAST(payload['battery_soc'] AS double).
# - The OpenX JSON SerDe (org.openx.data.jsonserde.JsonSerDe) was used before. AWS's Athena guide
#   says its results "can be non-deterministic": more rows, fewer rows or unexpected nulls, and
#   names the Hive JSON SerDe, or another format, as the workaround. raw keeps the Hive JSON
#   SerDe; the other format is curated, which is what people query.
# - What the change gives up: the Hive JSON SerDe has no ignore.malformed.json, so a line that is
#   not JSON fails the query (HIVE_BAD_DATA naming the file) instead of being skipped. The
#   consumer writes only validated records, so such a line means damage (a truncated gzip) or a
#   foreign writer under raw/: a failing query says so, a skipped line would hide it. The hourly
#   job reports the same line (aggregate_invalid_line, with key and line number), and the
#   curated table never contains it.

locals {
  # Partition projection shared by the four tables: same ranges, same zero padding.
  hour_projection = {
    "projection.enabled"      = "true"
    "projection.year.type"    = "integer"
    "projection.year.range"   = "${var.raw_partition_years.first},${var.raw_partition_years.last}"
    "projection.year.digits"  = "4"
    "projection.month.type"   = "integer"
    "projection.month.range"  = "1,12"
    "projection.month.digits" = "2"
    "projection.day.type"     = "integer"
    "projection.day.range"    = "1,31"
    "projection.day.digits"   = "2"
    "projection.hour.type"    = "integer"
    "projection.hour.range"   = "0,23"
    "projection.hour.digits"  = "2"
  }
  hour_template = "year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/"

  # The hourly job's Parquet tables, named as in app/pipeline_defaults.json (and app/query.py).
  parquet_tables = {
    curated       = { prefix = local.curated_prefix, spec = local.defaults.tables.curated }
    vehicle_stats = { prefix = local.vehicle_stats_prefix, spec = local.defaults.tables.vehicle_stats }
  }
}

resource "aws_glue_catalog_database" "this" {
  name        = replace("${local.name}_${var.environment}", "-", "_")
  description = "Fleet telemetry (${var.environment}): raw records, curated records, per-vehicle statistics and anomaly episodes in s3://${local.bucket_name}"
}

resource "aws_glue_catalog_table" "raw" {
  database_name = aws_glue_catalog_database.this.name
  name          = "raw"
  description   = "Contract v1 records as the consumer writes them (JSON Lines, optionally gzip), duplicates included: the replay window"
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.hour_projection, {
    EXTERNAL                    = "TRUE"
    classification              = "json"
    "storage.location.template" = "s3://${aws_s3_bucket.this.id}/${local.raw_prefix}${local.hour_template}"
  })

  dynamic "partition_keys" {
    for_each = ["year", "month", "day", "hour"]

    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.this.id}/${local.raw_prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat" # reads .jsonl and .jsonl.gz alike
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      name                  = "json"
      serialization_library = "org.apache.hive.hcatalog.data.JsonSerDe" # deterministic, unlike OpenX (see the top of this file)
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
      type    = "map<string,string>"
      comment = "Signal name to value as sent (a number or true/false) in standard units; CAST to use"
    }

    columns {
      name    = "ingest_received_at"
      type    = "string"
      comment = "ISO 8601 UTC, set by the receiver; the hour partition is taken from it"
    }
  }
}

# curated and vehicle_stats: one resource per table of local.parquet_tables, columns from the file.
resource "aws_glue_catalog_table" "parquet" {
  for_each = local.parquet_tables

  database_name = aws_glue_catalog_database.this.name
  name          = each.key
  description   = each.value.spec.description
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.hour_projection, {
    EXTERNAL                    = "TRUE"
    classification              = "parquet"
    "storage.location.template" = "s3://${aws_s3_bucket.this.id}/${each.value.prefix}${local.hour_template}"
  })

  dynamic "partition_keys" {
    for_each = ["year", "month", "day", "hour"]

    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.this.id}/${each.value.prefix}"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format"        = "1"
        "parquet.column.index.access" = "false" # match columns (and struct fields) by name, not position
      }
    }

    dynamic "columns" {
      for_each = each.value.spec.columns

      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }

  lifecycle {
    # Glue's own limits (moto checks none of them): lower-case column names (Athena lower-cases
    # them anyway, and the Parquet files are matched by name), comments up to 255 characters.
    precondition {
      condition = alltrue([
        for c in each.value.spec.columns : can(regex("^[a-z_][a-z0-9_]*$", c.name)) && length(c.comment) <= 255
      ])
      error_message = "app/pipeline_defaults.json tables.${each.key}.columns: every name must be lower-case letters, digits and _ (Athena matches Parquet columns by that name) and every comment at most 255 characters (Glue's limit)."
    }
  }
}

# anomalies: the episodes the hourly job's rules found, one JSON object per line, as
# app/aggregator/job.py:episodes_jsonl writes them (tests/infra/test_terraform_apply.py compares
# the columns with what it writes). An hour without episodes is an empty file. Read like raw, by the
# Hive JSON SerDe (deterministic; a line that is not JSON fails the query, naming the file).
# start and end stay ISO 8601 strings as written, like raw's timestamps: the Hive JSON SerDe does
# not read "...T...Z" into a timestamp; from_iso8601_timestamp("end") does (END is a reserved word
# in Athena's SQL: quote it).
resource "aws_glue_catalog_table" "anomalies" {
  database_name = aws_glue_catalog_database.this.name
  name          = "anomalies"
  description   = "Anomaly episodes of each hour: a rule that held for a vehicle, from when to when, how far beyond its threshold (JSON Lines, the hourly job)"
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.hour_projection, {
    EXTERNAL                    = "TRUE"
    classification              = "json"
    "storage.location.template" = "s3://${aws_s3_bucket.this.id}/${local.anomalies_prefix}${local.hour_template}"
  })

  dynamic "partition_keys" {
    for_each = ["year", "month", "day", "hour"]

    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.this.id}/${local.anomalies_prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      name                  = "json"
      serialization_library = "org.apache.hive.hcatalog.data.JsonSerDe"
    }

    dynamic "columns" {
      for_each = [
        { name = "vehicle_id", type = "string", comment = "Vehicle identifier" },
        { name = "rule", type = "string", comment = "Rule that held (app/anomaly/rules.py RULES; the alarms' Rule dimension)" },
        { name = "start", type = "string", comment = "First sample where it held: ISO 8601 UTC, vehicle clock (silent: the last sample before the gap)" },
        { name = "end", type = "string", comment = "Last sample where it held: ISO 8601 UTC, vehicle clock (silent: the first sample after the gap, or the hour's end)" },
        { name = "peak_value", type = "double", comment = "The value furthest beyond the threshold: a reading, spread, rise, slope (ohm) or duration (s)" },
        { name = "threshold", type = "double", comment = "The limit it exceeded, in the unit of peak_value" },
        { name = "signal", type = "string", comment = "The payload signal concerned (out_of_range, stuck_signal, over_temperature, temperature_rise); empty otherwise" },
      ]

      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}
