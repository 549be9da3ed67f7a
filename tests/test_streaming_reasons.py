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
        landed = [(r["topic"], r["offset"]) for g in batch.groups
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
    landed = sorted((r["offset"], r["_event_time"]) for g in batch.groups
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
