"""Staging → curated: point-in-time keys across SCD2 changes, the inferred-member lifecycle,
late data, rerun and replay idempotency, referential integrity, engagement and the catalog."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.curated.calendar import calendar_days
from lakejobs.curated.lookups import point_in_time_key
from lakejobs.curated.models import Calendar, load_model
from lakejobs.delta_io import table_version
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job
from lakejobs.scd import INFERRED_FROM

END = datetime(9999, 12, 31, 23, 59, 59)
CUSTOMERS = ("customer_id bigint, email string, phone string, full_name string, country string, "
             "birth_date date, updated_at timestamp")
PRODUCTS = ("product_id bigint, product_name string, description string, category string, "
            "list_price decimal(12,2), updated_at timestamp")
ORDERS = ("order_id bigint, customer_id bigint, order_status string, order_total decimal(12,2), "
          "currency string, ordered_at timestamp, updated_at timestamp")
ITEMS = ("order_item_id bigint, order_id bigint, product_id bigint, quantity int, "
         "unit_price decimal(12,2), updated_at timestamp")
EVENTS = ("event_id string, event_name string, occurred_at timestamp, user_id string, "
          "anon_id string, session_id string")
TABLES = {"customers": CUSTOMERS, "products": PRODUCTS, "orders": ORDERS, "order_items": ITEMS,
          "events": EVENTS}


def day(n: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, n, hour)


class Lake:
    """A lake in a temp folder whose staging tables the test writes as the validation job does
    (with ``_validated_at``), and a config that runs the staging → curated job on it."""

    def __init__(self, spark: SparkSession, tmp_path: Path, *, register: bool = True) -> None:
        self.spark = spark
        self.root = tmp_path / "lake"
        self.database = f"curated_{uuid.uuid4().hex[:8]}"
        self.config = tmp_path / "dev.yaml"
        self.config.write_text(json.dumps({
            "env": "dev", "lake": {"root": str(self.root)},
            "curated": {"model": "conf/models/retail.yaml", "database": self.database,
                        "register_tables": register}}))
        self.batches = 0

    def stage(self, table: str, rows: list[tuple]) -> None:
        self.batches += 1  # every staging write is later than the one before, as in the lake
        validated = datetime(2026, 2, 1, 0, 0, self.batches)
        df = rows_frame(self.spark, rows, TABLES[table]).withColumn(
            "_validated_at", F.lit(validated))
        if table in ("customers", "products"):  # as staged from file drops: no CDC metadata
            df = df.withColumn("_op", F.lit(None).cast("string")).withColumn(
                "_event_time", F.col("updated_at"))
        df.write.format("delta").mode("append").option("mergeSchema", "true").save(
            str(self.root / "staging" / table))

    def run(self, run_id: str) -> JobResult:
        argv = ["job.py", "--JOB_NAME", "staging_to_curated", "--env", "dev", "--config",
                str(self.config), "--JOB_RUN_ID", run_id]
        return run_job(get_job("staging_to_curated"), argv, spark=self.spark).result

    def table(self, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(str(self.root / "curated" / name))

    def versions(self) -> dict[str, int]:
        names = ["dim_date", "dim_customer", "dim_product", "fact_orders", "fact_order_items",
                 "fct_user_engagement", "agg_daily_engagement"]
        return {n: table_version(self.spark, str(self.root / "curated" / n)) for n in names}


@pytest.fixture
def lake(spark: SparkSession, tmp_path: Path) -> Lake:
    return Lake(spark, tmp_path)


def plain(df: DataFrame) -> DataFrame:
    """``df`` without column metadata (the catalog comments), for comparison with literals
    (chispa compares metadata; Spark 3.5 keeps it through ``alias(metadata={})``)."""
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in df.schema.fields])
    return rows_frame(df.sparkSession, df.collect(), schema)


def orders_with_customer_version(lake: Lake) -> DataFrame:
    """Each order with the customer version its surrogate key points at."""
    customers = lake.table("dim_customer").select(
        "customer_sk", F.col("customer_id").alias("version_of"), "country", "effective_from",
        "is_inferred")
    return plain(lake.table("fact_orders").join(customers, on="customer_sk", how="left").select(
        "order_id", "version_of", "country", "effective_from", "is_inferred", "order_date_key"))


ORDER_VERSIONS = ("order_id bigint, version_of bigint, country string, effective_from timestamp, "
                  "is_inferred boolean, order_date_key int")


@pytest.mark.slow
def test_facts_point_at_the_version_valid_at_their_time_and_inferred_members_fill_in_place(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Lake(spark, tmp_path, register=False)  # registration has its own test
    gbp = "GBP"
    lake.stage("customers", [(1, "a@x", None, "Ada", "GB", date(1990, 1, 1), day(1))])
    lake.stage("products", [(10, "Kite", "red kite", "toys", Decimal("5.00"), day(1))])
    lake.stage("orders", [
        (100, 1, "placed", Decimal("10.00"), gbp, day(3), day(3)),
        (101, 2, "placed", Decimal("7.00"), gbp, day(3), day(3)),   # customer 2 not arrived yet
        (102, None, "placed", Decimal("1.00"), gbp, day(3), day(3)),  # no customer: unknown
    ])
    lake.stage("order_items", [
        (1000, 100, 10, 2, Decimal("5.00"), day(3)),
        (1001, 101, 99, 1, Decimal("7.00"), day(3)),   # product 99 not arrived yet
        (1002, 104, 10, 3, Decimal("5.00"), day(4)),   # its order header arrives later
    ])
    first = lake.run("r1")

    inferred = lake.table("dim_customer").where("customer_id = 2").collect()
    assert [(r.is_inferred, r.full_name, r.effective_from) for r in inferred] == [
        (True, None, INFERRED_FROM)]
    placeholder_sk = inferred[0].customer_sk
    assert first.summary["fact_orders"]["inferred_members"] == 1
    assert first.summary["fact_order_items"]["inferred_members"] == 1  # product 99 (customer 2
    # already has its placeholder from fact_orders)
    assert first.summary["integrity"]["ok"] is True

    # Customer 1 moves twice, one change arriving late (day 2, before order 100 of day 3);
    # customer 2 arrives; order 104 (header of line 1002) and order 105 arrive.
    lake.stage("customers", [
        (1, "a@x", None, "Ada", "FR", date(1990, 1, 1), day(5)),
        (1, "a@x", None, "Ada", "IE", date(1990, 1, 1), day(2)),
        (2, "b@x", None, "Bo", "US", None, day(2)),
    ])
    lake.stage("orders", [
        (104, 1, "placed", Decimal("15.00"), gbp, day(4), day(4)),
        (105, 1, "paid", Decimal("9.00"), gbp, day(6), day(6)),
    ])
    lake.run("r2")

    assert_df_equality(orders_with_customer_version(lake), rows_frame(spark, [
        (100, 1, "IE", day(2), False, 20260103),     # re-pointed: the late change covers day 3
        (101, 2, "US", INFERRED_FROM, False, 20260103),  # the placeholder, filled in place
        (102, None, None, INFERRED_FROM, False, 20260103),  # the unknown member
        (104, 1, "IE", day(2), False, 20260104),
        (105, 1, "FR", day(5), False, 20260106),
    ], ORDER_VERSIONS), ignore_row_order=True, ignore_nullable=True)
    assert lake.table("fact_orders").where("order_id = 101").first().customer_sk == placeholder_sk
    assert lake.table("fact_orders").where("order_id = 102").first().customer_sk == -1

    lines = lake.table("fact_order_items").join(
        lake.table("dim_customer").select("customer_sk", "country"), "customer_sk", "left"
    ).join(lake.table("dim_product").select("product_sk", "category", "is_inferred"),
           "product_sk", "left")
    assert_df_equality(
        plain(lines.select("order_item_id", "order_id", "country", "category", "is_inferred",
                           "order_date_key", "line_amount")),
        rows_frame(spark, [
            (1000, 100, "IE", "toys", False, 20260103, Decimal("10.00")),
            (1001, 101, "US", None, True, 20260103, Decimal("7.00")),
            (1002, 104, "IE", "toys", False, 20260104, Decimal("15.00")),  # header arrived
        ], "order_item_id bigint, order_id bigint, country string, category string, "
           "is_inferred boolean, order_date_key int, line_amount decimal(14,2)"),
        ignore_row_order=True, ignore_nullable=True)


def test_rerun_and_replay_change_nothing_and_tables_are_registered_with_comments(
    spark: SparkSession, lake: Lake
) -> None:
    customers = [(1, "a@x", None, "Ada", "GB", None, day(1)),
                 (1, "a@x", None, "Ada", "FR", None, day(4))]
    orders = [(100, 1, "placed", Decimal("10.00"), "EUR", day(2), day(2)),
              (101, 1, "placed", Decimal("12.00"), "EUR", day(5), day(5)),
              (102, 3, "placed", Decimal("12.00"), "EUR", day(5), day(5))]
    lake.stage("customers", customers)
    lake.stage("orders", orders)
    lake.run("r1")
    before = lake.versions()
    facts = lake.table("fact_orders").drop("_loaded_at").collect()

    lake.run("r2")  # nothing new
    lake.stage("customers", customers)  # the same batches replayed
    lake.stage("orders", orders)
    replay = lake.run("r3")

    assert lake.versions() == before  # no table committed anything
    assert sorted(lake.table("fact_orders").drop("_loaded_at").collect()) == sorted(facts)
    assert replay.summary["fact_orders"] == {"rows": 3, "inserted": 0, "updated": 0,
                                             "inferred_members": 0}
    run_log = spark.read.format("delta").load(str(lake.root / "_lakejobs" / "analytics_job_run"))
    logged = json.loads(run_log.where("run_id = 'r3'").first().summary)
    assert logged["integrity"] == {"ok": True, "orphans": {
        "fact_orders.customer_sk": 0, "fact_orders.order_date_key": 0}}

    comments = {c.name: c.description
                for c in spark.catalog.listColumns(f"{lake.database}.fact_orders")}
    assert comments["customer_sk"] == "customer version valid when the order was placed"
    assert comments["order_total"] == "order total in currency"
    assert spark.catalog.getTable(f"{lake.database}.fact_orders").description == (
        "One row per order")
    assert spark.table(f"{lake.database}.dim_customer").where("customer_id = 1").count() == 2
    assert {t.name for t in spark.catalog.listTables(lake.database)} == {
        "dim_date", "dim_customer", "fact_orders"}  # products, lines, events: no staging yet

    # a dimension row lost behind the job's back is reported, not hidden
    DeltaTable.forPath(spark, str(lake.root / "curated" / "dim_customer")).delete(
        "customer_id = 3")
    assert lake.run("r4").summary["integrity"] == {"ok": False, "orphans": {
        "fact_orders.customer_sk": 1, "fact_orders.order_date_key": 0}}


def test_engagement_counts_every_event_once_and_recomputes_only_touched_days(
    spark: SparkSession, lake: Lake
) -> None:
    lake.stage("events", [
        ("e1", "page_view", day(1, 9), "u1", "a1", "s1"),
        ("e2", "page_view", day(1, 10), "u1", "a1", "s2"),
        ("e2", "page_view", day(1, 10), "u1", "a1", "s2"),  # duplicate delivery
        ("e3", "click", day(1, 11), None, "a2", "s3"),
        ("e4", "click", day(1, 12), None, None, None),      # no identifier
        ("e5", "click", day(2, 8), "u1", None, "s4"),
    ])
    first = lake.run("r1")
    assert first.summary["fct_user_engagement"]["events"] == 5
    lake.stage("events", [("e6", "click", day(2, 9), None, "a2", "s5")])  # day 2 only
    before = lake.table("fct_user_engagement").where("event_date = '2026-01-01'").collect()
    lake.run("r2")

    assert_df_equality(
        plain(lake.table("fct_user_engagement").orderBy("event_date", "identity_key")),
        rows_frame(spark, [
            (date(2026, 1, 1), "anon:a2", 1, 1, day(1, 11), day(1, 11)),
            (date(2026, 1, 1), "user:u1", 2, 2, day(1, 9), day(1, 10)),
            (date(2026, 1, 2), "anon:a2", 1, 1, day(2, 9), day(2, 9)),
            (date(2026, 1, 2), "user:u1", 1, 1, day(2, 8), day(2, 8)),
        ], "event_date date, identity_key string, events bigint, sessions bigint, "
           "first_event_at timestamp, last_event_at timestamp"),
        ignore_nullable=True)
    assert_df_equality(
        plain(lake.table("agg_daily_engagement").orderBy("event_date")),
        rows_frame(spark, [
            (date(2026, 1, 1), 2, 4, 1, 1.5),
            (date(2026, 1, 2), 2, 2, 0, 1.0),
        ], "event_date date, active_identities bigint, events bigint, "
           "unattributed_events bigint, events_per_identity double"),
        ignore_nullable=True)
    # day 1 was not touched by the second batch: its rows were not rewritten
    assert lake.table("fct_user_engagement").where("event_date = '2026-01-01'").collect() == before


def test_an_event_staged_again_with_another_time_counts_once_on_its_latest_day(
    spark: SparkSession, lake: Lake
) -> None:
    """Only the new copy's day was recomputed: an event redelivered in a later run with its
    clock past midnight counted on both days, and one redelivered with an earlier time counted
    on that day too (the recomputed day saw only that copy)."""
    lake.stage("events", [
        ("e1", "click", day(1, 23), "u1", None, "s1"),
        ("e2", "click", day(1, 10), "u2", None, "s2"),
        ("e3", "click", day(2, 5), "u3", None, "s3"),
    ])
    lake.run("r1")
    lake.stage("events", [("e1", "click", day(2, 0), "u1", None, "s1")])  # later: to day 2
    lake.run("r2")
    lake.stage("events", [("e3", "click", day(1, 5), "u3", None, "s3")])  # earlier: stays
    lake.run("r3")

    assert_df_equality(
        plain(lake.table("fct_user_engagement")),
        rows_frame(spark, [
            (date(2026, 1, 1), "user:u2", 1, 1, day(1, 10), day(1, 10)),
            (date(2026, 1, 2), "user:u1", 1, 1, day(2, 0), day(2, 0)),
            (date(2026, 1, 2), "user:u3", 1, 1, day(2, 5), day(2, 5)),
        ], "event_date date, identity_key string, events bigint, sessions bigint, "
           "first_event_at timestamp, last_event_at timestamp"),
        ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(
        plain(lake.table("agg_daily_engagement")),
        rows_frame(spark, [(date(2026, 1, 1), 1, 1, 0, 1.0), (date(2026, 1, 2), 2, 2, 0, 1.0)],
                   "event_date date, active_identities bigint, events bigint, "
                   "unattributed_events bigint, events_per_identity double"),
        ignore_row_order=True, ignore_nullable=True)


def test_point_in_time_key_takes_the_covering_version_else_the_nearest(
    spark: SparkSession,
) -> None:
    versions = rows_frame(spark, [
        (1, 11, day(1), day(3), False),
        (1, 12, day(3), END, True),
        (2, 21, day(5), END, True),
    ], "customer_id bigint, customer_sk bigint, effective_from timestamp, "
       "effective_to timestamp, is_current boolean")
    facts = rows_frame(spark, [
        (1, 1, day(2)),      # inside the first version
        (2, 1, day(3)),      # exactly at the change: the new version (effective_to exclusive)
        (3, 2, day(1)),      # before the key's first version: the nearest one
        (4, None, day(2)),   # no key: the unknown member
        (5, 9, day(2)),      # a key the dimension lacks: null, for the integrity check
        (6, 1, None),        # no event time: the current version
    ], "order_id bigint, buyer_id bigint, ordered_at timestamp")
    keyed = facts.transform(point_in_time_key(
        versions, dimension_keys=["customer_id"], fact_columns=["buyer_id"],
        surrogate_key="customer_sk", event_time="ordered_at", grain=["order_id"]))
    assert_df_equality(
        keyed.select("order_id", "customer_sk"),
        rows_frame(spark, [(1, 11), (2, 12), (3, 21), (4, -1), (5, None), (6, 12)],
                              "order_id bigint, customer_sk bigint"),
        ignore_row_order=True, ignore_nullable=True)


def test_a_model_naming_an_unknown_dimension_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "calendar: {start: 2026-01-01, end: 2026-12-31}\n"
        "facts:\n"
        "  - {name: fact_x, source: x, grain: [{name: id}], sequence_by: ts, event_time: ts,\n"
        "     dimensions: [{dimension: dim_nope, columns: [c]}]}\n")
    with pytest.raises(ConfigError, match=r"model.yaml: .*unknown dimension 'dim_nope'"):
        load_model(str(path))


def test_calendar_has_one_row_per_day_and_the_unknown_date(spark: SparkSession) -> None:
    days = calendar_days(spark, Calendar(start=date(2026, 1, 3), end=date(2026, 1, 4)))
    assert_df_equality(days, rows_frame(spark, [
        (20260103, date(2026, 1, 3), 2026, 1, 1, "January", 3, 6, "Saturday", 1, True),
        (20260104, date(2026, 1, 4), 2026, 1, 1, "January", 4, 7, "Sunday", 1, True),
        (-1, None, None, None, None, None, None, None, None, None, None),
    ], "date_key int, date date, year int, quarter int, month int, month_name string, "
       "day_of_month int, day_of_week int, day_name string, week_of_year int, "
       "is_weekend boolean"), ignore_row_order=True, ignore_nullable=True)
