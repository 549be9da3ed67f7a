"""Avro in the Confluent wire format and the Glue Schema Registry framing, each record decoded
with its own writer schema.

Avro bodies are written by Spark's own ``to_avro``; the framing bytes are added in Python. The
Confluent registry is the HTTP stand-in in ``tests/standins``; the Glue registry is a fake boto3
client answering ``get_schema_version`` like Glue does.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zlib
from collections.abc import Iterator
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.avro.functions import to_avro
from standins.schema_registry import SchemaRegistryStandin
from streaming_records import kafka_frame

from lakejobs.config.models import SchemaRegistrySettings, Settings, StreamingSettings
from lakejobs.errors import ConfigError, ContractError, SchemaRegistryError, SecretError
from lakejobs.local_rows import rows_frame
from lakejobs.streaming.avro_wire import decode_avro
from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.manifest import Manifest
from lakejobs.streaming.msk_to_landing import _avro_decoder
from lakejobs.streaming.routing import quarantine_rows, route_batch
from lakejobs.streaming.schema_registry import ConfluentRegistry, GlueRegistry

ORDER_V1 = json.dumps({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "order_id", "type": "long"},
    {"name": "customer", "type": "string"},
]})
ORDER_V2 = json.dumps({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "order_id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "channel", "type": ["null", "string"], "default": None},
]})
PAYMENT = json.dumps({"type": "record", "name": "Payment", "namespace": "shop", "fields": [
    {"name": "payment_id", "type": "long"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12,
                                "scale": 3}},
    {"name": "paid_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "booked_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "paid_on", "type": {"type": "int", "logicalType": "date"}},
]})
V1_ID, V2_ID, PAYMENT_ID = 1, 2, 3  # ids the stand-in gives, in registration order

ORDER_FIELDS = (
    FieldSpec(name="order_id", type="bigint", nullable=False),
    FieldSpec(name="customer", type="string"),
    FieldSpec(name="channel", type="string"),
)
ORDER_ROW = T.StructType([
    T.StructField("order_id", T.LongType()),
    T.StructField("customer", T.StringType()),
    T.StructField("channel", T.StringType()),
])
OUTPUT = T.StructType([
    T.StructField("offset", T.LongType()),
    T.StructField("_schema_id", T.StringType()),
    T.StructField("_row", ORDER_ROW),
    T.StructField("_error", T.StringType()),
    T.StructField("_error_detail", T.StringType()),
])


@pytest.fixture(scope="module")
def bodies(spark: SparkSession) -> dict[str, bytes]:
    """Avro bodies written by Spark's to_avro, in one Spark job."""
    source = rows_frame(spark,
        [(Decimal("1234.567"), dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
          dt.datetime(2024, 5, 6, 7, 8, 9, 123000), dt.date(2024, 5, 6))],
        "amount decimal(12,3), paid_at timestamp, booked_at timestamp, paid_on date")
    order = {
        "v1_ann": (ORDER_V1, [F.lit(1).cast("long"), F.lit("ann")]),
        "v2_bob": (ORDER_V2, [F.lit(2).cast("long"), F.lit("bob"), F.lit("web")]),
        "v2_huge_id": (ORDER_V2, [F.lit(2**40).cast("long"), F.lit("cy"), F.lit("app")]),
        "v2_no_channel": (ORDER_V2, [F.lit(3).cast("long"), F.lit("dee"),
                                     F.lit(None).cast("string")]),
    }
    columns = [
        to_avro(F.struct(*[value.alias(f["name"]) for value, f in
                           zip(values, json.loads(schema)["fields"], strict=True)]),
                schema).alias(name)
        for name, (schema, values) in order.items()
    ]
    columns.append(to_avro(F.struct(F.lit(7).cast("long").alias("payment_id"), "amount",
                                    "paid_at", "booked_at", "paid_on"), PAYMENT).alias("payment"))
    row = source.select(*columns).first()
    assert row is not None
    return {name: bytes(row[name]) for name in row.asDict()}


@pytest.fixture
def standin() -> Iterator[SchemaRegistryStandin]:
    with SchemaRegistryStandin() as registry:
        assert registry.register("orders-value", ORDER_V1) == V1_ID
        assert registry.register("orders-value", ORDER_V2) == V2_ID
        assert registry.register("payments-value", PAYMENT) == PAYMENT_ID
        yield registry


