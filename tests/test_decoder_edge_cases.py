"""Decoded values that once landed wrong. A time of day alone, read as a timestamp, took
the date of the day it was decoded; a payload naming a key twice passed its signature though
its landed text kept a value the signature never covered."""

from __future__ import annotations

import json
from datetime import datetime

from chispa import assert_df_equality
from streaming_records import envelope, kafka_frame, signature

from lakejobs.streaming.debezium import decode_debezium
from lakejobs.streaming.envelope import decode_envelope
from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.manifest import Manifest
from lakejobs.streaming.plain_json import decode_json

PAGE_VIEW = {"name": "page_view_v1", "format": "envelope", "topics": ["web.events"],
             "event": "page_view", "version": 1, "target": "events",
             "columns": [{"name": "page_url", "type": "string", "nullable": False}]}
ROUTES = Manifest.model_validate({"routes": [PAGE_VIEW]}).routes
RESULT = "offset bigint, _error string, _error_detail string"


def test_a_debezium_timestamp_without_a_date_is_a_contract_violation_not_today(spark):
    fields = [FieldSpec(name="id", type="int", nullable=False),
              FieldSpec(name="zoned", type="timestamp", logical="io.debezium.time.ZonedTimestamp"),
              FieldSpec(name="at", type="timestamp")]

    def change(after: str) -> bytes:
        return (f'{{"before": null, "after": {after}, "op": "c", '
                f'"source": {{"connector": "postgresql", "lsn": 1}}}}').encode()

    records = kafka_frame(spark, [
        ("cdc", 0, change('{"id": 0, "zoned": "2024-01-15T12:15:30+02:00", '
                          '"at": " 2024-01-15 10:15:30"}')),
        ("cdc", 1, change('{"id": 1, "zoned": "10:15:30Z"}')),
        ("cdc", 2, change('{"id": 2, "at": "10:15:30"}')),
        ("cdc", 3, change('{"id": 3, "at": "T10:15:30Z"}')),
    ])

    actual = records.transform(decode_debezium(fields, ("id",))).select(
        "offset", "_row.zoned", "_row.at", "_error", "_error_detail")

    expected = spark.createDataFrame([
        (0, datetime(2024, 1, 15, 10, 15, 30), datetime(2024, 1, 15, 10, 15, 30), None, None),
        (1, None, None, "contract_violation",
         "zoned: cannot decode '10:15:30Z' as timestamp (ZonedTimestamp)"),
        (2, None, None, "contract_violation", "at: cannot decode '10:15:30' as timestamp"),
        (3, None, None, "contract_violation", "at: cannot decode 'T10:15:30Z' as timestamp"),
    ], "offset bigint, zoned timestamp, at timestamp, _error string, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_plain_json_timestamp_without_a_date_is_a_contract_violation_not_today(spark):
    fields = [FieldSpec(name="id", type="int", nullable=False),
              FieldSpec(name="at", type="timestamp")]
    records = kafka_frame(spark, [("shop.orders", 0, b'{"id": 0, "at": "2024-01-15T10:15:30Z"}'),
                                  ("shop.orders", 1, b'{"id": 1, "at": "10:15:30"}')])

    actual = records.transform(decode_json(fields, ("id",))).select(
        "offset", "_row.at", "_error", "_error_detail")

    expected = spark.createDataFrame([
        (0, datetime(2024, 1, 15, 10, 15, 30), None, None),
        (1, None, "contract_violation", "at: cannot decode '10:15:30' as timestamp"),
    ], "offset bigint, at timestamp, _error string, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_envelope_occurred_at_without_a_date_is_a_contract_violation_not_today(spark):
    records = kafka_frame(spark, [
        ("web.events", 0, envelope("page_view", 1, "r-0", {"page_url": "/"})),
        ("web.events", 1, envelope("page_view", 1, "r-1", {"page_url": "/"},
                                   occurred_at="09:59:00Z")),
    ])

    actual = records.transform(decode_envelope(ROUTES)).select("offset", "_error",
                                                                "_error_detail")

    expected = spark.createDataFrame([
        (0, None, None),
        (1, "contract_violation", "meta.occurred_at: cannot decode '09:59:00Z'"),
    ], RESULT)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_payload_naming_a_key_twice_has_no_canonical_form_and_is_a_bad_signature(spark):
    signed = {"page_url": "/home", "tags": {"a": 1}}
    meta = json.dumps({"event": "page_view", "v": 1, "request_id": "r-1",
                       "occurred_at": "2026-11-25T09:59:00Z", "signature": signature(signed)})
    records = kafka_frame(spark, [
        ("web.events", 0, envelope("page_view", 1, "r-0", signed)),
        # Python keeps a repeated key's last value: the signature matched, and the landed text
        # held "/evil", never signed
        ("web.events", 1, ('{"meta": %s, "payload": {"page_url": "/evil", "page_url": "/home", '
                           '"tags": {"a": 1}}}' % meta).encode()),
        ("web.events", 2, ('{"meta": %s, "payload": {"page_url": "/home", '
                           '"tags": {"a": 2, "a": 1}}}' % meta).encode()),
    ])

    actual = records.transform(decode_envelope(ROUTES)).select("offset", "_error",
                                                                "_error_detail")

    bad = "signature does not match the canonical payload"
    expected = spark.createDataFrame([(0, None, None), (1, "bad_signature", bad),
                                      (2, "bad_signature", bad)], RESULT)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
