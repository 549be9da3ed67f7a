"""The streaming landing sink on literal micro-batches: routing by the manifest, one quarantine
reason per kind of bad record, duplicates, lateness, idempotent replays, conservation."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from streaming_records import envelope, kafka_frame

from lakejobs.config import settings_from_mapping
from lakejobs.delta_io import table_version
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.resources import resolve_location
from lakejobs.streaming.dedupe import duplicate_offsets
from lakejobs.streaming.manifest import Manifest, load_manifest
from lakejobs.streaming.msk_to_landing import LandingSink

EVENTS = "analytics.events"
INGESTED = datetime(2026, 11, 25, 10, 30, 0)
PAGE = {"page_url": "/home", "referrer": None}


def sink(spark: SparkSession, lake_root: Path, **streaming: object) -> LandingSink:
    settings = settings_from_mapping(
        {"lake": {"root": str(lake_root)}, "streaming": {"max_payload_bytes": 2000, **streaming}},
        source="test", env="dev", environ={})
    bundled = load_manifest(resolve_location(settings.streaming.manifest))
    # the bundled event routes only: fewer routes, fewer Spark jobs per batch
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))
    return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1")


def quarantine(spark: SparkSession, lake_root: Path) -> list[tuple]:
    rows = spark.read.format("delta").load(str(lake_root / "quarantine" / "kafka_quarantine"))
    return sorted((r["offset"], r["reason"]) for r in rows.collect())


def events(spark: SparkSession, lake_root: Path, fmt: str = "delta"):
    path = str(lake_root / "landing" / "events")
    reader = spark.read.format(fmt)
    return reader.load(path) if fmt == "delta" else reader.option("basePath", path).load(path)


def kept_rdds(spark: SparkSession) -> list[str]:
    """What holds blocks in memory, but for Delta's cached table states."""
    return sorted(f"{r.id()}:{r.name()}" for r in spark.sparkContext._jsc.sc().getRDDStorageInfo()
                  if not r.name().startswith("Delta Table State"))


def test_every_kind_of_bad_record_is_quarantined_with_its_reason_and_the_batch_is_measured(
    spark: SparkSession, lake_root: Path
) -> None:
    sent = [
        (EVENTS, 0, envelope("page_view", 1, "r-0", PAGE)),
        (EVENTS, 1, envelope("page_view", 2, "r-1", {**PAGE, "duration_ms": 1200})),
        (EVENTS, 2, envelope("add_to_cart", 1, "r-2", {"product_id": 7, "quantity": 2})),
        (EVENTS, 3, b"{not json"),
        (EVENTS, 4, envelope("checkout", 1, "r-4", {})),
        (EVENTS, 5, envelope("page_view", 9, "r-5", PAGE)),
        (EVENTS, 6, envelope("page_view", 1, "r-6", {"page_url": "/admin"}, signed=PAGE)),
        (EVENTS, 7, envelope("page_view", 1, None, PAGE)),
        (EVENTS, 8, envelope("add_to_cart", 1, "r-8", {"product_id": 7, "quantity": "two"})),
        (EVENTS, 9, envelope("page_view", 1, "r-9", {"referrer": "/x"})),
        (EVENTS, 10, envelope("page_view", 1, "r-10", {"page_url": "/" + "x" * 3000})),
        ("no.such.topic", 0, b"{}"),
    ]

    metrics = sink(spark, lake_root).process(kafka_frame(spark, sent), 0, INGESTED)

    assert quarantine(spark, lake_root) == [
        (0, "unknown_route"), (3, "undecodable"), (4, "unknown_event"), (5, "unknown_version"),
        (6, "bad_signature"), (7, "missing_key"), (8, "contract_violation"),
        (9, "contract_violation"), (10, "oversize"),
    ]
    # every quarantined record keeps its raw bytes, decoded ones (joined back from the batch) and
    # unrouted ones alike
    stored = spark.read.format("delta").load(str(lake_root / "quarantine" / "kafka_quarantine"))
    assert {(r.topic, r.offset): bytes(r.raw_value) for r in stored.collect()} == {
        (topic, offset): value for topic, offset, value in sent
        if (topic, offset) not in {(EVENTS, 0), (EVENTS, 1), (EVENTS, 2)}}
    landed = events(spark, lake_root).select(
        "event_id", "event_name", "event_version", "occurred_at", "user_id", "payload",
        "_offset", "_schema_version", "_privacy_tier", "_is_late", "year", "month", "day", "hour")
    expected = rows_frame(spark, [
        ("r-0", "page_view", 1, datetime(2026, 11, 25, 9, 59), "u-1",
         '{"page_url":"/home","referrer":null}', 0, "1", "pii", False, 2026, 11, 25, 10),
        ("r-1", "page_view", 2, datetime(2026, 11, 25, 9, 59), "u-1",
         '{"page_url":"/home","referrer":null,"duration_ms":1200}', 1, "2", "pii", False,
         2026, 11, 25, 10),
        ("r-2", "add_to_cart", 1, datetime(2026, 11, 25, 9, 59), "u-1",
         '{"product_id":7,"quantity":2}', 2, "1", "pii", False, 2026, 11, 25, 10),
    ], "event_id string, event_name string, event_version int, occurred_at timestamp, "
       "user_id string, payload string, _offset long, _schema_version string, "
       "_privacy_tier string, _is_late boolean, year int, month int, day int, hour int")
    assert_df_equality(landed, expected, ignore_row_order=True, ignore_nullable=True)
    assert (metrics.records_in, metrics.landed, metrics.quarantined, metrics.duplicates) == (
        12, 3, 9, 0)
    assert metrics.quarantined_by_reason["contract_violation"] == 2
    assert metrics.schema_failures == 6  # undecodable, unknown event/version, missing key, 2 x
    assert metrics.alert  # 6/12 is far above the 0.5% default
    table = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "streaming_batches"))
    row = table.select("batch_id", "records_in", "landed", "quarantined", "duplicates",
                       "schema_failure_rate", "lag_p50_s", "lag_p95_s", "alert").first()
    assert tuple(row) == (0, 12, 3, 9, 0, 0.5, 1860.0, 1860.0, True)  # events 09:59, landed 10:30
    run_log = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "analytics_job_run"))
    summary = json.loads(run_log.where(F.col("run_id") == "run-1:0").first()["summary"])
    assert summary["quarantined_by_reason"]["bad_signature"] == 1


