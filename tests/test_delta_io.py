"""Delta helpers: the latest version read from the transaction log, MERGE row counts on both
stacks (Delta 4 returns them from the MERGE, Delta 3 from the commit's metrics), and a MERGE
that would change nothing commits nothing; a change refused as a conflict is tried again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs import delta_io
from lakejobs.delta_io import (
    latest_version,
    merge_changed,
    read_delta,
    retry_on_conflict,
    table_size_bytes,
    table_state,
    table_version,
)
from lakejobs.errors import DeltaConflictError
from lakejobs.local_rows import rows_frame
from lakejobs.scd import ScdConflictError

SCHEMA = "id bigint, name string, _loaded_at string"


def test_versions_and_merge_counts_follow_the_commits(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    assert table_version(spark, path) == -1  # no table yet

    first = rows_frame(spark, [(1, "a", "r1"), (2, "b", "r1")], SCHEMA)
    counts = merge_changed(first, path, ["id"], ignore=["_loaded_at"])
    assert (counts["numTargetRowsInserted"], counts.get("numTargetRowsUpdated", 0)) == (2, 0)
    created = table_version(spark, path)

    # one row changes, one is new, one is the same but for the ignored load time
    second = rows_frame(spark, [(1, "a", "r2"), (2, "B", "r2"), (3, "c", "r2")], SCHEMA)
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
                       rows_frame(spark, [(1, "a"), (2, "B")], "id bigint, name string"),
                       ignore_row_order=True, ignore_nullable=True)


class ConcurrentAppendException(PySparkException):
    """Named as Delta's conflict is: what :func:`lakejobs._compat.is_delta_conflict` checks."""


def failing(errors: list[Exception], result: str):
    """An action raising ``errors`` one per call, then returning ``result``; and its calls."""
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return action, calls


def test_a_table_state_moves_with_each_commit_and_with_a_table_made_again(
        spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    assert table_state(spark, path) is None
    spark.range(1).write.format("delta").save(path)
    first = table_state(spark, path)
    assert first is not None and first.endswith("@0") and table_state(spark, path) == first
    spark.range(1).write.format("delta").mode("append").save(path)
    second = table_state(spark, path)
    assert second == f"{first.removesuffix('@0')}@1"
    shutil.rmtree(path)
    spark.range(2).write.format("delta").save(path)
    again = table_state(spark, path)
    assert again is not None and again.endswith("@0") and again != first


def test_a_table_size_is_the_bytes_of_its_live_data_files(spark: SparkSession,
                                                           tmp_path: Path) -> None:
    path = str(tmp_path / "t")

    def live_bytes() -> int:  # the files a read of the latest version opens, measured on disk
        files = spark.read.format("delta").load(path).inputFiles()
        return sum(Path(f.removeprefix("file:")).stat().st_size for f in files)

    spark.range(100).write.format("delta").save(path)
    table = DeltaTable.forPath(spark, path)
    first = table_size_bytes(table)
    assert first is not None and first == live_bytes() > 0
    spark.range(1000).repartition(2).write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path)  # this session reads the new version
    assert table_size_bytes(table) == live_bytes() > first
    spark.range(5).write.format("delta").mode("overwrite").save(path)  # old files not live
    DeltaTable.forPath(spark, path)
    assert table_size_bytes(table) == live_bytes() < first


def test_a_table_size_is_unknown_where_delta_does_not_offer_it() -> None:
    class NoLog:  # a Delta build whose log lacks the method (Py4J raises Py4JError)
        class _jdt:  # noqa: N801 - the attribute DeltaTable's Python API wraps
            @staticmethod
            def deltaLog() -> None:
                raise Py4JError("Method deltaLog([]) does not exist")

    assert table_size_bytes(NoLog()) is None


def test_a_change_refused_as_a_conflict_is_tried_again_after_a_growing_jittered_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(delta_io.time, "sleep", pauses.append)
    action, calls = failing([ConcurrentAppendException("first"),
                             ConcurrentAppendException("second")], "done")

    assert retry_on_conflict(action, what="t", attempts=3) == (3, "done")
    assert len(calls) == 3
    assert len(pauses) == 2
    assert 0.1 <= pauses[0] <= 0.3 and 0.2 <= pauses[1] <= 0.6


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta_io.time, "sleep", lambda _: None)
    action, calls = failing([PySparkException("not a conflict")], "done")

    with pytest.raises(PySparkException, match="not a conflict"):
        retry_on_conflict(action, what="t", attempts=3)
    assert len(calls) == 1


def test_conflicts_beyond_the_attempts_raise_the_given_kind_of_conflict_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delta_io.time, "sleep", lambda _: None)
    action, calls = failing([ConcurrentAppendException(str(n)) for n in range(3)], "done")

    with pytest.raises(ScdConflictError, match="^merge into t: still conflicting with "
                                               "concurrent writers after 2 attempts$"):
        retry_on_conflict(action, what="merge into t", attempts=2, error=ScdConflictError)
    assert len(calls) == 2
    assert issubclass(ScdConflictError, DeltaConflictError)
