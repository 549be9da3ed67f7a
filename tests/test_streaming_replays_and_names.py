"""Streaming: a replayed batch logs its run once, a tombstone's key is checked for numbers Spark
rewrites as a value is, route columns named like the job's own columns are refused, and route
columns named like a Kafka record's columns land as themselves."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from streaming_records import envelope, kafka_frame

from lakejobs.config import Settings, settings_from_mapping
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.resources import resolve_location
from lakejobs.run_log import SUCCEEDED, RunRecord, append_run
from lakejobs.streaming.manifest import Manifest, load_manifest
from lakejobs.streaming.msk_to_landing import LandingSink

EVENTS = "analytics.events"
INGESTED = datetime(2026, 11, 25, 10, 30, 0)
PAGE = {"page_url": "/home", "referrer": None}
PLANNED_MS = 1795602600000  # 2026-11-25 10:30 UTC, the batches' time in the offset log


def lake_settings(lake_root: Path) -> Settings:
    return settings_from_mapping({"lake": {"root": str(lake_root)}}, source="test", env="dev",
                                 environ={})


def checkpoint_of(tmp_path: Path, query_id: str, batches: int) -> Path:
    """A checkpoint as Spark writes it: the query id, and the offset log of each batch (written
    before the batch runs, read again when a restart replays it)."""
    checkpoint = tmp_path / "checkpoints" / query_id
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / "metadata").write_text(json.dumps({"id": query_id}) + "\n")
    for batch_id in range(batches):
        (checkpoint / "offsets" / str(batch_id)).write_text(
            f'v1\n{{"batchWatermarkMs":0,"batchTimestampMs":{PLANNED_MS},"conf":{{}}}}\n')
    return checkpoint


def event_sink(spark: SparkSession, settings: Settings, run_id: str, checkpoint: Path
               ) -> LandingSink:
    """The job's sink as a run starts it: the bundled event routes, the query's checkpoint."""
    bundled = load_manifest(resolve_location(settings.streaming.manifest))
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))
    return LandingSink(spark, settings, LakePaths(settings.lake), manifest, run_id,
                       checkpoint=str(checkpoint))


def batch_rows_logged(spark: SparkSession, settings: Settings) -> DataFrame:
    path = LakePaths(settings.lake).table("system", settings.tables.run_log)
    return (spark.read.format("delta").load(path).where("job_name = 'msk_to_landing:batch'")
            .select("run_id", "status", "rows_read", "rows_written", "rows_quarantined"))


def landed(spark: SparkSession, lake_root: Path, table: str) -> DataFrame:
    return spark.read.format("delta").load(str(lake_root / "landing" / table))


def quarantined(spark: SparkSession, lake_root: Path) -> DataFrame:
    return spark.read.format("delta").load(str(lake_root / "quarantine" / "kafka_quarantine"))


RUN_ROWS = "run_id string, status string, rows_read long, rows_written long, rows_quarantined long"


# ------------------------------------------------------- 1. the run-log row of a replayed batch

def test_a_batch_replayed_after_a_crash_past_its_run_log_row_is_logged_once(
    spark: SparkSession, lake_root: Path, tmp_path: Path
) -> None:
    """The run crashed after batch 1's run-log row, before Spark committed the batch: the
    restarted job (a new run id, the same checkpoint) replays batch 1, and logs nothing again."""
    settings = lake_settings(lake_root)
    checkpoint = checkpoint_of(tmp_path, "q-1", batches=2)
    first = kafka_frame(spark, [(EVENTS, 0, envelope("page_view", 1, "r-1", PAGE))])
    second = kafka_frame(spark, [(EVENTS, 1, envelope("page_view", 1, "r-2", PAGE)),
                                 (EVENTS, 2, b"oops")])
    crashed = event_sink(spark, settings, "run-1", checkpoint)
    crashed(first, 0)
    crashed(second, 1)

    restarted = event_sink(spark, settings, "run-2", checkpoint)
    restarted(second, 1)

    expected = rows_frame(spark, [("run-1:0", SUCCEEDED, 1, 1, 0),
                                      ("run-1:1", SUCCEEDED, 2, 1, 1)], RUN_ROWS)
    assert_df_equality(batch_rows_logged(spark, settings), expected, ignore_row_order=True,
                       ignore_nullable=True)
    rows = landed(spark, lake_root, "events").select("event_id", "_offset", "_batch_id")
    assert_df_equality(rows, rows_frame(spark, [("r-1", 0, 0), ("r-2", 1, 1)],
                                                   "event_id string, _offset long, _batch_id long"),
                       ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(quarantined(spark, lake_root).select("offset", "reason", "batch_id"),
                       rows_frame(spark, [(2, "undecodable", 1)],
                                             "offset long, reason string, batch_id long"),
                       ignore_nullable=True)


def test_after_a_checkpoint_reset_the_new_querys_batches_are_logged_from_batch_zero_again(
    spark: SparkSession, lake_root: Path, tmp_path: Path
) -> None:
    """A new checkpoint numbers its batches from 0 again: its run-log rows are not replays of
    the old query's."""
    settings = lake_settings(lake_root)
    old = event_sink(spark, settings, "run-1", checkpoint_of(tmp_path, "q-old", batches=1))
    old(kafka_frame(spark, [(EVENTS, 0, envelope("page_view", 1, "r-1", PAGE))]), 0)

    new = event_sink(spark, settings, "run-2", checkpoint_of(tmp_path, "q-new", batches=1))
    new(kafka_frame(spark, [(EVENTS, 7, envelope("page_view", 1, "r-2", PAGE))]), 0)

    expected = rows_frame(spark, [("run-1:0", SUCCEEDED, 1, 1, 0),
                                      ("run-2:0", SUCCEEDED, 1, 1, 0)], RUN_ROWS)
    assert_df_equality(batch_rows_logged(spark, settings), expected, ignore_row_order=True,
                       ignore_nullable=True)