def test_duplicates_within_the_batch_and_the_watermark_are_dropped_and_counted(
    spark: SparkSession, lake_root: Path
) -> None:
    landing = sink(spark, lake_root)
    first = kafka_frame(spark, [
        (EVENTS, 0, envelope("page_view", 1, "r-1", PAGE)),
        (EVENTS, 1, envelope("page_view", 1, "r-1", PAGE)),  # resent by the SDK
        (EVENTS, 2, envelope("page_view", 1, "r-2", PAGE, occurred_at="2026-11-25T08:00:00Z")),
    ])
    second = kafka_frame(spark, [
        (EVENTS, 3, envelope("page_view", 1, "r-2", PAGE)),  # landed in the previous batch
        (EVENTS, 4, envelope("page_view", 1, "r-3", PAGE)),
        (EVENTS, 5, envelope("page_view", 1, "r-3", PAGE)),  # a copy within the batch
        (EVENTS, 6, envelope("page_view", 1, "r-2", PAGE)),  # landed before, and again here
    ])
    kept = kept_rdds(spark)

    m1 = landing.process(first, 0, INGESTED)
    m2 = landing.process(second, 1, INGESTED)

    assert (m1.records_in, m1.landed, m1.duplicates, m1.late) == (3, 2, 1, 1)
    assert (m2.records_in, m2.landed, m2.duplicates, m2.late) == (4, 1, 3, 0)
    landed = events(spark, lake_root).select("event_id", "_offset", "_is_late")
    expected = rows_frame(spark,
        [("r-1", 0, False), ("r-2", 2, True), ("r-3", 4, False)],
        "event_id string, _offset long, _is_late boolean")
    assert_df_equality(landed, expected, ignore_row_order=True, ignore_nullable=True)
    # what the batches cached or checkpointed is freed when they end
    assert kept_rdds(spark) == kept
    # a new Delta landing table keeps statistics on its dedupe key and the Kafka position/times
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake_root / 'landing' / 'events'}`").first()
    assert detail["properties"]["delta.dataSkippingStatsColumns"] == (
        "`event_id`,`_topic`,`_partition`,`_offset`,`_event_time`,`_ingested_at`,`_batch_id`")


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_a_replayed_batch_writes_nothing_twice(
    spark: SparkSession, lake_root: Path, fmt: str
) -> None:
    landing = sink(spark, lake_root, landing_format=fmt)
    batch = kafka_frame(spark, [
        (EVENTS, 0, envelope("page_view", 1, "r-1", PAGE)),
        (EVENTS, 1, b"oops"),
    ])
    landing.process(batch, 5, INGESTED)
    quarantine_path = str(lake_root / "quarantine" / "kafka_quarantine")
    version = table_version(spark, quarantine_path)

    # the same batch id again, an hour later: what a restart after a crash does
    landing.process(batch, 5, datetime(2026, 11, 25, 11, 30))

    rows = events(spark, lake_root, fmt).select("event_id", "_offset", "hour")
    # Delta skips the replayed write (transaction id); Parquet replaces the earlier attempt
    hour = 10 if fmt == "delta" else 11
    expected = rows_frame(spark, [("r-1", 0, hour)], "event_id string, _offset long, hour int")
    assert_df_equality(rows, expected, ignore_nullable=True)
    assert table_version(spark, quarantine_path) == version  # Delta skipped the replayed write
    assert quarantine(spark, lake_root) == [(1, "undecodable")]


def test_a_batch_is_stamped_with_the_time_spark_planned_it_also_when_replayed(
    spark: SparkSession, lake_root: Path, tmp_path: Path
) -> None:
    # a checkpoint as Spark writes it: the query id, and the offset log of batch 0, written
    # before the batch runs and read again when a restart replays it
    checkpoint = tmp_path / "checkpoint"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / "metadata").write_text('{"id":"q-1"}\n')
    (checkpoint / "offsets" / "0").write_text(
        'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1795602600000,"conf":{}}\n'
        '{"analytics.events":{"0":1}}\n')
    settings = settings_from_mapping({"lake": {"root": str(lake_root)}}, source="test",
                                     env="dev", environ={})
    bundled = load_manifest(resolve_location(settings.streaming.manifest))
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))
    landing = LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1",
                          checkpoint=str(checkpoint))
    batch = kafka_frame(spark, [(EVENTS, 0, envelope("page_view", 1, "r-1", PAGE))])

    landing(batch, 0)
    landing(batch, 0)  # the replay after a crash: same stamp, same figures, nothing twice

    planned = datetime(2026, 11, 25, 10, 30)  # 1795602600000 ms, whatever the clock says
    rows = events(spark, lake_root).select("event_id", "_ingested_at", "_batch_id", "hour")
    expected = rows_frame(spark, [("r-1", planned, 0, 10)],
                                     "event_id string, _ingested_at timestamp, _batch_id long, "
                                     "hour int")
    assert_df_equality(rows, expected, ignore_nullable=True)
    metrics = spark.read.format("delta").load(LakePaths(settings.lake).table(
        "system", settings.streaming.metrics_table))
    assert [(r.batch_id, r.ingested_at, r.records_in, r.landed) for r in metrics.collect()] == [
        (0, planned, 1, 1)]


def test_after_a_checkpoint_reset_the_old_querys_batches_are_history_for_dedupe(
    spark: SparkSession, lake_root: Path, tmp_path: Path
) -> None:
    settings = settings_from_mapping({"lake": {"root": str(lake_root)}}, source="test",
                                     env="dev", environ={})
    bundled = load_manifest(resolve_location(settings.streaming.manifest))
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))

    def query(query_id: str, planned_ms: int) -> LandingSink:
        checkpoint = tmp_path / query_id
        (checkpoint / "offsets").mkdir(parents=True)
        (checkpoint / "metadata").write_text(json.dumps({"id": query_id}) + "\n")
        (checkpoint / "offsets" / "0").write_text(
            f'v1\n{{"batchWatermarkMs":0,"batchTimestampMs":{planned_ms},"conf":{{}}}}\n')
        return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1",
                           checkpoint=str(checkpoint))

    old = query("q-old", 1795602600000)  # 10:30
    old(kafka_frame(spark, [(EVENTS, 0, envelope("page_view", 1, "r-1", PAGE))]), 0)
    # the checkpoint is reset a quarter of an hour later: the new query numbers from 0 again,
    # and the SDK resends r-1 within the watermark
    new = query("q-new", 1795603500000)  # 10:45
    new(kafka_frame(spark, [(EVENTS, 7, envelope("page_view", 1, "r-1", PAGE)),
                            (EVENTS, 8, envelope("page_view", 1, "r-2", PAGE))]), 0)

    assert (new.totals.records_in, new.totals.landed, new.totals.duplicates) == (2, 1, 1)
    rows = events(spark, lake_root).select("event_id", "_offset", "_batch_id")
    expected = rows_frame(spark, [("r-1", 0, 0), ("r-2", 8, 0)],
                                     "event_id string, _offset long, _batch_id long")
    assert_df_equality(rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_change_on_two_topics_routed_to_one_table_lands_once_also_within_a_batch(
    spark: SparkSession, lake_root: Path
) -> None:
    """A connector moved to a new topic: while both are read, one change (same key and commit
    position) can arrive on each, in one batch or in two."""
    def route(name: str, topic: str) -> dict:
        return {"name": name, "format": "debezium", "topics": [topic], "target": "orders",
                "key": ["id"], "columns": [{"name": "id", "type": "bigint", "nullable": False},
                                           {"name": "city", "type": "string"}]}

    def change(row: int, city: str, lsn: int) -> bytes:
        return json.dumps({"before": None, "after": {"id": row, "city": city}, "op": "c",
                           "source": {"connector": "postgresql", "db": "shop", "schema": "public",
                                      "table": "orders", "lsn": lsn, "ts_ms": 1795602000000}}
                          ).encode()

    settings = settings_from_mapping({"lake": {"root": str(lake_root)}}, source="test",
                                     env="dev", environ={})
    manifest = Manifest.model_validate({"routes": [route("orders_old", "shop.orders"),
                                                   route("orders_new", "shop.orders.v2")]})
    landing = LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1")

    first = landing.process(kafka_frame(spark, [
        ("shop.orders", 0, change(1, "Lyon", 10)),
        ("shop.orders.v2", 0, change(1, "Lyon", 10)),  # the same change on the new topic
        ("shop.orders.v2", 1, change(2, "Nice", 11)),
    ]), 0, INGESTED)
    second = landing.process(kafka_frame(spark, [
        ("shop.orders", 1, change(2, "Nice", 11)),  # late on the old topic: landed before
        ("shop.orders.v2", 2, change(1, "Oslo", 12)),
    ]), 1, INGESTED)

    assert (first.records_in, first.landed, first.duplicates) == (3, 2, 1)
    assert (second.records_in, second.landed, second.duplicates) == (2, 1, 1)
    rows = spark.read.format("delta").load(str(lake_root / "landing" / "orders")).select(
        "id", "city", "_topic", "_offset")
    expected = rows_frame(spark,
        [(1, "Lyon", "shop.orders", 0), (2, "Nice", "shop.orders.v2", 1),
         (1, "Oslo", "shop.orders.v2", 2)], "id long, city string, _topic string, _offset long")
    assert_df_equality(rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_route_whose_target_is_not_a_safe_name_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"routes": [{
        "name": "evil", "format": "json", "topics": ["t"], "target": "../../etc",
        "key": ["id"], "columns": [{"name": "id", "type": "bigint"}]}]}))

    with pytest.raises(ConfigError, match=r"routes\.0\.target"):
        load_manifest(str(manifest))


def cdc(name: str, source_table: str | None, **route: object) -> dict:
    return {"name": name, "format": "debezium", "topics": ["shop.cdc"], "target": name,
            "key": ["id"], "source_table": source_table,
            "columns": [{"name": "id", "type": "bigint"}], **route}


@pytest.mark.parametrize(("routes", "message"), [
    # a record of dbo.orders would land in both routes
    ([cdc("everything", None), cdc("orders", "dbo.orders")],
     r"Manifest: route 'everything' names no source_table but routes \['orders'\] "
     r"also read topic 'shop.cdc': expected a source_table on every Debezium route"),
    # a JSON record names no source table: every record would be filtered out, unlanded
    ([cdc("orders", "dbo.orders", format="json")],
     r"routes\.0: route 'orders': 'source_table' is for debezium routes only, not "
     r"json: expected no source_table"),
    # a record of shop.dbo.orders is dbo.orders too
    ([cdc("orders", "dbo.orders"), cdc("shop_orders", "shop.dbo.orders")],
     r"Manifest: routes 'orders' and 'shop_orders' on topic 'shop.cdc': "
     r"source_table 'dbo.orders' matches the records of 'shop.dbo.orders': expected source "
     r"tables neither equal to nor a dotted suffix of another"),
    # a text that is not a timestamp would fail the batch; a number would be read as seconds
    ([cdc("orders", None, format="json", event_time="sent",
          columns=[{"name": "id", "type": "bigint"}, {"name": "sent", "type": "string"}])],
     r"routes\.0: route 'orders': event_time column 'sent' is string: expected a "
     r"timestamp or date column"),
    ([cdc("orders", None, format="json", event_time="sent",
          columns=[{"name": "id", "type": "bigint"}, {"name": "sent", "type": "bigint"}])],
     r"routes\.0: route 'orders': event_time column 'sent' is bigint: expected a "
     r"timestamp or date column"),
], ids=["debezium_route_without_source_table", "source_table_on_json", "source_table_suffix",
        "event_time_string", "event_time_bigint"])
def test_a_manifest_that_would_land_a_record_twice_nowhere_or_not_at_all_is_refused(
    tmp_path: Path, routes: list[dict], message: str
) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"routes": routes}))

    with pytest.raises(ConfigError, match=f"^{re.escape(str(manifest))}: {message}"):
        load_manifest(str(manifest))


def test_source_tables_and_event_times_that_route_each_record_once_are_accepted(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"routes": [
        cdc("orders", "shop.dbo.orders"), cdc("returns", "shop.dbo.orders_returns"),
        cdc("customers", "dbo.customers", topics=["shop.customers"]),
        cdc("events", None, format="json", topics=["shop.events"], event_time="sent_on",
            columns=[{"name": "id", "type": "bigint"}, {"name": "sent_on", "type": "date"}])]}))

    routes = load_manifest(str(manifest)).routes

    assert [(r.name, r.source_table, r.event_time) for r in routes] == [
        ("orders", "shop.dbo.orders", None), ("returns", "shop.dbo.orders_returns", None),
        ("customers", "dbo.customers", None), ("events", None, "sent_on")]


def test_a_topic_named_like_a_path_never_becomes_one(spark: SparkSession, lake_root: Path
                                                     ) -> None:
    batch = kafka_frame(spark, [("../../outside", 0, b"{}")])

    sink(spark, lake_root).process(batch, 0, INGESTED)

    assert quarantine(spark, lake_root) == [(0, "unknown_route")]
    assert sorted(p.name for p in lake_root.iterdir()) == ["_lakejobs", "quarantine"]



def test_duplicate_offsets_number_history_and_batch_keys_together(spark: SparkSession) -> None:
    rows = rows_frame(spark, [
        ("a", 1, "t", 0, 10, None),
        ("a", 1, "t", 1, 3, None),            # same key, another partition: a copy
        ("b", 1, "t", 0, 11, None),           # landed before (twice)
        ("c", None, "t", 0, 12, None),        # null in the key: equal to the landed (c, null)
        ("d", 1, "t", 0, 13, "undecodable"),  # quarantined rows are never duplicates
        ("d", 1, "t", 0, 14, None),
        ("e", 2, "t", 0, 15, None),
    ], "k string, v int, _topic string, _partition int, _offset long, _error string")
    history = rows_frame(spark, [("b", 1), ("b", 1), ("c", None), ("e", 1)],
                                    "k string, v int")

    found = duplicate_offsets(["k", "v"], history, rows)
    within_batch = duplicate_offsets(["k", "v"], None, rows)

    expected = rows_frame(spark, [("t", 1, 3), ("t", 0, 11), ("t", 0, 12)],
                                     "_topic string, _partition int, _offset long")
    assert_df_equality(found, expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(within_batch, expected.where("_offset = 3"), ignore_row_order=True,
                       ignore_nullable=True)
