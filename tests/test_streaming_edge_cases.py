"""Streaming landing edge cases: Parquet history next to other drops and after an interrupted
first write, reserved column names, envelope dedupe keys."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import SparkSession
from streaming_records import envelope, kafka_frame

from lakejobs.config import settings_from_mapping
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.resources import resolve_location
from lakejobs.streaming.envelope import EVENT_COLUMNS
from lakejobs.streaming.manifest import ENVELOPE_COLUMNS, Manifest, load_manifest
from lakejobs.streaming.msk_to_landing import LandingSink

EVENTS = "analytics.events"
INGESTED = datetime(2026, 11, 25, 10, 30, 0)
PAGE = {"page_url": "/home", "referrer": None}


def envelope_sink(spark: SparkSession, lake_root: Path, **streaming: object) -> LandingSink:
    settings = settings_from_mapping({"lake": {"root": str(lake_root)}, "streaming": streaming},
                                     source="test", env="dev", environ={})
    bundled = load_manifest(resolve_location(settings.streaming.manifest))
    manifest = Manifest(routes=tuple(r for r in bundled.routes if r.format == "envelope"))
    return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1")


def test_parquet_landing_next_to_json_line_drops_still_finds_duplicates(
    spark: SparkSession, lake_root: Path
) -> None:
    """README: landing_to_staging reads the job's Parquet batch folders next to JSON-line drops
    in the same table; the job's own dedupe history must read only its batch folders."""
    landing = envelope_sink(spark, lake_root, landing_format="parquet")
    landing.process(kafka_frame(spark, [(EVENTS, 0, envelope("page_view", 1, "r-1", PAGE))]),
                    0, INGESTED)
    drop = lake_root / "landing" / "events" / "dt=2026-11-25"
    drop.mkdir(parents=True)
    (drop / "part-0.jsonl").write_text(json.dumps({"event_id": "x-1"}) + "\n")
    (drop / "_SUCCESS").write_text("")

    metrics = landing.process(kafka_frame(spark, [
        (EVENTS, 1, envelope("page_view", 1, "r-1", PAGE)),  # landed by batch 0
        (EVENTS, 2, envelope("page_view", 1, "r-2", PAGE)),
    ]), 1, INGESTED)

    assert (metrics.records_in, metrics.landed, metrics.duplicates) == (2, 1, 1)
    path = str(lake_root / "landing" / "events")
    landed = spark.read.option("basePath", path).parquet(
        f"{path}/year=*/month=*/day=*/hour=*/batch=*").select("event_id", "_offset", "batch")
    expected = rows_frame(spark, [("r-1", 0, 0), ("r-2", 2, 1)],
                                     "event_id string, _offset long, batch int")
    assert_df_equality(landed, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_parquet_batch_interrupted_before_its_first_file_is_committed_can_be_replayed(
    spark: SparkSession, lake_root: Path
) -> None:
    """A crash while the first batch of a table is written leaves only the committer's
    ``_temporary`` folder: the replay must land the batch, not fail to read an empty table."""
    leftover = (lake_root / "landing" / "events" / "year=2026" / "month=11" / "day=25"
                / "hour=10" / "batch=0" / "_temporary" / "0")
    leftover.mkdir(parents=True)
    (leftover / "part-00000.snappy.parquet").write_bytes(b"partial")
    landing = envelope_sink(spark, lake_root, landing_format="parquet")

    metrics = landing.process(kafka_frame(spark, [
        (EVENTS, 0, envelope("page_view", 1, "r-1", PAGE))]), 0, INGESTED)

    assert (metrics.records_in, metrics.landed) == (1, 1)
    path = str(lake_root / "landing" / "events")
    landed = spark.read.option("basePath", path).parquet(path).select("event_id", "batch")
    expected = rows_frame(spark, [("r-1", 0)], "event_id string, batch int")
    assert_df_equality(landed, expected, ignore_nullable=True)


def json_sink(spark: SparkSession, lake_root: Path, routes: list[dict], **streaming: object
              ) -> LandingSink:
    settings = settings_from_mapping({"lake": {"root": str(lake_root)}, "streaming": streaming},
                                     source="test", env="dev", environ={})
    manifest = Manifest.model_validate({"routes": routes})
    return LandingSink(spark, settings, LakePaths(settings.lake), manifest, "run-1")


def test_a_route_column_named_like_the_parquet_batch_folder_is_refused() -> None:
    """Parquet landing writes ``…/hour=HH/batch=N``: read back as a partitioned table (the dedupe
    history, ``spark.read.parquet(table)``), a column named ``batch`` holds N, not its value."""
    route = {"name": "shipments", "format": "json", "topics": ["shop.shipments"],
             "target": "shipments", "key": ["id"],
             "columns": [{"name": "id", "type": "bigint"}, {"name": "batch", "type": "string"}]}

    with pytest.raises(ValidationError, match=r"columns \['batch'\] clash with the landing "
                                              r"partition columns"):
        Manifest.model_validate({"routes": [route]})


def envelope_routes(**identify: object) -> list[dict]:
    bundled = load_manifest(resolve_location("conf/streaming/manifest.yaml"))
    return [r.model_dump(exclude_none=True) | (identify if r.event == "identify" else {})
            for r in bundled.routes if r.format == "envelope"]


def test_envelope_routes_with_different_dedupe_keys_are_refused() -> None:
    """Every envelope route is deduplicated in one group by its first route's key: a
    ``dedupe_key: []`` on one event would switch dedupe off (or be ignored) for all of them."""
    with pytest.raises(ValidationError, match=r"envelope routes have different dedupe keys "
                                              r"\[\(\), \('event_id',\)\]"):
        Manifest.model_validate({"routes": envelope_routes(dedupe_key=[])})


def test_an_envelope_dedupe_key_must_name_a_landed_envelope_column() -> None:
    """A payload field passed validation, then failed every batch: payloads land as JSON."""
    routes = [r for r in envelope_routes(dedupe_key=["method"]) if r["event"] == "identify"]

    with pytest.raises(ValidationError, match=r"dedupe_key 'method' is not a landed column: "
                                              r"expected one of \['event_id'"):
        Manifest.model_validate({"routes": routes})
    assert ENVELOPE_COLUMNS == tuple(EVENT_COLUMNS.names)
