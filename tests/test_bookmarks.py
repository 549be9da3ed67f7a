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
from lakejobs.incremental import list_files, new_files, rows_after_watermark


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
    df = spark.createDataFrame(
        [(1, datetime(2026, 11, 1, 8)), (2, datetime(2026, 11, 1, 9)),
         (3, datetime(2026, 11, 1, 10))], schema)
    first = store.load("job_a")
    assert rows_after_watermark(df, first, "events", "ts").count() == 3
    store.commit(first, "run-1")
    later = df.union(spark.createDataFrame([(4, datetime(2026, 11, 1, 11))], schema))
    second = store.load("job_a")
    assert_df_equality(
        rows_after_watermark(later, second, "events", "ts"),
        spark.createDataFrame([(4, datetime(2026, 11, 1, 11))], schema),
    )
    assert second.staged == [("events", "watermark", "2026-11-01 11:00:00")]
