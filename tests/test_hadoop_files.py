"""Small files through Hadoop's file system API: read, write, glob, delete."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from lakejobs.hadoop_files import delete_tree, exists, glob, read_lines, write_text


def test_lines_are_read_up_to_the_count_and_a_missing_file_is_none(
    spark: SparkSession, tmp_path: Path
) -> None:
    offsets = tmp_path / "offsets" / "0"
    offsets.parent.mkdir()
    offsets.write_text('v1\n{"batchTimestampMs":1}\n{"t":{"0":1}}\n', encoding="utf-8")

    assert read_lines(spark, str(offsets), 2) == ["v1", '{"batchTimestampMs":1}']
    assert read_lines(spark, str(offsets), 9) == ["v1", '{"batchTimestampMs":1}', '{"t":{"0":1}}']
    assert read_lines(spark, str(tmp_path / "offsets" / "1"), 2) is None
    (tmp_path / "empty").write_text("")
    assert read_lines(spark, str(tmp_path / "empty"), 1) == []


def test_text_is_written_replaced_found_and_deleted(spark: SparkSession, tmp_path: Path) -> None:
    for batch in (3, 4):
        write_text(spark, str(tmp_path / f"hour=1/batch={batch}/_marker"), "query-a")
    write_text(spark, str(tmp_path / "hour=1/batch=3/_marker"), "query-é")  # replaced, UTF-8

    assert (tmp_path / "hour=1/batch=3/_marker").read_text(encoding="utf-8") == "query-é"
    assert sorted(Path(p.removeprefix("file:")).name for p in glob(
        spark, f"{tmp_path}/hour=*/batch=*")) == ["batch=3", "batch=4"]
    delete_tree(spark, str(tmp_path / "hour=1/batch=3"))
    assert not exists(spark, str(tmp_path / "hour=1/batch=3"))
    assert exists(spark, str(tmp_path / "hour=1/batch=4/_marker"))
    assert glob(spark, f"{tmp_path}/hour=*/batch=9") == []