def run_record(run_id: str) -> RunRecord:
    return RunRecord(job_name="job", run_id=run_id, env="dev", client=None, stack="glue6",
                     started_at=INGESTED, completed_at=INGESTED, status=SUCCEEDED, rows_read=1,
                     rows_written=1, rows_quarantined=0, error_message=None)


def test_a_run_log_row_with_a_transaction_id_is_appended_once_and_one_without_every_time(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "run_log")

    append_run(spark, path, run_record("a:0"), app_id="q:run_log", batch_id=0)
    append_run(spark, path, run_record("b:0"), app_id="q:run_log", batch_id=0)  # a replay
    append_run(spark, path, run_record("b:1"), app_id="q:run_log", batch_id=1)
    append_run(spark, path, run_record("job-run"))
    append_run(spark, path, run_record("job-run"))  # no transaction id: appended again

    logged = spark.read.format("delta").load(path).select("run_id")
    assert_df_equality(logged, rows_frame(spark,
        [("a:0",), ("b:1",), ("job-run",), ("job-run",)], "run_id string"),
        ignore_row_order=True, ignore_nullable=True)


def test_a_run_log_transaction_id_needs_both_its_parts(spark: SparkSession, tmp_path: Path
                                                      ) -> None:
    with pytest.raises(ValueError, match=r"^'batch_id' in append_run cannot be None when "
                                         r"'app_id' is given$"):
        append_run(spark, str(tmp_path / "run_log"), run_record("a:0"), app_id="q:run_log")


# --------------------------------------------------- 2. numbers Spark rewrites in tombstone keys

CODES_CDC = {"name": "codes_cdc", "format": "debezium", "topics": ["shop.codes.cdc"],
             "target": "codes", "key": ["code"],
             "columns": [{"name": "code", "type": "string", "nullable": False},
                         {"name": "label", "type": "string"}]}
REWRITTEN = ("code: cannot decode '{}' as string (a JSON number with a fraction or an exponent, "
             "which Spark rewrites: expected a JSON string or an integer)")


