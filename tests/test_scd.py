"""SCD1/SCD2 merges: one test per semantic, plus a property test and a concurrency test."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.errors import ConfigError, ContractError
from lakejobs.local_rows import rows_frame
from lakejobs.scd import (
    INFERRED_FROM,
    ScdSpec,
    add_inferred_members,
    apply_changes,
    apply_snapshot,
    changes_writer,
    initial_dimension,
    optimize_dimension,
)
from lakejobs.scd.merge import MERGE_DELETION_VECTORS, SMALL_TABLE_BYTES
from lakejobs.spark_conf import temporary_conf

SPEC = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",), scd1_columns=("email",),
               operation="op")
CHANGES = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("city", T.StringType()),
    T.StructField("email", T.StringType()),
    T.StructField("ts", T.TimestampType()),
    T.StructField("op", T.StringType()),
])
VIEW = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("city", T.StringType()),
    T.StructField("email", T.StringType()),
    T.StructField("effective_from", T.TimestampType()),
    T.StructField("effective_to", T.TimestampType()),
    T.StructField("is_current", T.BooleanType()),
    T.StructField("is_deleted", T.BooleanType()),
])
END = datetime(9999, 12, 31, 23, 59, 59)


def day(n: int) -> datetime:
    return datetime(2026, 1, n)


def changes(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return rows_frame(spark, rows, CHANGES)


def dimension(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path).select(*VIEW.fieldNames())


def expect(spark: SparkSession, path: str, rows: list[tuple]) -> None:
    assert_df_equality(dimension(spark, path), rows_frame(spark, rows, VIEW),
                       ignore_row_order=True, ignore_nullable=True)


@pytest.fixture
def dim(tmp_path: Path) -> str:
    return str(tmp_path / "dim_customer")


def test_several_changes_to_one_key_in_one_batch_apply_in_sequence_order(spark, dim) -> None:
    apply_changes(spark, changes(spark, [
        (1, "Paris", "a@x", day(3), "u"),
        (1, "Lyon", "a@x", day(1), "c"),
        (1, "Nice", "b@x", day(2), "u"),
    ]), SPEC, dim)
    expect(spark, dim, [
        (1, "Lyon", "a@x", day(1), day(2), False, False),
        (1, "Nice", "a@x", day(2), day(3), False, False),
        (1, "Paris", "a@x", day(3), END, True, False),
    ])


def test_a_late_change_is_stitched_into_history_without_overlap_or_gap(spark, dim) -> None:
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c"),
                                         (1, "Paris", "b@x", day(5), "u")]), SPEC, dim)
    apply_changes(spark, changes(spark, [(1, "Nice", "c@x", day(3), "u")]), SPEC, dim)
    expect(spark, dim, [
        (1, "Lyon", "b@x", day(1), day(3), False, False),
        (1, "Nice", "b@x", day(3), day(5), False, False),
        (1, "Paris", "b@x", day(5), END, True, False),
    ])


def test_a_late_change_splits_a_version_at_a_later_unchanged_change(spark, dim) -> None:
    # day 4 repeats Lyon: no new version, but it is the point where Lyon holds again once the
    # late day-2 change to Nice arrives.
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c"),
                                         (1, "Lyon", "a@x", day(4), "u")]), SPEC, dim)
    expect(spark, dim, [(1, "Lyon", "a@x", day(1), END, True, False)])
    apply_changes(spark, changes(spark, [(1, "Nice", "a@x", day(2), "u")]), SPEC, dim)
    expect(spark, dim, [
        (1, "Lyon", "a@x", day(1), day(2), False, False),
        (1, "Nice", "a@x", day(2), day(4), False, False),
        (1, "Lyon", "a@x", day(4), END, True, False),
    ])


def test_exact_duplicates_collapse_to_one(spark, dim) -> None:
    result = apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c")] * 3), SPEC, dim)
    expect(spark, dim, [(1, "Lyon", "a@x", day(1), END, True, False)])
    assert (result.changes_received, result.rows_inserted) == (3, 1)


def test_delete_closes_the_version_and_reinsert_opens_a_new_one(spark, dim) -> None:
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c"),
                                         (2, "Rome", "r@x", day(1), "c")]), SPEC, dim)
    apply_changes(spark, changes(spark, [(1, None, None, day(3), "d")]), SPEC, dim)
    expect(spark, dim, [
        (1, "Lyon", "a@x", day(1), day(3), False, True),
        (2, "Rome", "r@x", day(1), END, True, False),
    ])
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(6), "c")]), SPEC, dim)
    expect(spark, dim, [
        (1, "Lyon", "a@x", day(1), day(3), False, True),
        (1, "Lyon", "a@x", day(6), END, True, False),
        (2, "Rome", "r@x", day(1), END, True, False),
    ])


def test_an_inferred_member_is_filled_in_place_by_the_first_real_change(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   scd1_columns=("email",), operation="op", inferred_members=True)
    apply_changes(spark, changes(spark, [(2, "Rome", "r@x", day(1), "c")]), spec, dim)
    keys = rows_frame(spark, [(1,), (1,), (2,), (None,)], "id bigint")
    assert add_inferred_members(spark, keys, spec, dim) == 1  # 2 exists, null keys are skipped
    placeholder_sk = spark.read.format("delta").load(dim).where("id = 1").first().sk

    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(5), "c"),
                                         (1, "Oslo", "a@y", day(8), "u")]), spec, dim)
    assert add_inferred_members(spark, keys, spec, dim) == 0  # a second call changes nothing

    view = [*VIEW.fieldNames(), "is_inferred"]
    actual = spark.read.format("delta").load(dim)
    expected = rows_frame(spark, [
        (1, "Lyon", "a@y", INFERRED_FROM, day(8), False, False, False),
        (1, "Oslo", "a@y", day(8), END, True, False, False),
        (2, "Rome", "r@x", day(1), END, True, False, False),
    ], T.StructType([*VIEW.fields, T.StructField("is_inferred", T.BooleanType())]))
    assert_df_equality(actual.select(*view), expected, ignore_row_order=True,
                       ignore_nullable=True)
    # the filled placeholder kept its surrogate key: facts pointing at it stay right
    assert actual.where(f"sk = {placeholder_sk}").select("city").first().city == "Lyon"


INFERRED_VIEW = T.StructType([T.StructField("sk", T.LongType()), *VIEW.fields,
                              T.StructField("is_inferred", T.BooleanType())])


def test_fact_keys_that_are_no_value_of_the_key_type_get_no_placeholder(spark, dim) -> None:
    """Text "N/A" for a bigint key became a placeholder with a null key (Spark 3.5) or failed
    the call (Spark 4)."""
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   scd1_columns=("email",), operation="op", inferred_members=True)
    apply_changes(spark, changes(spark, [(2, "Rome", "r@x", day(1), "c")]), spec, dim)
    keys = rows_frame(spark, [("N/A",), ("3",), ("2",)], "id string")

    assert add_inferred_members(spark, keys, spec, dim) == 1

    held = spark.read.format("delta").load(dim).select("id", "is_inferred")
    assert sorted(tuple(r) for r in held.collect()) == [(2, False), (3, True)]


@pytest.mark.parametrize("arrival", ["late", "in_order"])
def test_a_delete_older_than_the_fill_of_a_placeholder_leaves_the_filled_member_current(
    spark, dim, arrival: str
) -> None:
    """A delete sequenced before a key's first real upsert has no real version to close: the
    placeholder stands for a key the dimension holds no record of yet. The delete is recorded in
    the placeholder's change log; the upsert fills the placeholder in place, whichever of the
    two arrives first, so facts pointing at the placeholder never see a deleted member."""
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   scd1_columns=("email",), operation="op", inferred_members=True)
    apply_changes(spark, changes(spark, [(2, "Rome", "r@x", day(1), "c")]), spec, dim)
    add_inferred_members(spark, rows_frame(spark, [(1,)], "id bigint"), spec, dim)
    sk = spark.read.format("delta").load(dim).where("id = 1").first().sk
    rome_sk = spark.read.format("delta").load(dim).where("id = 2").first().sk
    fill, delete = (1, "Lyon", "a@x", day(10), "c"), (1, None, None, day(5), "d")
    if arrival == "in_order":
        apply_changes(spark, changes(spark, [delete]), spec, dim)
        # nothing real to delete yet: the placeholder stays, still inferred
        assert_df_equality(
            spark.read.format("delta").load(dim).select(*INFERRED_VIEW.fieldNames()),
            rows_frame(spark, [
                (sk, 1, None, None, INFERRED_FROM, END, True, False, True),
                (rome_sk, 2, "Rome", "r@x", day(1), END, True, False, False),
            ], INFERRED_VIEW), ignore_row_order=True, ignore_nullable=True)
    apply_changes(spark, changes(spark, [fill]), spec, dim)
    if arrival == "late":
        apply_changes(spark, changes(spark, [delete]), spec, dim)

    actual = spark.read.format("delta").load(dim)
    expected = rows_frame(spark, [
        (sk, 1, "Lyon", "a@x", INFERRED_FROM, END, True, False, False),
        (rome_sk, 2, "Rome", "r@x", day(1), END, True, False, False),
    ], INFERRED_VIEW)
    assert_df_equality(actual.select(*INFERRED_VIEW.fieldNames()), expected,
                       ignore_row_order=True, ignore_nullable=True)
    logged = actual.where("id = 1").first()["_change_log"]
    assert [(e.seq, e.op) for e in logged] == [(day(5), "d"), (day(10), "u")]


def test_a_delete_after_the_fill_of_a_placeholder_still_deletes_it(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   scd1_columns=("email",), operation="op", inferred_members=True)
    apply_changes(spark, changes(spark, [(2, "Rome", "r@x", day(1), "c")]), spec, dim)
    add_inferred_members(spark, rows_frame(spark, [(1,)], "id bigint"), spec, dim)
    apply_changes(spark, changes(spark, [(1, None, None, day(5), "d")]), spec, dim)
    # a late upsert older than the delete fills the placeholder, which the delete then closes
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(3), "c")]), spec, dim)

    expected = rows_frame(spark, [
        (1, "Lyon", "a@x", INFERRED_FROM, day(5), False, True, False),
        (2, "Rome", "r@x", day(1), END, True, False, False),
    ], T.StructType([*VIEW.fields, T.StructField("is_inferred", T.BooleanType())]))
    assert_df_equality(spark.read.format("delta").load(dim).select(*expected.columns), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_a_placeholder_before_any_real_change_is_flagged_inferred(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   scd1_columns=("email",), operation="op", inferred_members=True)
    apply_changes(spark, changes(spark, [(2, "Rome", "r@x", day(1), "c")]), spec, dim)
    add_inferred_members(spark, rows_frame(spark, [(7,)], "id bigint"), spec, dim)
    row = spark.read.format("delta").load(dim).where("id = 7").collect()
    assert [(r.city, r.effective_from, r.effective_to, r.is_current, r.is_inferred)
            for r in row] == [(None, INFERRED_FROM, END, True, True)]


def test_a_snapshot_fills_a_placeholder_even_with_empty_attributes(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   inferred_members=True)
    schema = "id bigint, city string"
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon")], schema), spec, dim,
                   sequence=day(2))
    add_inferred_members(spark, rows_frame(spark, [(2,)], "id bigint"), spec, dim)
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon"), (2, None)], schema), spec, dim,
                   sequence=day(3))

    actual = spark.read.format("delta").load(dim).select(
        "id", "city", "effective_from", "is_current", "is_inferred", "_seq_from")
    expected = rows_frame(spark,
        [(1, "Lyon", day(2), True, False, day(2)), (2, None, INFERRED_FROM, True, False, None)],
        "id bigint, city string, effective_from timestamp, is_current boolean, "
        "is_inferred boolean, _seq_from timestamp")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_delete_flag_column_also_deletes(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",), delete_flag="gone")
    rows = [(1, "Lyon", day(1), False), (1, None, day(2), True)]
    apply_changes(spark, rows_frame(
        spark, rows, "id long, city string, ts timestamp, gone boolean"),
                  spec, dim)
    actual = spark.read.format("delta").load(dim).select("id", "city", "effective_to", "is_current",
                                                         "is_deleted")
    assert [tuple(r) for r in actual.collect()] == [(1, "Lyon", day(2), False, True)]


def test_a_delete_flag_that_reads_as_no_boolean_is_rejected_with_its_reason(spark, dim) -> None:
    """A flag of "D" was taken for an upsert (Spark 3.5) or failed the batch (Spark 4)."""
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",), delete_flag="gone")
    rows = [(1, "Lyon", day(1), "false"), (2, "Rome", day(1), "D"), (3, "Oslo", day(1), "true")]
    result = apply_changes(spark, rows_frame(spark,
        rows, "id long, city string, ts timestamp, gone string"), spec, dim)
    assert (result.changes_received, result.changes_rejected) == (3, 1)
    assert [(r.id, list(r._reasons)) for r in result.rejected.collect()] == [
        (2, ["gone_is_not_a_boolean"])]
    actual = spark.read.format("delta").load(dim).select("id", "city", "is_current", "is_deleted")
    # 3, a delete of a key never held, is kept as a tombstone
    assert sorted(tuple(r) for r in actual.collect()) == [(1, "Lyon", True, False),
                                                          (3, "Oslo", False, True)]


def test_reapplying_the_same_batch_changes_nothing(spark, dim) -> None:
    batch = changes(spark, [(1, "Lyon", "a@x", day(1), "c"), (1, "Nice", "a@x", day(2), "u"),
                            (2, "Rome", "r@x", day(1), "c"), (2, None, None, day(4), "d")])
    apply_changes(spark, batch, SPEC, dim)
    before = dimension(spark, dim)
    before_rows = before.collect()
    version = spark.sql(f"DESCRIBE HISTORY delta.`{dim}`").agg(F.max("version")).first()[0]
    result = apply_changes(spark, batch, SPEC, dim)
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (0, 0, 0)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{dim}`").agg(F.max("version")).first()[0] == version
    assert sorted(dimension(spark, dim).collect()) == sorted(before_rows)


def test_unchanged_tracked_values_open_no_version_and_scd1_values_are_overwritten(spark, dim) -> None:
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c")]), SPEC, dim)
    apply_changes(spark, changes(spark, [(1, "Lyon", "new@x", day(2), "u")]), SPEC, dim)
    expect(spark, dim, [(1, "Lyon", "new@x", day(1), END, True, False)])
    log = spark.read.format("delta").load(dim).select(F.col("_change_log.seq")).first()[0]
    assert log == [day(2)]


def test_batches_that_only_append_take_the_shortcut_and_match_the_rebuild(
    spark, tmp_path
) -> None:
    batches = [
        [(1, "Lyon", "a@x", day(1), "c"), (2, "Rome", "r@x", day(1), "c"),
         (3, "Oslo", "o@x", day(1), "c")],
        # tracked change; same tracked value with a new SCD1 value; delete of an open version
        [(1, "Nice", "a@x", day(2), "u"), (2, "Rome", "r2@x", day(2), "u"),
         (3, None, None, day(2), "d")],
        [(1, "Nice", "a3@x", day(3), "u"), (2, "Pisa", "r2@x", day(3), "u"),
         (3, "Oslo", "o4@x", day(4), "c"), (4, "Bonn", "b@x", day(4), "c")],  # re-insert, new
        [(1, None, None, day(5), "d"), (4, "Bonn", "b2@x", day(5), "u")],
        [(1, None, None, day(6), "d")],  # delete after delete
        [(1, "Lyon", "z@x", day(7), "u"), (4, "Kiel", "b2@x", day(8), "u")],
    ]
    shortcut, rebuilt = str(tmp_path / "shortcut"), str(tmp_path / "rebuilt")
    for batch in batches:
        assert apply_changes(spark, changes(spark, batch), SPEC, shortcut).appended is True
        assert apply_changes(spark, changes(spark, batch), SPEC, rebuilt,
                             append_shortcut=False).appended is False
    expect(spark, shortcut, [
        (1, "Lyon", "z@x", day(1), day(2), False, False),
        (1, "Nice", "z@x", day(2), day(5), False, True),
        (1, "Lyon", "z@x", day(7), END, True, False),
        (2, "Rome", "r2@x", day(1), day(3), False, False),
        (2, "Pisa", "r2@x", day(3), END, True, False),
        (3, "Oslo", "o4@x", day(1), day(2), False, True),
        (3, "Oslo", "o4@x", day(4), END, True, False),
        (4, "Bonn", "b2@x", day(4), day(8), False, False),
        (4, "Kiel", "b2@x", day(8), END, True, False),
    ])
    # every column, surrogate keys and change logs included, as the rebuild writes them
    assert_df_equality(spark.read.format("delta").load(shortcut),
                       spark.read.format("delta").load(rebuilt), ignore_row_order=True)
    logged = spark.read.format("delta").load(shortcut).where("id = 1 AND city = 'Nice'")
    assert [(e.seq, e.op) for e in logged.first()["_change_log"]] == [
        (day(3), "u"), (day(5), "d"), (day(6), "d")]


def test_a_batch_that_does_more_than_append_falls_back_to_the_rebuild(spark, dim) -> None:
    assert apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(2), "c")]), SPEC,
                         dim).appended is True
    late = apply_changes(spark, changes(spark, [(1, "Nice", "a@x", day(1), "u")]), SPEC, dim)
    unknown_delete = apply_changes(spark, changes(spark, [(9, None, None, day(3), "d")]), SPEC, dim)
    assert (late.appended, unknown_delete.appended) == (False, False)
    expect(spark, dim, [
        (1, "Nice", "a@x", day(1), day(2), False, False),
        (1, "Lyon", "a@x", day(2), END, True, False),
        (9, None, None, day(3), day(3), False, True),
    ])


def test_surrogate_keys_are_unique_and_survive_restitching(spark, dim) -> None:
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c"),
                                         (1, "Paris", "a@x", day(5), "u"),
                                         (2, "Rome", "r@x", day(1), "c")]), SPEC, dim)
    before = {(r.id, r.effective_from): r.sk for r in spark.read.format("delta").load(dim).collect()}
    apply_changes(spark, changes(spark, [(1, "Nice", "a@x", day(3), "u")]), SPEC, dim)
    after = spark.read.format("delta").load(dim).collect()
    assert len({r.sk for r in after}) == len(after) == 4
    after_by_version = {(r.id, r.effective_from): r.sk for r in after}
    assert {version: after_by_version[version] for version in before} == before


@pytest.mark.parametrize("split", ["one_batch", "in_sequence_order", "late"])
def test_effective_times_out_of_step_with_the_sequence_never_run_backwards(
    spark, dim, split: str
) -> None:
    """The sequence orders a key's versions; an effective time earlier than a predecessor's
    (clock skew between the source's writers) is raised to it: intervals never run backwards."""
    spec = ScdSpec(keys=("id",), sequence_by="lsn", effective_at="ts", scd2_columns=("city",),
                   operation="op")
    schema = "id bigint, city string, lsn bigint, ts timestamp, op string"
    rows = [
        (1, "Lyon", 1, day(1), "c"), (1, "Nice", 2, day(5), "u"),
        (1, "Paris", 3, day(3), "u"),             # after Nice, dated before it
        (1, "Rome", 4, day(7), "u"), (1, None, 5, day(6), "d"),  # deleted before it opened
        (2, "Oslo", 1, day(4), "c"), (2, None, 2, day(2), "d"),
    ]
    batches = {
        "one_batch": [rows],
        "in_sequence_order": [[r for r in rows if r[2] == n] for n in range(1, 6)],
        "late": [[r for r in rows if r[2] % 2], [r for r in rows if not r[2] % 2]],
    }[split]
    for batch in batches:
        result = apply_changes(spark, rows_frame(spark, batch, schema), spec, dim)
        assert result.changes_rejected == 0
        if split == "in_sequence_order":
            assert result.appended is True

    actual = spark.read.format("delta").load(dim).select(
        "id", "city", "effective_from", "effective_to", "is_current", "is_deleted")
    expected = rows_frame(spark, [
        (1, "Lyon", day(1), day(5), False, False),
        (1, "Nice", day(5), day(5), False, False),
        (1, "Paris", day(5), day(7), False, False),
        (1, "Rome", day(7), day(7), False, True),
        (2, "Oslo", day(4), day(4), False, True),
    ], "id bigint, city string, effective_from timestamp, effective_to timestamp, "
       "is_current boolean, is_deleted boolean")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_null_keys_and_sequences_are_rejected_with_reasons(spark, dim) -> None:
    result = apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c"),
                                                  (None, "Oslo", "o@x", day(1), "c"),
                                                  (3, "Bern", "b@x", None, "c")]), SPEC, dim)
    assert (result.changes_received, result.changes_accepted, result.changes_rejected) == (3, 1, 2)
    reasons = sorted(tuple(r._reasons) for r in result.rejected.collect())
    assert reasons == [("id_is_null",), ("ts_is_null",)]
    expect(spark, dim, [(1, "Lyon", "a@x", day(1), END, True, False)])


