"""Staging → curated edge cases: point-in-time fallbacks, tombstones, model errors, calendar."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakejobs.curated.lookups import lookup_versions, point_in_time_key
from lakejobs.curated.models import load_model
from lakejobs.delta_io import table_version
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame

END = datetime(9999, 12, 31, 23, 59, 59)
DIMENSION = ("customer_id bigint, customer_sk bigint, effective_from timestamp, "
             "effective_to timestamp, is_current boolean, is_deleted boolean, "
             "_tracked_hash bigint")
FACTS = "order_id bigint, customer_id bigint, ordered_at timestamp"
KEYED = "order_id bigint, customer_sk bigint"


def day(n: int) -> datetime:
    return datetime(2026, 1, n)


def keyed(spark: SparkSession, dimension: list[tuple], facts: list[tuple]):
    return rows_frame(spark, facts, FACTS).transform(point_in_time_key(
        lookup_versions(rows_frame(spark, dimension, DIMENSION)),
        dimension_keys=["customer_id"], fact_columns=["customer_id"],
        surrogate_key="customer_sk", event_time="ordered_at", grain=["order_id"],
    )).select("order_id", "customer_sk")


def test_a_fact_before_the_first_version_takes_the_nearest_version_not_the_current(
    spark: SparkSession,
) -> None:
    dimension = [(1, 11, day(5), day(10), False, False, 7),
                 (1, 12, day(10), END, True, False, 8)]
    facts = [(100, 1, day(1))]  # before the key's first version: the first one is nearest
    assert_df_equality(keyed(spark, dimension, facts),
                       rows_frame(spark, [(100, 11)], KEYED),
                       ignore_row_order=True, ignore_nullable=True)


def test_a_fact_without_event_time_of_a_deleted_key_takes_its_last_version(
    spark: SparkSession,
) -> None:
    # a deleted key has no current version; the surrogate keys are hashes (any order)
    dimension = [(1, 11, day(1), day(5), False, False, 7),
                 (1, 99, day(5), day(8), False, True, 8)]
    facts = [(100, 1, None)]
    assert_df_equality(keyed(spark, dimension, facts),
                       rows_frame(spark, [(100, 99)], KEYED),
                       ignore_row_order=True, ignore_nullable=True)


def test_a_fact_of_a_key_held_only_as_a_tombstone_points_at_the_tombstone(
    spark: SparkSession,
) -> None:
    # a delete of a key the dimension never saw: the job adds no inferred member for it (the
    # key is held), so the lookup must find the tombstone rather than leave the key null
    dimension = [(1, 11, day(5), day(5), False, True, None),
                 (2, 21, day(1), day(3), False, False, 7),
                 (2, 22, day(3), day(3), False, True, None)]  # a late insert older than it
    facts = [(100, 1, day(6)), (101, 2, day(6))]
    assert_df_equality(keyed(spark, dimension, facts),
                       rows_frame(spark, [(100, 11), (101, 21)], KEYED),
                       ignore_row_order=True, ignore_nullable=True)


def test_a_fact_referencing_one_dimension_twice_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "calendar: {start: 2026-01-01, end: 2026-12-31}\n"
        "dimensions:\n"
        "  - {name: dim_customer, source: customers, keys: [{name: customer_id}],\n"
        "     surrogate_key: customer_sk, sequence_by: ts}\n"
        "facts:\n"
        "  - {name: fact_x, source: x, grain: [{name: id}], sequence_by: ts, event_time: ts,\n"
        "     dimensions: [{dimension: dim_customer, columns: [buyer_id]},\n"
        "                  {dimension: dim_customer, columns: [payer_id]}]}\n")
    with pytest.raises(ConfigError, match=r"model.yaml: .*fact_x.*dim_customer.*twice"):
        load_model(str(path))


TWO_DIMENSIONS = (
    "calendar: {start: 2026-01-01, end: 2026-12-31}\n"
    "dimensions:\n"
    "  - {name: dim_customer, source: customers, keys: [{name: customer_id}],\n"
    "     surrogate_key: %s, sequence_by: ts}\n"
    "  - {name: dim_product, source: products, keys: [{name: product_id}],\n"
    "     surrogate_key: sk, sequence_by: ts}\n"
    "facts:\n"
    "  - {name: fact_x, source: x, grain: [{name: id}], sequence_by: ts, event_time: ts,\n"
    "     dimensions: [{dimension: dim_customer, columns: [customer_id]},\n"
    "                  {dimension: dim_product, columns: [product_id]}], partition_by: [%s]}\n")


@pytest.mark.parametrize(("customer_sk", "partition_by", "message"), [
    # the fact held one sk column, the product's: every customer reference was lost and the
    # integrity check counted only the product's keys
    ("sk", "", r"fact_x: dimensions \['dim_customer', 'dim_product'\] share the surrogate key "
               r"name\(s\) \['sk'\]"),
    # failed at the fact's MERGE, after the dimensions were written, with Spark's stack trace
    ("customer_sk", "order_day", r"fact_x: partition_by names \['order_day'\], which are not "
                                 r"columns of the fact: expected some of \[.*'customer_sk'"),
])
def test_a_fact_whose_columns_clash_or_partition_is_unknown_is_a_config_error(
    tmp_path: Path, customer_sk: str, partition_by: str, message: str
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(TWO_DIMENSIONS % (customer_sk, partition_by))
    with pytest.raises(ConfigError, match=r"model.yaml: .*" + message):
        load_model(str(path))


def curated_lake(spark: SparkSession, tmp_path: Path, model: str):
    """A lake (see tests/test_curated.py) whose job runs ``model`` instead of the retail one."""
    from test_curated import Lake

    lake = Lake(spark, tmp_path, register=False)
    (tmp_path / "model.yaml").write_text(model)
    config = json.loads(lake.config.read_text())
    config["curated"]["model"] = str(tmp_path / "model.yaml")
    lake.config.write_text(json.dumps(config))
    return lake


ORDERS_MODEL = """\
calendar: {start: 2026-01-01, end: 2026-01-31}
dimensions:
  - {name: dim_customer, source: customers, keys: [{name: customer_id}],
     surrogate_key: customer_sk, sequence_by: _event_time, operation: _op,
     scd2: [{name: country}]}
