"""Incremental state owned by the library: the role AWS Glue job bookmarks play.

Per job, the store keeps *watermarks* (the highest value of an ordering column already processed)
and *processed-input sets* (files already read) in a small Delta table in the lake's system zone,
so batch jobs are incremental locally and on Glue alike. A job stages what it processed while it
runs; the runtime commits the staged state in one Delta append only after the job succeeded, so
a failed run commits nothing and its inputs are processed again next time.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.delta_io import append, is_delta_table, read_delta
from lakejobs.paths import validate_name

WATERMARK = "watermark"
FILE = "file"

BOOKMARK_SCHEMA = T.StructType(
    [
        T.StructField("job_name", T.StringType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("kind", T.StringType(), False),
        T.StructField("value", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("committed_at", T.TimestampType(), False),
    ]
)


@dataclass
class JobBookmarks:
    """The committed state of one job, plus what the current run has staged."""

    spark: SparkSession
    job_name: str
    watermarks: dict[str, str]
    processed: DataFrame
    staged: list[tuple[str, str, str]] = field(default_factory=list)
    _done: dict[str, set[str]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def watermark(self, source: str) -> str | None:
        """The last committed watermark of ``source``, or None before the first run."""
        return self.watermarks.get(source)

    def advance_watermark(self, source: str, value: str) -> None:
        """Stage a new watermark for ``source``; it takes effect when the run commits."""
        self.staged.append((validate_name(source, "source"), WATERMARK, str(value)))

    def unprocessed(self, source: str, inputs: Sequence[str]) -> list[str]:
        """The inputs of ``source`` not processed by an earlier committed run, sorted.

        The job's processed inputs are read once per run, on first use (a job lists its inputs
        in memory anyway, so their bookmarks fit there too).
        """
        if not inputs:
            return []
        with self._lock:  # tables of one job may ask from several threads
            if self._done is None:
                self._done = defaultdict(set)
                for row in self.processed.collect():
                    self._done[row.source].add(row.value)
        done = self._done.get(source, set())
        return sorted({i for i in inputs if i not in done})

    def mark_processed(self, source: str, inputs: Iterable[str]) -> None:
        """Stage ``inputs`` of ``source`` as processed; they count once the run commits."""
        name = validate_name(source, "source")
        self.staged.extend((name, FILE, i) for i in inputs)


class BookmarkStore:
    """Reads and commits :class:`JobBookmarks` in a Delta table at ``path``."""

    def __init__(self, spark: SparkSession, path: str) -> None:
        self.spark = spark
        self.path = path

    def load(self, job_name: str) -> JobBookmarks:
        """The committed state of ``job_name`` (empty before its first successful run)."""
        rows = read_delta(self.spark, self.path, BOOKMARK_SCHEMA).where(
            F.col("job_name") == job_name
        )
        latest = (
            rows.where(F.col("kind") == WATERMARK)
            .groupBy("source")
            .agg(F.max_by("value", "committed_at").alias("value"))
            .collect()  # one row per source of one job: bounded by the job's inputs
        )
        processed = rows.where(F.col("kind") == FILE).select("source", "value")
        return JobBookmarks(
            spark=self.spark,
            job_name=job_name,
            watermarks={r.source: r.value for r in latest},
            processed=processed,
        )

    def commit(self, bookmarks: JobBookmarks, run_id: str) -> int:
        """Append the staged state of a successful run in one transaction; returns rows written."""
        if not bookmarks.staged:
            return 0
        now = datetime.now(UTC)  # aware, so pyspark stores it as UTC whatever the local zone
        rows = [
            (bookmarks.job_name, source, kind, value, run_id, now)
            for source, kind, value in bookmarks.staged
        ]
        append(self.spark.createDataFrame(rows, BOOKMARK_SCHEMA), self.path)
        bookmarks.staged.clear()
        return len(rows)

    def reset(self, job_name: str, source: str | None = None) -> None:
        """Forget the state of a job (or of one of its sources), e.g. before a backfill."""
        if not is_delta_table(self.spark, self.path):
            return
        from delta.tables import DeltaTable

        condition = F.col("job_name") == job_name
        if source is not None:
            condition = condition & (F.col("source") == source)
        DeltaTable.forPath(self.spark, self.path).delete(condition)
