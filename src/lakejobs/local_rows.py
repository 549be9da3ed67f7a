"""DataFrames of a few rows held by the driver (run-log rows, bookmarks, metrics, audit rows).

``spark.createDataFrame(rows, schema)`` keeps Python rows in a Python RDD: every action on the
frame, and every write of it, runs Python worker tasks only to unpickle them. Built from a pandas
frame through Arrow instead, the rows become a local relation the JVM reads itself. Measured on
the 2-core machine (three rows, warm, collect): 200-270 ms through a Python RDD, 20-30 ms as a
local relation, on Spark 4.1 and 3.5 alike. No rows at all: ``createDataFrame([])`` still
runs Python tasks (345 ms); a frame over an empty JVM RDD runs none (36 ms).

:func:`rows_frame` gives the frame ``createDataFrame`` gives: the same schema (nullability
included) and the same values, checked by pyspark's own verifier (private, like its DDL parser
used here: the tests run this module on both stacks), naive timestamps read in the
process's zone as pyspark reads them. Where Arrow might not give the same values, it is
``createDataFrame`` itself: nested or interval types, a NaN (pandas takes it for a null), rows
given as dicts (taken by name) or named Rows, a field name given twice, pandas or pyarrow
missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.types import _make_type_verifier, _parse_datatype_string

from lakejobs.spark_conf import shared_conf

ARROW = "spark.sql.execution.arrow.pyspark.enabled"

_ATOMIC = (T.StringType, T.LongType, T.IntegerType, T.ShortType, T.ByteType, T.DoubleType,
           T.FloatType, T.BooleanType, T.TimestampType, T.TimestampNTZType, T.DateType,
           T.DecimalType, T.BinaryType)


def rows_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: T.StructType | str
               ) -> DataFrame:
    """The rows (tuples in the order of ``schema``'s fields) as a DataFrame of ``schema`` (a
    struct type or its DDL, ``"id long, name string"``).

    Raises:
        PySparkValueError, PySparkTypeError: a value does not fit its field (as
            ``createDataFrame`` raises).
    """
    if isinstance(schema, str):
        schema = _parse_datatype_string(schema)  # what createDataFrame does with DDL
    if not rows:
        return spark.createDataFrame(spark.sparkContext.emptyRDD(), schema)
    if not _through_arrow(rows, schema):
        return spark.createDataFrame(rows, schema)
    verify = _make_type_verifier(schema)
    for row in rows:
        verify(row)
    import pandas as pd

    columns = {
        field.name: pd.Series([_as_pyspark_reads(row[i], field.dataType) for row in rows],
                              dtype=object)
        for i, field in enumerate(schema.fields)
    }
    # object columns: pandas infers nothing (no float for an int column holding a None)
    with shared_conf(spark, ARROW, "true"):
        return spark.createDataFrame(pd.DataFrame(columns), schema)


def _through_arrow(rows: Sequence[Sequence[Any]], schema: T.DataType) -> bool:
    if not isinstance(schema, T.StructType) \
            or not all(isinstance(f.dataType, _ATOMIC) for f in schema.fields) \
            or len(set(schema.fieldNames())) < len(schema.fields):  # pandas columns by name
        return False
    # dicts (taken by name) and named Rows are left to createDataFrame
    if any(isinstance(row, dict) or hasattr(row, "__fields__") for row in rows):
        return False
    if any(isinstance(v, float) and math.isnan(v) for row in rows for v in row):
        return False
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _as_pyspark_reads(value: Any, data_type: T.DataType) -> Any:
    """pyspark reads a naive datetime for a TIMESTAMP in the process's local zone, Arrow in
    UTC: made aware in the local zone first, both read the same instant."""
    if isinstance(data_type, T.TimestampType) and isinstance(value, datetime) \
            and value.tzinfo is None:
        return value.astimezone()
    return value
