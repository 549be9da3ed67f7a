"""The key ranges that bound an SCD merge's reads (file skipping): at most ``max_ranges`` of
them, every key inside one."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

import lakejobs.scd.key_ranges as key_ranges_module
from lakejobs.local_rows import rows_frame
from lakejobs.scd.key_ranges import key_ranges, split_ranges


@pytest.mark.parametrize("at_most", [None, 12])  # without and with the batch's count
def test_numeric_keys_are_split_at_their_widest_gaps(spark: SparkSession,
                                                     at_most: int | None) -> None:
    # three clusters and a stray key; duplicates and nulls count once / not at all
    ids = [1, 2, 3, 3, 4, None, 100, 101, 102, 5000, 5001, 7000]
    keys = rows_frame(spark, [(i,) for i in ids], "id long")

    ranges = key_ranges(keys, "id", max_ranges=3, at_most=at_most)

    # the two widest gaps are 102->5000 and 5001->7000; 4->100 is only the third
    assert ranges.ranges == ((1, 102), (5000, 5001), (7000, 7000))
    assert ranges.distinct_values == 10


def test_enough_ranges_give_one_per_cluster_and_a_gap_of_one_is_never_cut(
        spark: SparkSession) -> None:
    keys = rows_frame(spark, [(i,) for i in [1, 2, 3, 10, 11, 20]], "id int")

    ranges = key_ranges(keys, "id", max_ranges=32)

    assert ranges.ranges == ((1, 3), (10, 11), (20, 20))
    assert ranges.distinct_values == 6


def test_one_range_spans_all_keys(spark: SparkSession) -> None:
    keys = rows_frame(spark, [(i,) for i in [7, -3, 12]], "id long")

    assert key_ranges(keys, "id", max_ranges=1).ranges == ((-3, 12),)


def test_extreme_longs_do_not_overflow(spark: SparkSession) -> None:
    low, high = -(2**63), 2**63 - 1
    keys = rows_frame(spark, [(low,), (0,), (high,)], "id long")

    assert key_ranges(keys, "id", max_ranges=3).ranges == ((low, low), (0, 0), (high, high))


def test_other_keys_are_split_into_runs_of_equal_counts(spark: SparkSession) -> None:
    keys = rows_frame(spark, [(c,) for c in "hgfedcba"], "code string")

    ranges = key_ranges(keys, "code", max_ranges=3)

    assert ranges.ranges == (("a", "c"), ("d", "f"), ("g", "h"))
    assert ranges.distinct_values == 8


def test_date_keys_keep_their_type(spark: SparkSession) -> None:
    keys = rows_frame(spark, [(date(2026, 1, d),) for d in (3, 1, 2)], "day date")

    assert key_ranges(keys, "day", max_ranges=2).ranges == (
        (date(2026, 1, 1), date(2026, 1, 2)), (date(2026, 1, 3), date(2026, 1, 3)))


def test_the_predicate_keeps_exactly_the_rows_within_the_ranges(spark: SparkSession) -> None:
    keys = rows_frame(spark, [(i,) for i in [1, 2, 50]], "id long")
    table = rows_frame(spark, [(i,) for i in range(0, 60, 1)], "id long")

    ranges = key_ranges(keys, "id", max_ranges=4)

    assert_df_equality(table.where(ranges.predicate()),
                       rows_frame(spark, [(1,), (2,), (50,)], "id long"),
                       ignore_row_order=True)
    aliased = table.alias("t").where(ranges.predicate("t"))
    assert sorted(r.id for r in aliased.collect()) == [1, 2, 50]


def test_no_keys_restrict_nothing(spark: SparkSession) -> None:
    keys = rows_frame(spark, [(None,)], "id long")

    ranges = key_ranges(keys, "id", max_ranges=4)

    assert ranges.ranges == ()
    assert ranges.distinct_values == 0
    table = rows_frame(spark, [(1,), (2,)], "id long")
    assert table.where(ranges.predicate()).count() == 2


def test_more_keys_than_the_driver_takes_restrict_nothing(spark: SparkSession,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_ranges_module, "MAX_COLLECTED_KEYS", 3)
    keys = rows_frame(spark, [(i,) for i in [1, 2, 3, 4]], "id long")

    ranges = key_ranges(keys, "id", max_ranges=4)

    assert ranges.ranges == ()
    assert ranges.distinct_values is None
    assert key_ranges(keys.where("id < 4"), "id", max_ranges=4).ranges == ((1, 3),)


def test_equal_gaps_are_cut_earliest_first() -> None:
    assert split_ranges([0, 10, 20, 30], 3) == [(0, 0), (10, 10), (20, 30)]


def test_runs_never_exceed_max_ranges() -> None:
    for n in range(1, 40):
        values = [f"k{i:02d}" for i in range(n)]
        ranges = split_ranges(values, 4)
        assert len(ranges) <= 4
        assert ranges[0][0] == values[0] and ranges[-1][1] == values[-1]
    assert split_ranges([f"k{i}" for i in range(10)], 4) == [
        ("k0", "k2"), ("k3", "k5"), ("k6", "k8"), ("k9", "k9")]


def test_max_ranges_below_one_is_refused(spark: SparkSession) -> None:
    keys = rows_frame(spark, [(1,)], "id long")

    with pytest.raises(ValueError, match="max_ranges: expected at least 1, got 0"):
        key_ranges(keys, "id", max_ranges=0)
