"""Session settings changed for one block and set back afterwards."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from lakejobs.spark_conf import temporary_conf

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
