# Athena without crawlers: one Glue database, four tables whose partitions are computed by
# partition projection from the object layout the pipeline writes,
#   raw/year=YYYY/month=MM/day=DD/hour=HH/part-<uuid>.jsonl[.gz]   (the consumer)
#   curated/year=.../hour=HH/records.parquet                       (the hourly job)
#   vehicle_stats/year=.../hour=HH/vehicle_stats.parquet           (the hourly job)
#   anomalies/year=.../hour=HH/episodes.jsonl                      (the hourly job)
# The Parquet tables' columns are app/pipeline_defaults.json's `tables`, the list the job writes;
# each assertion re-reads that file rather than trusting the module.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  image_tag   = "0123abc"
  shared      = jsondecode(file("../app/pipeline_defaults.json"))
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
    condition     = aws_glue_catalog_table.raw.storage_descriptor[0].location == "s3://${aws_s3_bucket.this.id}/raw/"
    error_message = "The raw table must read the JSON Lines under raw/."
  }
}

# The contract accepts numbers and booleans as signal values, integers up to 2^63-1 among them.
# map<string,double> cannot hold a boolean (the Hive JSON SerDe fails the query on one; the
# OpenX SerDe turns it into null) nor an integer beyond 2^53 exactly; map<string,string> holds
# every value as the text it was sent as, to be CAST in SQL (docs/queries.md, app/query.py).
run "raw_reads_every_record_the_contract_accepts" {
  command = apply

  assert {
    condition = {
      for c in aws_glue_catalog_table.raw.storage_descriptor[0].columns : c.name => c.type
      } == {
      timestamp          = "string"
      vehicle_id         = "string"
      can_id             = "string"
      payload            = "map<string,string>"
      ingest_received_at = "string"
    }
    error_message = "raw must declare the v1 record fields with payload as map<string,string>: map<string,double> loses booleans and integers beyond 2^53 that the contract accepts."
  }

  # AWS's Athena guide: the OpenX JSON SerDe "can be non-deterministic" (more rows, fewer rows,
  # unexpected nulls); its stated workaround is the Hive JSON SerDe (infra/glue.tf says why).
  assert {
    condition = (
      aws_glue_catalog_table.raw.storage_descriptor[0].ser_de_info[0].serialization_library == "org.apache.hive.hcatalog.data.JsonSerDe" &&
      aws_glue_catalog_table.raw.storage_descriptor[0].input_format == "org.apache.hadoop.mapred.TextInputFormat"
    )
    error_message = "raw must be read with the Hive JSON SerDe (org.apache.hive.hcatalog.data.JsonSerDe) over TextInputFormat, not the OpenX SerDe AWS calls non-deterministic."
  }
}

run "curated_and_vehicle_stats_are_the_jobs_parquet_tables" {
  command = apply

  # Columns: exactly the file's list, in its order, with its types and comments.
  assert {
    condition = [
      for c in aws_glue_catalog_table.parquet["curated"].storage_descriptor[0].columns : { name = c.name, type = c.type, comment = c.comment }
      ] == [
      for c in var.shared.tables.curated.columns : { name = c.name, type = c.type, comment = c.comment }
    ]
    error_message = "curated's columns (names, types, comments, order) must be app/pipeline_defaults.json tables.curated.columns, the list the hourly job writes."
  }

  assert {
    condition = [
      for c in aws_glue_catalog_table.parquet["vehicle_stats"].storage_descriptor[0].columns : { name = c.name, type = c.type, comment = c.comment }
      ] == [
      for c in var.shared.tables.vehicle_stats.columns : { name = c.name, type = c.type, comment = c.comment }
    ]
    error_message = "vehicle_stats's columns (names, types, comments, order) must be app/pipeline_defaults.json tables.vehicle_stats.columns, the list the hourly job writes."
  }

  assert {
    condition     = aws_glue_catalog_table.parquet["curated"].name == "curated" && aws_glue_catalog_table.parquet["vehicle_stats"].name == "vehicle_stats"
    error_message = "The Athena tables must be named curated and vehicle_stats, as telemetry query (app/query.py) names them locally."
  }

  assert {
    condition = alltrue([
      for t in [aws_glue_catalog_table.parquet["curated"], aws_glue_catalog_table.parquet["vehicle_stats"]] :
      t.storage_descriptor[0].ser_de_info[0].serialization_library == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" &&
      t.storage_descriptor[0].input_format == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat" &&
      t.storage_descriptor[0].output_format == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat" &&
      t.parameters["classification"] == "parquet" && t.table_type == "EXTERNAL_TABLE"
    ])
    error_message = "curated and vehicle_stats must be external Parquet tables: ParquetHiveSerDe with MapredParquetInputFormat/OutputFormat, classification parquet."
  }

  # Partition projection exactly like raw's, over each table's own prefix.
  assert {
    condition = (
      aws_glue_catalog_table.parquet["curated"].parameters["storage.location.template"] == "s3://${aws_s3_bucket.this.id}/${var.shared.curated_prefix}year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/" &&
      aws_glue_catalog_table.parquet["vehicle_stats"].parameters["storage.location.template"] == "s3://${aws_s3_bucket.this.id}/${var.shared.vehicle_stats_prefix}year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/"
    )
    error_message = "The location templates must be <prefix>year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/ under curated_prefix and vehicle_stats_prefix of app/pipeline_defaults.json."
  }

  assert {
    condition = alltrue([
      for t in [aws_glue_catalog_table.parquet["curated"], aws_glue_catalog_table.parquet["vehicle_stats"]] :
      t.partition_keys[*].name == tolist(["year", "month", "day", "hour"]) &&
      alltrue([for k in t.partition_keys : k.type == "string"]) &&
      { for k, v in t.parameters : k => v if startswith(k, "projection.") } == { for k, v in aws_glue_catalog_table.raw.parameters : k => v if startswith(k, "projection.") }
    ])
    error_message = "curated and vehicle_stats must be partitioned by year, month, day, hour (strings) with raw's projection (same ranges, same zero padding)."
  }

  assert {
    condition = (
      aws_glue_catalog_table.parquet["curated"].storage_descriptor[0].location == "s3://${aws_s3_bucket.this.id}/${var.shared.curated_prefix}" &&
      aws_glue_catalog_table.parquet["vehicle_stats"].storage_descriptor[0].location == "s3://${aws_s3_bucket.this.id}/${var.shared.vehicle_stats_prefix}"
    )
    error_message = "Each Parquet table's location must be its prefix in the data bucket."
  }

  assert {
    condition     = output.glue_database == aws_glue_catalog_database.this.name && output.athena_tables == { for t in ["raw", "curated", "vehicle_stats", "anomalies"] : t => "${aws_glue_catalog_database.this.name}.${t}" }
    error_message = "The glue_database and athena_tables outputs must name the database and its four tables (docs/queries.md uses them)."
  }
}