@pytest.fixture
def confluent(standin: SchemaRegistryStandin) -> ConfluentRegistry:
    return ConfluentRegistry(standin.url)


def framed(schema_id: int, body: bytes) -> bytes:
    """A Confluent wire-format value."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def glue_framed(version_id: str, body: bytes, *, compress: bool = False) -> bytes:
    """A Glue Schema Registry value."""
    return (bytes([3, 5 if compress else 0]) + uuid.UUID(version_id).bytes
            + (zlib.compress(body) if compress else body))


def kafka(spark: SparkSession, values: list[bytes | None]) -> DataFrame:
    """Kafka records (only the columns the decoder needs, plus the offset to tell them apart)."""
    return rows_frame(spark, [(offset, value) for offset, value in enumerate(values)],
                                 "offset long, value binary")


def decoded(records: DataFrame, fields, registry, framing="confluent") -> DataFrame:
    return records.transform(decode_avro(fields, registry, framing)).drop("value")


def test_two_writer_schemas_in_one_batch_are_each_decoded_with_their_own(spark, bodies,
                                                                          confluent):
    records = kafka(spark, [framed(V1_ID, bodies["v1_ann"]), framed(V2_ID, bodies["v2_bob"])])
    expected = rows_frame(spark, [
        (0, "1", (1, "ann", None), None, None),  # channel: not in v1, so null
        (1, "2", (2, "bob", "web"), None, None),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_avro_logical_types_land_as_decimal_timestamp_and_date(spark, bodies, confluent):
    fields = (
        FieldSpec(name="payment_id", type="bigint", nullable=False),
        FieldSpec(name="amount", type="decimal(12,3)"),
        FieldSpec(name="paid_at", type="timestamp"),
        FieldSpec(name="booked_at", type="timestamp"),
        FieldSpec(name="paid_on", type="date"),
    )
    row = T.StructType([
        T.StructField("payment_id", T.LongType()),
        T.StructField("amount", T.DecimalType(12, 3)),
        T.StructField("paid_at", T.TimestampType()),
        T.StructField("booked_at", T.TimestampType()),
        T.StructField("paid_on", T.DateType()),
    ])
    expected = rows_frame(spark, [
        (0, "3", (7, Decimal("1234.567"), dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
                  dt.datetime(2024, 5, 6, 7, 8, 9, 123000), dt.date(2024, 5, 6)), None, None),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    records = kafka(spark, [framed(PAYMENT_ID, bodies["payment"])])
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_schema_id_the_registry_does_not_know_is_unknown_schema_id(spark, bodies, confluent):
    records = kafka(spark, [framed(99, bodies["v1_ann"])])
    expected = rows_frame(spark, [
        (0, "99", None, "unknown_schema_id", "schema id 99 is not in the schema registry"),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_bad_magic_byte_short_value_and_tombstone_are_undecodable(spark, bodies, confluent):
    records = kafka(spark, [b"\x01" + framed(V1_ID, bodies["v1_ann"])[1:], b"\x00\x00\x01",
                            None])
    expected = rows_frame(spark, [
        (0, None, None, "undecodable",
         "magic byte 0x01 is not 0x00 (not the Confluent wire format)"),
        (1, None, None, "undecodable", "too short for the Confluent header: 3 bytes"),
        (2, None, None, "undecodable", "no value (a tombstone)"),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_body_that_does_not_parse_with_its_writer_schema_is_undecodable(spark, bodies,
                                                                         confluent):
    # order_id 1, then a customer string announced as 100 bytes long with 2 bytes left
    garbage = b"\x02\xc8\x01ab"
    records = kafka(spark, [framed(V1_ID, garbage), framed(V1_ID, bodies["v1_ann"])])
    expected = rows_frame(spark, [
        (0, "1", None, "undecodable", "body does not parse with writer schema 1"),
        (1, "1", (1, "ann", None), None, None),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_an_array_claiming_a_billion_empty_items_is_undecodable_not_out_of_memory(
    spark, standin, confluent
):
    # 7 bytes: id 2, then one array block announcing 10^9 items of type null (0 bytes each,
    # so Avro's check against the bytes left lets them through): without the session's Avro
    # collection limit the task ran the JVM out of memory and the whole batch failed
    writer = json.dumps({"type": "record", "name": "Flags", "fields": [
        {"name": "id", "type": "long"},
        {"name": "flags", "type": {"type": "array", "items": "null"}, "default": []}]})
    schema_id = standin.register("flags-value", writer)
    fields = (FieldSpec(name="id", type="bigint", nullable=False),)
    records = kafka(spark, [framed(schema_id, bytes.fromhex("04" "80a8d6b907" "00")),
                            framed(schema_id, bytes.fromhex("02" "00"))])
    rows = decoded(records, fields, confluent).orderBy("offset").collect()
    assert [(r.offset, r._error) for r in rows] == [(0, "undecodable"), (1, None)]
    assert rows[1]._row.id == 1


def test_null_non_nullable_field_or_value_that_fails_its_cast_is_a_contract_violation(
        spark, bodies, confluent):
    fields = (
        FieldSpec(name="order_id", type="int", nullable=False),
        FieldSpec(name="customer", type="string"),
        FieldSpec(name="channel", type="string", nullable=False),
    )
    row = T.StructType([T.StructField("order_id", T.IntegerType()),
                        *ORDER_ROW.fields[1:]])
    records = kafka(spark, [framed(V1_ID, bodies["v1_ann"]), framed(V2_ID, bodies["v2_bob"]),
                            framed(V2_ID, bodies["v2_huge_id"]),
                            framed(V2_ID, bodies["v2_no_channel"])])
    expected = rows_frame(spark, [
        (0, "1", None, "contract_violation", "channel: missing (not in writer schema 1)"),
        (1, "2", (2, "bob", "web"), None, None),
        (2, "2", None, "contract_violation", "order_id: cannot convert '1099511627776' to int"),
        (3, "2", None, "contract_violation", "channel: missing"),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_writer_type_that_cannot_convert_to_the_declared_type_is_a_contract_violation(
        spark, bodies, confluent):
    fields = (FieldSpec(name="order_id", type="date"), FieldSpec(name="customer"))
    row = T.StructType([T.StructField("order_id", T.DateType()), ORDER_ROW["customer"]])
    records = kafka(spark, [framed(V1_ID, bodies["v1_ann"])])
    expected = rows_frame(spark, [
        (0, "1", None, "contract_violation",
         "order_id: writer type bigint does not convert to date"),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_writer_schema_that_is_not_an_avro_record_spark_can_read_is_undecodable(
        spark, bodies, standin, confluent):
    not_record = standin.register("odd-value", '{"type": "string"}')
    undefined_type = standin.register("odd-value", json.dumps({
        "type": "record", "name": "Odd", "fields": [{"name": "a", "type": "shop.Nowhere"}]}))
    records = kafka(spark, [framed(not_record, bodies["v1_ann"]),
                            framed(undefined_type, bodies["v1_ann"])])
    expected = rows_frame(spark, [
        (0, "4", None, "undecodable",
         "writer schema 4 is not an Avro record schema Spark can read"),
        (1, "5", None, "undecodable",
         "writer schema 5 is not an Avro record schema Spark can read"),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


class FakeGlue:
    """The one call of a boto3 Glue client that GlueRegistry makes, answering like Glue."""

    def __init__(self, schemas: dict[str, str]) -> None:
        self.schemas = schemas
        self.calls: list[str] = []

    def get_schema_version(self, *, SchemaVersionId: str) -> dict:  # boto3's argument name
        self.calls.append(SchemaVersionId)
        if SchemaVersionId not in self.schemas:
            raise ClientError({"Error": {"Code": "EntityNotFoundException",
                                         "Message": "Schema version is not found."}},
                              "GetSchemaVersion")
        return {"SchemaVersionId": SchemaVersionId, "DataFormat": "AVRO",
                "SchemaDefinition": self.schemas[SchemaVersionId], "Status": "AVAILABLE"}


GLUE_V1 = "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
GLUE_V2 = "f0e1d2c3-b4a5-4697-8877-665544332211"


def test_glue_framing_uncompressed_and_zlib_bodies_decode_with_their_version(spark, bodies):
    registry = GlueRegistry(FakeGlue({GLUE_V1: ORDER_V1, GLUE_V2: ORDER_V2}))
    records = kafka(spark, [glue_framed(GLUE_V1, bodies["v1_ann"]),
                            glue_framed(GLUE_V2, bodies["v2_bob"], compress=True)])
    expected = rows_frame(spark, [
        (0, GLUE_V1, (1, "ann", None), None, None),
        (1, GLUE_V2, (2, "bob", "web"), None, None),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, registry, "glue"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_glue_zlib_body_that_does_not_inflate_and_bad_header_are_undecodable(spark, bodies):
    registry = GlueRegistry(FakeGlue({GLUE_V1: ORDER_V1}))
    truncated = glue_framed(GLUE_V1, bodies["v1_ann"], compress=True)[:-3]
    records = kafka(spark, [truncated, b"\x00" + glue_framed(GLUE_V1, bodies["v1_ann"])[1:],
                            b"\x03\x09" + glue_framed(GLUE_V1, bodies["v1_ann"])[2:]])
    expected = rows_frame(spark, [
        (0, GLUE_V1, None, "undecodable",
         "zlib body does not inflate (corrupt, truncated or over 67108864 bytes)"),
        (1, None, None, "undecodable",
         "header version 0x00 is not 0x03 (not the Glue Schema Registry framing)"),
        (2, None, None, "undecodable", "compression byte 0x09 is not 0x00 (none) or 0x05 (zlib)"),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, registry, "glue"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_registry_is_asked_once_per_schema_id_across_batches(spark, bodies, standin, confluent):
    batch = kafka(spark, [framed(V1_ID, bodies["v1_ann"]), framed(V1_ID, bodies["v1_ann"]),
                          framed(V2_ID, bodies["v2_bob"])])
    decode = decode_avro(ORDER_FIELDS, confluent, "confluent")
    batch.transform(decode)  # the ids are collected and fetched when the transform is applied
    batch.transform(decode)
    assert [standin.count("GET", f"/schemas/ids/{i}") for i in (V1_ID, V2_ID)] == [1, 1]


def test_every_record_comes_out_once_with_the_input_columns_first(spark, bodies, confluent):
    records = kafka(spark, [framed(V1_ID, bodies["v1_ann"]), framed(V2_ID, bodies["v2_bob"]),
                            framed(99, bodies["v1_ann"]), b"\x07junk", b"", None,
                            framed(V1_ID, b"\x02\xc8\x01ab")])
    out = records.transform(decode_avro(ORDER_FIELDS, confluent, "confluent"))
    assert out.columns == ["offset", "value", "_schema_id", "_row", "_error", "_error_detail"]
    assert sorted(r.offset for r in out.select("offset").collect()) == list(range(7))


def test_more_distinct_schema_ids_than_the_bound_stops_the_batch(spark, bodies, confluent):
    records = kafka(spark, [framed(V1_ID, bodies["v1_ann"]), framed(V2_ID, bodies["v2_bob"])])
    with pytest.raises(ContractError, match="more than 1 distinct schema ids"):
        records.transform(decode_avro(ORDER_FIELDS, confluent, "confluent", max_schema_ids=1))


def test_writer_schema_with_field_names_that_differ_only_in_case_is_undecodable(
        spark, bodies, standin, confluent):
    # Spark matches field names case-insensitively: "id" and "ID" (distinct in Avro) once made
    # the decoder's own reference ambiguous and failed the batch; a field spelt like the
    # decoder's marker in another case is an ordinary field
    case_pair = standin.register("odd-value", json.dumps({
        "type": "record", "name": "Odd", "fields": [
            {"name": "order_id", "type": "long"}, {"name": "ORDER_ID", "type": "string"}]}))
    marker_like = standin.register("odd-value", json.dumps({
        "type": "record", "name": "Odd", "fields": [
            {"name": "order_id", "type": "long"}, {"name": "customer", "type": "string"},
            {"name": "LAKEJOBS_DECODED", "type": "string"}]}))
    # order_id 1, "x" | order_id 4, "eve", "no" (zigzag longs, length-prefixed strings)
    records = kafka(spark, [framed(case_pair, b"\x02\x02x"),
                            framed(marker_like, b"\x08\x06eve\x04no"),
                            framed(V1_ID, bodies["v1_ann"])])
    expected = rows_frame(spark, [
        (0, "4", None, "undecodable",
         "writer schema 4 has field names that differ only in case, which Spark cannot tell "
         "apart"),
        (1, "5", (4, "eve", None), None, None),
        (2, "1", (1, "ann", None), None, None),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_avro_record_whose_key_is_null_is_missing_key_like_a_json_one(spark, standin):
    schema = json.dumps({"type": "record", "name": "Payment", "fields": [
        {"name": "payment_id", "type": ["null", "long"], "default": None},
        {"name": "amount", "type": "double"}]})
    payment_id = standin.register("payments-value", schema)
    manifest = Manifest.model_validate({"routes": [
        {"name": "payments_avro", "format": "avro_confluent", "topics": ["shop.payments"],
         "target": "payments", "key": ["payment_id"],
         "columns": [{"name": "payment_id", "type": "bigint"},
                     {"name": "amount", "type": "double"}]}]})
    settings = Settings(env="test", streaming=StreamingSettings(
        schema_registry=SchemaRegistrySettings(url=standin.url)))
    # union branch 0 (null) or 1 then zigzag 7, then amount as a little-endian double
    null_key, key_7 = b"\x00", b"\x02\x0e"
    records = kafka_frame(spark, [
        ("shop.payments", 0, framed(payment_id, null_key + b"\x00\x00\x00\x00\x00\x00\xf0?")),
        ("shop.payments", 1, framed(payment_id, null_key + b"\x00\x00\x00\x00\x00\x00\x00@")),
        ("shop.payments", 2, framed(payment_id, key_7 + b"\x00\x00\x00\x00\x00\x00\x08@")),
    ])

    # the job's own Avro decoder, which passes the route's key
    batch = route_batch(records, manifest, ingested_at=dt.datetime(2026, 11, 25, 11),
                        batch_id=0, max_payload_bytes=10_000, avro_decoder=_avro_decoder(settings))
    landed = [(r["_offset"], r["payment_id"], r["amount"]) for g in batch.groups
              for r in g.frame.where(F.col("_error").isNull()).collect()]
    quarantined = quarantine_rows(batch.unrouted)
    for group in batch.groups:
        quarantined = quarantined.unionByName(quarantine_rows(group.frame))
    reasons = sorted((r["offset"], r["reason"], r["detail"]) for r in quarantined.collect())

    assert landed == [(2, 7, 3.0)]
    assert reasons == [(0, "missing_key", "key ['payment_id'] is missing"),
                       (1, "missing_key", "key ['payment_id'] is missing")]
    assert len(landed) + len(reasons) == 3


def test_schema_id_zero_or_beyond_a_java_int_is_unknown_without_asking_the_registry(
        spark, bodies, standin, confluent):
    # the 4 id bytes are read unsigned; the registry answers an id beyond a Java int with a
    # plain 404 (not 40403), which once stopped the batch
    records = kafka(spark, [b"\x00\x00\x00\x00\x00" + bodies["v1_ann"],
                            b"\x00\xff\xff\xff\xff" + bodies["v1_ann"],
                            framed(V1_ID, bodies["v1_ann"])])
    expected = rows_frame(spark, [
        (0, "0", None, "unknown_schema_id",
         "schema id 0 is not a schema registry id (1 to 2147483647)"),
        (1, "4294967295", None, "unknown_schema_id",
         "schema id 4294967295 is not a schema registry id (1 to 2147483647)"),
        (2, "1", (1, "ann", None), None, None),
    ], OUTPUT)
    assert_df_equality(decoded(records, ORDER_FIELDS, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)
    assert [standin.count("GET", f"/schemas/ids/{i}") for i in (0, 4294967295)] == [0, 0]


def test_values_their_declared_type_cannot_hold_are_contract_violations(spark, standin,
                                                                         confluent):
    # as in the JSON decoders: a double beyond float's range, dates and timestamps beyond year
    # 9999 (same-typed Avro logical values, or text Spark parses) and a timestamp's text without
    # a date do not land
    schema = json.dumps({"type": "record", "name": "Reading", "fields": [
        {"name": "id", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "paid_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "paid_on", "type": {"type": "int", "logicalType": "date"}},
        {"name": "seen_at", "type": "string"}]})
    reading_id = standin.register("readings-value", schema)
    fields = (FieldSpec(name="id", type="bigint", nullable=False),
              FieldSpec(name="ratio", type="float"),
              FieldSpec(name="paid_at", type="timestamp"),
              FieldSpec(name="paid_on", type="date"),
              FieldSpec(name="seen_at", type="timestamp"))
    ok = (0.5, 1_764_064_800_000_000, 20_000, "2026-11-25T10:00:00Z")
    values = [(1, *ok), (2, 1e300, *ok[1:]), (3, ok[0], 2**62, *ok[2:]),
              (4, *ok[:2], 3_000_000, ok[3]), (5, *ok[:3], "+10000-01-01T00:00:00Z"),
              (6, *ok[:3], "10:15:30")]  # no date: Spark would take today's
    avro = rows_frame(spark, values, "id long, ratio double, micros long, days int, "
                                         "seen_at string").select(to_avro(F.struct(
        "id", "ratio", F.timestamp_micros("micros").alias("paid_at"),
        F.date_from_unix_date("days").alias("paid_on"), "seen_at"), schema).alias("body"))
    records = kafka(spark, [framed(reading_id, bytes(r["body"])) for r in avro.collect()])
    row = T.StructType([T.StructField("id", T.LongType()), T.StructField("ratio", T.FloatType()),
                        T.StructField("paid_at", T.TimestampType()),
                        T.StructField("paid_on", T.DateType()),
                        T.StructField("seen_at", T.TimestampType())])
    expected = rows_frame(spark, [
        (0, "4", (1, 0.5, dt.datetime(2025, 11, 25, 10), dt.date(2024, 10, 4),
                  dt.datetime(2026, 11, 25, 10)), None, None),
        (1, "4", None, "contract_violation", "ratio: cannot convert '1.0E300' to float"),
        (2, "4", None, "contract_violation",
         "paid_at: cannot convert '+148108-07-06 14:00:27.387904' to timestamp"),
        (3, "4", None, "contract_violation", "paid_on: cannot convert '+10183-09-21' to date"),
        (4, "4", None, "contract_violation",
         "seen_at: cannot convert '+10000-01-01T00:00:00Z' to timestamp"),
        (5, "4", None, "contract_violation", "seen_at: cannot convert '10:15:30' to timestamp"),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)



def test_avro_numbers_convert_by_their_value_as_the_json_decoders_do(spark, standin, confluent):
    """A double 5.7 declared bigint landed as 5 (Spark's cast truncates) and a double 19.995
    declared decimal(10,2) as 20.00 (it rounds): both are contract violations, as their JSON
    text is; a whole double (3.0) converts, and a float by its own digits (0.1, not the
    0.10000000149011612 a cast through a double makes of it)."""
    schema = json.dumps({"type": "record", "name": "Line", "fields": [
        {"name": "id", "type": "long"}, {"name": "qty", "type": "double"},
        {"name": "price", "type": "double"}, {"name": "rate", "type": "float"}]})
    line_id = standin.register("lines-value", schema)
    fields = (FieldSpec(name="id", type="bigint", nullable=False),
              FieldSpec(name="qty", type="bigint"), FieldSpec(name="price", type="decimal(10,2)"),
              FieldSpec(name="rate", type="decimal(6,1)"))
    values = [(1, 3.0, 19.99, 0.1), (2, 5.7, 19.99, 0.1), (3, 3.0, 19.995, 0.1),
              (4, 3.0, 19.99, 0.25)]
    avro = rows_frame(spark, values, "id long, qty double, price double, rate float").select(
        to_avro(F.struct("id", "qty", "price", "rate"), schema).alias("body"))
    records = kafka(spark, [framed(line_id, bytes(r["body"])) for r in avro.collect()])
    row = T.StructType([T.StructField("id", T.LongType()), T.StructField("qty", T.LongType()),
                        T.StructField("price", T.DecimalType(10, 2)),
                        T.StructField("rate", T.DecimalType(6, 1))])
    expected = rows_frame(spark, [
        (0, "4", (1, 3, Decimal("19.99"), Decimal("0.1")), None, None),
        (1, "4", None, "contract_violation", "qty: cannot convert '5.7' to bigint"),
        (2, "4", None, "contract_violation", "price: cannot convert '19.995' to decimal(10,2)"),
        (3, "4", None, "contract_violation", "rate: cannot convert '0.25' to decimal(6,1)"),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_a_boolean_from_avro_text_takes_true_or_false_only(spark, standin, confluent):
    # Spark's text cast would also read "yes", "y", "t" and "1" as true, as in the JSON decoders
    schema = json.dumps({"type": "record", "name": "Flag", "fields": [
        {"name": "id", "type": "long"}, {"name": "active", "type": "string"}]})
    flag_id = standin.register("flags-value", schema)
    fields = (FieldSpec(name="id", type="bigint", nullable=False),
              FieldSpec(name="active", type="boolean"))
    avro = rows_frame(spark, list(enumerate(["true", "FALSE", "yes", "t", "1"])),
                                 "id long, active string").select(
        to_avro(F.struct("id", "active"), schema).alias("body"))
    records = kafka(spark, [framed(flag_id, bytes(r["body"])) for r in avro.collect()])
    row = T.StructType([T.StructField("id", T.LongType()),
                        T.StructField("active", T.BooleanType())])
    expected = rows_frame(spark, [
        (0, "4", (0, True), None, None),
        (1, "4", (1, False), None, None),
        (2, "4", None, "contract_violation", "active: cannot convert 'yes' to boolean"),
        (3, "4", None, "contract_violation", "active: cannot convert 't' to boolean"),
        (4, "4", None, "contract_violation", "active: cannot convert '1' to boolean"),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_a_boolean_from_an_avro_number_is_a_contract_violation(spark, standin, confluent):
    # Spark's number cast reads any non-zero number as true; a JSON number is no boolean either
    schema = json.dumps({"type": "record", "name": "NumberFlag", "fields": [
        {"name": "id", "type": "long"}, {"name": "active", "type": ["null", "int"]}]})
    flag_id = standin.register("number-flags-value", schema)
    fields = (FieldSpec(name="id", type="bigint", nullable=False),
              FieldSpec(name="active", type="boolean"))
    avro = rows_frame(spark, [(0, 1), (1, 0), (2, None)], "id long, active int").select(
        to_avro(F.struct("id", "active"), schema).alias("body"))
    records = kafka(spark, [framed(flag_id, bytes(r["body"])) for r in avro.collect()])
    row = T.StructType([T.StructField("id", T.LongType()),
                        T.StructField("active", T.BooleanType())])
    wrong = "active: writer type int does not convert to boolean"
    expected = rows_frame(spark, [
        (0, str(flag_id), None, "contract_violation", wrong),
        (1, str(flag_id), None, "contract_violation", wrong),
        (2, str(flag_id), (2, None), None, None),
    ], T.StructType([*OUTPUT.fields[:2], T.StructField("_row", row), *OUTPUT.fields[3:]]))
    assert_df_equality(decoded(records, fields, confluent), expected,
                       ignore_row_order=True, ignore_nullable=True)



def test_an_avro_record_array_or_map_declared_string_lands_as_its_json_text(
    spark, standin, confluent
):
    # Spark's cast to string dropped field names and quotes: ["a, b"] and ["a", "b"] both landed
    # as "[a, b]", {"k": "v, w -> z"} and {"k": "v", "w": "z"} as one text on Spark 3.5
    schema = json.dumps({"type": "record", "name": "Nested", "fields": [
        {"name": "id", "type": "long"},
        {"name": "nested", "type": {"type": "record", "name": "Inner", "fields": [
            {"name": "a", "type": "int"}, {"name": "b", "type": "string"}]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "string"}}]})
    nested_id = standin.register("nested-value", schema)
    fields = (FieldSpec(name="id", type="bigint", nullable=False),
              FieldSpec(name="nested", type="string"), FieldSpec(name="tags", type="string"),
              FieldSpec(name="attrs", type="string"))
    avro = rows_frame(spark, [
        (1, (5, "x"), ["a, b"], {"k": "v, w -> z"}),
        (2, (5, "x"), ["a", "b"], {"k": "v", "w": "z"}),
    ], "id long, nested struct<a: int, b: string>, tags array<string>, "
       "attrs map<string, string>").select(
        to_avro(F.struct("id", "nested", "tags", "attrs"), schema).alias("body"))
    records = kafka(spark, [framed(nested_id, bytes(r["body"])) for r in avro.collect()])

    # a map's JSON keeps the order its writer wrote: read back, its entries sorted, to compare
    entries = F.array_sort(F.map_entries(F.from_json("_row.attrs", "map<string, string>")))
    actual = decoded(records, fields, confluent).select(
        "_row.id", "_row.nested", "_row.tags", entries.alias("attrs"), "_error")

    expected = rows_frame(spark, [
        (1, '{"a":5,"b":"x"}', '["a, b"]', [("k", "v, w -> z")], None),
        (2, '{"a":5,"b":"x"}', '["a","b"]', [("k", "v"), ("w", "z")], None),
    ], "id bigint, nested string, tags string, attrs array<struct<key: string, value: string>>, "
       "_error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)

# ---------------------------------------------------------------- registry clients (no Spark)

def test_confluent_registry_sends_basic_auth_from_the_environment(monkeypatch):
    with SchemaRegistryStandin(credentials="svc-lake:s3cret") as standin:
        standin.register("orders-value", ORDER_V1)
        registry = ConfluentRegistry(standin.url, auth_env="REGISTRY_AUTH")
        monkeypatch.delenv("REGISTRY_AUTH", raising=False)
        with pytest.raises(SecretError, match="REGISTRY_AUTH"):
            registry.schema(1)
        monkeypatch.setenv("REGISTRY_AUTH", "svc-lake:wrong")
        with pytest.raises(SchemaRegistryError, match="HTTP 401") as wrong:
            registry.schema(1)
        assert "wrong" not in str(wrong.value)
        monkeypatch.setenv("REGISTRY_AUTH", "svc-lake:s3cret")
        assert registry.schema(1) == ORDER_V1


def test_confluent_registry_answers_none_for_an_unknown_id_and_asks_again_later(standin):
    registry = ConfluentRegistry(standin.url)
    assert registry.schema(42) is None
    assert registry.schema(42) is None
    assert standin.count("GET", "/schemas/ids/42") == 2


def test_confluent_registry_server_error_names_the_url_and_id(standin):
    standin.fail_with = 503
    with pytest.raises(SchemaRegistryError,
                       match=rf"{standin.url}/schemas/ids/1 answered HTTP 503 .* schema id 1"):
        ConfluentRegistry(standin.url).schema(1)


def test_confluent_registry_that_cannot_be_reached_raises():
    with SchemaRegistryStandin() as standin:
        url = standin.url  # a port that was free and is closed again
    with pytest.raises(SchemaRegistryError, match=r"cannot be reached for schema id 5"):
        ConfluentRegistry(url, timeout_s=2).schema(5)


def test_confluent_registry_refuses_a_redirect_and_keeps_the_credentials(monkeypatch):
    # urllib would follow a redirect to any host or scheme with the Authorization header
    monkeypatch.setenv("REGISTRY_AUTH", "svc-lake:s3cret")
    with SchemaRegistryStandin() as registry, SchemaRegistryStandin() as elsewhere:
        elsewhere.register("orders-value", ORDER_V1)
        registry.redirect_to = elsewhere.url
        with pytest.raises(SchemaRegistryError,
                           match=rf"{registry.url}/schemas/ids/1 answered HTTP 302 .* "
                                 rf"{elsewhere.url}/schemas/ids/1: not followed") as refused:
            ConfluentRegistry(registry.url, auth_env="REGISTRY_AUTH").schema(1)
        assert elsewhere.requests == [("POST", "/subjects/orders-value/versions")]
    assert "s3cret" not in str(refused.value)
    assert "c3ZjLWxha2U6czNjcmV0" not in str(refused.value)  # base64 of the credentials


def test_confluent_registry_url_with_credentials_is_refused():
    with pytest.raises(ConfigError, match="auth_env"):
        ConfluentRegistry("https://svc:s3cret@registry.internal:8081")


def test_glue_registry_answers_none_for_an_unknown_version_and_caches_found_ones():
    glue = FakeGlue({GLUE_V1: ORDER_V1})
    registry = GlueRegistry(glue)
    assert [registry.schema(GLUE_V1), registry.schema(GLUE_V1), registry.schema(GLUE_V2)] == [
        ORDER_V1, ORDER_V1, None]
    assert glue.calls == [GLUE_V1, GLUE_V2]
