"""Delta helpers: the latest version read from the transaction log, MERGE row counts on both
stacks (Delta 4 returns them from the MERGE, Delta 3 from the commit's metrics), and a MERGE
that would change nothing commits nothing."""

from __future__ import annotations

from pathlib import Path

from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs.delta_io import latest_version, merge_changed, read_delta, table_version

SCHEMA = "id bigint, name string, _loaded_at string"


def test_versions_and_merge_counts_follow_the_commits(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    assert table_version(spark, path) == -1  # no table yet

    first = spark.createDataFrame([(1, "a", "r1"), (2, "b", "r1")], SCHEMA)
    counts = merge_changed(first, path, ["id"], ignore=["_loaded_at"])
    assert (counts["numTargetRowsInserted"], counts.get("numTargetRowsUpdated", 0)) == (2, 0)
    created = table_version(spark, path)

    # one row changes, one is new, one is the same but for the ignored load time
    second = spark.createDataFrame([(1, "a", "r2"), (2, "B", "r2"), (3, "c", "r2")], SCHEMA)
    counts = merge_changed(second, path, ["id"], ignore=["_loaded_at"])
    assert (counts["numTargetRowsInserted"], counts["numTargetRowsUpdated"]) == (1, 1)
    assert table_version(spark, path) == created + 1
    assert latest_version(DeltaTable.forPath(spark, path)) == created + 1

    # the log's version is the one Delta's history reports as the newest
    newest = DeltaTable.forPath(spark, path).history(1).select("version").first()[0]
    assert newest == created + 1

    assert merge_changed(second, path, ["id"], ignore=["_loaded_at"]) == {}  # nothing differs
    assert table_version(spark, path) == created + 1  # and nothing was committed

    # a scoped slice replaced: id 3 is no longer in the source and is deleted
    counts = merge_changed(second.where("id < 3"), path, ["id"], ignore=["_loaded_at"],
                           delete_missing=F.col("t.id") >= 2)
    assert counts["numTargetRowsDeleted"] == 1
    assert_df_equality(read_delta(spark, path).drop("_loaded_at"),
                       spark.createDataFrame([(1, "a"), (2, "B")], "id bigint, name string"),
                       ignore_row_order=True, ignore_nullable=True)
