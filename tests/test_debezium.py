"""Debezium JSON change events decoded into a route's typed columns: every op, both JSON shapes,
every logical type with exact values, source metadata and commit positions, and each error."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame
from lakejobs.streaming.debezium import decode_debezium
from lakejobs.streaming.fields import FieldSpec

KAFKA = T.StructType([
    T.StructField("key", T.BinaryType()),
    T.StructField("value", T.BinaryType()),
    T.StructField("topic", T.StringType()),
    T.StructField("partition", T.IntegerType()),
    T.StructField("offset", T.LongType()),
])

ORDER_FIELDS = [
    FieldSpec(name="order_id", type="bigint", nullable=False),
    FieldSpec(name="status", type="string"),
    FieldSpec(name="order_total", type="decimal(12,2)",
              logical="org.apache.kafka.connect.data.Decimal"),
    FieldSpec(name="ordered_at", type="timestamp", logical="io.debezium.time.MicroTimestamp"),
]
ORDER = T.StructType([
    T.StructField("order_id", T.LongType()),
    T.StructField("status", T.StringType()),
    T.StructField("order_total", T.DecimalType(12, 2)),
    T.StructField("ordered_at", T.TimestampType()),
])
OPS = T.StructType([
    T.StructField("offset", T.LongType()),
    T.StructField("_op", T.StringType()),
    T.StructField("_row", ORDER),
    T.StructField("_before", ORDER),
    T.StructField("_error", T.StringType()),
])
ERRORS = T.StructType([
    T.StructField("offset", T.LongType()),
    T.StructField("_op", T.StringType()),
    T.StructField("_error", T.StringType()),
    T.StructField("_error_detail", T.StringType()),
])

# "MDk=" is 12345 (0x3039): 123.45 at scale 2; 1705313730123456 µs is 2024-01-15 10:15:30.123456
NEW = '{"order_id": 1, "status": "new", "order_total": "MDk=", "ordered_at": 1705313730123456}'
PAID = '{"order_id": 1, "status": "paid", "order_total": "MDk=", "ordered_at": 1705313730123456}'
OLD = '{"order_id": 2, "status": "shipped", "order_total": "AA==", "ordered_at": 0}'
GONE = '{"order_id": 3, "status": "void", "order_total": "/zg=", "ordered_at": 1705313730123456}'
SOURCE = ('{"version": "2.5.0.Final", "connector": "sqlserver", "name": "retail", '
          '"ts_ms": 1705313730000, "snapshot": "false", "db": "retail", "sequence": null, '
          '"schema": "dbo", "table": "orders", "change_lsn": "00000027:00000758:0003", '
          '"commit_lsn": "00000027:00000758:0005", "event_serial_no": 1}')
# The Connect schema the JsonConverter writes with schemas.enable=true (fields trimmed to ours).
ORDER_VALUE_SCHEMA = (
    '{"type": "struct", "optional": true, "name": "retail.dbo.orders.Value", "fields": ['
    '{"type": "int64", "optional": false, "field": "order_id"}, '
    '{"type": "string", "optional": true, "field": "status"}, '
    '{"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", '
    '"version": 1, "parameters": {"scale": "2", "connect.decimal.precision": "12"}, '
    '"field": "order_total"}, '
    '{"type": "int64", "optional": true, "name": "io.debezium.time.MicroTimestamp", '
    '"version": 1, "field": "ordered_at"}]')
ENVELOPE_SCHEMA = (
    '{"type": "struct", "optional": false, "name": "retail.dbo.orders.Envelope", "fields": ['
    + ORDER_VALUE_SCHEMA + ', "field": "before"}, '
    + ORDER_VALUE_SCHEMA + ', "field": "after"}, '
    '{"type": "struct", "optional": false, "name": "io.debezium.connector.sqlserver.Source", '
    '"field": "source", "fields": [{"type": "string", "optional": false, "field": "connector"}]}, '
    '{"type": "string", "optional": false, "field": "op"}, '
    '{"type": "int64", "optional": true, "field": "ts_ms"}]}')

ORDER_1_NEW = (1, "new", Decimal("123.45"), datetime(2024, 1, 15, 10, 15, 30, 123456))
ORDER_1_PAID = (1, "paid", Decimal("123.45"), datetime(2024, 1, 15, 10, 15, 30, 123456))
ORDER_2 = (2, "shipped", Decimal("0.00"), datetime(1970, 1, 1))
ORDER_3 = (3, "void", Decimal("-2.00"), datetime(2024, 1, 15, 10, 15, 30, 123456))
EXPECTED_OPS = [
    (0, "c", ORDER_1_NEW, None, None),
    (1, "u", ORDER_1_PAID, ORDER_1_NEW, None),
    (2, "r", ORDER_2, None, None),
    (3, "d", ORDER_3, ORDER_3, None),
]


def change(op: str, before: str = "null", after: str = "null", source: str = SOURCE) -> str:
    """A Debezium envelope without the schema wrapper."""
    return (f'{{"before": {before}, "after": {after}, "source": {source}, "op": "{op}", '
            f'"ts_ms": 1705313731000, "transaction": null}}')


def wrapped(payload: str, schema: str = ENVELOPE_SCHEMA) -> str:
    """The same envelope as the JsonConverter writes it with schemas.enable=true."""
    return f'{{"schema": {schema}, "payload": {payload}}}'


def kafka(spark: SparkSession, *records: tuple[str | None, str | None]) -> DataFrame:
    """Kafka records (key, value) as the source reads them, at offsets 0, 1, 2…"""
    def raw(text: str | None) -> bytearray | None:
        return None if text is None else bytearray(text.encode("utf-8"))

    return rows_frame(spark,
        [(raw(key), raw(value), "retail.order.cdc", 0, offset)
         for offset, (key, value) in enumerate(records)], KAFKA)


def decode(records: DataFrame, fields: list[FieldSpec] = ORDER_FIELDS,
           key_fields: tuple[str, ...] = ("order_id",)) -> DataFrame:
    return records.transform(decode_debezium(fields, key_fields=key_fields))


def test_create_update_and_read_land_the_after_image_and_delete_the_before_image(spark):
    records = kafka(spark, (None, change("c", after=NEW)),
                    (None, change("u", before=NEW, after=PAID)),
                    (None, change("r", after=OLD)), (None, change("d", before=GONE)))

    actual = decode(records).select("offset", "_op", "_row", "_before", "_error")

    expected = rows_frame(spark, EXPECTED_OPS, OPS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_schema_payload_wrapper_decodes_like_the_plain_envelope(spark):
    records = kafka(spark, (None, wrapped(change("c", after=NEW))),
                    (None, wrapped(change("u", before=NEW, after=PAID))),
                    (None, wrapped(change("r", after=OLD))),
                    (None, wrapped(change("d", before=GONE))))

    actual = decode(records).select("offset", "_op", "_row", "_before", "_error")

    expected = rows_frame(spark, EXPECTED_OPS, OPS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_tombstone_row_holds_the_kafka_key_with_or_without_wrapper(spark):
    key_schema = ('{"type": "struct", "optional": false, "name": "retail.dbo.orders.Key", '
                  '"fields": [{"type": "int64", "optional": false, "field": "order_id"}]}')
    records = kafka(spark, ('{"order_id": 7}', None),
                    (f'{{"schema": {key_schema}, "payload": {{"order_id": 8}}}}', None))

    actual = decode(records).select("offset", "_op", "_row", "_before", "_error")

    expected = rows_frame(spark, [
        (0, "t", (7, None, None, None), None, None),
        (1, "t", (8, None, None, None), None, None),
    ], OPS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_date_and_timestamp_logical_types_decode_to_exact_values(spark):
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="day", type="date", logical="io.debezium.time.Date"),
        FieldSpec(name="connect_day", type="date", logical="org.apache.kafka.connect.data.Date"),
        FieldSpec(name="millis", type="timestamp", logical="io.debezium.time.Timestamp"),
        FieldSpec(name="connect_millis", type="timestamp",
                  logical="org.apache.kafka.connect.data.Timestamp"),
        FieldSpec(name="micros", type="timestamp", logical="io.debezium.time.MicroTimestamp"),
        FieldSpec(name="nanos", type="timestamp", logical="io.debezium.time.NanoTimestamp"),
        FieldSpec(name="zoned", type="timestamp", logical="io.debezium.time.ZonedTimestamp"),
    ]
    records = kafka(spark, (None, change("c", after=(
        '{"id": 1, "day": 19737, "connect_day": -1, "millis": 1705313730123, '
        '"connect_millis": 1705313730123, "micros": 1705313730123456, '
        '"nanos": 1705313730123456789, "zoned": "2024-01-15T12:15:30.123456789+02:00"}'))),
        (None, change("c", after=(
            '{"id": 2, "day": 0, "connect_day": 0, "millis": -1, "connect_millis": 0, '
            '"micros": -1, "nanos": -1, "zoned": "2024-01-15T10:15:30Z"}'))))

    actual = decode(records, fields, ("id",)).select("_row.*", "_error")

    ts = datetime(2024, 1, 15, 10, 15, 30, 123456)
    expected = rows_frame(spark, [
        # nanoseconds are truncated to Spark's microseconds, towards the past
        (1, date(2024, 1, 15), date(1969, 12, 31), datetime(2024, 1, 15, 10, 15, 30, 123000),
         datetime(2024, 1, 15, 10, 15, 30, 123000), ts, ts, ts, None),
        (2, date(1970, 1, 1), date(1970, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999000),
         datetime(1970, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999999),
         datetime(1969, 12, 31, 23, 59, 59, 999999), datetime(2024, 1, 15, 10, 15, 30), None),
    ], "id int, day date, connect_day date, millis timestamp, connect_millis timestamp, "
       "micros timestamp, nanos timestamp, zoned timestamp, _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_time_logical_types_decode_to_utc_text_or_microseconds_of_day(spark):
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="millis", type="string", logical="io.debezium.time.Time"),
        FieldSpec(name="connect_millis", type="bigint",
                  logical="org.apache.kafka.connect.data.Time"),
        FieldSpec(name="micros", type="string", logical="io.debezium.time.MicroTime"),
        FieldSpec(name="micros_of_day", type="bigint", logical="io.debezium.time.MicroTime"),
        FieldSpec(name="nanos", type="string", logical="io.debezium.time.NanoTime"),
        FieldSpec(name="zoned", type="string", logical="io.debezium.time.ZonedTime"),
        FieldSpec(name="zoned_micros", type="bigint", logical="io.debezium.time.ZonedTime"),
    ]
    records = kafka(spark, (None, change("c", after=(
        '{"id": 1, "millis": 36930123, "connect_millis": 36930123, "micros": 36930123456, '
        '"micros_of_day": 36930123456, "nanos": 36930123456789, '
        '"zoned": "12:15:30.123456789+02:00", "zoned_micros": "01:00:00+02:00"}'))),
        (None, change("c", after=(
            '{"id": 2, "millis": 0, "connect_millis": 0, "micros": 86399999999, '
            '"micros_of_day": 0, "nanos": 999, "zoned": "00:00:00Z", '
            '"zoned_micros": "23:59:59.5-01:00"}'))))

    actual = decode(records, fields, ("id",)).select("_row.*", "_error")

    expected = rows_frame(spark, [
        (1, "10:15:30.123000", 36930123000, "10:15:30.123456", 36930123456, "10:15:30.123456",
         "10:15:30.123456", 82800000000, None),  # 01:00+02:00 is 23:00 UTC
        (2, "00:00:00.000000", 0, "23:59:59.999999", 0, "00:00:00.000000", "00:00:00.000000",
         3599500000, None),  # 23:59:59.5-01:00 is 00:59:59.5 UTC
    ], "id int, millis string, connect_millis bigint, micros string, micros_of_day bigint, "
       "nanos string, zoned string, zoned_micros bigint, _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_epoch_values_out_of_range_are_contract_violations_not_job_failures(spark):
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="day", type="date", logical="io.debezium.time.Date"),
        FieldSpec(name="millis", type="timestamp", logical="io.debezium.time.Timestamp"),
        FieldSpec(name="nanos", type="timestamp", logical="io.debezium.time.NanoTimestamp"),
    ]
    records = kafka(spark, (None, change("c", after=(
        '{"id": 1, "day": 99999999, "millis": 9223372036854775807, '
        '"nanos": -9223372036854775808}'))))

    actual = decode(records, fields, ("id",)).select("_row.*", "_error_detail")

    expected = rows_frame(spark, [
        (1, None, None, datetime(1677, 9, 21, 0, 12, 43, 145224),
         ("day: cannot decode '99999999' as date (Date); "
          "millis: cannot decode '9223372036854775807' as timestamp (Timestamp)")),
    ], "id int, day date, millis timestamp, nanos timestamp, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_text_values_spark_parses_beyond_their_type_are_contract_violations(spark):
    """Spark reads "+10000-01-01" as a date and 1e39 as a float's infinity; neither fits."""
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="zoned", type="timestamp", logical="io.debezium.time.ZonedTimestamp"),
        FieldSpec(name="day", type="date"),
        FieldSpec(name="ratio", type="float"),
    ]
    records = kafka(spark, (None, change("c", after=(
        '{"id": 1, "zoned": "+10000-01-01T00:00:00Z", "day": "+10000-01-01", "ratio": 1e39}'))),
        (None, change("c", after=(
            '{"id": 2, "zoned": "9999-12-31T23:59:59.999999Z", "day": "0001-01-01", '
            '"ratio": -3.4e38}'))),
        (None, change("c", after='{"id": 3, "ratio": "-Infinity"}')))

    actual = decode(records, fields, ("id",)).select("_row.*", "_error_detail")

    expected = rows_frame(spark, [
        (1, None, None, None,
         ("zoned: cannot decode '+10000-01-01T00:00:00Z' as timestamp (ZonedTimestamp); "
          "day: cannot decode '+10000-01-01' as date; ratio: cannot decode '1.0E39' as float")),
        (2, datetime(9999, 12, 31, 23, 59, 59, 999999), date(1, 1, 1), -3.4e38, None),
        (3, None, None, float("-inf"), None),
    ], "id int, zoned timestamp, day date, ratio float, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_truncate_event_is_undecodable_not_a_tombstone(spark):
    records = kafka(spark, (None, change("t")), (None, change("t", after=NEW)))

    actual = decode(records).select("offset", "_op", "_error", "_error_detail")

    truncate = "op 't' (a table truncate) is not a row change"
    expected = rows_frame(spark, [(0, None, "undecodable", truncate),
                                      (1, None, "undecodable", truncate)], ERRORS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_connect_decimal_decodes_base64_twos_complement_including_negatives(spark):
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="amount", type="decimal(12,2)",
                  logical="org.apache.kafka.connect.data.Decimal"),
        FieldSpec(name="wide", type="decimal(38,4)",
                  logical="org.apache.kafka.connect.data.Decimal"),
    ]
    values = [
        ("AA==", "AA=="),                          # 0
        ("MDk=", "GiSbHxCgbJav8g=="),              # 12345; 123456789012345678901234 (10 bytes)
        ("/zg=", "5dtk4O9fk2lQDg=="),              # -200;  -123456789012345678901234
        ("/w==", "/4AAAAAAAAAA"),                  # -1;    -2^63, sign-extended to 9 bytes
        ("AIA=", "SztMqFqGxHoJiiI//////w=="),      # 128;   10^38 - 1 (16 bytes)
        ("/4A=", "tMSzV6V5O4X2dd3AAAAAAQ=="),      # -128;  -(10^38 - 1)
        ("f/////////8=", "AIAAAAAAAAAA"),          # 2^63 - 1 (overflows 12,2); 2^63
    ]
    records = kafka(spark, *[
        (None, change("c", after=f'{{"id": {i}, "amount": "{a}", "wide": "{w}"}}'))
        for i, (a, w) in enumerate(values)])

    actual = decode(records, fields, ("id",)).select("_row.*")

    expected = rows_frame(spark, [
        (0, Decimal("0.00"), Decimal("0.0000")),
        (1, Decimal("123.45"), Decimal("12345678901234567890.1234")),
        (2, Decimal("-2.00"), Decimal("-12345678901234567890.1234")),
        (3, Decimal("-0.01"), Decimal("-922337203685477.5808")),
        (4, Decimal("1.28"), Decimal("9999999999999999999999999999999999.9999")),
        (5, Decimal("-1.28"), Decimal("-9999999999999999999999999999999999.9999")),
        (6, None, Decimal("922337203685477.5808")),
    ], "id int, amount decimal(12,2), wide decimal(38,4)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_column_named_params_beside_a_connect_decimal_decodes_as_itself(spark):
    # the decoder's working columns are named after the fields: a field named "params" must not
    # take the place of the decimals' scale parameters (or they its)
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="params", type="string"),
        FieldSpec(name="amount", type="decimal(12,2)",
                  logical="org.apache.kafka.connect.data.Decimal"),
    ]
    value = ('{"type": "struct", "optional": true, "name": "shop.dbo.t.Value", "fields": ['
             '{"type": "int32", "optional": false, "field": "id"}, '
             '{"type": "string", "optional": true, "field": "params"}, '
             '{"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",'
             ' "version": 1, "parameters": {"scale": "2"}, "field": "amount"}]')
    schema = ('{"type": "struct", "optional": false, "name": "shop.dbo.t.Envelope", "fields": ['
              f'{value}, "field": "before"}}, {value}, "field": "after"}}, '
              '{"type": "string", "optional": false, "field": "op"}]}')
    after = '{"id": 1, "params": "utm=mail", "amount": "MDk="}'  # 12345 at scale 2
    records = kafka(spark, (None, wrapped(change("c", after=after), schema)),
                    (None, change("c", after=after)))

    actual = decode(records, fields, ("id",)).select("offset", "_row.*", "_error")

    expected = rows_frame(spark,
        [(0, 1, "utm=mail", Decimal("123.45"), None), (1, 1, "utm=mail", Decimal("123.45"), None)],
        "offset bigint, id int, params string, amount decimal(12,2), _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_connect_decimal_scale_comes_from_the_record_schema_when_wrapped(spark):
    fields = [FieldSpec(name="order_id", type="bigint", nullable=False),
              FieldSpec(name="order_total", type="decimal(12,4)",
                        logical="org.apache.kafka.connect.data.Decimal")]
    after = '{"order_id": 1, "order_total": "MDk="}'  # 12345; the record schema says scale 2
    records = kafka(spark, (None, wrapped(change("c", after=after))),
                    (None, change("c", after=after)))

    actual = decode(records, fields).select("offset", "_row.order_total")

    expected = rows_frame(spark, [(0, Decimal("123.4500")), (1, Decimal("1.2345"))],
                                     "offset bigint, order_total decimal(12,4)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_variable_scale_decimal_takes_the_scale_of_each_value(spark):
    fields = [FieldSpec(name="id", type="int", nullable=False),
              FieldSpec(name="ratio", type="decimal(10,3)",
                        logical="io.debezium.data.VariableScaleDecimal")]
    records = kafka(spark, *[
        (None, change("c", after=f'{{"id": {i}, "ratio": {ratio}}}')) for i, ratio in enumerate([
            '{"scale": 2, "value": "MDk="}',    # 123.45
            '{"scale": 0, "value": "/zg="}',    # -200
            '{"scale": 3, "value": "AQ=="}',    # 0.001
        ])])

    actual = decode(records, fields, ("id",)).select("_row.*", "_error")

    expected = rows_frame(spark, [(0, Decimal("123.450"), None),
                                      (1, Decimal("-200.000"), None),
                                      (2, Decimal("0.001"), None)],
                                     "id int, ratio decimal(10,3), _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_plain_json_values_are_cast_to_their_declared_types(spark):
    fields = [
        FieldSpec(name="id", type="int", nullable=False),
        FieldSpec(name="big", type="bigint"),
        FieldSpec(name="ratio", type="double"),
        FieldSpec(name="price_text", type="decimal(12,2)"),  # decimal.handling.mode=string
        FieldSpec(name="price_number", type="decimal(12,2)"),
        FieldSpec(name="active", type="boolean"),
        FieldSpec(name="day", type="date"),
        FieldSpec(name="at", type="timestamp"),
        FieldSpec(name="code", type="string"),
        FieldSpec(name="blob", type="binary"),  # the JsonConverter writes bytes as base64
    ]
    records = kafka(spark, (None, change("c", after=(
        '{"id": 1, "big": 9223372036854775807, "ratio": 0.25, "price_text": "1234.56", '
        '"price_number": 1234.5, "active": true, "day": "2024-01-15", '
        '"at": "2024-01-15T12:15:30.5+02:00", "code": 42, "blob": "AQID"}'))))

    actual = decode(records, fields, ("id",)).select("_row.*", "_error")

    expected = rows_frame(spark, [
        (1, 9223372036854775807, 0.25, Decimal("1234.56"), Decimal("1234.50"), True,
         date(2024, 1, 15), datetime(2024, 1, 15, 10, 15, 30, 500000), "42",
         bytearray(b"\x01\x02\x03"), None),
    ], "id int, big bigint, ratio double, price_text decimal(12,2), price_number decimal(12,2), "
       "active boolean, day date, at timestamp, code string, blob binary, _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_sql_server_source_metadata_and_commit_position(spark):
    snapshot = ('{"connector": "sqlserver", "name": "retail", "ts_ms": 1705313000000, '
                '"snapshot": "true", "db": "retail", "schema": "dbo", "table": "orders", '
                '"change_lsn": null, "commit_lsn": "00000027:00000720:0001"}')
    records = kafka(spark, (None, change("r", after=OLD, source=snapshot)),
                    (None, change("c", after=NEW)))

    actual = decode(records).select("offset", "_source", "_ts_ms", "_commit_position")

    source = T.StructType([T.StructField(name, T.LongType() if name == "ts_ms"
                                         else T.StringType())
                           for name in ("connector", "name", "db", "schema", "table", "ts_ms",
                                        "snapshot", "lsn", "change_lsn", "commit_lsn",
                                        "event_serial_no", "file", "pos", "row", "scn",
                                        "commit_scn")])
    expected = rows_frame(spark, [
        (0, ("sqlserver", "retail", "retail", "dbo", "orders", 1705313000000, "true", None, None,
             "00000027:00000720:0001", None, None, None, None, None, None), 1705313731000,
         "00000027:00000720:0001||0000000000000000000"),
        (1, ("sqlserver", "retail", "retail", "dbo", "orders", 1705313730000, "false", None,
             "00000027:00000758:0003", "00000027:00000758:0005", "1", None, None, None, None,
             None), 1705313731000,
         "00000027:00000758:0005|00000027:00000758:0003|0000000000000000001"),
    ], T.StructType([T.StructField("offset", T.LongType()), T.StructField("_source", source),
                     T.StructField("_ts_ms", T.LongType()),
                     T.StructField("_commit_position", T.StringType())]))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_sql_server_commit_position_sorts_by_commit_then_change_then_serial(spark):
    def source(commit: str, change_lsn: str, serial: int) -> str:
        return (f'{{"connector": "sqlserver", "commit_lsn": "{commit}", '
                f'"change_lsn": "{change_lsn}", "event_serial_no": {serial}}}')

    # offsets in the order the changes were committed; the input lists them shuffled
    records = kafka(spark,
                    (None, change("u", NEW, PAID, source("0000002a:00000010:0002",
                                                          "0000002a:00000008:0001", 1))),
                    (None, change("c", after=NEW, source=source("00000027:00000758:0005",
                                                                 "00000027:00000758:0003", 2))),
                    (None, change("u", NEW, PAID, source("0000002a:00000010:0002",
                                                          "00000029:000000ff:0001", 1))),
                    (None, change("c", after=NEW, source=source("00000027:00000758:0005",
                                                                 "00000027:00000758:0003", 10))),
                    (None, change("c", after=NEW, source=source("00000027:00000758:0005",
                                                                 "00000027:00000758:0003", 1))))

    in_order = [r.offset for r in decode(records).orderBy("_commit_position").collect()]

    assert in_order == [4, 1, 3, 2, 0]


def test_postgres_commit_position_is_the_lsn_zero_padded_to_sort_as_a_number(spark):
    records = kafka(spark, (None, change("c", after=NEW, source='{"lsn": 24023128}')),
                    (None, change("c", after=NEW, source='{"lsn": 999}')))

    actual = decode(records).select("offset", "_commit_position")

    expected = rows_frame(spark, [(0, "00000000000024023128"), (1, "00000000000000000999")],
                                     "offset bigint, _commit_position string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_mysql_commit_position_is_the_binlog_file_position_and_row_zero_padded(spark):
    def source(file: str, pos: int, row: int) -> str:
        return (f'{{"connector": "mysql", "ts_ms": 1705313730000, "file": "{file}", '
                f'"pos": {pos}, "row": {row}}}')

    # two rows of one binlog event (one millisecond), a later event, a later binlog file
    records = kafka(spark, (None, change("c", after=NEW, source=source("binlog.000003", 1000, 0))),
                    (None, change("u", NEW, PAID, source("binlog.000003", 1000, 1))),
                    (None, change("u", NEW, PAID, source("binlog.000003", 999999, 0))),
                    (None, change("u", NEW, PAID, source("binlog.000004", 4, 0))))

    actual = decode(records).select("offset", "_commit_position")

    expected = rows_frame(spark, [
        (0, "binlog.000003|00000000000000001000|0000000000"),
        (1, "binlog.000003|00000000000000001000|0000000001"),
        (2, "binlog.000003|00000000000000999999|0000000000"),
        (3, "binlog.000004|00000000000000000004|0000000000"),
    ], "offset bigint, _commit_position string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_oracle_commit_position_is_the_commit_scn_then_the_scn_zero_padded(spark):
    records = kafka(spark,
                    (None, change("r", after=OLD, source='{"connector": "oracle", "scn": "900"}')),
                    (None, change("c", after=NEW, source='{"connector": "oracle", '
                                                         '"scn": "1001", "commit_scn": "1005"}')),
                    (None, change("u", NEW, PAID, source='{"connector": "oracle", '
                                                         '"scn": "1003", "commit_scn": "1005"}')))

    actual = decode(records).select("offset", "_commit_position")

    expected = rows_frame(spark, [
        (0, "00000000000000000000|00000000000000000900"),
        (1, "00000000000000001005|00000000000000001001"),
        (2, "00000000000000001005|00000000000000001003"),
    ], "offset bigint, _commit_position string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_records_that_are_not_debezium_change_events_are_undecodable(spark):
    records = kafka(spark, (None, "not json"), (None, "[1, 2]"), (None, '{"order_id": 1}'),
                    (None, change("x", after=NEW)), (None, change("c")),
                    (None, change("d", after=NEW)), (None, wrapped('{"after": null}')))

    actual = decode(records).select("offset", "_op", "_error", "_error_detail")

    no_op = "not a Debezium change event: no op"
    expected = rows_frame(spark, [
        (0, None, "undecodable", no_op),
        (1, None, "undecodable", no_op),
        (2, None, "undecodable", no_op),
        (3, None, "undecodable", "unknown op 'x'"),
        (4, None, "undecodable", "op 'c' without after image"),
        (5, None, "undecodable", "op 'd' without before image"),
        (6, None, "undecodable", no_op),
    ], ERRORS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_undecodable_records_have_no_decoded_columns(spark):
    records = kafka(spark, (None, change("x", after=NEW)))

    actual = decode(records).select("_row", "_before", "_source", "_ts_ms", "_commit_position")

    assert actual.collect() == [(None, None, None, None, None)]


def test_a_present_value_that_does_not_decode_is_a_contract_violation_not_a_null(spark):
    fields = [*ORDER_FIELDS, FieldSpec(name="quantity", type="int")]
    records = kafka(spark, (None, change("c", after=(
        '{"order_id": 1, "order_total": "abc", "quantity": 1.5, "ordered_at": "soon"}'))),
        (None, change("u", before='{"order_id": 2, "quantity": "many"}',
                      after='{"order_id": 2, "quantity": 3}')))

    actual = decode(records, fields).select(
        "offset", "_op", "_row.order_total", "_row.quantity", "_error", "_error_detail")

    expected = rows_frame(spark, [
        (0, "c", None, None, "contract_violation",
         ("order_total: cannot decode 'abc' as decimal(12,2) (Decimal); "
          "ordered_at: cannot decode 'soon' as timestamp (MicroTimestamp); "
          "quantity: cannot decode '1.5' as int")),
        (1, "u", None, 3, "contract_violation", "before.quantity: cannot decode 'many' as int"),
    ], "offset bigint, _op string, order_total decimal(12,2), quantity int, _error string, "
       "_error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_non_nullable_field_null_or_missing_is_a_contract_violation(spark):
    fields = [*ORDER_FIELDS, FieldSpec(name="currency", type="string", nullable=False)]
    records = kafka(spark,
                    (None, change("c", after='{"order_id": 1, "currency": null}')),
                    (None, change("c", after='{"order_id": 2}')),
                    ('{"order_id": 3}', None))  # a tombstone carries only its key

    actual = decode(records, fields).select("offset", "_op", "_error", "_error_detail")

    expected = rows_frame(spark, [
        (0, "c", "contract_violation", "currency: missing, not nullable"),
        (1, "c", "contract_violation", "currency: missing, not nullable"),
        (2, "t", None, None),
    ], ERRORS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_null_key_field_or_an_unreadable_tombstone_key_is_a_missing_key(spark):
    records = kafka(spark, (None, change("c", after='{"order_id": null, "status": "new"}')),
                    (None, change("d", before='{"status": "void"}')),
                    ("not json", None), (None, None), ('{"customer_id": 3}', None))

    actual = decode(records).select("offset", "_op", "_error", "_error_detail")

    missing = "order_id: key is missing"
    expected = rows_frame(spark, [
        (0, "c", "missing_key", missing),
        (1, "d", "missing_key", missing),
        (2, "t", "missing_key", missing),
        (3, "t", "missing_key", missing),
        (4, "t", "missing_key", missing),
    ], ERRORS)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_every_record_gives_exactly_one_row_with_its_kafka_columns(spark):
    good = change("c", after=NEW)
    records = kafka(spark, (None, good), (None, good), ('{"order_id": 1}', None),
                    (None, "not json"), (None, change("c", after='{"status": "new"}')),
                    (None, change("c", after='{"order_id": "x"}')), (None, ""))

    actual = decode(records).select("topic", "partition", "offset", "_op", "_error")

    expected = rows_frame(spark, [
        ("retail.order.cdc", 0, 0, "c", None),
        ("retail.order.cdc", 0, 1, "c", None),
        ("retail.order.cdc", 0, 2, "t", None),
        ("retail.order.cdc", 0, 3, None, "undecodable"),
        ("retail.order.cdc", 0, 4, "c", "missing_key"),
        ("retail.order.cdc", 0, 5, "c", "contract_violation"),
        ("retail.order.cdc", 0, 6, None, "undecodable"),
    ], "topic string, partition int, offset bigint, _op string, _error string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("field", [
    FieldSpec(name="ordered_at", type="date", logical="io.debezium.time.MicroTimestamp"),
    FieldSpec(name="opens_at", type="timestamp", logical="io.debezium.time.MicroTime"),
    FieldSpec(name="total", type="double", logical="org.apache.kafka.connect.data.Decimal"),
])
def test_a_logical_type_that_cannot_decode_to_the_declared_type_is_refused(field):
    with pytest.raises(ConfigError, match=f"'{field.name}'"):
        decode_debezium([field])


def test_key_fields_must_be_declared_fields():
    with pytest.raises(ConfigError, match="customer_id"):
        decode_debezium(ORDER_FIELDS, key_fields=["customer_id"])