facts:
  - name: fact_orders
    source: orders
    grain: [{name: order_id}]
    sequence_by: updated_at
    event_time: %s
    dimensions: [{dimension: dim_customer, columns: [customer_id]}]
    measures: [{name: order_total, expr: "%s"}]
"""


@pytest.mark.parametrize(("event_time", "expr", "message"), [
    ("placed_at", "order_total", r"fact_orders: staging table orders has no column\(s\) "
                                 r"\['placed_at'\]"),
    ("ordered_at", "order_totl * 2", r"fact_orders: measure order_total .*order_totl"),
])
def test_a_fact_naming_a_column_staging_lacks_is_a_config_error(
    spark: SparkSession, tmp_path: Path, event_time: str, expr: str, message: str
) -> None:
    lake = curated_lake(spark, tmp_path, ORDERS_MODEL % (event_time, expr))
    lake.stage("customers", [(1, "a@x", None, "Ada", "GB", None, day(1))])
    lake.stage("orders", [(100, 1, "placed", Decimal("10.00"), "EUR", day(2), day(2))])
    with pytest.raises(ConfigError, match=message):
        lake.run("r1")


def test_a_measure_added_to_a_written_fact_is_a_config_error_before_anything_is_written(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The next run failed with Spark's unresolved-column error at the fact's MERGE, after the
    dimensions were written, and every later run again."""
    lake = curated_lake(spark, tmp_path, ORDERS_MODEL % ("ordered_at", "order_total"))
    lake.stage("customers", [(1, "a@x", None, "Ada", "GB", None, day(1))])
    lake.stage("orders", [(100, 1, "placed", Decimal("10.00"), "EUR", day(2), day(2))])
    lake.run("r1")
    (tmp_path / "model.yaml").write_text(
        (ORDERS_MODEL % ("ordered_at", "order_total")).replace(
            "expr: \"order_total\"}]", "expr: \"order_total\"}, {name: currency, expr: currency}]"))
    lake.stage("customers", [(1, "a@x", None, "Ada", "FR", None, day(3))])
    dimension = table_version(spark, str(lake.root / "curated" / "dim_customer"))

    with pytest.raises(ConfigError, match=r"fact fact_orders: the model declares column\(s\) "
                                          r"\['currency'\] the table lacks .*ALTER TABLE"):
        lake.run("r2")
    assert table_version(spark, str(lake.root / "curated" / "dim_customer")) == dimension


def test_engagement_columns_the_events_lack_are_a_config_error(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = curated_lake(spark, tmp_path, (
        "calendar: {start: 2026-01-01, end: 2026-01-31}\n"
        "engagement: {identities: [user_id, device_id], session: sessionid}\n"))
    lake.stage("events", [("e1", "click", datetime(2026, 1, 1, 9), "u1", "a1", "s1")])
    with pytest.raises(ConfigError, match=r"model: engagement fct_user_engagement: staging table "
                                          r"events has no column\(s\) \['device_id', "
                                          r"'sessionid'\]"):
        lake.run("r1")


@pytest.mark.parametrize(("start", "end"), [
    (date(2026, 1, 2), date(2026, 1, 3)),   # shortened: the old days stay, nothing to add
    (date(2026, 1, 4), date(2026, 1, 6)),   # moved, as many days: three days to add
])
def test_a_changed_calendar_gets_its_missing_days_and_a_rerun_commits_nothing(
    spark: SparkSession, tmp_path: Path, start: date, end: date
) -> None:
    from lakejobs.curated.models import CuratedModel
    from lakejobs.curated.staging_to_curated import ensure_calendar

    path = str(tmp_path / "dim_date")
    context = SimpleNamespace(spark=spark, paths=SimpleNamespace(table=lambda zone, name: path))

    def model(first: date, last: date) -> CuratedModel:
        return CuratedModel(calendar={"start": first, "end": last})

    ensure_calendar(context, model(date(2026, 1, 1), date(2026, 1, 3)))
    ensure_calendar(context, model(start, end))
    after_change = table_version(spark, path)
    ensure_calendar(context, model(start, end))

    assert table_version(spark, path) == after_change
    days = {r.date for r in spark.read.format("delta").load(path).collect()}
    first = [date(2026, 1, 1) + timedelta(days=n) for n in range(3)]
    changed = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    assert days == {None, *first, *changed}  # days of the old range stay (facts may use them)
