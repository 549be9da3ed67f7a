"""Library-owned incremental state: watermarks and processed-input sets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakejobs.bookmarks import BookmarkStore
from lakejobs.errors import InvalidNameError
from lakejobs.incremental import list_files, new_files, rows_after_watermark, watermark_batches
from lakejobs.local_rows import rows_frame


@pytest.fixture
def store(spark: SparkSession, tmp_path: Path) -> BookmarkStore:
    return BookmarkStore(spark, str(tmp_path / "bookmarks"))


def test_no_state_before_the_first_run(store: BookmarkStore) -> None:
    bookmarks = store.load("job_a")
    assert bookmarks.watermark("orders") is None
    assert bookmarks.unprocessed("files", ["f1", "f2"]) == ["f1", "f2"]


def test_committed_watermark_is_read_back_latest_first(store: BookmarkStore) -> None:
    first = store.load("job_a")
    first.advance_watermark("orders", "2026-11-01 00:00:00")
    store.commit(first, "run-1")
    second = store.load("job_a")
    second.advance_watermark("orders", "2026-11-02 00:00:00")
    store.commit(second, "run-2")
    assert store.load("job_a").watermark("orders") == "2026-11-02 00:00:00"
    assert store.load("job_b").watermark("orders") is None


def test_staged_state_is_invisible_until_committed(store: BookmarkStore) -> None:
    bookmarks = store.load("job_a")
    bookmarks.advance_watermark("orders", "5")
    bookmarks.mark_processed("files", ["f1"])
    reloaded = store.load("job_a")
    assert reloaded.watermark("orders") is None
    assert reloaded.unprocessed("files", ["f1"]) == ["f1"]


def test_processed_files_are_not_offered_again(store: BookmarkStore) -> None:
    bookmarks = store.load("job_a")
    bookmarks.mark_processed("files", ["f1", "f2"])
    store.commit(bookmarks, "run-1")
    assert store.load("job_a").unprocessed("files", ["f1", "f2", "f3"]) == ["f3"]


def test_reset_forgets_one_source(store: BookmarkStore) -> None:
    bookmarks = store.load("job_a")
    bookmarks.advance_watermark("orders", "5")
    bookmarks.advance_watermark("items", "7")
    store.commit(bookmarks, "run-1")
    store.reset("job_a", "orders")
    reloaded = store.load("job_a")
    assert (reloaded.watermark("orders"), reloaded.watermark("items")) == (None, "7")


def test_source_names_are_validated(store: BookmarkStore) -> None:
    with pytest.raises(InvalidNameError):
        store.load("job_a").advance_watermark("../x", "1")


def test_new_files_skips_markers_and_processed_files(
    spark: SparkSession, store: BookmarkStore, tmp_path: Path
) -> None:
    folder = tmp_path / "landing"
    (folder / "day=1").mkdir(parents=True)
    (folder / "day=1" / "a.json").write_text("{}")
    (folder / "b.json").write_text("{}")
    (folder / "_SUCCESS").write_text("")
    (folder / ".b.json.crc").write_text("")
    first = store.load("job_a")
    found = new_files(spark, first, "landing", str(folder))
    assert [f.rsplit("/", 2)[-2:] for f in found] == [["landing", "b.json"], ["day=1", "a.json"]]
    store.commit(first, "run-1")
    (folder / "c.json").write_text("{}")
    assert [f.rsplit("/", 1)[-1] for f in new_files(spark, store.load("job_a"), "landing",
                                                     str(folder))] == ["c.json"]


def test_listing_a_missing_folder_finds_nothing(spark: SparkSession, tmp_path: Path) -> None:
    assert list_files(spark, str(tmp_path / "absent")) == []


def test_rows_after_watermark_returns_only_newer_rows(
    spark: SparkSession, store: BookmarkStore
) -> None:
    schema = T.StructType([T.StructField("id", T.LongType()),
                           T.StructField("ts", T.TimestampType())])
    df = rows_frame(spark,
        [(1, datetime(2026, 11, 1, 8)), (2, datetime(2026, 11, 1, 9)),
         (3, datetime(2026, 11, 1, 10))], schema)
    first = store.load("job_a")
    assert rows_after_watermark(df, first, "events", "ts").count() == 3
    store.commit(first, "run-1")
    later = df.union(rows_frame(spark, [(4, datetime(2026, 11, 1, 11))], schema))
    second = store.load("job_a")
    assert_df_equality(
        rows_after_watermark(later, second, "events", "ts"),
        rows_frame(spark, [(4, datetime(2026, 11, 1, 11))], schema),
    )
    assert second.staged == [("events", "watermark", "2026-11-01 11:00:00")]


def test_rows_after_watermark_hands_out_no_row_above_the_watermark_it_stages(
    spark: SparkSession, store: BookmarkStore, tmp_path: Path
) -> None:
    # A Delta table read by path is read again by every action: a row appended between the
    # maximum and the read must wait for the next run, not be read now and again then.
    path = str(tmp_path / "events")
    schema = "id long, ts timestamp"
    rows_frame(spark, [(1, datetime(2026, 11, 1, 8))], schema).write.format("delta").save(path)
    bookmarks = store.load("job_a")
    fresh = rows_after_watermark(spark.read.format("delta").load(path), bookmarks, "events", "ts")
    rows_frame(spark, [(2, datetime(2026, 11, 1, 9))], schema).write.format("delta").mode(
        "append").save(path)
    assert_df_equality(fresh, rows_frame(spark, [(1, datetime(2026, 11, 1, 8))], schema),
                       ignore_nullable=True)
    assert bookmarks.staged == [("events", "watermark", "2026-11-01 08:00:00")]


def test_a_failed_runs_batch_is_read_again_with_the_same_bounds_then_the_rows_after_it(
    spark: SparkSession, store: BookmarkStore
) -> None:
    schema = "id long, ts timestamp"
    rows = [(1, datetime(2026, 11, 1, 8)), (2, datetime(2026, 11, 1, 9))]
    failed = store.load("job_a", "run-1")
    [(batch, batch_rows)] = watermark_batches(rows_frame(spark, rows, schema), failed,
                                              "events", "ts")
    assert (batch.lower, batch.upper) == (None, "2026-11-01 09:00:00")
    assert batch_rows.count() == 2
    # run-1 fails (commits nothing); a row arrives; run-2 reads run-1's batch, then the new rows
    later = rows_frame(spark, [*rows, (3, datetime(2026, 11, 1, 10))], schema)
    retry = store.load("job_a", "run-2")
    batches = watermark_batches(later, retry, "events", "ts")
    assert [(b.lower, b.upper) for b, _ in batches] == [
        (None, "2026-11-01 09:00:00"), ("2026-11-01 09:00:00", "2026-11-01 10:00:00")]
    assert batches[0][0].batch_id == batch.batch_id
    assert [sorted(r.id for r in df.collect()) for _, df in batches] == [[1, 2], [3]]
    # run-2 fails too: run-3 reads both batches again, in order, then what is newer
    latest = rows_frame(spark, [*rows, (3, datetime(2026, 11, 1, 10)),
                                    (4, datetime(2026, 11, 1, 11))], schema)
    third = store.load("job_a", "run-3")
    chain = watermark_batches(latest, third, "events", "ts")
    assert [(b.batch_id, b.upper) for b, _ in chain[:2]] == [
        (b.batch_id, b.upper) for b, _ in batches]
    assert [(b.lower, b.upper) for b, _ in chain[2:]] == [
        ("2026-11-01 10:00:00", "2026-11-01 11:00:00")]
    assert [sorted(r.id for r in df.collect()) for _, df in chain] == [[1, 2], [3], [4]]
    store.commit(third, "run-3")
    after = store.load("job_a", "run-4")
    assert after.watermark("events") == "2026-11-01 11:00:00"
    assert after.pending_batches("events") == []
    assert watermark_batches(latest, after, "events", "ts") == []
