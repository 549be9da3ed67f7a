"""Streaming: lag of future event times, JSON numbers, objects and arrays given for string
columns, date event times and lateness, the starting offsets spec, envelope ids that are not
strings."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from streaming_records import envelope, kafka_frame

from lakejobs.config import settings_from_mapping
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.resources import resolve_location
from lakejobs.streaming.debezium import decode_debezium
from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.kafka_source import source_options
from lakejobs.streaming.manifest import Manifest, load_manifest
from lakejobs.streaming.metrics import BatchMetrics
from lakejobs.streaming.msk_to_landing import LandingSink

EVENTS = "analytics.events"
INGESTED = datetime(2026, 11, 25, 10, 30, 0)
PAGE = {"page_url": "/home", "referrer": None}


def sink(spark: SparkSession, lake_root: Path, manifest: Manifest, **streaming: object
         ) -> LandingSink:
    settings = settings_from_mapping({"lake": {"root": str(lake_root)}, "streaming": streaming},
                                     source="test", env="dev", environ={})
    return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1")


def envelope_sink(spark: SparkSession, lake_root: Path, **streaming: object) -> LandingSink:
    bundled = load_manifest(resolve_location("conf/streaming/manifest.yaml"))
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))
    return sink(spark, lake_root, manifest, **streaming)


def json_sink(spark: SparkSession, lake_root: Path, route: dict, **streaming: object
              ) -> LandingSink:
    return sink(spark, lake_root, Manifest.model_validate({"routes": [route]}), **streaming)


def landed(spark: SparkSession, lake_root: Path, table: str) -> DataFrame:
    return spark.read.format("delta").load(str(lake_root / "landing" / table))


def quarantined(spark: SparkSession, lake_root: Path) -> DataFrame:
    return spark.read.format("delta").load(str(lake_root / "quarantine" / "kafka_quarantine"))


def assert_conserved(metrics: BatchMetrics) -> None:
    assert metrics.records_in == metrics.landed + metrics.quarantined + metrics.duplicates


# ------------------------------------------------------------------ 1. lag of future event times

def test_a_future_event_time_counts_as_no_lag_in_the_batch_percentiles(
    spark: SparkSession, lake_root: Path
) -> None:
    """A producer whose clock runs ahead sends event times after ``_ingested_at``: its lag is 0,
    not negative, or two such records would pull the batch's p50 two hours below zero."""
    landing = envelope_sink(spark, lake_root)
    records = kafka_frame(spark, [
        (EVENTS, 0, envelope("page_view", 1, "r-1", PAGE, occurred_at="2026-11-25T10:00:00Z")),
        (EVENTS, 1, envelope("page_view", 1, "r-2", PAGE, occurred_at="2026-11-25T12:30:00Z")),
        (EVENTS, 2, envelope("page_view", 1, "r-3", PAGE, occurred_at="2026-11-25T12:30:00Z")),
    ])

    metrics = landing.process(records, 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.records_in, metrics.landed) == (3, 3)
    assert (metrics.lag_p50_s, metrics.lag_p95_s) == (0.0, 1800.0)


# ------------------------------------------------------ 2. JSON numbers given for string columns

CODES = {"name": "codes", "format": "json", "topics": ["shop.codes"], "target": "codes",
         "key": ["id"], "columns": [{"name": "id", "type": "bigint", "nullable": False},
                                    {"name": "code", "type": "string"}]}


def test_a_json_number_with_a_fraction_or_exponent_for_a_string_column_is_a_violation(
    spark: SparkSession, lake_root: Path
) -> None:
    """Spark reads a JSON number for a string column through a double and lands its rewrite
    (1.50 as "1.5", 1E3 as "1000.0"): refused, never silently changed. A string that reads like
    a number, an integer (its digits are copied as sent) and "NaN" as a string land as sent."""
    landing = json_sink(spark, lake_root, CODES)
    values = ['{"id": 1, "code": 1.50}', '{"id": 2, "code": 1E3}', '{"id": 3, "code": "1.50"}',
              '{"id": 4, "code": 42}', '{"id": 5, "code": "NaN"}', '{"id": 6, "code": 1e400}',
              '{"id": 7, "code": "1000.0"}', '{"id": 8, "code": 12345678901234567890123}']
    records = kafka_frame(spark, [("shop.codes", i, v.encode()) for i, v in enumerate(values)])

    metrics = landing.process(records, 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.quarantined_by_reason) == (5, {"contract_violation": 3})
    expected = rows_frame(spark,
        [(3, "1.50"), (4, "42"), (5, "NaN"), (7, "1000.0"), (8, "12345678901234567890123")],
        "id bigint, code string")
    assert_df_equality(landed(spark, lake_root, "codes").select("id", "code"), expected,
                       ignore_row_order=True, ignore_nullable=True)
    refused = quarantined(spark, lake_root).select("offset", "reason")
    assert_df_equality(refused, rows_frame(spark,
        [(0, "contract_violation"), (1, "contract_violation"), (5, "contract_violation")],
        "offset long, reason string"), ignore_row_order=True, ignore_nullable=True)


