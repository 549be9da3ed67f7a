"""Running jobs: run log rows, bookmark commits, failures, and the Glue path (with a stand-in)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakejobs.errors import ConfigError, ConservationError, ContractError, JobArgumentError
from lakejobs.local_rows import rows_frame
from lakejobs.runtime import JobContext, JobResult, JobSpec, run_job
from lakejobs.spark_conf import temporary_conf

RUN_LOG_VIEW = T.StructType(
    [
        T.StructField("job_name", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("env", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("rows_read", T.LongType(), False),
        T.StructField("rows_written", T.LongType(), False),
        T.StructField("rows_quarantined", T.LongType(), False),
        T.StructField("error_message", T.StringType(), True),
    ]
)


def run_log(spark: SparkSession, lake: Path):
    return spark.read.format("delta").load(str(lake / "_lakejobs" / "analytics_job_run")).select(
        *RUN_LOG_VIEW.fieldNames()
    )


def argv(config_file: Path, run_id: str, *extra: str) -> list[str]:
    return ["job.py", "--JOB_NAME", "nightly", "--env", "dev", "--config", str(config_file),
            "--JOB_RUN_ID", run_id, *extra]


def counting_job(context: JobContext) -> JobResult:
    context.bookmarks.advance_watermark("orders", "42")
    return JobResult(rows_read=10, rows_written=8, rows_quarantined=2)


def failing_job(context: JobContext) -> JobResult:
    context.bookmarks.advance_watermark("orders", "99")
    raise ContractError("orders: column 'amount' expected decimal(12,2), got string")


def leaking_job(context: JobContext) -> JobResult:
    context.bookmarks.advance_watermark("orders", "7")
    return JobResult(rows_read=10, rows_written=8, rows_quarantined=1)


COUNTING = JobSpec("counting", "test job", counting_job)


def test_successful_run_appends_one_run_log_row_and_commits_bookmarks(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    outcome = run_job(COUNTING, argv(config_file, "run-1"), spark=spark)
    assert outcome.run_id == "run-1"
    expected = rows_frame(spark,
        [("nightly", "run-1", "dev", "SUCCEEDED", 10, 8, 2, None)], RUN_LOG_VIEW
    )
    assert_df_equality(run_log(spark, lake_root), expected, ignore_nullable=True)
    from lakejobs.bookmarks import BookmarkStore

    store = BookmarkStore(spark, str(lake_root / "_lakejobs" / "job_bookmarks"))
    assert store.load("nightly").watermark("orders") == "42"


def test_failed_run_logs_the_error_and_commits_nothing(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    run_job(COUNTING, argv(config_file, "run-1"), spark=spark)
    with pytest.raises(ContractError):
        run_job(JobSpec("failing", "test job", failing_job), argv(config_file, "run-2"), spark=spark)
    expected = rows_frame(spark,
        [
            ("nightly", "run-1", "dev", "SUCCEEDED", 10, 8, 2, None),
            ("nightly", "run-2", "dev", "FAILED", 0, 0, 0,
             "ContractError: orders: column 'amount' expected decimal(12,2), got string"),
        ],
        RUN_LOG_VIEW,
    )
    assert_df_equality(run_log(spark, lake_root), expected, ignore_row_order=True,
                       ignore_nullable=True)
    from lakejobs.bookmarks import BookmarkStore

    store = BookmarkStore(spark, str(lake_root / "_lakejobs" / "job_bookmarks"))
    assert store.load("nightly").watermark("orders") == "42"


def test_a_run_that_loses_rows_fails_conservation(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    with pytest.raises(ConservationError, match="10 rows read but 8 written \\+ 1 quarantined"):
        run_job(JobSpec("leaking", "test job", leaking_job), argv(config_file, "run-1"), spark=spark)
    row = run_log(spark, lake_root).collect()[0]
    assert (row.status, row.rows_read) == ("FAILED", 10)


def test_missing_argument_fails_before_anything_runs(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    with pytest.raises(JobArgumentError, match="^counting: the following arguments are required: --env$"):
        run_job(COUNTING, ["job.py", "--JOB_NAME", "n"], spark=spark)
    assert not lake_root.exists()


def test_glue_path_uses_glues_session_and_commits_the_job(
    spark: SparkSession, config_file: Path, lake_root: Path, glue_standin: list
) -> None:
    outcome = run_job(COUNTING, argv(config_file, "jr_1", "--TempDir", "s3://tmp"))
    assert outcome.result == JobResult(rows_read=10, rows_written=8, rows_quarantined=2)
    assert glue_standin == [
        ("getResolvedOptions", ("JOB_NAME", "env")),
        ("GlueContext",),
        ("Job.init", "nightly", {"JOB_NAME": "nightly", "env": "dev"}),
        ("Job.commit",),
    ]
    assert [r.run_id for r in run_log(spark, lake_root).collect()] == ["jr_1"]


def zone_job(context: JobContext) -> JobResult:
    return JobResult(summary={"zone": context.spark.conf.get("spark.sql.session.timeZone")})


def test_a_glue_run_reads_and_writes_timestamps_in_utc_whatever_glues_session_says(
    spark: SparkSession, config_file: Path, glue_standin: list
) -> None:
    # local sessions are built in UTC; Glue's session is Glue's, in the zone its JVM runs in
    with temporary_conf(spark, {"spark.sql.session.timeZone": "America/New_York"}):
        outcome = run_job(JobSpec("zone", "test job", zone_job), argv(config_file, "jr_3"))
    assert outcome.result.summary == {"zone": "UTC"}


def test_glue_job_is_not_committed_when_the_run_fails(
    spark: SparkSession, config_file: Path, glue_standin: list
) -> None:
    with pytest.raises(ContractError):
        run_job(JobSpec("failing", "test job", failing_job), argv(config_file, "jr_2"))
    assert ("Job.commit",) not in glue_standin
    assert glue_standin[-1][0] == "Job.init"


def test_missing_argument_gives_the_same_error_on_glue(
    config_file: Path, glue_standin: list
) -> None:
    with pytest.raises(JobArgumentError, match="^counting: the following arguments are required: --env$"):
        run_job(COUNTING, ["job.py", "--JOB_NAME", "n"])
    assert glue_standin == []


def test_client_argument_puts_the_run_under_the_tenant_prefix(
    spark: SparkSession, config_file: Path, lake_root: Path
) -> None:
    run_job(COUNTING, argv(config_file, "run-1", "--client", "acme"), spark=spark)
    tenant_log = spark.read.format("delta").load(
        str(lake_root / "clients" / "acme" / "_lakejobs" / "analytics_job_run"))
    assert [(r.client, r.run_id) for r in tenant_log.collect()] == [("acme", "run-1")]
    assert not (lake_root / "_lakejobs").exists()


def test_invalid_client_argument_is_named(spark: SparkSession, config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--client: lake.client: expected a string matching"):
        run_job(COUNTING, argv(config_file, "run-1", "--client", "../x"), spark=spark)