def test_a_tombstone_key_number_with_a_fraction_or_exponent_for_a_string_key_is_a_violation(
    spark: SparkSession, lake_root: Path
) -> None:
    """A tombstone's row is its Kafka key: a key field sent as 1.50 would land as "1.5" and
    delete another row than the source did. Refused, as in a value; a string that reads like a
    number and an integer land as sent, wrapped key or not."""
    settings = lake_settings(lake_root)
    landing = LandingSink(spark, settings, LakePaths(settings.lake),
                          Manifest.model_validate({"routes": [CODES_CDC]}), "run-1")
    topic = "shop.codes.cdc"
    records = kafka_frame(spark, [
        (topic, 0, None, b'{"code": 1.50}'),
        (topic, 1, None, b'{"schema": {"type": "struct"}, "payload": {"code": 1E3}}'),
        (topic, 2, None, b'{"code": "1.50"}'),
        (topic, 3, None, b'{"schema": {"type": "struct"}, "payload": {"code": 42}}'),
        (topic, 4, None, b'{"code": 2.5e-3}'),
    ])

    metrics = landing.process(records, 0, INGESTED)

    assert metrics.records_in == metrics.landed + metrics.quarantined + metrics.duplicates
    assert (metrics.records_in, metrics.landed, metrics.duplicates,
            metrics.quarantined_by_reason) == (5, 2, 0, {"contract_violation": 3})
    assert_df_equality(
        landed(spark, lake_root, "codes").select("code", "label", "_op", "_offset"),
        rows_frame(spark, [("1.50", None, "t", 2), ("42", None, "t", 3)],
                              "code string, label string, _op string, _offset long"),
        ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(
        quarantined(spark, lake_root).select("offset", "reason", "detail", "route"),
        rows_frame(spark, [
            (0, "contract_violation", REWRITTEN.format("1.5"), "codes_cdc"),
            (1, "contract_violation", REWRITTEN.format("1000.0"), "codes_cdc"),
            (4, "contract_violation", REWRITTEN.format("0.0025"), "codes_cdc"),
        ], "offset long, reason string, detail string, route string"),
        ignore_row_order=True, ignore_nullable=True)


# ------------------------------------------- 3. route columns named like the job's own columns

# what the job lands beside a route's columns, and the Kafka record and working columns it
# decodes beside them (a route column of one of these names would be ambiguous or overwritten)
OWN_COLUMNS = ["_batch_id", "_duplicate", "_error", "_error_detail", "_event_time",
               "_ingested_at", "_is_late", "_kafka_key", "_kafka_timestamp", "_kafka_value",
               "_offset", "_partition", "_partition_key", "_privacy_tier", "_route",
               "_schema_version", "_topic"]
KAFKA_NAMES = ["key", "value", "topic", "partition", "offset", "timestamp"]
DEBEZIUM_COLUMNS = ["_commit_position", "_op", "_source_table", "_source_ts_ms"]


def write_manifest(tmp_path: Path, route: dict) -> Path:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"routes": [route]}))
    return manifest


def route_with(column: str, fmt: str = "json") -> dict:
    return {"name": "orders", "format": fmt, "topics": ["shop.orders"], "target": "orders",
            "key": ["id"], "columns": [{"name": "id", "type": "bigint"},
                                       {"name": column, "type": "string"}]}


def test_a_route_column_named_like_landing_metadata_is_refused_naming_file_route_and_names(
    tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path, route_with("_offset"))

    with pytest.raises(ConfigError) as refused:
        load_manifest(str(manifest))

    assert str(refused.value) == (
        f"{manifest}: routes.0: route 'orders': columns ['_offset'] clash with the columns the "
        "streaming job adds to the rows of a json route (landing metadata, the Kafka record, "
        f"working columns) {OWN_COLUMNS}: expected other column names")
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize("column", OWN_COLUMNS)
def test_every_column_the_job_adds_or_decodes_beside_a_route_is_refused_as_a_column_name(
    tmp_path: Path, column: str
) -> None:
    manifest = write_manifest(tmp_path, route_with(column))

    with pytest.raises(ConfigError, match=rf"routes\.0: route 'orders': columns \['{column}'\] "
                                          "clash with the columns the streaming job adds"):
        load_manifest(str(manifest))


@pytest.mark.parametrize("column", DEBEZIUM_COLUMNS)
def test_a_debezium_route_column_named_like_a_landed_change_column_is_refused(
    tmp_path: Path, column: str
) -> None:
    manifest = write_manifest(tmp_path, route_with(column, fmt="debezium"))

    with pytest.raises(ConfigError) as refused:
        load_manifest(str(manifest))

    assert str(refused.value) == (
        f"{manifest}: routes.0: route 'orders': columns ['{column}'] clash with the columns the "
        "streaming job adds to the rows of a debezium route (landing metadata, the Kafka record, "
        f"working columns) {sorted([*OWN_COLUMNS, *DEBEZIUM_COLUMNS])}: expected other column "
        "names")