def test_an_effective_time_text_that_is_no_timestamp_is_rejected_with_its_reason(
    spark, tmp_path: Path
) -> None:
    """A change whose effective time is text that reads as no timestamp is rejected, like a null
    one: it was accepted with a null ``effective_from`` (Spark 3.5), or failed the whole batch
    under ANSI mode (Spark 4)."""
    dim = str(tmp_path / "dim")
    spec = ScdSpec(keys=("id",), sequence_by="lsn", effective_at="ts", scd2_columns=("city",))
    batch = rows_frame(spark,
        [(1, "Lyon", 1, "2026-01-01 00:00:00"), (2, "Rome", 1, "yesterday")],
        "id bigint, city string, lsn bigint, ts string")

    result = apply_changes(spark, batch, spec, dim)

    assert (result.changes_received, result.changes_rejected) == (2, 1)
    assert [(r.id, list(r._reasons)) for r in result.rejected.collect()] == [
        (2, ["ts_is_not_a_timestamp"])]
    schema = T.StructType([
        T.StructField("id", T.LongType()), T.StructField("city", T.StringType()),
        T.StructField("effective_from", T.TimestampType()),
        T.StructField("effective_to", T.TimestampType()),
        T.StructField("is_current", T.BooleanType()),
    ])
    assert_df_equality(
        spark.read.format("delta").load(dim).select(*schema.fieldNames()),
        rows_frame(spark, [(1, "Lyon", day(1), END, True)], schema),
        ignore_row_order=True, ignore_nullable=True)


