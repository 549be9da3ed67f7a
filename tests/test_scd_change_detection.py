"""SCD change detection that must not depend on the writer's session or on the batch's types."""

from __future__ import annotations

import struct
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from lakejobs.local_rows import rows_frame
from lakejobs.scd import ScdSpec, apply_changes, snapshot_changes
from lakejobs.scd.history import tracked_hash, values_hash
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
    apply_changes(spark, rows_frame(spark, [(1, None, "75", day(1), "c")], schema), spec, dim)
    # the same values again, from a writer whose session writes null JSON fields
    with temporary_conf(spark, {"spark.sql.jsonGenerator.ignoreNullFields": "false"}):
        unchanged = apply_changes(
            spark, rows_frame(spark, [(1, None, "75", day(2), "u")], schema), spec, dim)

    assert unchanged.rows_inserted == 0
    actual = spark.read.format("delta").load(dim).select(
        "id", "city", "zip", "effective_from", "effective_to", "is_current")
    expected = rows_frame(spark, [(1, None, "75", day(1), END, True)],
                                     f"id bigint, city string, zip string, {VIEW}")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("shortcut", [True, False])
def test_an_unchanged_tracked_value_typed_otherwise_than_the_table_opens_no_version(
    spark, tmp_path: Path, shortcut: bool
) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("price",), operation="op")
    dim = str(tmp_path / "dim")
    schema = "id bigint, price decimal({}), ts timestamp, op string"
    apply_changes(spark, rows_frame(spark, [(1, Decimal("1.50"), day(1), "c")],
                                               schema.format("10,2")), spec, dim)
    # the same price at another scale (a source column widened meanwhile)
    unchanged = apply_changes(spark, rows_frame(spark,
        [(1, Decimal("1.5000"), day(2), "u")], schema.format("12,4")), spec, dim,
        append_shortcut=shortcut)

    assert (unchanged.appended, unchanged.rows_inserted) == (shortcut, 0)
    actual = spark.read.format("delta").load(dim).select(
        "id", "price", "effective_from", "effective_to", "is_current")
    expected = rows_frame(spark, [(1, Decimal("1.50"), day(1), END, True)],
                                     f"id bigint, price decimal(10,2), {VIEW}")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


FLOATS = "id bigint, amount double, rate float, ts timestamp, op string"


@pytest.mark.parametrize("shortcut", [True, False])
def test_a_float_zero_changing_sign_opens_no_version(spark, tmp_path: Path, shortcut: bool) -> None:
    # -0.0 = 0.0 in Spark SQL: the same value, however the source's arithmetic signed it
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("amount", "rate"), operation="op")
    dim = str(tmp_path / "dim")
    apply_changes(spark, rows_frame(spark, [(1, 0.0, 0.0, day(1), "c")], FLOATS), spec, dim)
    unchanged = apply_changes(spark, rows_frame(spark, [(1, -0.0, -0.0, day(2), "u")], FLOATS),
                              spec, dim, append_shortcut=shortcut)

    assert (unchanged.appended, unchanged.rows_inserted) == (shortcut, 0)
    actual = spark.read.format("delta").load(dim).select(
        "id", "amount", "rate", "effective_from", "effective_to", "is_current")
    expected = rows_frame(spark, [(1, 0.0, 0.0, day(1), END, True)],
                                     f"id bigint, amount double, rate float, {VIEW}")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_nans_of_any_bit_pattern_open_no_version(spark, tmp_path: Path) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("amount",), operation="op")
    dim = str(tmp_path / "dim")
    schema = "id bigint, amount double, ts timestamp, op string"
    other_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0123))[0]
    apply_changes(spark, rows_frame(spark, [(1, float("nan"), day(1), "c")], schema), spec,
                  dim)
    unchanged = apply_changes(spark, rows_frame(spark, [(1, other_nan, day(2), "u")], schema),
                              spec, dim)

    assert unchanged.rows_inserted == 0
    rows = spark.read.format("delta").load(dim).select("effective_from", "is_current").collect()
    assert [tuple(r) for r in rows] == [(day(1), True)]


