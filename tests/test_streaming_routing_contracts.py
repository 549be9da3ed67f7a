"""Streaming routing and contracts: envelope events routed by their own topic, values naming no
Debezium table counted as schema failures, manifests that Spark or Delta would refuse batch after
batch refused at load, plain JSON decimals kept to the last digit."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from streaming_records import envelope, kafka_frame

from lakejobs.config import settings_from_mapping
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.streaming.manifest import Manifest, Route, load_manifest
from lakejobs.streaming.msk_to_landing import LandingSink
from lakejobs.streaming.plain_json import decode_json
from lakejobs.streaming.routing import Group, decode_batch, landing_rows, stamp_batch

INGESTED = datetime(2026, 11, 25, 10, 30, 0)


def sink(spark: SparkSession, lake_root: Path, routes: list[dict]) -> LandingSink:
    settings = settings_from_mapping({"lake": {"root": str(lake_root)}}, source="test",
                                     env="dev", environ={})
    manifest = Manifest.model_validate({"routes": routes})
    return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1")


# one event, one version, on two topics: the web's and the app's, each to its table and contract
WEB_PAGE_VIEW = {"name": "page_view_web", "format": "envelope", "topics": ["web.events"],
                 "event": "page_view", "version": 1, "target": "web_events",
                 "columns": [{"name": "page_url", "nullable": False}]}
APP_PAGE_VIEW = {"name": "page_view_app", "format": "envelope", "topics": ["app.events"],
                 "event": "page_view", "version": 1, "target": "app_events",
                 "columns": [{"name": "screen", "nullable": False}]}
APP_LOGIN = {"name": "login_app", "format": "envelope", "topics": ["app.events"],
             "event": "login", "version": 1, "target": "app_events",
             "columns": [{"name": "method"}]}


def test_an_envelope_event_is_routed_by_the_routes_of_its_own_topic(spark: SparkSession) -> None:
    """The route was chosen by (event, version) alone: the last route naming them took the
    records of every topic (a web page view failed the app's contract, or landed in the app's
    table), and an event only another topic's route names was not unknown."""
    manifest = Manifest.model_validate({"routes": [WEB_PAGE_VIEW, APP_PAGE_VIEW, APP_LOGIN]})
    records = kafka_frame(spark, [
        ("web.events", 0, envelope("page_view", 1, "r-0", {"page_url": "/home"})),
        ("app.events", 0, envelope("page_view", 1, "r-1", {"screen": "home"})),
        ("web.events", 1, envelope("login", 1, "r-2", {"method": "password"})),
    ])

    routed = decode_batch(records, manifest, max_payload_bytes=10_000)

    (group,) = routed.groups
    actual = group.frame.select(F.col("_topic").alias("topic"), F.col("_offset").alias("offset"),
                                "_route", "_error", "_error_detail")
    expected = rows_frame(spark, [
        ("web.events", 0, "page_view_web", None, None),
        ("app.events", 0, "page_view_app", None, None),
        ("web.events", 1, None, "unknown_event", "event login"),
    ], "topic string, offset bigint, _route string, _error string, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert routed.unrouted.count() == 0  # every record decoded once, in the group


CUSTOMERS = {"name": "customers_cdc", "format": "debezium", "topics": ["shop.cdc"],
             "target": "customers", "key": ["id"], "source_table": "dbo.customers",
             "columns": [{"name": "id", "type": "bigint", "nullable": False},
                         {"name": "email"}]}


def change(table: str, after: dict) -> bytes:
    return json.dumps({
        "before": None, "after": after, "op": "c", "ts_ms": 1795600000000,
        "source": {"connector": "sqlserver", "db": "shop", "schema": "dbo", "table": table,
                   "ts_ms": 1795600000000, "change_lsn": "00000027:00000758:0003"},
    }).encode()


def test_a_value_naming_no_debezium_source_table_is_undecodable_and_raises_the_alert(
    spark: SparkSession, lake_root: Path
) -> None:
    """On a topic read by source table, a value that is not a change event (the connector's
    converter switched to Avro) was quarantined as unknown_route: not a schema failure, so a
    topic of undecodable records never raised the alert."""
    records = kafka_frame(spark, [
        ("shop.cdc", 0, change("customers", {"id": 1, "email": "a@example.com"})),
        ("shop.cdc", 1, b"\x00\x00\x00\x00\x07\x02\x0ea@x.com"),  # Confluent-framed Avro
        ("shop.cdc", 2, b'{"id": 2}'),  # JSON, but no change event
        ("shop.cdc", 3, change("suppliers", {"id": 3})),  # a table no route names
    ])

    metrics = sink(spark, lake_root, [CUSTOMERS]).process(records, 0, INGESTED)

    assert metrics.quarantined_by_reason == {"undecodable": 2, "unknown_route": 1}
    assert (metrics.records_in, metrics.landed, metrics.quarantined, metrics.duplicates) == (
        4, 1, 3, 0)
    assert (metrics.schema_failures, metrics.alert) == (2, True)
    quarantined = spark.read.format("delta").load(
        str(lake_root / "quarantine" / "kafka_quarantine")).select("offset", "reason", "detail")
    expected = rows_frame(spark, [
        (1, "undecodable", "not a Debezium change event naming its source table"),
        (2, "undecodable", "not a Debezium change event naming its source table"),
        (3, "unknown_route", "no route for this Debezium source table"),
    ], "offset bigint, reason string, detail string")
    assert_df_equality(quarantined, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_debezium_record_is_routed_by_the_source_block_it_is_decoded_with(
    spark: SparkSession
) -> None:
    """Routing read the source table field by field, from the wrapper's source block or else a
    top-level one, and a repeated key's first value; the decoder reads the wrapper's block
    whole, and a repeated key's last value: a record landed in one table's route as another."""
    orders = {**CUSTOMERS, "name": "orders_cdc", "target": "orders", "source_table": "dbo.orders"}
    manifest = Manifest.model_validate({"routes": [CUSTOMERS, orders]})
    customers_source = json.loads(change("customers", {}))["source"]
    orders_source = json.loads(change("orders", {}))["source"]
    twice = ('{"after": {"id": 1}, "op": "c", "source": %s, "source": %s}'
             % (json.dumps(customers_source), json.dumps(orders_source)))
    wrapped = json.dumps({"schema": {}, "source": customers_source, "payload": {
        "after": {"id": 2}, "op": "c", "source": {"db": "shop", "schema": "dbo"}}})
    records = kafka_frame(spark, [("shop.cdc", 0, twice.encode()),
                                  ("shop.cdc", 1, wrapped.encode())])

    routed = decode_batch(records, manifest, max_payload_bytes=10_000)

    landed = {g.routes[0].name: [tuple(r) for r in g.frame.select(
        "_offset", "_source_table", "_error").collect()] for g in routed.groups}
    assert landed == {"customers_cdc": [], "orders_cdc": [(0, "shop.dbo.orders", None)]}
    assert [tuple(r) for r in routed.unrouted.select("_offset", "_error").collect()] == [
        (1, "undecodable")]


@pytest.mark.parametrize(("declared", "normalised"), [
    ("decimal(5,10)", "decimal(5,10)"), ("decimal(40, 2)", "decimal(40, 2)"),
    ("DECIMAL(0,0)", "decimal(0,0)"),
])
def test_a_decimal_type_spark_cannot_hold_is_refused_naming_file_key_and_expectation(
    tmp_path: Path, declared: str, normalised: str
) -> None:
    """Accepted, these failed every batch holding the route's topic (Spark refuses the type when
    the decoder is built) or quarantined every record (precision 0)."""
    path = tmp_path / "manifest.yaml"
    route = {"name": "payments", "format": "json", "topics": ["shop.payments"],
             "target": "payments", "key": ["id"],
             "columns": [{"name": "id", "type": "bigint"}, {"name": "amount", "type": declared}]}
    path.write_text(json.dumps({"routes": [route]}))

    with pytest.raises(ConfigError) as refused:
        load_manifest(str(path))

    assert str(refused.value) == (
        f"{path}: routes.0.columns.1.type: {normalised}: expected decimal(p,s) with a "
        f"precision p from 1 to 38 and a scale s of at most p, got {declared!r}")


def test_a_plain_json_decimal_keeps_every_digit(spark: SparkSession) -> None:
    """Fields were read as text, and Spark writes a JSON number's text back as a double: the
    amount landed rounded to 17 significant digits."""
    fields = Manifest.model_validate({"routes": [{
        "name": "payments", "format": "json", "topics": ["shop.payments"],
        "target": "payments", "key": ["id"],
        "columns": [{"name": "id", "type": "bigint"},
                    {"name": "amount", "type": "decimal(38,18)"},
                    {"name": "fee", "type": "decimal(4,2)"}]}]}).routes[0].columns
    records = kafka_frame(spark, [
        ("shop.payments", 0, b'{"id": 0, "amount": 1234.567890123456789012, "fee": 0.5}'),
        ("shop.payments", 1, b'{"id": 1, "amount": "1234.567890123456789012"}'),
        ("shop.payments", 2, b'{"id": 2, "amount": 12345678901234567890.5}'),
        ("shop.payments", 3, b'{"id": 3, "amount": 1E-18, "fee": 100.5}'),
        ("shop.payments", 4, b'{"id": 4, "amount": "1,234.5"}'),
    ])

    actual = records.transform(decode_json(fields, ("id",))).select(
        "offset", "_row.amount", "_row.fee", "_error")

    expected = rows_frame(spark, [
        (0, Decimal("1234.567890123456789012"), Decimal("0.50"), None),
        (1, Decimal("1234.567890123456789012"), None, None),
        (2, Decimal("12345678901234567890.5"), None, None),
        (3, Decimal("0.000000000000000001"), None, "contract_violation"),  # fee too large
        (4, None, None, "contract_violation"),  # not a number
    ], "offset bigint, amount decimal(38,18), fee decimal(4,2), _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


EDGE_DECIMALS = [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "decimal(38,18)"},
                 {"name": "fee", "type": "decimal(10,2)"}]
# a number at the edge of its type whose rewrite through a double (Spark's text of it) is out
# of it: 1.0E20 for the largest decimal(38,18); a number with more fraction digits than the
# scale does not fit (Spark rounded it: 99999999.994999999999999 landed as 99999999.99), one
# whose further digits are zeros does
EDGE_VALUES = [
    '{"id": 0, "amount": 99999999999999999999.999999999999999999}',
    '{"id": 1, "amount": -99999999999999999999.999999999999999999}',
    '{"id": 2, "fee": 99999999.994999999999999}',  # more digits than the scale
    '{"id": 3, "fee": 99999999.995}',  # more digits than the scale, and rounds out of range
    '{"id": 4, "amount": 100000000000000000000}',  # does not fit
    '{"id": 5, "fee": "99999999.994999999999999"}',  # a JSON string: its text decides
    '{"id": 6, "fee": 99999999.990000000000000000}',
    '{"id": 7, "fee": "99999999.9900"}',
]


def test_a_plain_json_decimal_at_the_edge_of_its_type_fits_as_its_exact_value(
    spark: SparkSession
) -> None:
    """Which values fit was decided on Spark's text of the number, a double's rewrite: the
    largest decimal(38,18) read as 1.0E20 was refused; and digits past the scale were rounded
    away unseen."""
    fields = Manifest.model_validate({"routes": [{
        "name": "payments", "format": "json", "topics": ["shop.payments"],
        "target": "payments", "key": ["id"], "columns": EDGE_DECIMALS}]}).routes[0].columns
    records = kafka_frame(spark, [("shop.payments", offset, value.encode())
                                  for offset, value in enumerate(EDGE_VALUES)])

    actual = records.transform(decode_json(fields, ("id",))).select(
        "offset", "_row.amount", "_row.fee", "_error_detail")

    expected = rows_frame(spark, [
        (0, Decimal("99999999999999999999.999999999999999999"), None, None),
        (1, Decimal("-99999999999999999999.999999999999999999"), None, None),
        (2, None, None, "fee: cannot decode '9.9999999995E7' as decimal(10,2)"),
        (3, None, None, "fee: cannot decode '9.9999999995E7' as decimal(10,2)"),
        (4, None, None, "amount: cannot decode '100000000000000000000' as decimal(38,18)"),
        (5, None, None, "fee: cannot decode '99999999.994999999999999' as decimal(10,2)"),
        (6, None, Decimal("99999999.99"), None),
        (7, None, Decimal("99999999.99"), None),
    ], "offset bigint, amount decimal(38,18), fee decimal(10,2), _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(("first", "second"), [
    ("bigint", "int"), ("bigint", "string"), ("decimal(12,2)", "decimal(14, 2)"),
])
def test_routes_landing_one_column_of_a_table_with_two_types_are_refused(
    tmp_path: Path, first: str, second: str
) -> None:
    """Accepted, the batches holding the records of the route that did not create the table
    failed, every one (Delta: failed to merge fields), and the query with them."""
    path = tmp_path / "manifest.yaml"

    def route(name: str, kind: str) -> dict:
        return {"name": name, "format": "json", "topics": [f"shop.{name}"],
                "target": "payments", "key": ["id"],
                "columns": [{"name": "id", "type": "bigint"}, {"name": "amount", "type": kind}]}

    path.write_text(json.dumps({"routes": [route("card", first), route("wire", second)]}))

    with pytest.raises(ConfigError) as refused:
        load_manifest(str(path))

    assert str(refused.value) == (
        f"{path}: Manifest: routes 'card' and 'wire' land column 'amount' in table 'payments' "
        f"as {first} and {second.replace(' ', '')}: expected one type per column of a table")


def test_an_avro_routes_partition_key_lands_as_the_hex_of_its_framed_bytes(
        spark: SparkSession) -> None:
    """A Confluent-framed Avro key cast to text was invalid UTF-8 in a string column; a JSON
    key stays its text."""
    route = {"name": "orders", "format": "json", "topics": ["shop.orders"], "target": "orders",
             "key": ["id"], "columns": [{"name": "id", "type": "bigint"}]}
    framed_key = b"\x00\x00\x00\x00\x07\x02\xff"  # magic byte, schema id 7, Avro long 1, 0xff
    records = kafka_frame(spark, [("shop.orders", 0, b'{"id": 1}', framed_key)])
    routed = stamp_batch(decode_batch(records, Manifest.model_validate({"routes": [route]}),
                                      max_payload_bytes=10_000),
                         ingested_at=INGESTED, batch_id=0)
    decoded = routed.groups[0].frame.withColumns({"_duplicate": F.lit(False),
                                                  "_is_late": F.lit(False)})
    avro = Route.model_validate({**route, "format": "avro_confluent"})

    as_avro = landing_rows(Group((avro,), decoded), "orders").select("id", "_partition_key")
    as_json = landing_rows(Group((Route.model_validate(route),), decoded.withColumn(
        "_kafka_key", F.lit(b"order-1"))), "orders").select("id", "_partition_key")

    assert [tuple(r) for r in as_avro.collect()] == [(1, "000000000702FF")]
    assert [tuple(r) for r in as_json.collect()] == [(1, "order-1")]