def test_scd1_dimension_overwrites_and_can_hard_delete(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd1_columns=("city", "email"), operation="op",
                   hard_delete=True)
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c"),
                                         (1, "Nice", "b@x", day(2), "u"),
                                         (2, "Rome", "r@x", day(1), "c")]), spec, dim)
    apply_changes(spark, changes(spark, [(2, None, None, day(3), "d"),
                                         (1, "Oslo", "z@x", day(0 + 1), "u")]), spec, dim)
    rows = spark.read.format("delta").load(dim).select("id", "city", "email", "is_current")
    assert [tuple(r) for r in rows.collect()] == [(1, "Nice", "b@x", True)]


def test_a_hard_delete_forgets_the_key_alike_in_one_batch_or_in_several(spark, tmp_path) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd1_columns=("city", "email"), operation="op",
                   hard_delete=True)
    rows = [(1, "Lyon", "a@x", day(1), "c"), (1, None, None, day(2), "d"),
            (1, "Nice", "b@x", day(3), "c")]
    together, apart = str(tmp_path / "together"), str(tmp_path / "apart")
    apply_changes(spark, changes(spark, rows), spec, together)
    for row in rows:
        apply_changes(spark, changes(spark, [row]), spec, apart)

    expected = [(1, "Nice", "b@x", day(3), END, True, False)]
    expect(spark, together, expected)
    expect(spark, apart, expected)


