"""Incremental inputs: which files, or which rows, a job has not processed yet.

Both helpers stage what they hand out in the job's :class:`JobBookmarks`; the runtime commits it
only when the run succeeds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.bookmarks import JobBookmarks, WatermarkBatch, by_commit
from lakejobs.commit_versions import COMMIT_VERSION, tracks_rows, with_commit_version
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
    """Rows of ``df`` whose ``column`` is above the committed watermark, up to the new maximum it
    stages (a row that arrives meanwhile, even in a table read again by every action, waits
    for the next run instead of being read now and again then).

    The watermark is kept as text and cast back to the column's type for the comparison (a
    timestamp as UTC text, whatever the session's time zone).
    """
    committed = bookmarks.watermark(source)
    highest = _highest(df, column, committed)
    if highest is None:
        return df.limit(0)
    bookmarks.advance_watermark(source, highest)
    return _between(df, column, committed, highest)


def by_commit_version(
    df: DataFrame, bookmarks: JobBookmarks, source: str, column: str
) -> tuple[DataFrame, str, str]:
    """How to read ``df`` (a Delta table read) incrementally: (frame, bookmark, column) for
    :func:`rows_after_watermark` or :func:`watermark_batches`; drop :data:`COMMIT_VERSION`
    from what they hand out.

    A table that tracks its rows' commit versions is read by them, under the bookmark
    :func:`~lakejobs.bookmarks.by_commit` of ``source``: a row is new when it was committed
    after the last run, whenever its writer stamped ``column`` (see
    :mod:`lakejobs.commit_versions`). A table that does not is read by ``column``. So is the
    first run after a table began to track rows when ``source`` already has a watermark (or a
    failed run's batches) by ``column``: it still says what was taken in, while every row holds
    the backfill's version. That run stages the table's highest commit version, read before the
    rows it takes, as the commit watermark: a row committed meanwhile is read by the next run.
    """
    if not tracks_rows(df):
        return df, source, column
    commits = by_commit(source)
    versioned = with_commit_version(df)
    if bookmarks.watermark(commits) is None and (
            bookmarks.watermark(source) is not None or bookmarks.pending_batches(source)):
        highest = versioned.agg(F.max(COMMIT_VERSION)).first()[0]
        if highest is not None:
            bookmarks.advance_watermark(commits, str(highest))
        return versioned, source, column
    return versioned, commits, COMMIT_VERSION


def watermark_batches(
    df: DataFrame, bookmarks: JobBookmarks, source: str, column: str
) -> list[tuple[WatermarkBatch, DataFrame]]:
    """The rows of ``df`` above the committed watermark as batches, each with its rows, for a
    job whose writes must not take a batch twice (see :class:`WatermarkBatch`).

    The batches failed runs opened come first, with their very bounds and ids, so the retry
    reads their rows again (no more: rows that arrived since wait for the next batch); then a
    new batch up to the current maximum, recorded before it is handed out. The last batch's upper bound
    is staged as the watermark. [] when nothing is new.
    """
    batches = bookmarks.pending_batches(source)
    lower = batches[-1].upper if batches else bookmarks.watermark(source)
    highest = _highest(df, column, lower)
    if highest is not None:
        batches.append(bookmarks.open_batch(source, lower, highest))
    if batches:
        bookmarks.advance_watermark(source, batches[-1].upper)
    return [(b, _between(df, column, b.lower, b.upper)) for b in batches]


def _highest(df: DataFrame, column: str, above: str | None) -> str | None:
    """The highest value of ``column`` above ``above`` (None: any), as text; None if none."""
    fresh = df if above is None else df.where(F.col(column) > _typed(df, column, above))
    if _is_instant(df, column):
        # not cast to text, which writes the session zone's wall clock: in a zone with summer
        # time that names two instants in the hour the clocks go back (and another session zone
        # reads it back as another instant); microseconds since the epoch name one
        row = fresh.agg(F.unix_micros(F.max(column)).alias("high")).first()
        return None if row is None or row.high is None else _utc_text(row.high)
    row = fresh.agg(F.max(column).cast("string").alias("high")).first()
    return None if row is None else row.high


def _between(df: DataFrame, column: str, lower: str | None, upper: str | None) -> DataFrame:
    """Rows with ``column`` above ``lower`` (None: unbounded) and at most ``upper``."""
    if upper is None:
        return df.limit(0)
    rows = df.where(F.col(column) <= _typed(df, column, upper))
    return rows if lower is None else rows.where(F.col(column) > _typed(df, column, lower))


def _typed(df: DataFrame, column: str, value: str) -> Column:
    if _is_instant(df, column):
        # the text is UTC (see _highest); said so, the session's zone does not apply
        return F.lit(f"{value}Z").cast(T.TimestampType())
    return F.lit(value).cast(df.schema[column].dataType)


def _is_instant(df: DataFrame, column: str) -> bool:
    return isinstance(df.schema[column].dataType, T.TimestampType)


def _utc_text(micros: int) -> str:
    """An instant as UTC text in Spark's format (``2026-11-01 09:00:00[.123]``)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond:06d}".rstrip("0") if moment.microsecond else text
