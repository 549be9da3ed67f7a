"""One bad record per quarantine reason, each next to a good record: the reason code is the
expected one and every record is either landed or quarantined (routing only, no writes)."""

from __future__ import annotations

import json
import struct
from datetime import datetime

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from standins.schema_registry import SchemaRegistryStandin
from streaming_records import envelope, kafka_frame

from lakejobs.streaming.avro_wire import decode_avro
from lakejobs.streaming.dedupe import duplicate_offsets
from lakejobs.streaming.manifest import Manifest, Route
from lakejobs.streaming.routing import quarantine_rows, route_batch
from lakejobs.streaming.schema_registry import ConfluentRegistry

ORDER = {"name": "orders_json", "format": "json", "topics": ["shop.orders"], "target": "orders",
         "key": ["order_id"], "columns": [
             {"name": "order_id", "type": "bigint", "nullable": False},
             {"name": "total", "type": "decimal(10,2)"},
             {"name": "placed_at", "type": "timestamp", "nullable": False}]}
PAYMENT = {"name": "payments_avro", "format": "avro_confluent", "topics": ["shop.payments"],
           "target": "payments", "key": ["payment_id"],
           "columns": [{"name": "payment_id", "type": "bigint", "nullable": False}]}
PAGE_VIEW = {"name": "page_view_v1", "format": "envelope", "topics": ["web.events"],
             "event": "page_view", "version": 1, "target": "events",
             "columns": [{"name": "page_url", "type": "string", "nullable": False}]}
MANIFEST = Manifest.model_validate({"routes": [ORDER, PAYMENT, PAGE_VIEW]})
GOOD = ("shop.orders", 0, b'{"order_id": 1, "total": "9.99", "placed_at": "2026-11-25T10:00:00Z"}')
PAGE = {"page_url": "/"}

BAD = {
    "undecodable": ("shop.orders", 1, b"\x00\x01 not json"),
    "unknown_schema_id": ("shop.payments", 1, b"\x00" + struct.pack(">i", 99) + b"\x02"),
    "unknown_route": ("shop.refunds", 1, b"{}"),
    "unknown_event": ("web.events", 1, envelope("checkout", 1, "r-1", {})),
    "unknown_version": ("web.events", 1, envelope("page_view", 3, "r-1", PAGE)),
    "contract_violation": ("shop.orders", 1,
                           b'{"order_id": 2, "total": "lots", "placed_at": "2026-11-25"}'),
    "bad_signature": ("web.events", 1, envelope("page_view", 1, "r-1", {"page_url": "/x"},
                                                signed=PAGE)),
    "missing_key": ("shop.orders", 1, b'{"total": "1.00", "placed_at": "2026-11-25"}'),
    "oversize": ("shop.orders", 1, b'{"order_id": 3, "pad": "' + b"x" * 600 + b'"}'),
}


@pytest.fixture(scope="module")
def routed(spark: SparkSession) -> tuple[list[tuple], list[tuple]]:
    """(landed (topic, offset), quarantined (topic, offset, reason)) of one batch holding the
    good record and one bad record of every kind, at offsets 1, 2, … in reason order."""
    bad = [(topic, offset, value) for offset, (topic, _, value) in
           enumerate((BAD[r] for r in sorted(BAD)), start=1)]
    records = kafka_frame(spark, [GOOD, *bad])
    with SchemaRegistryStandin() as registry:
        def avro(route: Route):  # noqa: ANN202
            return decode_avro(route.columns, ConfluentRegistry(registry.url), "confluent")

        batch = route_batch(records, MANIFEST, ingested_at=datetime(2026, 11, 25, 11),
                            batch_id=0, max_payload_bytes=500, avro_decoder=avro)
        landed = [(r["_topic"], r["_offset"]) for g in batch.groups
                  for r in g.frame.where(F.col("_error").isNull()).collect()]
        quarantined = quarantine_rows(batch.unrouted)
        for group in batch.groups:
            quarantined = quarantined.unionByName(quarantine_rows(group.frame))
        return landed, [(r["topic"], r["offset"], r["reason"]) for r in quarantined.collect()]


@pytest.mark.parametrize("reason", sorted(BAD))
def test_a_bad_record_is_quarantined_with_its_reason_and_nothing_is_lost(
    routed: tuple[list[tuple], list[tuple]], reason: str
) -> None:
    landed, quarantined = routed
    offset = sorted(BAD).index(reason) + 1
    topic = BAD[reason][0]

    assert [q for q in quarantined if q[1] == offset] == [(topic, offset, reason)]
    assert landed == [("shop.orders", 0)]  # the good record only
    assert len(landed) + len(quarantined) == 1 + len(BAD)