def test_tracked_hashes_of_values_other_than_negative_zero_are_unchanged(
    spark, tmp_path: Path
) -> None:
    """Dimensions written before -0.0 was normalized keep their hashes: pinned values, written by
    the release before that change (an unchanged value must not open a version)."""
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("amount", "rate", "label"),
                   operation="op")
    dim = str(tmp_path / "dim")
    schema = "id bigint, amount double, rate float, label string, ts timestamp, op string"
    other_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0123))[0]
    apply_changes(spark, rows_frame(spark, [
        (1, 0.0, 0.0, "x", day(1), "c"),
        (2, 1.5, 2.25, None, day(1), "c"),
        (3, float("nan"), float("nan"), "y", day(1), "c"),
        (4, None, -3.0, "z", day(1), "c"),
        (5, -0.0, -0.0, "w", day(1), "c"),
        (6, other_nan, other_nan, "v", day(1), "c"),
        (7, 0.0, 0.0, "w", day(1), "c"),
    ], schema), spec, dim)

    hashes = {r.id: r._tracked_hash for r in spark.read.format("delta").load(dim).collect()}
    assert {k: hashes[k] for k in (1, 2, 3, 4, 6)} == {
        1: 3746071300547122091,   # {"amount":0.0,"rate":0.0,"label":"x"}
        2: 7696612490149329732,   # {"amount":1.5,"rate":2.25}
        3: 4195745245857166179,   # {"amount":"NaN","rate":"NaN","label":"y"}
        4: -3066425804532395036,  # {"rate":-3.0,"label":"z"}
        6: -2240438798184428750,  # {"amount":"NaN","rate":"NaN","label":"v"}
    }
    assert hashes[5] == hashes[7]  # -0.0 hashes as 0.0


def test_negative_zero_hashes_as_zero_inside_arrays_structs_and_map_values(spark) -> None:
    schema = "id int, xs array<double>, s struct<x: float, n: string>, m map<string, double>"
    rows = rows_frame(spark, [
        (1, [0.0, 1.0], (0.0, "a"), {"k": 0.0}),
        (2, [-0.0, 1.0], (-0.0, "a"), {"k": -0.0}),
        (3, None, None, None),
        (4, None, (None, None), None),  # a struct of nulls is not a null struct
    ], schema)
    columns = ("xs", "s", "m")
    hashes = {r.id: (r.tracked, r.as_written) for r in rows.select(
        "id", tracked_hash(columns, rows.schema).alias("tracked"),
        values_hash(columns).alias("as_written")).collect()}

    assert hashes[2][0] == hashes[1][0]
    # values without -0.0 hash as they are written
    assert all(tracked == as_written for i, (tracked, as_written) in hashes.items() if i != 2)
    assert hashes[3][0] != hashes[4][0]


def test_a_snapshot_typed_otherwise_than_the_dimension_changes_no_unchanged_row(spark) -> None:
    """Snapshot fingerprints are compared in the dimension's types: a decimal(12,4) 1.5000 for
    the dimension's decimal(10,2) 1.50 is no change (it was an update of every row, each
    snapshot, growing every version's change log)."""
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("price",),
                   scd1_columns=("name",))
    current = rows_frame(spark,
        [(1, Decimal("1.50"), "a"), (2, Decimal("2.00"), "b")],
        "id bigint, price decimal(10,2), name string")
    snapshot = rows_frame(spark,
        [(1, Decimal("1.5000"), "a"), (2, Decimal("2.5000"), "b")],
        "id bigint, price decimal(12,4), name string")

    changes = snapshot_changes(snapshot, current, spec, day(2), None)

    expected = rows_frame(spark, [(2, Decimal("2.50"), "b", day(2), "u")], T.StructType([
        T.StructField("id", T.LongType()), T.StructField("price", T.DecimalType(10, 2)),
        T.StructField("name", T.StringType()), T.StructField("ts", T.TimestampType()),
        T.StructField("_snapshot_op", T.StringType()),
    ]))
    assert_df_equality(changes, expected, ignore_row_order=True, ignore_nullable=True)
