"""Curated loads take staging's new rows by commit version, not by the time their writer stamped
them: a row stamped before another writer's row but committed after a curated run read the
table is still taken in by the next run, and a table written before row tracking switches over
without a gap or a repeat."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakejobs.batch.validation_io import replace_for_files
from lakejobs.bookmarks import BookmarkStore, by_commit
from lakejobs.commit_versions import enable_row_tracking
from lakejobs.config import Settings
from lakejobs.curated.loading import fresh_rows, staging_snapshot
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.runtime import JobContext

JOB = "staging_to_curated"
SCHEMA = "order_id long, _source_file string, _validated_at timestamp"


def at(minute: int) -> datetime:
    return datetime(2026, 12, 6, 10, minute)


class Curated:
    """Runs of a curated load of the ``orders`` staging table: each reads the staging snapshot,
    takes the fresh rows and commits its bookmarks, as the job does."""

    def __init__(self, spark: SparkSession, settings: Settings, tmp_path: Path) -> None:
        self.spark, self.settings = spark, settings
        self.paths = LakePaths(settings.lake)
        self.store = BookmarkStore(spark, str(tmp_path / "bookmarks"))
        self.runs = 0

    @property
    def staging(self) -> str:
        return self.paths.table("staging", "orders")

    def write(self, file: str, rows: list[tuple[int, datetime]], *, track_rows: bool = True
              ) -> None:
        """What a staging writer commits for one landed file (stamped when it started)."""
        df = rows_frame(self.spark, [(i, file, t) for i, t in rows], SCHEMA)
        replace_for_files(df, self.staging, [file], merge_schema=False, track_rows=track_rows)

    def run(self) -> list[int]:
        self.runs += 1
        run_id = f"run-{self.runs}"
        context = JobContext(spark=self.spark, settings=self.settings, args={}, run_id=run_id,
                             paths=self.paths, bookmarks=self.store.load(JOB, run_id))
        fresh = fresh_rows(context, "fact_orders", "orders",
                           staging_snapshot(context, "orders"))
        taken = sorted(r.order_id for r in fresh.collect())
        self.store.commit(context.bookmarks, run_id)
        return taken


@pytest.fixture
def curated(spark: SparkSession, settings: Settings, tmp_path: Path) -> Curated:
    return Curated(spark, settings, tmp_path)


def test_a_row_stamped_earlier_but_committed_later_is_taken_by_the_next_run(
    curated: Curated
) -> None:
    curated.write("f1", [(1, at(0))])
    assert curated.run() == [1]
    # two writers of one table (landing → staging and a quarantine replay): the replay stamped
    # its row at 10:02 and commits after the other writer's row stamped 10:05 was taken in
    curated.write("f2", [(2, at(5))])
    assert curated.run() == [2]
    curated.write("replay", [(3, at(2))])
    assert curated.run() == [3]
    assert curated.run() == []


def test_the_fresh_rows_keep_the_staging_columns_only(
    spark: SparkSession, curated: Curated
) -> None:
    curated.write("f1", [(1, at(0)), (2, at(0))])
    context = JobContext(spark=spark, settings=curated.settings, args={}, run_id="r",
                         paths=curated.paths, bookmarks=curated.store.load(JOB, "r"))
    fresh = fresh_rows(context, "fact_orders", "orders", staging_snapshot(context, "orders"))
    expected: DataFrame = rows_frame(spark, [(1, "f1", at(0)), (2, "f1", at(0))], SCHEMA)
    assert_df_equality(fresh, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_rewritten_file_is_read_again_and_optimize_makes_nothing_new(
    spark: SparkSession, curated: Curated
) -> None:
    curated.write("f1", [(1, at(0)), (2, at(0))])
    curated.write("f2", [(3, at(1))])
    assert curated.run() == [1, 2, 3]
    spark.sql(f"OPTIMIZE delta.`{curated.staging}`")  # compaction moves rows, changes none
    assert curated.run() == []
    curated.write("f1", [(1, at(9)), (2, at(9))])  # a retried file replaces its rows
    assert curated.run() == [1, 2]


def test_a_staging_table_written_before_row_tracking_switches_over_without_gap_or_repeat(
    spark: SparkSession, curated: Curated
) -> None:
    curated.write("f1", [(1, at(0)), (2, at(1))], track_rows=False)
    assert curated.run() == [1, 2]  # by the _validated_at watermark
    # the writer's next run turns row tracking on (every row gets the backfill's version)
    assert enable_row_tracking(spark, curated.staging) is True
    assert enable_row_tracking(spark, curated.staging) is False  # once
    curated.write("f2", [(3, at(5))])
    assert curated.run() == [3]  # the time watermark once more: 1 and 2 are not taken again
    bookmarks = curated.store.load(JOB)
    assert bookmarks.watermark(by_commit("fact_orders__orders")) is not None
    curated.write("replay", [(4, at(3))])  # stamped before 3, committed after it
    assert curated.run() == [4]
    assert curated.run() == []


def test_resetting_a_source_forgets_its_commit_version_too(curated: Curated) -> None:
    curated.write("f1", [(1, at(0))])
    assert curated.run() == [1]
    curated.store.reset(JOB, "fact_orders__orders")
    assert curated.run() == [1]  # a backfill reads everything again