def test_tracked_timestamps_compare_to_the_microsecond_in_any_session_time_zone(
    spark, dim
) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("valid",), operation="op")
    schema = "id bigint, valid timestamp, ts timestamp, op string"
    first, later = datetime(2026, 5, 1, 0, 0, 0, 100), datetime(2026, 5, 1, 0, 0, 0, 900)
    apply_changes(spark, rows_frame(spark, [(1, first, day(1), "c")], schema), spec, dim)
    # the same value and instants again, from a writer whose session is in another zone
    with temporary_conf(spark, {"spark.sql.session.timeZone": "Europe/Paris"}):
        unchanged = apply_changes(spark, rows_frame(spark,
            [(1, first, day(2), "u")], schema), spec, dim)
    apply_changes(spark, rows_frame(spark, [(1, later, day(3), "u")], schema), spec, dim)

    assert unchanged.rows_inserted == 0
    actual = spark.read.format("delta").load(dim).select(
        "id", "valid", "effective_from", "effective_to", "is_current")
    expected = rows_frame(spark, [(1, first, day(1), day(3), False),
                                      (1, later, day(3), END, True)],
                                     "id bigint, valid timestamp, effective_from timestamp, "
                                     "effective_to timestamp, is_current boolean")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_duplicates_at_one_sequence_keep_the_same_row_whatever_their_order(
    spark, tmp_path
) -> None:
    first, second = (1, "Lyon", "first@x", day(1), "c"), (1, "Lyon", "second@x", day(1), "c")
    kept = []
    for name, rows in (("ab", [first, second]), ("ba", [second, first])):
        path = str(tmp_path / name)
        apply_changes(spark, changes(spark, rows).coalesce(1), SPEC, path)
        kept.append([tuple(r) for r in dimension(spark, path).collect()])

    assert kept[0] == kept[1]
    assert len(kept[0]) == 1


