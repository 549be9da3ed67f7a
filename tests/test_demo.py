"""The demo end to end on a small data set: its summary agrees with the tables it wrote, every
landed record is staged or quarantined, and running it again changes nothing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs.config import load_settings
from lakejobs.delta_io import table_version
from lakejobs.demo import CURATED, run_demo
from lakejobs.demo_data import rounds
from lakejobs.demo_kafka import STREAMED, deleted_customer, kafka_records
from lakejobs.resources import resolve_location
from lakejobs.streaming.manifest import load_manifest


@pytest.mark.slow
def test_demo_summary_matches_the_lake_and_a_second_run_changes_nothing(
    spark: SparkSession, tmp_path: Path, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", "demo-test-salt")
    dev = load_settings("dev", environ={}).model_dump(mode="json")
    dev["lake"]["root"] = str(lake_root)
    dev["validation"]["data_docs"] = None  # GX has its own tests; the demo test stays fast
    dev["curated"]["database"] = "demo_test"
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps(dev))

    first = run_demo("dev", config=str(config), customers=12, spark=spark)

    def count(zone: str, table: str) -> int:
        return spark.read.format("delta").load(str(lake_root / zone / table)).count()

    # streaming: every published record landed, quarantined with a reason or dropped as a
    # duplicate; the landing tables hold exactly what it says it landed
    published = sum(len(r) for r in kafka_records(rounds(12), load_manifest(
        resolve_location("conf/streaming/manifest.yaml"))).values())
    streamed = first.streamed
    assert streamed["records_in"] == published == (
        streamed["landed"] + streamed["quarantined"] + streamed["duplicates"])
    assert streamed["landed"] == sum(first.landed[t] for t in STREAMED)
    assert streamed["duplicates"] == 6  # three events delivered twice in each round
    rejected = spark.read.format("delta").load(str(lake_root / "quarantine" / "kafka_quarantine"))
    assert dict(first.stream_reasons) == {
        r.reason: r["count"] for r in rejected.groupBy("reason").count().collect()} == {
        "bad_signature": 1, "contract_violation": 1, "missing_key": 1, "undecodable": 1,
        "unknown_version": 1}
    assert first.source.startswith("record files")  # no broker on the configured port
    for table, landed in first.landed.items():
        assert landed == first.staged[table] + first.quarantined[table], table
        assert first.staged[table] == count("staging", table)
    people = len(rounds(12)[1]["people"])
    assert first.landed == {"customers": 17, "products": 22, "orders": 41, "order_items": 53,
                            "events": 84, "people": people + 2}
    assert first.quarantined == {"customers": 1, "products": 0, "orders": 3, "order_items": 0,
                                 "events": 0, "people": 2}
    # identities and master data, as the tables hold them
    resolution = spark.read.format("delta").load(str(lake_root / "staging" /
                                                     "identity_resolution"))
    assert first.identities == {"nodes": resolution.count(),
                                "identities": resolution.select("identity_id").distinct().count()}
    assert first.identities["identities"] == 12  # customers 1-12 are in events: u, a, s linked
    users = spark.read.format("delta").load(str(lake_root / "curated" / "canonical_users"))
    customers = spark.read.format("delta").load(str(lake_root / "staging" / "customers"))
    # one source identity per person record and per customer (its latest version)
    assert first.master_data["records"] == people + customers.select("customer_id").distinct(
    ).count()
    assert first.master_data["canonical_users"] == users.count() < first.master_data["records"]
    assert first.master_data["merged_records"] == users.where("records > 1").agg(
        F.sum("records")).first()[0]
    assert dict(first.top_reasons["orders"]) == {"not_in_set": 1, "null": 1,
                                                 "pattern_mismatch": 1}
    assert {t: count("curated", t) for t in CURATED} == first.curated
    # customer 13 and product 21 were referenced before they arrived: filled, none left inferred
    assert first.versions["dim_customer"]["keys"] == 13
    assert first.versions["dim_customer"]["inferred"] == 0
    # the Debezium delete closed the deleted customer's only version at the delete's commit time
    gone = spark.read.format("delta").load(str(lake_root / "curated" / "dim_customer")).where(
        F.col("customer_id") == deleted_customer(rounds(12)))
    assert [tuple(r) for r in gone.select("is_current", "is_deleted", "effective_to").collect()
            ] == [(False, True, datetime(2026, 11, 2, 18))]
    assert first.versions["dim_product"] == {"versions": 22, "keys": 21, "inferred": 0}
    assert first.integrity_ok is True
    # SCD1: the moved customer's new phone is on every one of its versions
    customers = spark.read.format("delta").load(str(lake_root / "curated" / "dim_customer"))
    phones = customers.where("customer_id IS NOT NULL").groupBy("customer_id").agg(
        F.count_distinct("phone").alias("phones"), F.count(F.lit(1)).alias("versions"),
        F.max(F.col("phone").startswith("+4477008").cast("int")).alias("new_phone"))
    assert phones.where("phones > 1").count() == 0
    assert phones.where("new_phone = 1 AND versions = 2").count() == 1

    master = ("canonical_users", "canonical_profiles", "potential_duplicates")
    versions = {t: table_version(spark, str(lake_root / "curated" / t)) for t in CURATED + master}
    second = run_demo("dev", config=str(config), customers=12, spark=spark)
    assert (second.streamed, second.landed, second.staged, second.quarantined, second.curated,
            second.versions, second.identities, second.master_data) == (
        first.streamed, first.landed, first.staged, first.quarantined, first.curated,
        first.versions, first.identities, first.master_data)
    assert {t: table_version(spark, str(lake_root / "curated" / t))
            for t in CURATED + master} == versions