def test_a_partition_column_name_is_refused_naming_the_route(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, route_with("hour"))

    with pytest.raises(ConfigError) as refused:
        load_manifest(str(manifest))

    assert str(refused.value) == (
        f"{manifest}: routes.0: route 'orders': columns ['hour'] clash with the landing "
        "partition columns ['year', 'month', 'day', 'hour', 'batch']: expected other column "
        "names")


def test_a_json_route_lands_a_column_named_like_a_debezium_change_column(
    spark: SparkSession, lake_root: Path
) -> None:
    """Only a Debezium route lands ``_op``: a JSON route may carry a column of that name."""
    settings = lake_settings(lake_root)
    landing = LandingSink(spark, settings, LakePaths(settings.lake),
                          Manifest.model_validate({"routes": [route_with("_op")]}), "run-1")
    records = kafka_frame(spark, [("shop.orders", 0, b'{"id": 1, "_op": "x"}')])

    metrics = landing.process(records, 0, INGESTED)

    assert (metrics.records_in, metrics.landed) == (1, 1)
    assert_df_equality(landed(spark, lake_root, "orders").select("id", "_op", "_offset"),
                       rows_frame(spark, [(1, "x", 0)], "id long, _op string, _offset long"),
                       ignore_nullable=True)


def test_every_column_a_debezium_route_lands_beside_its_own_is_refused_as_a_column_name(
    spark: SparkSession, lake_root: Path
) -> None:
    """The refused names cover what the job lands: a new metadata column belongs in the
    manifest's reserved names too."""
    settings = lake_settings(lake_root)
    route = route_with("city", fmt="debezium")
    landing = LandingSink(spark, settings, LakePaths(settings.lake),
                          Manifest.model_validate({"routes": [route]}), "run-1")
    change = (b'{"before": null, "after": {"id": 1, "city": "Lyon"}, "op": "c", '
              b'"source": {"table": "orders"}, "ts_ms": 1795602000000}')
    landing.process(kafka_frame(spark, [("shop.orders", 0, change, b'{"id": 1}')]), 0, INGESTED)

    columns = landed(spark, lake_root, "orders").columns

    assert columns == ["id", "city", "_op", "_commit_position", "_source_ts_ms", "_source_table",
                       "_topic", "_partition", "_offset", "_kafka_timestamp", "_partition_key",
                       "_schema_version", "_privacy_tier", "_event_time", "_is_late",
                       "_ingested_at", "_batch_id", "year", "month", "day", "hour"]
    job_columns = set(columns) - {"id", "city", "year", "month", "day", "hour"}
    assert job_columns <= {*OWN_COLUMNS, *DEBEZIUM_COLUMNS}


def test_an_envelope_payload_field_named_like_landing_metadata_is_accepted_and_lands_in_payload(
    spark: SparkSession, lake_root: Path
) -> None:
    """An envelope route's columns are its payload's fields: they land as JSON text in
    ``payload``, beside the job's columns, never as columns of their own."""
    route = {"name": "checkout_v1", "format": "envelope", "topics": [EVENTS],
             "event": "checkout", "version": 1, "target": "events",
             "columns": [{"name": "_offset", "type": "string"}]}
    settings = lake_settings(lake_root)
    landing = LandingSink(spark, settings, LakePaths(settings.lake),
                          Manifest.model_validate({"routes": [route]}), "run-1")
    records = kafka_frame(spark, [(EVENTS, 3, envelope("checkout", 1, "r-1", {"_offset": "x"}))])

    metrics = landing.process(records, 0, INGESTED)

    assert (metrics.records_in, metrics.landed) == (1, 1)
    assert_df_equality(
        landed(spark, lake_root, "events").select("event_id", "payload", "_offset"),
        rows_frame(spark, [("r-1", '{"_offset":"x"}', 3)],
                              "event_id string, payload string, _offset long"),
        ignore_nullable=True)


