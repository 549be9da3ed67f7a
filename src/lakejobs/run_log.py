"""The run log: one row per job run in a Delta table (``analytics_job_run``).

Operators read it for freshness and failure alerts; the architecture docs name its columns.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakejobs.delta_io import append
from lakejobs.local_rows import rows_frame

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


def append_run(spark: SparkSession, path: str, record: RunRecord, *, app_id: str | None = None,
               batch_id: int | None = None) -> None:
    """Append one run to the run log at ``path`` (created on first use).

    Args:
        spark: the session.
        path: the run log's location.
        record: the run.
        app_id: with ``batch_id``, a Delta transaction id that makes the append idempotent: a
            row appended again for the same ``app_id`` and a ``batch_id`` not above the last one
            written is skipped (how a streaming batch replayed after a crash logs itself once,
            as its tables are written once, see
            :func:`lakejobs.streaming.landing_writer.append_once`). Without it every call
            appends a row.
        batch_id: the version of ``app_id`` (a micro-batch id: increasing).

    Raises:
        ValueError: one of ``app_id`` and ``batch_id`` is given without the other.
    """
    if (app_id is None) != (batch_id is None):
        given, missing = ("app_id", "batch_id") if batch_id is None else ("batch_id", "app_id")
        raise ValueError(f"'{missing}' in append_run cannot be None when '{given}' is given")
    # mergeSchema: run logs written before the summary column existed gain it on first append
    append(rows_frame(spark, [astuple(record)], RUN_LOG_SCHEMA), path, merge_schema=True,
           txn=None if app_id is None else (app_id, batch_id))
