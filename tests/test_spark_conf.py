"""Session settings for one piece of work: set for a block and set back, shared by blocks in
several threads, or held by a copy of the session."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from lakejobs.spark_conf import session_with, shared_conf, temporary_conf

SET = "spark.sql.inMemoryColumnarStorage.compressed"  # has a default: reads back as "true"
UNSET = "lakejobs.test.unset"  # no default: absent before the block


def test_settings_apply_inside_the_block_and_are_set_back_after_it(spark: SparkSession) -> None:
    spark.conf.set(SET, "true")
    with temporary_conf(spark, {SET: "false", UNSET: "x"}):
        assert (spark.conf.get(SET), spark.conf.get(UNSET)) == ("false", "x")
    assert spark.conf.get(SET) == "true"
    assert spark.conf.get(UNSET, None) is None


def test_settings_are_set_back_when_the_block_fails(spark: SparkSession) -> None:
    with pytest.raises(ZeroDivisionError), temporary_conf(spark, {UNSET: "y"}):
        _ = 1 / 0
    assert spark.conf.get(UNSET, None) is None


def test_overlapping_blocks_share_one_override_and_the_last_sets_it_back(
    spark: SparkSession,
) -> None:
    # two merges side by side: the first block ends while the second still runs
    spark.conf.set(SET, "true")
    first, second = shared_conf(spark, SET, "false"), shared_conf(spark, SET, "false")
    assert first.__enter__() is True
    assert second.__enter__() is True
    first.__exit__(None, None, None)
    assert spark.conf.get(SET) == "false"  # still inside the second block
    second.__exit__(None, None, None)
    assert spark.conf.get(SET) == "true"
    # temporary_conf would have left "false" behind: the second block took it for the old value


def test_a_block_asking_another_value_runs_with_the_held_one(spark: SparkSession) -> None:
    with shared_conf(spark, UNSET, "a") as first:
        with shared_conf(spark, UNSET, "b") as second:
            assert (first, second) == (True, False)
            assert spark.conf.get(UNSET) == "a"
        assert spark.conf.get(UNSET) == "a"
    assert spark.conf.get(UNSET, None) is None


def test_a_shared_override_is_set_back_when_the_block_fails(spark: SparkSession) -> None:
    with pytest.raises(ZeroDivisionError), shared_conf(spark, UNSET, "z"):
        _ = 1 / 0
    assert spark.conf.get(UNSET, None) is None
    with shared_conf(spark, UNSET, "w"):  # nothing held over from the failed block
        assert spark.conf.get(UNSET) == "w"


def test_a_session_copy_holds_its_settings_alone_and_reads_the_sessions_frames(
    spark: SparkSession,
) -> None:
    own = "lakejobs.test.copy"
    spark.conf.set(UNSET, "session")  # set at run time: the copy starts from it
    try:
        copy = session_with(spark, {own: "copy"})
        assert (copy.conf.get(own), copy.conf.get(UNSET)) == ("copy", "session")
        assert spark.conf.get(own, None) is None  # the session itself is left alone
        spark.conf.set(UNSET, "changed later")
        assert copy.conf.get(UNSET) == "session"
        numbers = spark.range(3)  # a frame of the session, read in a statement of the copy
        assert sorted(r.id for r in copy.range(1, 3).join(numbers, "id").collect()) == [1, 2]
    finally:
        spark.conf.unset(UNSET)
