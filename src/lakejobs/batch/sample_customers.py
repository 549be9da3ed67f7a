"""A small landing → staging pipeline for customers: the sample the README's first command runs.

New JSON-lines files in the landing zone are conformed (types, trimmed lower-case e-mails, UTC
timestamps); rows that fail a check go to quarantine with their reasons, the rest are upserted
into a staging Delta table by ``customer_id``, newest ``updated_at`` winning. Inputs are tracked
by the library's bookmarks, and both writes are idempotent merges, so a rerun or a replay after a
crash changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import failed_checks, fitting_text_cast_sql, try_cast
from lakejobs.delta_io import insert_new, upsert_latest
from lakejobs.incremental import new_files
from lakejobs.paths import LakePaths
from lakejobs.resources import bundled_path
from lakejobs.runtime import JobContext, JobResult

SOURCE = "sample_customers"
RAW_COLUMNS = ("customer_id", "email", "full_name", "country", "updated_at")
RAW_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType(), True) for c in RAW_COLUMNS]
    + [T.StructField("_corrupt_record", T.StringType(), True)]
)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"


def conform_customers(raw: DataFrame) -> DataFrame:
    """Typed, normalised customers with an ``_errors`` array of failed checks per row."""
    customer_id = try_cast("customer_id", "BIGINT")
    email = F.lower(F.trim(F.col("email")))
    updated_at = fitting_text_cast_sql("updated_at", "timestamp")  # a time alone is not today
    checks = {
        "malformed_json": F.col("_corrupt_record").isNotNull(),
        "customer_id_missing": F.col("customer_id").isNull() & F.col("_corrupt_record").isNull(),
        "customer_id_not_integer": F.col("customer_id").isNotNull() & customer_id.isNull(),
        "email_invalid": F.col("_corrupt_record").isNull() & ~F.coalesce(
            email.rlike(EMAIL_PATTERN), F.lit(False)
        ),
        "updated_at_not_timestamp": F.col("updated_at").isNotNull() & updated_at.isNull(),
    }
    return raw.select(
        customer_id.alias("customer_id"),
        email.alias("email"),
        F.trim(F.col("full_name")).alias("full_name"),
        F.upper(F.trim(F.col("country"))).alias("country"),
        updated_at.alias("updated_at"),
        F.coalesce(
            F.col("_corrupt_record"), F.to_json(F.struct(*[F.col(c) for c in RAW_COLUMNS]))
        ).alias("_raw_record"),
        F.col("_source_file"),
        failed_checks(checks).alias("_errors"),
    )


def latest_per_customer(good: DataFrame) -> DataFrame:
    """One row per ``customer_id``: the one with the latest ``updated_at``."""
    newest_first = Window.partitionBy("customer_id").orderBy(
        F.col("updated_at").desc_nulls_last(), F.col("_source_file").desc()
    )
    return (
        good.withColumn("_rank", F.row_number().over(newest_first))
        .where(F.col("_rank") == 1)
        .select("customer_id", "email", "full_name", "country", "updated_at")
    )


def quarantine_rows(bad: DataFrame, run_id: str) -> DataFrame:
    """Quarantine records: the original record, where it came from and why it was rejected."""
    return bad.select(
        F.lit(SOURCE).alias("source"),
        F.col("_source_file").alias("source_file"),
        F.sha2(F.col("_raw_record"), 256).alias("record_hash"),
        F.col("_raw_record").alias("raw_record"),
        F.col("_errors").alias("reasons"),
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def run(context: JobContext) -> JobResult:
    """Process new landing files of the sample customers into staging and quarantine."""
    spark, paths = context.spark, context.paths
    files = new_files(spark, context.bookmarks, SOURCE, paths.table("landing", SOURCE))
    if not files:
        return JobResult(summary={"files": 0})
    raw = (
        spark.read.schema(RAW_SCHEMA)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .json(files)
        .withColumn("_source_file", F.col("_metadata.file_path"))
    )
    conformed = conform_customers(raw).persist()
    good = conformed.where(F.size("_errors") == 0)
    bad = conformed.where(F.size("_errors") > 0)
    counts = conformed.groupBy((F.size("_errors") > 0).alias("bad")).count().collect()
    n_bad = sum(r["count"] for r in counts if r.bad)
    n_good = sum(r["count"] for r in counts if not r.bad)
    upsert_latest(
        latest_per_customer(good), paths.table("staging", SOURCE), ["customer_id"], "updated_at"
    )
    insert_new(
        quarantine_rows(bad, context.run_id),
        paths.table("quarantine", SOURCE),
        ["source_file", "record_hash"],
    )
    conformed.unpersist()
    return JobResult(
        rows_read=n_good + n_bad,
        rows_written=n_good,
        rows_quarantined=n_bad,
        summary={"files": len(files)},
    )


def seed_landing(paths: LakePaths) -> list[str]:
    """Copy the bundled sample files into the local landing zone; existing files are kept."""
    target = Path(paths.table("landing", SOURCE))
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for sample in sorted(bundled_path("samples", "customers").glob("*.jsonl")):
        destination = target / sample.name
        if not destination.exists():
            shutil.copyfile(sample, destination)
            copied.append(str(destination))
    return copied