def test_the_violation_of_a_rewritten_number_names_the_column_and_what_was_expected(
    spark: SparkSession, lake_root: Path
) -> None:
    landing = json_sink(spark, lake_root, CODES)
    records = kafka_frame(spark, [("shop.codes", 0, b'{"id": 1, "code": 1.50}')])

    metrics = landing.process(records, 0, INGESTED)

    assert_conserved(metrics)
    detail = quarantined(spark, lake_root).select("detail")
    assert_df_equality(detail, rows_frame(spark,
        [("code: a JSON number with a fraction or an exponent (Spark's text of it: '1.5'): "
          "expected a JSON string or an integer",)], "detail string"), ignore_nullable=True)


def test_a_json_object_or_array_for_a_string_column_lands_as_sparks_compact_text_of_it(
    spark: SparkSession, lake_root: Path
) -> None:
    """What the README states: nested numbers are read through a double (``1.50`` as ``1.5``,
    digits past the 17th lost, ``1e400`` as the string ``"Infinity"``); integers, strings and
    key order are kept, spaces dropped. Nothing in that text tells a rewrite from what was sent,
    so it lands (with a number standing alone, it is refused: the test above)."""
    landing = json_sink(spark, lake_root, CODES)
    values = ['{"id": 1, "code": {"b": 1.50, "a": [42, "x y", true, null]}}',
              '{"id": 2, "code": [12345678901234567890.123, 1e400, 12345678901234567890123]}']
    records = kafka_frame(spark, [("shop.codes", i, v.encode()) for i, v in enumerate(values)])

    metrics = landing.process(records, 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.quarantined) == (2, 0)
    expected = rows_frame(spark,
        [(1, '{"b":1.5,"a":[42,"x y",true,null]}'),
         (2, '[1.2345678901234567E19,"Infinity",12345678901234567890123]')],
        "id bigint, code string")
    assert_df_equality(landed(spark, lake_root, "codes").select("id", "code"), expected,
                       ignore_row_order=True, ignore_nullable=True)


STATUS_FIELDS = [FieldSpec(name="id", type="bigint", nullable=False),
                 FieldSpec(name="status", type="string")]


def debezium_records(spark: SparkSession, *values: str) -> DataFrame:
    return rows_frame(spark,
        [(None, bytearray(v.encode()), "retail.order.cdc", 0, offset)
         for offset, v in enumerate(values)],
        "key binary, value binary, topic string, partition int, offset long")


def change(op: str, before: str = "null", after: str = "null") -> str:
    return (f'{{"before": {before}, "after": {after}, "source": {{"table": "orders"}}, '
            f'"op": "{op}", "ts_ms": 1705313731000}}')


