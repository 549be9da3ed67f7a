"""The run log: one row per job run in a Delta table (``analytics_job_run``).

Operators read it for freshness and failure alerts; the architecture docs name its columns.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakejobs.delta_io import append

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"

RUN_LOG_SCHEMA = T.StructType(
    [
        T.StructField("job_name", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("env", T.StringType(), False),
        T.StructField("client", T.StringType(), True),
        T.StructField("stack", T.StringType(), False),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("completed_at", T.TimestampType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("rows_read", T.LongType(), False),
        T.StructField("rows_written", T.LongType(), False),
        T.StructField("rows_quarantined", T.LongType(), False),
        T.StructField("error_message", T.StringType(), True),
        T.StructField("summary", T.StringType(), True),
    ]
)


@dataclass(frozen=True)
class RunRecord:
    """One job run, as it is written to the run log (field order = column order)."""

    job_name: str
    run_id: str
    env: str
    client: str | None
    stack: str
    started_at: datetime
    completed_at: datetime
    status: str
    rows_read: int
    rows_written: int
    rows_quarantined: int
    error_message: str | None
    summary: str | None = None  # JSON: job-specific figures (e.g. data-quality outcomes)


def append_run(spark: SparkSession, path: str, record: RunRecord) -> None:
    """Append one run to the run log at ``path`` (created on first use)."""
    # mergeSchema: run logs written before the summary column existed gain it on first append
    append(spark.createDataFrame([astuple(record)], RUN_LOG_SCHEMA), path, merge_schema=True)
