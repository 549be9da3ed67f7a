"""The demo's retail data as the Kafka records the source systems publish.

The CDC tables (customers, products, orders, order items) become Debezium change events as a
SQL Server connector writes them with the JSON converter and ``schemas.enable=false``: round 1 is
the initial snapshot (``op: r``; orders and lines placed that day ``c``), round 2 the changes
(``u`` with the before image, ``c`` for new keys, ``d`` for the deleted customer). Values are
encoded as Debezium encodes the manifest's column types (dates as days, timestamps as
microseconds, decimals as base64 two's complement), so the streaming job decodes them exactly
as it would in production. Analytics events become signed SDK envelopes. Bad records of every
kind the streaming job catches are added: bytes that are not JSON, a payload altered after it
was signed, an unknown event version, an envelope without a request id.

:func:`publish` sends the records to a running broker; without one the demo writes them as
record files (:mod:`lakejobs.streaming.record_files`) that feed the same job.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql import SparkSession

from lakejobs.demo_data import TIMESTAMP_FORMAT
from lakejobs.local_rows import rows_frame
from lakejobs.streaming.envelope import payload_signature
from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.manifest import Manifest
from lakejobs.streaming.record_files import RECORD_SCHEMA, Record

CDC_TOPICS = {"customers": "retail.customer.cdc", "products": "retail.product.cdc",
              "orders": "retail.order.cdc", "order_items": "retail.order_item.cdc"}
EVENTS_TOPIC = "analytics.events"
STREAMED = (*CDC_TOPICS, "events")
EPOCH = datetime(1970, 1, 1)


def kafka_records(data: Mapping[int, Mapping[str, list[Any]]], manifest: Manifest
                  ) -> dict[int, list[Record]]:
    """The records of each round, per topic in order, offsets continuing across rounds. In
    round 2 the source also deletes one customer (:func:`deleted_customer`)."""
    deleted = deleted_customer(data)
    offsets: dict[str, int] = {}
    images: dict[tuple[str, Any], dict] = {}
    lsn = iter(range(1, 1_000_000))
    out: dict[int, list[Record]] = {}
    for round_no, tables in sorted(data.items()):
        records: list[Record] = []
        for table, topic in CDC_TOPICS.items():
            route = next(r for r in manifest.routes if topic in r.topics)
            for row in tables.get(table, []):
                key, value, at = _change(row, route.key[0], route.columns, images, table,
                                         round_no, next(lsn))
                records.append(_record(offsets, topic, key, value, at))
            if table == "customers" and round_no == 2 and deleted is not None:
                gone = images[(table, deleted)]
                at = datetime(2026, 11, 2, 18)
                records.append(_record(offsets, topic, *_delete(
                    gone, route.key[0], table, at, next(lsn)), at))
        for event in _envelopes(tables.get("events", []), round_no):
            records.append(_record(offsets, EVENTS_TOPIC, None, event[0], event[1]))
        out[round_no] = records
    return out


def deleted_customer(data: Mapping[int, Mapping[str, list[Any]]]) -> int | None:
    """The customer the source deletes in round 2: the highest id round 2 does not touch (none
    in a data set too small to have one)."""
    touched = {r["customer_id"] for r in data[2]["customers"] if isinstance(r, dict)}
    touched |= {r["customer_id"] for r in data[2]["orders"]}
    return max((r["customer_id"] for r in data[1]["customers"]
                if r["customer_id"] not in touched), default=None)


def _record(offsets: dict[str, int], topic: str, key: bytes | None, value: bytes | None,
            at: datetime) -> Record:
    offset = offsets.get(topic, 0)
    offsets[topic] = offset + 1
    return (key, value, topic, 0, offset, at + timedelta(seconds=1))


def _change(row: Any, key_name: str, columns: tuple[FieldSpec, ...],
            images: dict[tuple[str, Any], dict], table: str, round_no: int,
            lsn: int) -> tuple[bytes | None, bytes, datetime]:
    """One change event (key, value, commit time); a raw string row is sent as it is."""
    if isinstance(row, str):
        return None, row.encode("utf-8"), datetime(2026, 11, round_no, 12)
    at = _parse_ts(row.get("updated_at")) or datetime(2026, 11, round_no)
    after = {c.name: _encode(row.get(c.name), c) for c in columns}
    before = images.get((table, row.get(key_name)))
    op = ("r" if table in ("customers", "products") else "c") if round_no == 1 else (
        "u" if before is not None else "c")
    images[(table, row.get(key_name))] = after
    value = {"before": before, "after": after, "source": _source(table, at, lsn, op == "r"),
             "op": op, "ts_ms": _millis(at) + 250}
    return _key(key_name, after[key_name]), json.dumps(value).encode("utf-8"), at


def _delete(before: dict, key_name: str, table: str, at: datetime,
            lsn: int) -> tuple[bytes, bytes]:
    """A delete of the row whose (already encoded) last image is ``before``."""
    value = {"before": before, "after": None, "source": _source(table, at, lsn, False),
             "op": "d", "ts_ms": _millis(at) + 250}
    return _key(key_name, before[key_name]), json.dumps(value).encode("utf-8")


def _key(name: str, value: Any) -> bytes:
    return json.dumps({name: value}).encode("utf-8")


def _source(table: str, at: datetime, lsn: int, snapshot: bool) -> dict:
    position = f"{lsn >> 16:08x}:{lsn & 0xFFFF:08x}:0001"
    return {"version": "2.7.3.Final", "connector": "sqlserver", "name": "retail",
            "ts_ms": _millis(at), "snapshot": "true" if snapshot else "false", "db": "retail",
            "schema": "dbo", "table": table, "change_lsn": None if snapshot else position,
            "commit_lsn": position, "event_serial_no": 1}


def _encode(value: Any, field: FieldSpec) -> Any:
    """``value`` (as the demo data holds it: text) the way Debezium encodes ``field``; a value
    that does not parse is sent as it is, for the streaming job to reject."""
    if value is None:
        return None
    try:
        if field.logical == "io.debezium.time.Date":
            return (date.fromisoformat(value) - EPOCH.date()).days
        if field.logical == "io.debezium.time.MicroTimestamp":
            moment = _parse_ts(value)
            return None if moment is None else int((moment - EPOCH).total_seconds() * 1_000_000)
        if field.logical == "org.apache.kafka.connect.data.Decimal":
            scale = int(field.type.split(",")[1].rstrip(")"))
            unscaled = int(Decimal(value).scaleb(scale))
            size = max(1, (unscaled.bit_length() + 8) // 8)
            return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()
    except (ValueError, ArithmeticError):
        return value
    return value


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT)
    except ValueError:
        return None


def _millis(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() * 1000)


def _envelopes(events: list[Any], round_no: int) -> Iterator[tuple[bytes, datetime]]:
    """SDK envelopes for the demo's events, then the bad ones of round 2."""
    for i, event in enumerate(events):
        at = _parse_ts(event["occurred_at"]) or datetime(2026, 11, round_no)
        if event["event_name"] == "page_view":
            version = 1 + i % 2
            payload: dict[str, Any] = {"page_url": f"/p/{i % 20 + 1}", "referrer": None}
            if version == 2:
                payload["duration_ms"] = 1000 + i
            name = "page_view"
        else:
            name, version = "add_to_cart", 1
            payload = {"product_id": i % 20 + 1, "quantity": 1 + i % 3}
        yield _envelope(name, version, event["event_id"], at, event, payload), at
    if round_no != 2:
        return
    at, who = datetime(2026, 11, 2, 23), {"user_id": "u1", "anon_id": "a1", "session_id": "s1-02"}
    page = {"page_url": "/checkout", "referrer": None}
    yield _envelope("page_view", 1, "bad-signature", at, who, page,
                    signed={**page, "page_url": "/home"}), at          # altered after signing
    yield _envelope("page_view", 9, "unknown-version", at, who, page), at  # no route for v9
    yield _envelope("page_view", 1, None, at, who, page), at             # no request id