def test_surrogate_keys_do_not_depend_on_the_batch_column_types(spark, tmp_path) -> None:
    """A batch typed narrower than the table (an int key, a literal sequence) gives every
    version the key the rebuild gives it, and re-stitching keeps it."""
    spec = ScdSpec(keys=("id",), sequence_by="lsn", effective_at="ts", scd2_columns=("city",),
                   operation="op")
    wide = "id bigint, city string, lsn bigint, ts timestamp, op string"
    narrow = "id int, city string, lsn int, ts timestamp, op string"
    keys = {}
    for shortcut in (True, False):
        path = str(tmp_path / f"shortcut_{shortcut}")
        apply_changes(spark, rows_frame(spark, [(1, "Lyon", 10, day(1), "c")], wide), spec,
                      path)
        result = apply_changes(spark, rows_frame(spark, [(1, "Nice", 30, day(3), "u")],
                                                            narrow),
                               spec, path, append_shortcut=shortcut)
        assert result.appended is shortcut
        before = {r.lsn: r.sk for r in spark.read.format("delta").load(path)
                  .select(F.col("_seq_from").alias("lsn"), "sk").collect()}
        # a late change re-stitches the history around the existing versions
        apply_changes(spark, rows_frame(spark, [(1, "Oslo", 20, day(2), "u")], narrow),
                      spec, path)
        after = {r.lsn: r.sk for r in spark.read.format("delta").load(path)
                 .select(F.col("_seq_from").alias("lsn"), "sk").collect()}
        assert {lsn: after[lsn] for lsn in before} == before
        keys[shortcut] = after

    assert keys[True] == keys[False]
    assert sorted(keys[True]) == [10, 20, 30]


