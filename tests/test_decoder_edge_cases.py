"""Decoded values that once landed wrong. A time of day alone, read as a timestamp, took
the date of the day it was decoded; a payload naming a key twice passed its signature though
its landed text kept a value the signature never covered; an envelope whose context was a
string landed without its identifiers, and one whose payload was no JSON object landed unchecked;
a boolean field took "yes", "y", "t" or "1" as true."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from chispa import assert_df_equality
from streaming_records import envelope, kafka_frame, signature

from lakejobs.local_rows import rows_frame
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
# JSON booleans, their text in any case, and the texts Spark's cast would also take as booleans
BOOLEANS = ["true", "false", '"true"', '"FALSE"', '"yes"', '"y"', '"t"', '"1"', "1", '" true"']
BOOLEAN_RESULT = "offset bigint, active boolean, _error string, _error_detail string"


def expected_booleans(spark):
    """The decoded rows of the :data:`BOOLEANS` values, one per offset."""
    def refused(text: str) -> tuple:
        return (None, "contract_violation", f"active: cannot decode '{text}' as boolean")

    return rows_frame(spark, [
        (0, True, None, None), (1, False, None, None), (2, True, None, None),
        (3, False, None, None), (4, *refused("yes")), (5, *refused("y")), (6, *refused("t")),
        (7, *refused("1")), (8, *refused("1")), (9, *refused(" true")),
    ], BOOLEAN_RESULT)


def with_context(request_id: str, context: object) -> bytes:
    """A signed page_view envelope whose ``context`` is ``context`` (any JSON value)."""
    body = json.loads(envelope("page_view", 1, request_id, {"page_url": "/"}))
    body["context"] = context
    return json.dumps(body).encode("utf-8")


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

    expected = rows_frame(spark, [
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

    expected = rows_frame(spark, [
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

    expected = rows_frame(spark, [
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
    expected = rows_frame(spark, [(0, None, None), (1, "bad_signature", bad),
                                      (2, "bad_signature", bad)], RESULT)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_envelope_whose_context_is_not_an_object_is_a_contract_violation(spark):
    identifiers = {"user_id": "u-1", "anon_id": "a-1", "session_id": "s-1"}
    records = kafka_frame(spark, [
        ("web.events", 0, with_context("r-0", {**identifiers, "device": {"ua_hash": "d-1"}})),
        ("web.events", 1, with_context("r-1", "u-1")),
        ("web.events", 2, with_context("r-2", json.dumps(identifiers))),  # an object's text
        ("web.events", 3, with_context("r-3", 42)),
        ("web.events", 4, with_context("r-4", [identifiers])),
        ("web.events", 5, with_context("r-5", {**identifiers, "device": "d-1"})),
    ])

    actual = records.transform(decode_envelope(ROUTES)).select(
        "offset", "_row.user_id", "_row.anon_id", "_row.session_id", "_error", "_error_detail")

    not_an_object = ("contract_violation", "context: expected a JSON object")
    expected = rows_frame(spark, [
        (0, "u-1", "a-1", "s-1", None, None),
        (1, None, None, None, *not_an_object),
        (2, None, None, None, *not_an_object),
        (3, None, None, None, *not_an_object),
        (4, None, None, None, *not_an_object),
        (5, None, None, None, "contract_violation", "context.device: expected a JSON object"),
    ], "offset bigint, user_id string, anon_id string, session_id string, _error string, "
       "_error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_envelope_whose_payload_is_not_an_object_is_a_contract_violation(spark):
    # no field of this route is required: a payload Spark reads as no object at all gave every
    # field null and landed unchecked (a JSON string as its bare content, no JSON text)
    route = {**PAGE_VIEW, "columns": [{"name": "page_url", "type": "string"},
                                      {"name": "n", "type": "int"}]}
    routes = Manifest.model_validate({"routes": [route]}).routes
    payloads = [{"page_url": "/", "n": 1}, "hello", 5, True, [{"n": "not a number"}],
                json.dumps({"page_url": "/x"}), {}]
    records = kafka_frame(spark, [
        ("web.events", offset, envelope("page_view", 1, f"r-{offset}", payload))
        for offset, payload in enumerate(payloads)])

    actual = records.transform(decode_envelope(routes)).select(
        "offset", "_row.payload", "_error", "_error_detail")

    def refused(kind: str) -> tuple:
        return None, "contract_violation", f"payload: {kind}: expected a JSON object"

    expected = rows_frame(spark, [
        (0, '{"page_url":"/","n":1}', None, None), (1, *refused("a JSON string")),
        (2, *refused("a JSON number")), (3, *refused("a JSON boolean")),
        (4, *refused("a JSON array")), (5, *refused("a JSON string")), (6, "{}", None, None),
    ], "offset bigint, payload string, _error string, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_envelope_whose_meta_is_not_an_object_is_undecodable_not_landed(spark):
    def with_meta(meta: object) -> bytes:
        body = json.loads(envelope("page_view", 1, "r-1", {"page_url": "/"}))
        body["meta"] = meta
        return json.dumps(body).encode("utf-8")

    meta = json.loads(envelope("page_view", 1, "r-1", {"page_url": "/"}))["meta"]
    records = kafka_frame(spark, [("web.events", 0, with_meta(meta)),
                                  ("web.events", 1, with_meta(json.dumps(meta))),
                                  ("web.events", 2, with_meta([meta])),
                                  ("web.events", 3, with_meta(7))])

    actual = records.transform(decode_envelope(ROUTES)).select("offset", "_error",
                                                                "_error_detail")

    undecodable = ("undecodable", "not a JSON envelope with meta")
    expected = rows_frame(spark, [(0, None, None), (1, *undecodable), (2, *undecodable),
                                      (3, *undecodable)], RESULT)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


PLAIN_FLAG = '{{"id": {offset}, "active": {value}}}'
DEBEZIUM_FLAG = ('{{"before": null, "after": {{"id": {offset}, "active": {value}}}, "op": "c", '
                 '"source": {{"connector": "postgresql", "lsn": 1}}}}')


@pytest.mark.parametrize(("decode", "template"), [
    (decode_json, PLAIN_FLAG), (decode_debezium, DEBEZIUM_FLAG)], ids=["json", "debezium"])
def test_a_boolean_takes_true_or_false_only(spark, decode, template):
    fields = [FieldSpec(name="id", type="int", nullable=False),
              FieldSpec(name="active", type="boolean")]
    records = kafka_frame(spark, [
        ("cdc", offset, template.format(offset=offset, value=value).encode())
        for offset, value in enumerate(BOOLEANS)])

    actual = records.transform(decode(fields, ("id",))).select(
        "offset", "_row.active", "_error", "_error_detail")

    assert_df_equality(actual, expected_booleans(spark), ignore_row_order=True,
                       ignore_nullable=True)


def test_an_envelope_payload_boolean_takes_true_or_false_only(spark):
    route = {**PAGE_VIEW, "columns": [*PAGE_VIEW["columns"],
                                      {"name": "active", "type": "boolean"}]}
    routes = Manifest.model_validate({"routes": [route]}).routes
    records = kafka_frame(spark, [
        ("web.events", offset, envelope("page_view", 1, f"r-{offset}",
                                        {"page_url": "/", "active": json.loads(value)}))
        for offset, value in enumerate(BOOLEANS)])

    actual = records.transform(decode_envelope(routes)).select("offset", "_error",
                                                                "_error_detail")

    # the payload lands as its JSON text: only whether the record lands is decided here
    expected = expected_booleans(spark).drop("active")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