def test_values_python_or_spark_cannot_take_never_fail_the_batch(spark: SparkSession) -> None:
    """Each of these once failed the whole micro-batch (and so, replayed, the query for good):
    now each is quarantined with its reason, or lands, and the good record lands beside them."""
    cdc = {"name": "customers_cdc", "format": "debezium", "topics": ["retail.customer.cdc"],
           "target": "customers", "key": ["id"],
           "columns": [{"name": "id", "type": "int", "nullable": False}]}
    manifest = Manifest.model_validate({"routes": [ORDER, PAGE_VIEW, cdc]})
    meta = {"event": "page_view", "v": 1, "request_id": "r-9", "signature": "0" * 64,
            "occurred_at": "2026-11-25T09:59:00Z"}

    def change(op: str, after: str, ts_ms: int = 1) -> bytes:
        return (f'{{"before": null, "after": {after}, "op": "{op}", '
                f'"source": {{"connector": "postgresql", "ts_ms": {ts_ms}}}}}').encode()

    records = kafka_frame(spark, [
        GOOD,
        # a lone UTF-16 surrogate: legal JSON, but its payload cannot be hashed as UTF-8
        ("web.events", 1, json.dumps({"meta": meta, "payload": {"page_url": "/x\ud800"}})
         .encode()),
        # nested deeper than Python's JSON parser follows
        ("web.events", 2, b'{"meta": ' + json.dumps(meta).encode()
         + b', "payload": {"page_url": "/", "deep": ' + b"[" * 990 + b"]" * 990 + b"}}"),
        # Debezium's clock beyond a long of microseconds: the record lands, its event time unknown
        ("retail.customer.cdc", 3, change("c", '{"id": 1}', ts_ms=9223372036854776)),
        # a truncate event names no row: not a tombstone
        ("retail.customer.cdc", 4, change("t", '{"id": 2}')),
        # years Spark parses but the lake cannot hold
        ("shop.orders", 5, b'{"order_id": 5, "total": "1.00", '
                           b'"placed_at": "+10000-01-01T00:00:00Z"}'),
    ])

    batch = route_batch(records, manifest, ingested_at=datetime(2026, 11, 25, 11), batch_id=0,
                        max_payload_bytes=10_000)
    landed = sorted((r["_offset"], r["_event_time"]) for g in batch.groups
                    for r in g.frame.where(F.col("_error").isNull()).collect())
    quarantined = quarantine_rows(batch.unrouted)
    for group in batch.groups:
        quarantined = quarantined.unionByName(quarantine_rows(group.frame))
    reasons = sorted((r["offset"], r["reason"], r["detail"]) for r in quarantined.collect())

    assert landed == [(0, datetime(2026, 11, 25, 10)), (3, None)]
    assert reasons == [
        (1, "bad_signature", "signature does not match the canonical payload"),
        (2, "bad_signature", "signature does not match the canonical payload"),
        (4, "undecodable", "op 't' (a table truncate) is not a row change"),
        (5, "contract_violation", "placed_at: cannot decode '+10000-01-01T00:00:00Z' as timestamp"),
    ]
    assert len(landed) + len(reasons) == 6


def outcomes(batch) -> tuple[list[tuple], list[tuple]]:  # noqa: ANN001
    """(landed rows (route, offset, op, id, commit position), quarantined (offset, reason,
    detail)) of a routed batch of Debezium routes keyed by ``id``."""
    landed = sorted((r["_route"], r["_offset"], r["_op"], r["id"], r["_commit_position"])
                    for g in batch.groups
                    for r in g.frame.where(F.col("_error").isNull()).collect())
    quarantined = quarantine_rows(batch.unrouted)
    for group in batch.groups:
        quarantined = quarantined.unionByName(quarantine_rows(group.frame))
    return landed, sorted((r["offset"], r["reason"], r["detail"]) for r in quarantined.collect())


def cdc_route(name: str, topic: str, source_table: str | None = None) -> dict:
    return {"name": name, "format": "debezium", "topics": [topic], "target": name,
            "key": ["id"], "source_table": source_table,
            "columns": [{"name": "id", "type": "bigint", "nullable": False}]}


def test_a_tombstone_on_a_topic_of_several_source_tables_is_quarantined_once(
    spark: SparkSession,
) -> None:
    """A tombstone names no table: on a topic several source tables share it is nobody's (the
    delete event before it holds the delete); on a topic of one route it lands there."""
    manifest = Manifest.model_validate({"routes": [
        cdc_route("orders_cdc", "shop.cdc", "dbo.orders"),
        cdc_route("customers_cdc", "shop.cdc", "dbo.customers"),
        cdc_route("refunds_cdc", "shop.refunds", "shop.dbo.refunds")]})

    def change(table: str, op: str, row: int, lsn: str) -> bytes:
        image = f'{{"id": {row}}}'
        before, after = (image, "null") if op == "d" else ("null", image)
        return (f'{{"before": {before}, "after": {after}, "op": "{op}", "source": {{"db": '
                f'"shop", "schema": "dbo", "table": "{table}", "lsn": {lsn}}}}}').encode()

    records = kafka_frame(spark, [
        ("shop.cdc", 0, change("orders", "c", 1, "10")),
        ("shop.cdc", 1, change("customers", "c", 2, "11")),
        ("shop.cdc", 2, change("orders", "d", 1, "12")),
        ("shop.cdc", 3, None, b'{"id": 1}'),  # the tombstone after the delete
        ("shop.refunds", 4, change("refunds", "d", 5, "13")),
        ("shop.refunds", 5, None, b'{"id": 5}'),
    ])

    batch = route_batch(records, manifest, ingested_at=datetime(2026, 11, 25, 11), batch_id=0,
                        max_payload_bytes=10_000)
    landed, quarantined = outcomes(batch)

    assert landed == [
        ("customers_cdc", 1, "c", 2, "00000000000000000011"),
        ("orders_cdc", 0, "c", 1, "00000000000000000010"),
        ("orders_cdc", 2, "d", 1, "00000000000000000012"),
        ("refunds_cdc", 4, "d", 5, "00000000000000000013"),
        ("refunds_cdc", 5, "t", 5, "kafka|0000000000|00000000000000000005"),
    ]
    assert quarantined == [(3, "unknown_route", "a tombstone on a topic shared by several "
                                                "source tables names no table")]
    assert len(landed) + len(quarantined) == 6