def test_a_numeric_sequence_without_an_effective_time_is_refused_plainly(spark, dim) -> None:
    """Read as a time, an LSN of 10 is 1970-01-01 00:00:10: refused before anything is written."""
    spec = ScdSpec(keys=("id",), sequence_by="lsn", scd2_columns=("city",))
    batch = rows_frame(spark, [(1, "Lyon", 10)], "id bigint, city string, lsn bigint")
    with pytest.raises(ContractError, match=r"sequence_by column 'lsn' is bigint, and without "
                       r"effective_at .* expected a timestamp or date column"):
        apply_changes(spark, batch, spec, dim)
    assert not Path(dim).exists()


def test_hard_delete_is_refused_for_scd2_dimensions() -> None:
    with pytest.raises(ConfigError, match="hard_delete: expected only for SCD1 dimensions"):
        ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",), hard_delete=True)


def test_snapshot_mode_detects_inserts_updates_and_deletes(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",), scd1_columns=("email",))
    snapshot_schema = "id long, city string, email string"
    first = rows_frame(spark, [(1, "Lyon", "a@x"), (2, "Rome", "r@x"), (3, "Oslo", "o@x")],
                                  snapshot_schema)
    apply_snapshot(spark, first, spec, dim, sequence=day(1))
    second = rows_frame(spark, [(1, "Lyon", "a2@x"), (2, "Milan", "r@x"), (4, "Bern", "b@x")],
                                   snapshot_schema)
    apply_snapshot(spark, second, spec, dim, sequence=day(2))
    expect(spark, dim, [
        (1, "Lyon", "a2@x", day(1), END, True, False),
        (2, "Rome", "r@x", day(1), day(2), False, False),
        (2, "Milan", "r@x", day(2), END, True, False),
        (3, "Oslo", "o@x", day(1), day(2), False, True),
        (4, "Bern", "b@x", day(2), END, True, False),
    ])
    again = apply_snapshot(spark, second, spec, dim, sequence=day(3))
    assert (again.rows_inserted, again.rows_updated, again.rows_deleted) == (0, 0, 0)


@pytest.mark.parametrize("writer", ["another job", "another thread of this job"])
def test_a_change_committed_while_a_snapshot_is_applied_is_reconciled_with_it(
        spark, dim, monkeypatch, writer) -> None:
    """A CDC writer commits between the snapshot's read of the dimension and its MERGE: it
    inserts key 5 and moves key 3, which the day-2 snapshot lacks and holds as before. The
    snapshot, a full extract at day 2, must still delete 5 and put 3 back. The writer is another
    job (a session with its own SQL settings) or another thread of this job (the same session:
    its commit must not take the snapshot's commit tag)."""
    import lakejobs.scd.merge as merge

    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",), scd1_columns=("email",))
    schema = "id long, city string, email string"
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon", "a@x"), (3, "Oslo", "o@x")], schema),
                   spec, dim, sequence=day(1))
    noon = datetime(2026, 1, 1, 12)
    real_execute_merge = merge.execute_merge
    interleaved = []
    other_writer = spark.newSession() if writer == "another job" else spark

    def commit_another_change_first(*args, **kwargs):  # right before the snapshot's MERGE
        if not interleaved:
            interleaved.append(True)
            apply_changes(other_writer, rows_frame(
                other_writer, [(3, "Tromso", "o@x", noon), (5, "Bern", "b@x", noon)],
                "id long, city string, email string, ts timestamp"), spec, dim)
        return real_execute_merge(*args, **kwargs)

    monkeypatch.setattr(merge, "execute_merge", commit_another_change_first)
    apply_snapshot(spark, rows_frame(spark, [(1, "Lisbon", "a@x"), (3, "Oslo", "o@x")], schema),
                   spec, dim, sequence=day(2))
    assert interleaved
    expect(spark, dim, [
        (1, "Lyon", "a@x", day(1), day(2), False, False),
        (1, "Lisbon", "a@x", day(2), END, True, False),
        (3, "Oslo", "o@x", day(1), noon, False, False),
        (3, "Tromso", "o@x", noon, day(2), False, False),
        (3, "Oslo", "o@x", day(2), END, True, False),
        (5, "Bern", "b@x", noon, day(2), False, True),
    ])


