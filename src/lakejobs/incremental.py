"""Incremental inputs: which files, or which rows, a job has not processed yet.

Both helpers stage what they hand out in the job's :class:`JobBookmarks`; the runtime commits it
only when the run succeeds.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.bookmarks import JobBookmarks
from lakejobs.hadoop_files import file_system


def list_files(spark: SparkSession, path: str) -> list[str]:
    """Data files below ``path`` (recursively), as fully qualified URIs; [] if it does not exist.

    Hidden and marker files (``_SUCCESS``, ``.crc``, ``_delta_log``) are left out. Hadoop's file
    system API is used so that the same code lists local folders and S3 prefixes.
    """
    fs, hadoop_path = file_system(spark, path)
    if not fs.exists(hadoop_path):
        return []
    files = []
    iterator = fs.listFiles(hadoop_path, True)
    while iterator.hasNext():
        file_path = iterator.next().getPath()
        segments = file_path.toUri().getPath().split("/")
        if not any(s.startswith(("_", ".")) for s in segments[-2:]):
            files.append(file_path.toString())
    return sorted(files)


def new_files(spark: SparkSession, bookmarks: JobBookmarks, source: str, path: str) -> list[str]:
    """Files below ``path`` that no committed run of this job processed; staged as processed."""
    fresh = bookmarks.unprocessed(source, list_files(spark, path))
    bookmarks.mark_processed(source, fresh)
    return fresh


def rows_after_watermark(
    df: DataFrame, bookmarks: JobBookmarks, source: str, column: str
) -> DataFrame:
    """Rows of ``df`` whose ``column`` is above the committed watermark; stages the new maximum.

    The watermark is kept as text and cast back to the column's type for the comparison.
    """
    committed = bookmarks.watermark(source)
    fresh = df
    if committed is not None:
        fresh = df.where(F.col(column) > F.lit(committed).cast(df.schema[column].dataType))
    highest = fresh.agg(F.max(column).cast("string").alias("high")).first()
    if highest is not None and highest.high is not None:
        bookmarks.advance_watermark(source, highest.high)
    return fresh
