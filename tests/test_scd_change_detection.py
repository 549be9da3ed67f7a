"""SCD change detection that must not depend on the writer's session or on the batch's types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality

from lakejobs.scd import ScdSpec, apply_changes
from lakejobs.spark_conf import temporary_conf

END = datetime(9999, 12, 31, 23, 59, 59)
VIEW = "effective_from timestamp, effective_to timestamp, is_current boolean"


def day(n: int) -> datetime:
    return datetime(2026, 1, n)


def test_unchanged_null_tracked_values_open_no_version_whatever_the_session_json_options(
    spark, tmp_path: Path
) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city", "zip"), operation="op")
    schema = "id bigint, city string, zip string, ts timestamp, op string"
    dim = str(tmp_path / "dim")
    apply_changes(spark, spark.createDataFrame([(1, None, "75", day(1), "c")], schema), spec, dim)
    # the same values again, from a writer whose session writes null JSON fields
    with temporary_conf(spark, {"spark.sql.jsonGenerator.ignoreNullFields": "false"}):
        unchanged = apply_changes(
            spark, spark.createDataFrame([(1, None, "75", day(2), "u")], schema), spec, dim)

    assert unchanged.rows_inserted == 0
    actual = spark.read.format("delta").load(dim).select(
        "id", "city", "zip", "effective_from", "effective_to", "is_current")
    expected = spark.createDataFrame([(1, None, "75", day(1), END, True)],
                                     f"id bigint, city string, zip string, {VIEW}")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("shortcut", [True, False])
def test_an_unchanged_tracked_value_typed_otherwise_than_the_table_opens_no_version(
    spark, tmp_path: Path, shortcut: bool
) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("price",), operation="op")
    dim = str(tmp_path / "dim")
    schema = "id bigint, price decimal({}), ts timestamp, op string"
    apply_changes(spark, spark.createDataFrame([(1, Decimal("1.50"), day(1), "c")],
                                               schema.format("10,2")), spec, dim)
    # the same price at another scale (a source column widened meanwhile)
    unchanged = apply_changes(spark, spark.createDataFrame(
        [(1, Decimal("1.5000"), day(2), "u")], schema.format("12,4")), spec, dim,
        append_shortcut=shortcut)

    assert (unchanged.appended, unchanged.rows_inserted) == (shortcut, 0)
    actual = spark.read.format("delta").load(dim).select(
        "id", "price", "effective_from", "effective_to", "is_current")
    expected = spark.createDataFrame([(1, Decimal("1.50"), day(1), END, True)],
                                     f"id bigint, price decimal(10,2), {VIEW}")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
