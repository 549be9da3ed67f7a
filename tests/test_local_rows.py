"""rows_frame: the frame createDataFrame gives, held by the driver instead of a Python RDD."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.errors import PySparkValueError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakejobs import local_rows
from lakejobs.local_rows import rows_frame

SCHEMA = T.StructType([
    T.StructField("name", T.StringType(), False),
    T.StructField("big", T.LongType()),
    T.StructField("small", T.IntegerType()),
    T.StructField("tiny", T.ShortType()),
    T.StructField("ratio", T.DoubleType()),
    T.StructField("single", T.FloatType()),
    T.StructField("flag", T.BooleanType()),
    T.StructField("at", T.TimestampType()),
    T.StructField("wall", T.TimestampNTZType()),
    T.StructField("day", T.DateType()),
    T.StructField("amount", T.DecimalType(12, 2)),
    T.StructField("raw", T.BinaryType()),
])
ROWS = [
    # a long above 2**53 (a float would round it), microseconds, a naive timestamp
    ("a", 2**62 + 7, 5, 3, 1.5, 1.25, True, datetime(2026, 3, 8, 2, 30, 0, 123456),
     datetime(2026, 1, 1, 12, 0, 0, 1), date(2026, 1, 2), Decimal("1.5"), b"\x00\xff"),
    ("b", None, None, None, None, None, None, None, None, None, None, None),
    # an aware timestamp, infinities, the edges of the calendar
    ("c", -1, -2, -3, float("inf"), float("-inf"), False,
     datetime(2026, 7, 1, tzinfo=timezone(timedelta(hours=5))), datetime(1970, 1, 1),
     date(9999, 12, 31), Decimal("-123.45"), b""),
]


@pytest.fixture
def kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Python process in a zone other than UTC (pyspark reads naive timestamps in it)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def python_rdd(spark: SparkSession, rows: list, schema: T.StructType) -> DataFrame:
    return spark.createDataFrame(rows, schema)


def executed_plan(df: DataFrame) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


def test_the_frame_equals_create_data_frame_for_every_atomic_type(spark, kolkata) -> None:
    assert os.environ["TZ"] == "Asia/Kolkata"
    ours = rows_frame(spark, ROWS, SCHEMA)
    assert ours.schema == SCHEMA  # nullability included
    assert_df_equality(ours, python_rdd(spark, ROWS, SCHEMA))
    # and the values are the literals (the naive one read in the process's zone, +05:30)
    first = ours.where("name = 'a'").selectExpr(
        "big", "CAST(at AS STRING)", "CAST(wall AS STRING)", "CAST(amount AS STRING)").first()
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"  # the cast shows UTC
    assert tuple(first) == (2**62 + 7, "2026-03-07 21:00:00.123456", "2026-01-01 12:00:00.000001",
                            "1.50")


def test_the_rows_are_a_local_relation_and_no_rows_an_empty_jvm_rdd(spark) -> None:
    assert executed_plan(rows_frame(spark, ROWS, SCHEMA)).startswith("LocalTableScan")
    assert "PythonRDD" in python_rdd(spark, ROWS, SCHEMA)._jdf.queryExecution().toRdd() \
        .toDebugString()  # what it replaces: rows unpickled by Python tasks
    empty = rows_frame(spark, [], SCHEMA)
    assert empty.schema == SCHEMA
    assert empty._jdf.queryExecution().toRdd().getNumPartitions() == 0  # no task to run
    assert empty.collect() == []


def test_a_nan_or_a_nested_type_goes_through_create_data_frame_unchanged(spark) -> None:
    flat = T.StructType([T.StructField("x", T.DoubleType())])
    nan = rows_frame(spark, [(float("nan"),), (None,)], flat)
    values = [r.x for r in nan.collect()]
    assert math.isnan(values[0]) and values[1] is None  # Arrow from pandas: NaN would be null
    nested = T.StructType([T.StructField("ids", T.ArrayType(T.StringType()))])
    frame = rows_frame(spark, [(["a", "b"],)], nested)
    assert "LocalTableScan" not in executed_plan(frame)
    assert [r.ids for r in frame.collect()] == [["a", "b"]]


def test_without_pandas_or_pyarrow_the_frame_comes_from_create_data_frame(
    spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails
    frame = rows_frame(spark, ROWS, SCHEMA)
    assert not executed_plan(frame).startswith("LocalTableScan")
    assert_df_equality(frame, python_rdd(spark, ROWS, SCHEMA))


def test_a_value_that_does_not_fit_its_field_is_refused_as_create_data_frame_refuses(
    spark,
) -> None:
    missing_name = (None, *ROWS[0][1:])
    with pytest.raises(PySparkValueError, match="not be None|not nullable"):
        python_rdd(spark, [missing_name], SCHEMA).collect()
    with pytest.raises(PySparkValueError, match="not be None|not nullable"):
        rows_frame(spark, [missing_name], SCHEMA)


def test_arrow_is_used_whatever_the_sessions_setting_and_the_setting_is_kept(spark) -> None:
    before = spark.conf.get(local_rows.ARROW)
    spark.conf.set(local_rows.ARROW, "false")
    try:
        assert executed_plan(rows_frame(spark, ROWS, SCHEMA)).startswith("LocalTableScan")
        assert spark.conf.get(local_rows.ARROW) == "false"
    finally:
        spark.conf.set(local_rows.ARROW, before)


def test_a_ddl_schema_and_rows_taken_by_name_give_what_create_data_frame_gives(spark) -> None:
    ddl = "id long, name string, at timestamp"
    ours = rows_frame(spark, [(1, "a", datetime(2026, 1, 1)), (2, None, None)], ddl)
    assert executed_plan(ours).startswith("LocalTableScan")
    assert_df_equality(ours, python_rdd(spark, [(1, "a", datetime(2026, 1, 1)), (2, None, None)],
                                        ddl))
    # a dict is taken by name, not by position
    named = [{"at": None, "id": 4, "name": "c"}, {"name": "d", "id": 5, "at": datetime(2026, 1, 2)}]
    assert_df_equality(rows_frame(spark, named, ddl), spark.createDataFrame(
        [(4, "c", None), (5, "d", datetime(2026, 1, 2))], ddl))


def test_a_schema_repeating_a_field_name_keeps_both_columns(spark) -> None:
    twice = T.StructType([T.StructField("x", T.LongType()), T.StructField("x", T.StringType())])
    assert [tuple(r) for r in rows_frame(spark, [(1, "a")], twice).collect()] == [(1, "a")]