def test_a_debezium_number_with_a_fraction_for_a_string_column_is_a_violation(
    spark: SparkSession
) -> None:
    """Plain and wrapped change events, after and before images alike."""
    records = debezium_records(
        spark,
        change("c", after='{"id": 1, "status": 1.50}'),
        '{"schema": {}, "payload": ' + change("c", after='{"id": 2, "status": 1E3}') + "}",
        change("u", before='{"id": 3, "status": 2.5}', after='{"id": 3, "status": "2.50"}'),
        change("c", after='{"id": 4, "status": "1.50"}'),
        change("c", after='{"id": 5, "status": 7}'),
    )

    decoded = records.transform(decode_debezium(STATUS_FIELDS, key_fields=("id",)))

    actual = decoded.select("offset", F.col("_row.status").alias("status"), "_error",
                            "_error_detail")
    rewritten = ("status: cannot decode '{}' as string (a JSON number with a fraction or an "
                 "exponent, which Spark rewrites: expected a JSON string or an integer)")
    expected = rows_frame(spark, [
        (0, None, "contract_violation", rewritten.format("1.5")),
        (1, None, "contract_violation", rewritten.format("1000.0")),
        (2, "2.50", "contract_violation", "before." + rewritten.format("2.5")),
        (3, "1.50", None, None),
        (4, "7", None, None),
    ], "offset long, status string, _error string, _error_detail string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_envelope_payload_number_with_a_fraction_for_a_string_field_is_a_violation(
    spark: SparkSession, lake_root: Path
) -> None:
    """The payload is checked against its route: a string field sent as 1.50 would be read as
    "1.5". The SDK signed the payload's canonical form (1.50 is 1.5 there), so the signature
    holds and the contract is what refuses it."""
    landing = envelope_sink(spark, lake_root)
    fraction = envelope("page_view", 1, "r-1", {"page_url": 1.5}).replace(b"1.5", b"1.50")
    records = kafka_frame(spark, [
        (EVENTS, 0, fraction),
        (EVENTS, 1, envelope("page_view", 1, "r-2", {"page_url": "1.50"})),
    ])

    metrics = landing.process(records, 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.quarantined_by_reason) == (1, {"contract_violation": 1})
    assert_df_equality(
        landed(spark, lake_root, "events").select("event_id", "payload"),
        rows_frame(spark, [("r-2", '{"page_url":"1.50"}')], "event_id string, payload string"),
        ignore_nullable=True)


# ------------------------------------------------------------------- 3. date event times, late

def dated_route(**route: object) -> dict:
    return {"name": "visits", "format": "json", "topics": ["shop.visits"], "target": "visits",
            "key": ["id"], "event_time": "visit_day",
            "columns": [{"name": "id", "type": "bigint", "nullable": False},
                        {"name": "visit_day", "type": "date"}], **route}


def visits(spark: SparkSession, *days: str) -> DataFrame:
    return kafka_frame(spark, [
        ("shop.visits", i, json.dumps({"id": i, "visit_day": day}).encode())
        for i, day in enumerate(days)])


def test_a_date_event_time_of_today_is_not_late(spark: SparkSession, lake_root: Path) -> None:
    """Ingested at 10:30 with a 60-minute watermark: a record dated today is on time (the day is
    not over), though its midnight is older than the watermark."""
    landing = json_sink(spark, lake_root, dated_route(), dedupe_watermark_minutes=60)

    metrics = landing.process(visits(spark, "2026-11-25", "2026-11-24"), 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.late) == (2, 1)
    assert_df_equality(
        landed(spark, lake_root, "visits").select("id", "visit_day", "_is_late"),
        rows_frame(spark, [(0, date(2026, 11, 25), False), (1, date(2026, 11, 24), True)],
                              "id bigint, visit_day date, _is_late boolean"),
        ignore_row_order=True, ignore_nullable=True)


def test_a_date_event_time_is_late_only_once_its_whole_day_is_older_than_the_watermark(
    spark: SparkSession, lake_root: Path
) -> None:
    """Ingested at 10:30 with an 11-hour watermark (back to 23:30 the day before): yesterday
    still has half an hour inside it, the day before ended long before."""
    landing = json_sink(spark, lake_root, dated_route(), dedupe_watermark_minutes=660)

    metrics = landing.process(visits(spark, "2026-11-24", "2026-11-23"), 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.late) == (2, 1)
    assert_df_equality(
        landed(spark, lake_root, "visits").select("id", "_is_late"),
        rows_frame(spark, [(0, False), (1, True)], "id bigint, _is_late boolean"),
        ignore_row_order=True, ignore_nullable=True)


def test_a_date_event_times_lag_is_measured_from_the_end_of_its_day(
    spark: SparkSession, lake_root: Path
) -> None:
    """Ingested at 10:30: a record dated today has no lag yet (its day is not over), one of
    yesterday at least 10.5 hours, one of the day before 34.5 hours. From their midnights the
    percentiles would be 10.5 hours higher each: the time of day, not the delay."""
    landing = json_sink(spark, lake_root, dated_route())

    metrics = landing.process(visits(spark, "2026-11-25", "2026-11-24", "2026-11-23"), 0,
                              INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.lag_p50_s, metrics.lag_p95_s) == (3, 37_800.0, 124_200.0)


# ------------------------------------------------------------------- 4. the starting offsets spec

def streaming_config(**streaming: object):
    return settings_from_mapping({"streaming": streaming}, source="conf/qa.yaml", env="qa",
                                 environ={})