def test_a_snapshot_without_the_effective_time_its_spec_names_is_refused(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", effective_at="valid_at", scd2_columns=("city",))
    snapshot = rows_frame(spark, [(1, "Lyon")], "id long, city string")
    with pytest.raises(ConfigError, match="apply_snapshot: effective_at: expected the snapshot's "
                       "effective time"):
        apply_snapshot(spark, snapshot, spec, dim, sequence=day(1))


def test_snapshot_rows_with_duplicate_keys_are_rejected(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",))
    snapshot = rows_frame(spark, [(1, "Lyon"), (2, "Rome"), (2, "Milan")], "id long, city string")
    result = apply_snapshot(spark, snapshot, spec, dim, sequence=day(1))
    assert (result.changes_received, result.changes_rejected) == (3, 2)
    rows = spark.read.format("delta").load(dim).select("id", "city", "is_current")
    assert [tuple(r) for r in rows.collect()] == [(1, "Lyon", True)]


def test_a_key_a_later_snapshot_holds_twice_is_rejected_and_keeps_its_version(
    spark, dim
) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",))
    schema = "id long, city string"
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon"), (2, "Rome")], schema), spec, dim,
                   sequence=day(1))
    # key 2 twice, and two rows without a key: each rejected once, for its own reason
    result = apply_snapshot(spark, rows_frame(spark,
        [(1, "Nice"), (2, "Rome"), (2, "Milan"), (None, "X"), (None, "Y")], schema),
        spec, dim, sequence=day(2))
    assert (result.changes_received, result.changes_rejected) == (5, 4)
    reasons = sorted(((r.id, r.city, tuple(r._reasons)) for r in result.rejected.collect()),
                     key=lambda r: r[1])
    assert reasons == [(2, "Milan", ("duplicate_key_in_snapshot",)),
                       (2, "Rome", ("duplicate_key_in_snapshot",)),
                       (None, "X", ("id_is_null",)), (None, "Y", ("id_is_null",))]
    actual = spark.read.format("delta").load(dim).select(
        "id", "city", "effective_from", "effective_to", "is_current", "is_deleted")
    expected = rows_frame(spark, [
        (1, "Lyon", day(1), day(2), False, False),
        (1, "Nice", day(2), END, True, False),
        (2, "Rome", day(1), END, True, False),  # left as it was: not closed, not deleted
    ], "id bigint, city string, effective_from timestamp, effective_to timestamp, "
       "is_current boolean, is_deleted boolean")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_placeholder_missing_from_a_snapshot_stays_until_its_key_arrives(spark, dim) -> None:
    spec = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                   inferred_members=True)
    schema = "id bigint, city string"
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon")], schema), spec, dim,
                   sequence=day(1))
    add_inferred_members(spark, rows_frame(spark, [(2,)], "id bigint"), spec, dim)
    sk = spark.read.format("delta").load(dim).where("id = 2").first().sk
    # the source does not hold key 2 yet: the placeholder is not a deleted key
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon")], schema), spec, dim,
                   sequence=day(2))
    apply_snapshot(spark, rows_frame(spark, [(1, "Lyon"), (2, "Rome")], schema), spec, dim,
                   sequence=day(3))

    actual = spark.read.format("delta").load(dim).select(
        "sk", "id", "city", "effective_from", "is_current", "is_deleted", "is_inferred")
    expected = rows_frame(spark,
        [(actual.where("id = 1").first().sk, 1, "Lyon", day(1), True, False, False),
         (sk, 2, "Rome", INFERRED_FROM, True, False, False)],  # filled in place: same key
        "sk bigint, id bigint, city string, effective_from timestamp, is_current boolean, "
        "is_deleted boolean, is_inferred boolean")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_timestamp_ntz_keys_find_their_versions_whatever_the_driver_zone(
    spark, dim, monkeypatch
) -> None:
    spec = ScdSpec(keys=("at",), sequence_by="ts", scd2_columns=("city",))
    schema = "at timestamp_ntz, city string, ts timestamp"
    key = datetime(2026, 1, 1, 12, 0)
    # the driver process in Paris, the session in UTC (as the lake always is)
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        apply_changes(spark, rows_frame(spark, [(key, "Lyon", day(1))], schema), spec, dim)
        apply_changes(spark, rows_frame(spark, [(key, "Nice", day(2))], schema), spec, dim)
        rows = spark.read.format("delta").load(dim).select(
            "city", "is_current").orderBy("effective_from").collect()
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
    assert [tuple(r) for r in rows] == [("Lyon", False), ("Nice", True)]


def test_timestamp_keys_in_the_repeated_daylight_saving_hour_find_their_versions(
    spark, dim, monkeypatch
) -> None:
    spec = ScdSpec(keys=("at",), sequence_by="ts", scd2_columns=("city",))
    # 00:30 UTC is 02:30 in Paris the first time that hour passes on the night clocks go back;
    # the driver process in Paris, the session in UTC
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        for city, n in (("Lyon", 1), ("Nice", 2)):
            batch = rows_frame(spark, [(city, day(n))], "city string, ts timestamp").select(
                F.to_timestamp(F.lit("2026-10-25 00:30:00")).alias("at"), "city", "ts")
            apply_changes(spark, batch, spec, dim)
        rows = spark.read.format("delta").load(dim).select(
            F.date_format("at", "yyyy-MM-dd HH:mm").alias("at"), "city", "is_current"
        ).orderBy("effective_from").collect()
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
    assert [tuple(r) for r in rows] == [("2026-10-25 00:30", "Lyon", False),
                                        ("2026-10-25 00:30", "Nice", True)]


def test_working_column_names_and_new_spec_columns_are_refused_plainly(spark, dim) -> None:
    with pytest.raises(ConfigError, match=r"\['_version'\]: expected column names other than"):
        ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("_version",))
    with pytest.raises(ConfigError, match=r"\['_o_city'\]"):
        ScdSpec(keys=("id",), sequence_by="ts", scd1_columns=("_o_city",))
    with pytest.raises(ConfigError, match="plain column name"):
        ScdSpec(keys=("id\n",), sequence_by="ts")
    with pytest.raises(ConfigError, match=r"\['_reasons'\]"):
        ScdSpec(keys=("id",), sequence_by="_reasons")
    # read once into the working columns: a landing table's CDC columns are fine here
    assert ScdSpec(keys=("id",), sequence_by="_seq", operation="_op").operation == "_op"
    apply_changes(spark, changes(spark, [(1, "Lyon", "a@x", day(1), "c")]), SPEC, dim)
    wider = ScdSpec(keys=("id",), sequence_by="ts", scd2_columns=("city",),
                    scd1_columns=("email", "phone"), operation="op")
    batch = rows_frame(spark, [(1, "Lyon", "a@x", "555", day(2), "u")],
                                  "id long, city string, email string, phone string, "
                                  "ts timestamp, op string")
    with pytest.raises(ContractError, match=r"has no column\(s\) \['phone'\] that the SCD spec"):
        apply_changes(spark, batch, wider, dim)
    expect(spark, dim, [(1, "Lyon", "a@x", day(1), END, True, False)])