def test_json_route_columns_named_like_the_kafka_record_land_beside_its_metadata(
    spark: SparkSession, lake_root: Path
) -> None:
    """A sensor reading ``{"timestamp": …, "value": …}`` and a settings row ``{"key": …}``: the
    route's columns land as sent, the record's Kafka position, time and key as metadata."""
    route = {"name": "readings", "format": "json", "topics": ["iot.readings"],
             "target": "readings", "key": ["key"], "event_time": "timestamp",
             "columns": [{"name": "key", "type": "string", "nullable": False},
                         {"name": "value", "type": "double"},
                         {"name": "timestamp", "type": "timestamp"},
                         {"name": "topic", "type": "string"},
                         {"name": "partition", "type": "int"},
                         {"name": "offset", "type": "bigint"}]}
    settings = lake_settings(lake_root)
    landing = LandingSink(spark, settings, LakePaths(settings.lake),
                          Manifest.model_validate({"routes": [route]}), "run-1")
    reading = (b'{"key": "s-1", "value": 21.5, "timestamp": "2026-11-25T10:29:00Z", '
               b'"topic": "kitchen", "partition": 7, "offset": 99}')
    records = kafka_frame(spark, [
        ("iot.readings", 4, reading, b"k-1"),
        ("iot.readings", 5, reading, b"k-1"),  # the same reading again: a duplicate by key
        ("iot.readings", 6, b'{"key": "s-2", "value": "warm"}', b"k-2"),  # value not a double
    ])

    metrics = landing.process(records, 0, INGESTED)

    assert (metrics.records_in, metrics.landed, metrics.quarantined, metrics.duplicates) == (
        3, 1, 1, 1)
    assert_df_equality(
        landed(spark, lake_root, "readings").select(
            *KAFKA_NAMES, "_topic", "_partition", "_offset", "_partition_key", "_event_time"),
        rows_frame(spark, [("s-1", 21.5, "kitchen", 7, 99, datetime(2026, 11, 25, 10, 29),
                                "iot.readings", 0, 4, "k-1", datetime(2026, 11, 25, 10, 29))],
                              "key string, value double, topic string, partition int, "
                              "offset long, timestamp timestamp, _topic string, _partition int, "
                              "_offset long, _partition_key string, _event_time timestamp"),
        ignore_nullable=True)
    assert_df_equality(
        quarantined(spark, lake_root).select("raw_key", "raw_value", "topic", "partition",
                                             "offset", "reason"),
        rows_frame(spark, [(b"k-2", b'{"key": "s-2", "value": "warm"}', "iot.readings", 0,
                                6, "contract_violation")],
                              "raw_key binary, raw_value binary, topic string, partition int, "
                              "offset long, reason string"),
        ignore_nullable=True)


def test_debezium_route_columns_named_like_the_kafka_record_land_as_the_row_holds_them(
    spark: SparkSession, lake_root: Path
) -> None:
    route = {"name": "settings", "format": "debezium", "topics": ["shop.settings"],
             "target": "settings", "key": ["key"],
             "columns": [{"name": "key", "type": "string", "nullable": False},
                         {"name": "value", "type": "string"},
                         {"name": "timestamp", "type": "timestamp",
                          "logical": "io.debezium.time.MicroTimestamp"}]}
    settings = lake_settings(lake_root)
    landing = LandingSink(spark, settings, LakePaths(settings.lake),
                          Manifest.model_validate({"routes": [route]}), "run-1")

    def change(op: str, value: str | None, lsn: int) -> bytes:
        row = {"key": "theme", "value": value, "timestamp": 1795602000000000}
        return json.dumps({"before": row if op == "d" else None,
                           "after": None if op == "d" else row, "op": op,
                           "source": {"connector": "postgresql", "table": "settings",
                                      "lsn": lsn, "ts_ms": 1795602000000}}).encode()

    records = kafka_frame(spark, [
        ("shop.settings", 0, change("c", "dark", 10), b'{"key": "theme"}'),
        ("shop.settings", 1, change("d", "dark", 11), b'{"key": "theme"}'),
        ("shop.settings", 2, None, b'{"key": "theme"}'),  # the tombstone: its key names the row
    ])

    metrics = landing.process(records, 0, INGESTED)

    assert (metrics.records_in, metrics.landed, metrics.quarantined) == (3, 3, 0)
    assert_df_equality(
        landed(spark, lake_root, "settings").select(*KAFKA_NAMES[:2], "timestamp", "_op",
                                                    "_offset", "_partition_key"),
        rows_frame(spark, [
            ("theme", "dark", datetime(2026, 11, 25, 10, 20), "c", 0, '{"key": "theme"}'),
            ("theme", "dark", datetime(2026, 11, 25, 10, 20), "d", 1, '{"key": "theme"}'),
            ("theme", None, None, "t", 2, '{"key": "theme"}'),
        ], "key string, value string, timestamp timestamp, _op string, _offset long, "
           "_partition_key string"),
        ignore_row_order=True, ignore_nullable=True)