def test_starting_offsets_naming_a_topic_that_is_not_read_is_a_config_error() -> None:
    """Spark's Kafka source fails the query at start with an assertion and its stack trace."""
    with pytest.raises(ConfigError, match=(
            r"^conf/qa.yaml: streaming.starting_offsets: .*names topics \['other.topic'\] that "
            r"are not read: expected the offsets of exactly the topics read \['retail.a'\]")):
        streaming_config(topics=["retail.a"], starting_offsets='{"other.topic": {"0": 5}}')


def test_starting_offsets_missing_a_topic_that_is_read_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=(
            r"^conf/qa.yaml: streaming.starting_offsets: .*names no offsets for \['retail.b'\]")):
        streaming_config(topics=["retail.a", "retail.b"],
                         starting_offsets='{"retail.a": {"0": 5}}')


@pytest.mark.parametrize("spec", ['{"retail.a": {"0": 5}', "earlist", '["retail.a"]',
                                  '{"retail.a": {"zero": 5}}', '{"retail.a": {"0": -3}}',
                                  '{"retail.a": {"0": "5"}}', '{"retail.a": 5}'])
def test_a_malformed_starting_offsets_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match=(
            r"^conf/qa.yaml: streaming.starting_offsets: .*expected earliest, latest or a JSON "
            r"object of topic -> \{partition: offset\}")):
        streaming_config(topics=["retail.a"], starting_offsets=spec)


def test_a_starting_offsets_spec_of_the_topics_read_is_accepted() -> None:
    settings = streaming_config(topics=["retail.a"],
                                starting_offsets='{"retail.a": {"0": 5, "1": -2}}')

    assert settings.streaming.starting_offsets == '{"retail.a": {"0": 5, "1": -2}}'


def test_starting_offsets_of_a_topic_the_pattern_does_not_match_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "names topics ['other.topic'] that the topic_pattern 'retail\\..*' does not match")):
        streaming_config(topic_pattern=r"retail\..*", starting_offsets='{"other.topic": {"0": 5}}')


def test_starting_offsets_are_checked_against_the_manifest_topics_at_start() -> None:
    """Without ``streaming.topics`` the job reads the manifest's topics, known once it loads."""
    settings = streaming_config(starting_offsets='{"other.topic": {"0": 5}}')

    with pytest.raises(ConfigError, match=r"^streaming.starting_offsets: .*names topics "
                                          r"\['other.topic'\] that are not read"):
        source_options(settings.streaming, ("retail.a",))


# ------------------------------------------------------- 5. envelope ids that are not strings

def test_envelope_ids_that_are_not_strings_or_integers_are_contract_violations(
    spark: SparkSession, lake_root: Path
) -> None:
    """An id that is an object, an array, a boolean or a number with a fraction would land as
    Spark's JSON text of it (``{"id":"u-1"}`` as a user id); an integer lands as its digits."""
    def event(request_id: object, **context: object) -> bytes:
        value = json.loads(envelope("page_view", 1, "r", PAGE))
        value["meta"]["request_id"] = request_id
        value["context"].update(context)
        return json.dumps(value).encode()

    landing = envelope_sink(spark, lake_root)
    records = kafka_frame(spark, [
        (EVENTS, 0, event("r-0", user_id={"id": "u-1"})),
        (EVENTS, 1, event("r-1", anon_id=["a-1"])),
        (EVENTS, 2, event("r-2", session_id=True)),
        (EVENTS, 3, event(1.5)),
        (EVENTS, 4, event({"id": "r-4"})),
        (EVENTS, 5, event(12345, user_id=678)),
    ])

    metrics = landing.process(records, 0, INGESTED)

    assert_conserved(metrics)
    assert (metrics.landed, metrics.quarantined_by_reason) == (1, {"contract_violation": 5})
    assert_df_equality(
        landed(spark, lake_root, "events").select("event_id", "user_id", "anon_id"),
        rows_frame(spark, [("12345", "678", "a-1")],
                              "event_id string, user_id string, anon_id string"),
        ignore_nullable=True)
    assert_df_equality(
        quarantined(spark, lake_root).select("offset", "detail"),
        rows_frame(spark, [
            (0, "context.user_id: a JSON object: expected a string or an integer"),
            (1, "context.anon_id: a JSON array: expected a string or an integer"),
            (2, "context.session_id: a JSON boolean: expected a string or an integer"),
            (3, "meta.request_id: a JSON number with a fraction or an exponent: expected a "
                "string or an integer"),
            (4, "meta.request_id: a JSON object: expected a string or an integer"),
        ], "offset long, detail string"), ignore_row_order=True, ignore_nullable=True)