# The hourly job's anomaly episodes (app/aggregator/job.py:episodes_jsonl), one JSON object per
# line under anomalies/: read like raw (Hive JSON SerDe), partitioned like the other three, with
# the keys the job writes as columns (the moto apply test compares them with a written line).
run "anomalies_reads_the_hourly_jobs_episodes" {
  command = apply

  assert {
    condition = [
      for c in aws_glue_catalog_table.anomalies.storage_descriptor[0].columns : "${c.name} ${c.type}"
      ] == [
      "vehicle_id string", "rule string", "start string", "end string", "peak_value double", "threshold double", "signal string",
    ]
    error_message = "anomalies must declare the episode's keys in the job's order: vehicle_id, rule, start, end (ISO 8601 strings, as raw's timestamps), peak_value, threshold (double), signal."
  }

  assert {
    condition = (
      aws_glue_catalog_table.anomalies.storage_descriptor[0].ser_de_info[0].serialization_library == "org.apache.hive.hcatalog.data.JsonSerDe" &&
      aws_glue_catalog_table.anomalies.storage_descriptor[0].input_format == "org.apache.hadoop.mapred.TextInputFormat" &&
      aws_glue_catalog_table.anomalies.parameters["classification"] == "json" && aws_glue_catalog_table.anomalies.table_type == "EXTERNAL_TABLE"
    )
    error_message = "anomalies must be an external JSON table read by the Hive JSON SerDe over TextInputFormat, as raw is."
  }

  assert {
    condition = (
      aws_glue_catalog_table.anomalies.storage_descriptor[0].location == "s3://${aws_s3_bucket.this.id}/${var.shared.anomalies_prefix}" &&
      aws_glue_catalog_table.anomalies.parameters["storage.location.template"] == "s3://${aws_s3_bucket.this.id}/${var.shared.anomalies_prefix}year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/"
    )
    error_message = "anomalies must read anomalies_prefix of app/pipeline_defaults.json, partitioned as <prefix>year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/ (Hour.partition)."
  }

  assert {
    condition = (
      aws_glue_catalog_table.anomalies.partition_keys[*].name == tolist(["year", "month", "day", "hour"]) &&
      alltrue([for k in aws_glue_catalog_table.anomalies.partition_keys : k.type == "string"]) &&
      { for k, v in aws_glue_catalog_table.anomalies.parameters : k => v if startswith(k, "projection.") } == { for k, v in aws_glue_catalog_table.raw.parameters : k => v if startswith(k, "projection.") }
    )
    error_message = "anomalies must be partitioned by year, month, day, hour (strings) with raw's projection."
  }

  assert {
    condition     = alltrue([for c in aws_glue_catalog_table.anomalies.storage_descriptor[0].columns : length(c.comment) <= 255])
    error_message = "Glue refuses column comments over 255 characters."
  }
}
