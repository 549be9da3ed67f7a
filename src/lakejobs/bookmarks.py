"""Incremental state owned by the library: the role AWS Glue job bookmarks play.

Per job, the store keeps *watermarks* (the highest value of an ordering column already processed)
and *processed-input sets* (files already read) in a small Delta table in the lake's system zone,
so batch jobs are incremental locally and on Glue alike. A job stages what it processed while it
runs; the runtime commits the staged state in one Delta append only after the job succeeded, so
a failed run commits nothing and its inputs are processed again next time.

A job whose writes add up (counters: a retry must not add a batch twice) also records each
*watermark batch* it opens, committed at once (:meth:`JobBookmarks.open_batch`): a retry of a
failed run finds the batch and reads exactly its rows again, under the same batch id, so that
writes made idempotent by that id (Delta transaction ids) skip what the failed run committed.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from lakejobs.delta_io import append, is_delta_table, read_delta
from lakejobs.local_rows import rows_frame
from lakejobs.paths import validate_name

WATERMARK = "watermark"
FILE = "file"
PENDING = "pending"  # a watermark batch a run opened (committed when opened, see open_batch)

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


def by_commit(source: str) -> str:
    """The bookmark of ``source``'s commit-version watermark, kept beside its other state (a
    source of a staging table that tracks its rows: see :mod:`lakejobs.commit_versions`)."""
    return f"{source}.commits"


@dataclass(frozen=True)
class WatermarkBatch:
    """Rows of a source whose watermark column is above ``lower`` (None: from the start) and at
    most ``upper``; ``batch_id`` names the batch's idempotent writes."""

    lower: str | None
    upper: str
    batch_id: str

    def to_json(self) -> str:
        return json.dumps({"lower": self.lower, "upper": self.upper, "batch_id": self.batch_id})

    @classmethod
    def from_json(cls, text: str) -> WatermarkBatch:
        value = json.loads(text)
        return cls(value["lower"], value["upper"], value["batch_id"])


@dataclass
class JobBookmarks:
    """The committed state of one job, plus what the current run has staged."""

    spark: SparkSession
    job_name: str
    watermarks: dict[str, str]
    processed: DataFrame
    staged: list[tuple[str, str, str]] = field(default_factory=list)
    # per source, the batches opened since its watermark was last committed, oldest first
    opened: dict[str, list[WatermarkBatch]] = field(default_factory=dict)
    record_now: Callable[[str, str, str], None] | None = field(default=None, repr=False)
    _done: dict[str, set[str]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def watermark(self, source: str) -> str | None:
        """The last committed watermark of ``source``, or None before the first run."""
        return self.watermarks.get(source)

    def advance_watermark(self, source: str, value: str) -> None:
        """Stage a new watermark for ``source``; it takes effect when the run commits."""
        self.staged.append((validate_name(source, "source"), WATERMARK, str(value)))

    def pending_batches(self, source: str) -> list[WatermarkBatch]:
        """The batches failed runs opened for ``source`` and did not commit, in order: the one
        starting at the committed watermark, the one starting where it ends, and so on (each
        retry reads its predecessors' batches again before opening its own)."""
        chain: list[WatermarkBatch] = []
        lower = self.watermark(source)
        for batch in self.opened.get(source, []):
            if batch.lower == lower:
                chain.append(batch)
                lower = batch.upper
        return chain

    def open_batch(self, source: str, lower: str | None, upper: str) -> WatermarkBatch:
        """Record the batch ``(lower, upper]`` of ``source`` this run is about to read, committed
        now, before anything is written from it (see :meth:`pending_batches`)."""
        if self.record_now is None:
            raise ValueError(f"bookmarks of {self.job_name}: loaded without a run to record for")
        batch = WatermarkBatch(lower, str(upper), uuid.uuid4().hex)
        self.record_now(validate_name(source, "source"), PENDING, batch.to_json())
        self.opened.setdefault(source, []).append(batch)
        return batch

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

    def load(self, job_name: str, run_id: str | None = None) -> JobBookmarks:
        """The committed state of ``job_name`` (empty before its first successful run); with
        ``run_id``, the run can record the watermark batches it opens."""
        rows = read_delta(self.spark, self.path, BOOKMARK_SCHEMA).where(
            F.col("job_name") == job_name
        )
        # One query reading the table once: per source, the latest committed watermark and the
        # batches opened after it (a successful run commits its watermark after every batch it
        # opened: failed runs' batches only). Joining the batches to an aggregation of the same
        # rows reads the table twice, and Delta lists its files once more at execution (the
        # second read's attributes differ from those its file list was prepared for).
        by_source = Window.partitionBy("source")
        is_mark = F.col("kind") == WATERMARK
        marked_at = F.max(F.when(is_mark, F.col("committed_at"))).over(by_source)
        mark = F.max_by(F.when(is_mark, F.col("value")),
                        F.when(is_mark, F.col("committed_at"))).over(by_source)
        wanted = (
            rows.where(F.col("kind").isin(WATERMARK, PENDING))
            .select("source", "kind", "value", "committed_at", marked_at.alias("marked_at"),
                    mark.alias("mark"))
            .where((is_mark & (F.col("committed_at") == F.col("marked_at")))
                   | (~is_mark & (F.col("marked_at").isNull()
                                  | (F.col("committed_at") > F.col("marked_at")))))
            .orderBy("committed_at")
            .collect()  # per source its watermark and failed runs' batches: bounded
        )
        watermarks = {r.source: r.mark for r in wanted if r.kind == WATERMARK}
        pending: dict[str, list[WatermarkBatch]] = defaultdict(list)
        for row in wanted:
            if row.kind == PENDING:
                pending[row.source].append(WatermarkBatch.from_json(row.value))
        processed = rows.where(F.col("kind") == FILE).select("source", "value")
        return JobBookmarks(
            spark=self.spark,
            job_name=job_name,
            watermarks=watermarks,
            processed=processed,
            opened=dict(pending),
            record_now=partial(self._record, job_name, run_id) if run_id is not None else None,
        )

    def commit(self, bookmarks: JobBookmarks, run_id: str) -> int:
        """Append the staged state of a successful run in one transaction; returns rows written."""
        if not bookmarks.staged:
            return 0
        written = self._append([(bookmarks.job_name, source, kind, value, run_id)
                                for source, kind, value in bookmarks.staged])
        bookmarks.staged.clear()
        return written

    def _record(self, job_name: str, run_id: str, source: str, kind: str, value: str) -> None:
        self._append([(job_name, source, kind, value, run_id)])

    def _append(self, rows: list[tuple[str, str, str, str, str]]) -> int:
        now = datetime.now(UTC)  # aware, so pyspark stores it as UTC whatever the local zone
        append(rows_frame(self.spark, [(*r, now) for r in rows], BOOKMARK_SCHEMA), self.path)
        return len(rows)

    def reset(self, job_name: str, source: str | None = None) -> None:
        """Forget the state of a job (or of one of its sources, with its commit-version
        watermark: :func:`by_commit`), e.g. before a backfill."""
        if not is_delta_table(self.spark, self.path):
            return
        from delta.tables import DeltaTable

        condition = F.col("job_name") == job_name
        if source is not None:
            condition = condition & F.col("source").isin(source, by_commit(source))
        DeltaTable.forPath(self.spark, self.path).delete(condition)