def _envelope(event: str, version: int, request_id: str | None, at: datetime,
              who: Mapping[str, Any], payload: dict, signed: dict | None = None) -> bytes:
    meta = {"event": event, "v": version, "occurred_at": at.strftime(TIMESTAMP_FORMAT),
            "signature": payload_signature(signed or payload)}
    if request_id is not None:
        meta["request_id"] = request_id
    context = {"user_id": who.get("user_id"), "anon_id": who.get("anon_id"),
               "session_id": who.get("session_id"), "device": {"ua_hash": "demo-browser"}}
    return json.dumps({"meta": meta, "context": context, "payload": payload}).encode("utf-8")


def broker_answers(bootstrap_servers: str, timeout: float = 1.0) -> bool:
    """Whether the first bootstrap server accepts a TCP connection."""
    host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def publish(spark: SparkSession, bootstrap_servers: str, records: list[Record]) -> None:
    """Create the demo's topics (one partition each) if missing and send ``records`` in order."""
    jvm = spark.sparkContext._jvm
    props = jvm.java.util.Properties()
    props.put("bootstrap.servers", bootstrap_servers)
    admin = jvm.org.apache.kafka.clients.admin.Admin.create(props)
    try:
        existing = set(admin.listTopics().names().get())
        missing = sorted({r[2] for r in records} - existing)
        if missing:
            topics = jvm.java.util.ArrayList()
            for name in missing:
                topics.add(jvm.org.apache.kafka.clients.admin.NewTopic(
                    name, jvm.java.util.Optional.of(1), jvm.java.util.Optional.empty()))
            admin.createTopics(topics).all().get()
    finally:
        admin.close()
    (rows_frame(spark, records, RECORD_SCHEMA).select("key", "value", "topic", "partition")
     .coalesce(1)  # one writer: each topic's records arrive in list order
     .write.format("kafka").option("kafka.bootstrap.servers", bootstrap_servers).save())
