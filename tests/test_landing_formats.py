"""Landing tables that mix the streaming job's Parquet with JSON-line drops, and contract
columns that fall back to another column when a source does not carry them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from streaming_records import envelope, kafka_frame

from lakejobs.batch.conform import conform
from lakejobs.batch.contracts import Contract
from lakejobs.batch.landing import complete_files, read_landed
from lakejobs.batch.rules import flag_column
from lakejobs.config import settings_from_mapping
from lakejobs.errors import LandingConflictError
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.resources import resolve_location
from lakejobs.streaming.manifest import Manifest, load_manifest
from lakejobs.streaming.msk_to_landing import LandingSink

CONTRACT = Contract(table="things", keys=("id",), columns=(
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "name", "type": "string"},
    {"name": "updated_at", "type": "timestamp"},
    {"name": "_event_time", "type": "timestamp", "nullable": False, "fallback": "updated_at"},
))


def test_parquet_and_json_lines_in_one_table_conform_alike_and_metadata_is_not_drift(
    spark: SparkSession, tmp_path: Path
) -> None:
    landing = tmp_path / "landing" / "things"
    # what the streaming job lands: typed columns, its own _-prefixed metadata, one unknown field
    rows_frame(spark,
        [(1, "a", datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 5), "retail.thing.cdc", "x")],
        "id bigint, name string, updated_at timestamp, _event_time timestamp, _topic string, "
        "colour string",
    ).write.parquet(str(landing / "hour=00" / "batch=0"))
    drop = landing / "dt=2026-01-02"
    drop.mkdir(parents=True)
    (drop / "part-0.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "2", "name": "b", "updated_at": "2026-01-02T00:00:00Z"},  # no _event_time
        {"id": "3", "name": "c"},                                         # neither time
    ]) + "\n")
    (drop / "_SUCCESS").write_text("")

    files = complete_files(spark, str(landing))
    conformed = read_landed(spark, files, CONTRACT).transform(conform(CONTRACT))

    expected = rows_frame(spark, [
        (1, "a", datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 5), '{"colour":"x"}', False),
        (2, "b", datetime(2026, 1, 2), datetime(2026, 1, 2), "{}", False),
        (3, "c", None, None, "{}", True),
    ], "id bigint, name string, updated_at timestamp, _event_time timestamp, extra string, "
       "missing_time boolean")
    assert_df_equality(
        conformed.select("id", "name", "updated_at", "_event_time",
                         F.to_json("_extra_columns").alias("extra"),
                         F.col(flag_column("contract__event_time_required")).alias(
                             "missing_time")),
        expected, ignore_row_order=True, ignore_nullable=True)
    # the raw record of the Parquet row keeps the metadata, as JSON
    raw = conformed.where("id = 1").select("_raw_record").first()[0]
    assert json.loads(raw)["_topic"] == "retail.thing.cdc"


def test_a_fallback_must_name_another_column_of_the_same_type() -> None:
    with pytest.raises(ValidationError, match="fallback 'name': expected another column of "
                                              "type timestamp"):
        Contract(table="things", columns=(
            {"name": "name", "type": "string"},
            {"name": "changed_at", "type": "timestamp", "fallback": "name"}))


def test_a_parquet_batch_of_another_query_is_never_replaced_by_a_reset_checkpoint(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    settings = settings_from_mapping({"lake": {"root": str(lake)},
                                      "streaming": {"landing_format": "parquet"}},
                                     source="test", env="dev", environ={})
    bundled = load_manifest(resolve_location(settings.streaming.manifest))
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))

    def sink(query_id: str) -> LandingSink:
        checkpoint = tmp_path / "checkpoints" / query_id
        checkpoint.mkdir(parents=True)
        (checkpoint / "metadata").write_text(json.dumps({"id": query_id}) + "\n")
        return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1",
                           checkpoint=str(checkpoint))

    page = {"page_url": "/home", "referrer": None}
    topic = "analytics.events"
    old = sink("q-old")
    old.process(kafka_frame(spark, [(topic, 0, envelope("page_view", 1, "r-0", page))]), 0,
                datetime(2026, 11, 25, 8, 5))
    # a replay of the same query's batch replaces its own folder, as before
    old.process(kafka_frame(spark, [(topic, 0, envelope("page_view", 1, "r-0", page))]), 0,
                datetime(2026, 11, 25, 8, 6))
    new = sink("q-new")  # the checkpoint was reset: batch ids start at 0 again
    with pytest.raises(LandingConflictError, match=r"holds batch 0 of query '.*:q-old', not of"):
        new.process(kafka_frame(spark, [(topic, 9, envelope("page_view", 1, "r-9", page))]), 0,
                    datetime(2026, 11, 27, 12, 0))

    landed = spark.read.option("basePath", str(lake / "landing" / "events")).parquet(
        str(lake / "landing" / "events"))
    assert [r.event_id for r in landed.collect()] == ["r-0"]  # kept, once
