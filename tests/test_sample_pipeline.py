"""The sample landing → staging pipeline: conforming, quarantine with reasons, incremental runs."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.sample_customers import RAW_SCHEMA, conform_customers, seed_landing
from lakejobs.config import LakeSettings
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job

STAGING_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.LongType(), True),
        T.StructField("email", T.StringType(), True),
        T.StructField("full_name", T.StringType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("updated_at", T.TimestampType(), True),
    ]
)


def test_conform_types_normalises_and_lists_every_failed_check(spark: SparkSession) -> None:
    raw = rows_frame(spark,
        [
            ("1", " Ada@Example.COM ", " Ada ", "gb", "2026-11-01T08:00:00Z", None),
            ("x2", "bad", "Bob", "us", "soon", None),
            (None, None, None, None, None, "{oops"),
            ("4", "cy@example.com", "Cy", "fr", "08:00", None),  # no date: not today's
        ],
        RAW_SCHEMA,
    ).withColumn("_source_file", F.lit("f.json"))
    actual = conform_customers(raw).select(
        "customer_id", "email", "full_name", "country", "updated_at", "_errors"
    )
    expected = rows_frame(spark,
        [
            (1, "ada@example.com", "Ada", "GB", datetime(2026, 11, 1, 8), []),
            (None, "bad", "Bob", "US", None,
             ["customer_id_not_integer", "email_invalid", "updated_at_not_timestamp"]),
            (None, None, None, None, None, ["malformed_json"]),
            (4, "cy@example.com", "Cy", "FR", None, ["updated_at_not_timestamp"]),
        ],
        T.StructType([*STAGING_SCHEMA.fields,
                      T.StructField("_errors", T.ArrayType(T.StringType(), True), True)]),
    )
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def run_sample(spark: SparkSession, config_file: Path, run_id: str) -> JobResult:
    argv = ["job.py", "--JOB_NAME", "sample_pipeline", "--env", "dev", "--config",
            str(config_file), "--JOB_RUN_ID", run_id]
    return run_job(get_job("sample_pipeline"), argv, spark=spark).result


def test_sample_run_stages_good_rows_quarantines_bad_ones_and_conserves_rows(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    seed_landing(LakePaths(LakeSettings(root=str(lake_root))))
    result = run_sample(spark, config_file, "run-1")
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (12, 7, 5)
    assert result.rows_read == result.rows_written + result.rows_quarantined
    expected_staging = rows_frame(spark,
        [
            (1, "ada.lovelace@example.com", "Ada Lovelace", "GB", datetime(2026, 11, 1, 8, 0)),
            (2, "grace@example.org", "Grace Hopper", "US", datetime(2026, 11, 1, 8, 5)),
            (3, "alan.turing@example.com", "Alan Turing", "GB", datetime(2026, 11, 2, 9, 0)),
            (6, "edsger@example.nl", "Edsger Dijkstra", "NL", datetime(2026, 11, 1, 8, 25)),
            (7, "barbara@example.com", "Barbara Liskov", "US", datetime(2026, 11, 2, 9, 5)),
            (9, "margaret@example.com", "Margaret Hamilton", "US", datetime(2026, 11, 2, 9, 20)),
        ],
        STAGING_SCHEMA,
    )
    staging = spark.read.format("delta").load(str(lake_root / "staging" / "sample_customers"))
    assert_df_equality(staging, expected_staging, ignore_row_order=True, ignore_nullable=True)
    quarantine = spark.read.format("delta").load(str(lake_root / "quarantine" / "sample_customers"))
    reasons = sorted(tuple(r.reasons) for r in quarantine.collect())
    assert reasons == [("customer_id_missing",), ("customer_id_not_integer",), ("email_invalid",),
                       ("malformed_json",), ("updated_at_not_timestamp",)]


def test_rerun_after_success_processes_nothing_and_new_files_only_once(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    paths = LakePaths(LakeSettings(root=str(lake_root)))
    seed_landing(paths)
    run_sample(spark, config_file, "run-1")
    assert run_sample(spark, config_file, "run-2") == JobResult(summary={"files": 0})
    landing = Path(paths.table("landing", "sample_customers"))
    (landing / "customers-2026-11-03.jsonl").write_text(
        '{"customer_id": "2", "email": "grace.h@example.org", "full_name": "Grace Hopper", '
        '"country": "US", "updated_at": "2026-11-03T10:00:00Z"}\n'
    )
    result = run_sample(spark, config_file, "run-3")
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (1, 1, 0)
    staging = spark.read.format("delta").load(str(lake_root / "staging" / "sample_customers"))
    assert [r.email for r in staging.where("customer_id = 2").collect()] == ["grace.h@example.org"]
    assert staging.count() == 6


def test_replaying_the_same_files_after_a_lost_bookmark_changes_nothing(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    seed_landing(LakePaths(LakeSettings(root=str(lake_root))))
    run_sample(spark, config_file, "run-1")
    staging_path = str(lake_root / "staging" / "sample_customers")
    quarantine_path = str(lake_root / "quarantine" / "sample_customers")
    before = (spark.read.format("delta").load(staging_path).collect(),
              spark.read.format("delta").load(quarantine_path).count())
    shutil.rmtree(lake_root / "_lakejobs" / "job_bookmarks")  # as if the commit never happened
    result = run_sample(spark, config_file, "run-2")
    assert result.rows_read == 12
    after = (spark.read.format("delta").load(staging_path).collect(),
             spark.read.format("delta").load(quarantine_path).count())
    assert sorted(after[0]) == sorted(before[0])
    assert after[1] == before[1] == 5