def test_cdc_stream_applies_through_foreach_batch(spark, dim, tmp_path) -> None:
    source = tmp_path / "cdc"
    source.mkdir()
    (source / "part-1.json").write_text(
        '{"id": 1, "city": "Lyon", "email": "a@x", "ts": "2026-01-01T00:00:00Z", "op": "c"}\n'
        '{"id": 1, "city": "Nice", "email": "a@x", "ts": "2026-01-02T00:00:00Z", "op": "u"}\n')
    stream = spark.readStream.schema(CHANGES).json(str(source))
    query = (stream.writeStream.foreachBatch(changes_writer(SPEC, dim))
             .option("checkpointLocation", str(tmp_path / "checkpoint"))
             .trigger(availableNow=True).start())
    query.awaitTermination(timeout=180)
    assert query.exception() is None
    expect(spark, dim, [(1, "Lyon", "a@x", day(1), day(2), False, False),
                        (1, "Nice", "a@x", day(2), END, True, False)])


def test_two_merges_at_the_same_time_leave_one_current_row_per_key(spark, dim) -> None:
    apply_changes(spark, changes(spark, [(k, "Lyon", "a@x", day(1), "c") for k in range(1, 7)]),
                  SPEC, dim)
    batch_a = changes(spark, [(k, "Paris", "p@x", day(3), "u") for k in range(1, 7)])
    batch_b = changes(spark, [(k, "Nice", "n@x", day(2), "u") for k in range(1, 7)]
                      + [(7, "Rome", "r@x", day(2), "c")])
    start = threading.Barrier(2)
    results, errors = {}, []

    def run(name: str, batch: DataFrame) -> None:
        try:
            start.wait(timeout=60)
            results[name] = apply_changes(spark, batch, SPEC, dim)
        except BaseException as e:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=("a", batch_a)),
               threading.Thread(target=run, args=("b", batch_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    current = spark.read.format("delta").load(dim).where("is_current")
    assert current.groupBy("id").count().where("count > 1").count() == 0
    expected = [(k, "Lyon", "p@x", day(1), day(2), False, False) for k in range(1, 7)]
    expected += [(k, "Nice", "p@x", day(2), day(3), False, False) for k in range(1, 7)]
    expected += [(k, "Paris", "p@x", day(3), END, True, False) for k in range(1, 7)]
    expected += [(7, "Rome", "r@x", day(2), END, True, False)]
    expect(spark, dim, expected)


def test_optimize_compacts_the_dimension(spark, dim) -> None:
    for n in range(1, 4):
        apply_changes(spark, changes(spark, [(n, "Lyon", "a@x", day(n), "c")]), SPEC, dim)
    metrics = optimize_dimension(spark, dim, zorder_by=["id"]).first().metrics
    assert metrics.numFilesRemoved >= 3 and metrics.numFilesAdded == 1
    expect(spark, dim, [(n, "Lyon", "a@x", day(n), END, True, False) for n in range(1, 4)])


@pytest.mark.parametrize(("small_table_bytes", "rewrites"), [(SMALL_TABLE_BYTES, True),
                                                               (0, False)])
def test_a_small_dimension_is_merged_by_rewriting_files_a_larger_one_with_deletion_vectors(
        spark, dim, small_table_bytes, rewrites) -> None:
    # ten keys: the changed row shares its file with others (a file whose every row changes is
    # removed either way)
    apply_changes(spark, changes(spark, [(k, "Lyon", "a@x", day(1), "c") for k in range(1, 11)]),
                  SPEC, dim)
    setting = spark.conf.get(MERGE_DELETION_VECTORS, None)
    apply_changes(spark, changes(spark, [(2, "Nice", "b@x", day(2), "u")]), SPEC, dim,
                  small_table_bytes=small_table_bytes)
    merge = spark.sql(f"DESCRIBE HISTORY delta.`{dim}` LIMIT 1").first()
    assert merge.operation == "MERGE"
    vectors = int(merge.operationMetrics["numTargetDeletionVectorsAdded"])
    removed = int(merge.operationMetrics["numTargetFilesRemoved"])
    assert (vectors, removed > 0) == ((0, True) if rewrites else (1, False))
    assert spark.conf.get(MERGE_DELETION_VECTORS, None) == setting  # the session's, set back
    expect(spark, dim, [
        (2, "Lyon", "b@x", day(1), day(2), False, False),
        (2, "Nice", "b@x", day(2), END, True, False),
        *[(k, "Lyon", "a@x", day(1), END, True, False) for k in range(1, 11) if k != 2],
    ])


# --- property: batch by batch == all at once -------------------------------------------------

EVENT = st.tuples(
    st.integers(min_value=1, max_value=3),                 # key
    st.integers(min_value=1, max_value=12),                # sequence (day)
    st.sampled_from(["Lyon", "Nice", None]),               # tracked value (None = delete)
    st.sampled_from(["a@x", "b@x"]),                       # scd1 value
)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=st.lists(EVENT, min_size=1, max_size=14),
       cuts=st.lists(st.integers(min_value=0, max_value=14), max_size=2),
       order=st.randoms(use_true_random=False))
def test_any_split_into_batches_gives_the_same_dimension_as_one_batch(
    spark, tmp_path_factory, history, cuts, order
) -> None:
    rows = [(k, city, email, day(seq), "d" if city is None else "u")
            for k, seq, city, email in history]
    order.shuffle(rows)
    bounds = sorted({0, len(rows), *[min(c, len(rows)) for c in cuts]})
    path = str(tmp_path_factory.mktemp("prop") / "dim")
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        apply_changes(spark, changes(spark, rows[lo:hi]), SPEC, path)
    batched = spark.read.format("delta").load(path).drop("_change_log")
    at_once = initial_dimension(changes(spark, rows), SPEC).drop("_change_log")
    assert_df_equality(batched, at_once, ignore_row_order=True, ignore_nullable=True)
