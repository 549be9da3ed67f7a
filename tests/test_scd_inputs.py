"""SCD inputs the merge must refuse or read right: effective times in milliseconds (Debezium's
``ts_ms``), spec names in another case, batch types the dimension cannot hold, bad rows in a bulk
initial load."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakejobs.errors import ConfigError, ContractError
from lakejobs.local_rows import rows_frame
from lakejobs.scd import ScdSpec, apply_changes, initial_dimension

END = datetime(9999, 12, 31, 23, 59, 59)
JAN_1_MS, DAY_MS = 1_767_225_600_000, 86_400_000  # 2026-01-01T00:00:00Z
VERSIONS = "id bigint, city string, effective_from timestamp, effective_to timestamp, " \
           "is_current boolean"


def versions(spark: SparkSession, path: str):
    return spark.read.format("delta").load(path).select(
        "id", "city", "effective_from", "effective_to", "is_current")


def test_an_integral_effective_at_is_milliseconds_since_1970(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The README's own spec (order by LSN, date by Debezium's ts_ms) read ts_ms as seconds:
    versions effective in the year 57,973, found by no point-in-time lookup."""
    spec = ScdSpec(keys=("id",), sequence_by="lsn", effective_at="ts_ms", scd2_columns=("city",),
                   operation="op")
    batch = rows_frame(spark, [
        (1, "Lyon", 100, JAN_1_MS, "c"), (1, "Paris", 200, JAN_1_MS + DAY_MS, "u"),
        (2, "Rome", 100, 10**18, "c"),  # beyond year 9999: no time of the data
    ], "id bigint, city string, lsn bigint, ts_ms bigint, op string")

    result = apply_changes(spark, batch, spec, str(tmp_path / "dim"))

    assert [(r.id, list(r._reasons)) for r in result.rejected.collect()] == [
        (2, ["ts_ms_is_not_a_timestamp"])]
    expected = rows_frame(spark, [
        (1, "Lyon", datetime(2026, 1, 1), datetime(2026, 1, 2), False),
        (1, "Paris", datetime(2026, 1, 2), END, True)], VERSIONS)
    assert_df_equality(versions(spark, str(tmp_path / "dim")), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_a_fractional_effective_at_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="lsn", effective_at="ts", scd2_columns=("city",))
    batch = rows_frame(spark, [(1, "Lyon", 1, 1.767e9)], "id bigint, city string, lsn bigint, "
                                                        "ts double")
    with pytest.raises(ContractError, match=r"effective_at column 'ts' is double: expected a "
                                            r"timestamp or date"):
        apply_changes(spark, batch, spec, str(tmp_path / "dim"))
    assert not (tmp_path / "dim").exists()


@pytest.mark.parametrize(("column", "message"), [
    ("_Version", r"\['_Version'\]: expected column names other than the merge's working"),
    ("Is_Deleted", r"\['Is_Deleted'\] are reserved dimension columns"),
    ("Effective_From", r"\['Effective_From'\] are reserved dimension columns"),
    ("ID", r"a column appears twice \(in any case\)"),
])
def test_spec_names_are_compared_without_case_as_spark_resolves_them(
    column: str, message: str
) -> None:
    """Spark resolves names without case: a tracked "_Version" was overwritten with the merge's
    version counter (its values lost), "Is_Deleted" failed the merge with Spark's error."""
    with pytest.raises(ConfigError, match=message):
        ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=(column,))


def test_values_the_dimensions_types_cannot_hold_are_rejected_with_their_reason(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The merge casts a batch to the dimension's types: a bigint key 2^32 + 1 cast to the
    table's int key was 1, another customer's key, whose version it closed (Glue 5.1), or the
    batch failed with Spark's CAST_OVERFLOW (Glue 6.0); a price 1.2345 cast to decimal(10,2)
    was 1.23, "unchanged". Values the cast keeps (2, 1.5000) are applied."""
    dim = str(tmp_path / "dim")
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("price",))
    schema = "id {}, price decimal({}), ts timestamp"
    apply_changes(spark, rows_frame(spark, [(1, Decimal("1.23"), datetime(2026, 1, 1))],
                                    schema.format("int", "10,2")), spec, dim)
    wider = rows_frame(spark, [
        (2**32 + 1, Decimal("9.5000"), datetime(2026, 1, 2)),
        (1, Decimal("1.2345"), datetime(2026, 1, 2)),
        (2, Decimal("1.5000"), datetime(2026, 1, 2))], schema.format("bigint", "12,4"))

    result = apply_changes(spark, wider, spec, dim)

    assert sorted((r.id, list(r._reasons)) for r in result.rejected.collect()) == [
        (1, ["price_does_not_fit_decimal(10,2)"]), (2**32 + 1, ["id_does_not_fit_int"])]
    expected = rows_frame(spark, [(1, Decimal("1.23"), datetime(2026, 1, 1), END, True),
                                  (2, Decimal("1.50"), datetime(2026, 1, 2), END, True)],
                          "id int, price decimal(10,2), effective_from timestamp, "
                          "effective_to timestamp, is_current boolean")
    actual = spark.read.format("delta").load(dim).select(
        "id", "price", "effective_from", "effective_to", "is_current")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_initial_dimension_refuses_rows_apply_changes_would_reject(spark: SparkSession) -> None:
    """A bulk first load built a current version with a null key, a version with a null
    sequence and no effective time, and one dated by a text that is no time."""
    spec = ScdSpec(keys=("id",), sequence_by="lsn", effective_at="ts", scd2_columns=("city",))
    batch = rows_frame(spark, [
        (1, "Lyon", 1, "2026-01-01"), (None, "Oslo", 1, "2026-01-01"),
        (2, "Rome", None, "2026-01-01"), (3, "Bern", 1, "yesterday")],
        "id bigint, city string, lsn bigint, ts string")
    with pytest.raises(ContractError, match=r"^initial_dimension: change rows that cannot be "
                       r"applied: id_is_null \(1\), lsn_is_null \(1\), ts_is_not_a_timestamp"):
        initial_dimension(batch, spec)