def test_a_json_value_holding_more_than_one_document_is_undecodable(spark: SparkSession) -> None:
    """from_json reads the first document of a value: what follows it would vanish unlanded."""
    order = '{"order_id": 1, "total": "9.99", "placed_at": "2026-11-25T10:00:00Z"}'
    records = kafka_frame(spark, [
        ("shop.orders", 0, f" {order}\n".encode()),
        ("shop.orders", 1, f"{order}\n{order}\n".encode()),  # newline-delimited JSON
        ("shop.orders", 2, f"{order}{order}".encode()),
        ("shop.orders", 3, f"{order} <- not json".encode()),
        ("shop.orders", 4, f"{order}] junk".encode()),
        ("shop.orders", 5, f"{order}, 0] ,".encode()),
        ("shop.orders", 6, b"[1, 2]"),
    ])

    batch = route_batch(records, MANIFEST, ingested_at=datetime(2026, 11, 25, 11), batch_id=0,
                        max_payload_bytes=10_000, topics_present={"shop.orders"})
    landed = [(r["_offset"], r["order_id"]) for g in batch.groups
              for r in g.frame.where(F.col("_error").isNull()).collect()]
    quarantined = quarantine_rows(batch.unrouted)
    for group in batch.groups:
        quarantined = quarantined.unionByName(quarantine_rows(group.frame))
    reasons = sorted((r["offset"], r["reason"], r["detail"]) for r in quarantined.collect())

    trailing = "text after the JSON object: expected one JSON object per record"
    assert landed == [(0, 1)]
    assert reasons == [(offset, "undecodable", trailing) for offset in range(1, 6)] + [
        (6, "undecodable", "not a JSON object")]
    assert len(landed) + len(reasons) == 7


def test_two_changes_of_a_row_in_one_millisecond_both_land(spark: SparkSession) -> None:
    """MySQL sends no LSN: its binlog position orders the changes; a connector with no position
    at all falls back to the Kafka position, never to a timestamp two changes can share."""
    manifest = Manifest.model_validate({"routes": [
        cdc_route("customers_cdc", "shop.customers"), cdc_route("tags_cdc", "shop.tags")]})

    def change(op: str, source: str) -> bytes:
        return (f'{{"before": {{"id": 7}}, "after": {{"id": 7}}, "op": "{op}", '
                f'"ts_ms": 1764064800123, "source": {source}}}').encode()

    mysql = ('{{"connector": "mysql", "db": "shop", "table": "customers", "ts_ms": 1764064799000, '
             '"file": "binlog.000003", "pos": 1000, "row": {row}}}')
    unknown = '{"connector": "other", "db": "shop", "table": "tags", "ts_ms": 1764064799000}'
    records = kafka_frame(spark, [
        ("shop.customers", 0, change("c", mysql.format(row=0)), b'{"id": 7}'),
        ("shop.customers", 1, change("u", mysql.format(row=1)), b'{"id": 7}'),
        ("shop.tags", 2, change("c", unknown), b'{"id": 7}'),
        ("shop.tags", 3, change("u", unknown), b'{"id": 7}'),
    ])

    batch = route_batch(records, manifest, ingested_at=datetime(2026, 11, 25, 11), batch_id=0,
                        max_payload_bytes=10_000)
    landed, quarantined = outcomes(batch)
    duplicates = [r["_offset"] for g in batch.groups for r in duplicate_offsets(
        g.routes[0].dedupe_columns, None, g.frame).collect()]

    assert landed == [
        ("customers_cdc", 0, "c", 7, "binlog.000003|00000000000000001000|0000000000"),
        ("customers_cdc", 1, "u", 7, "binlog.000003|00000000000000001000|0000000001"),
        ("tags_cdc", 2, "c", 7, "kafka|0000000000|00000000000000000002"),
        ("tags_cdc", 3, "u", 7, "kafka|0000000000|00000000000000000003"),
    ]
    assert quarantined == []
    assert duplicates == []
    assert len(landed) - len(duplicates) + len(quarantined) == 4
