"""DSAR deletion edge cases: a retried request, and master-data records matched as the dedupe job
reads them (systems named by the data, nested record ids, canonical ids merged since)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from identity_support import DAY1, SALT, IdentityLake, ev
from pyspark.sql import DataFrame, SparkSession

from lakejobs.config import Settings, settings_from_mapping
from lakejobs.identity import dsar
from lakejobs.identity.dedupe_store import MEMBER_SCHEMA
from lakejobs.identity.dsar import REQUEST_SCHEMA
from lakejobs.identity.dsar_master_data import forget_canonical_user
from lakejobs.identity.stable_ids import HISTORY_SCHEMA
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths

AT = datetime(2026, 3, 1)


def master_lake(tmp_path: Path, sources: list[dict]) -> tuple[Settings, LakePaths]:
    settings = settings_from_mapping(
        {"lake": {"root": str(tmp_path / "lake")}, "dedupe": {"sources": sources}},
        source="test", env="dev", environ={})
    return settings, LakePaths(settings.lake)


def write(df: DataFrame, path: str) -> None:
    df.write.format("delta").mode("overwrite").save(path)


def write_members(spark: SparkSession, paths: LakePaths, rows: list[tuple[str, str]]) -> None:
    """``canonical_members`` rows (identity key, canonical id) as the dedupe job writes them."""
    write(rows_frame(spark, [(k, c, AT) for k, c in rows], MEMBER_SCHEMA),
          paths.table("curated", "canonical_members"))


def column_values(spark: SparkSession, path: str, column: str) -> list:
    return sorted(r[0] for r in spark.read.format("delta").load(path).select(column).collect())


def test_a_retried_request_deletes_the_rows_of_the_nodes_its_failed_run_took_out_of_the_graph(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    lake = IdentityLake(spark, tmp_path, dsar_tables=[
        {"zone": "staging", "table": "events", "columns": {"user_id": "u", "anon_id": "a"}}])
    # e2 carries only U1's anon id: only the node A1 leads to it
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, anon="A1"),
                ev(3, DAY1, user="U2", anon="A2")])
    lake.run("r1", DAY1)
    rows_frame(spark, [("req-1", "U1", DAY1, None)], REQUEST_SCHEMA).write.format(
        "delta").save(str(lake.root / "_lakejobs" / "dsar_requests"))
    purge_table = dsar.purge_table

    def unavailable(*args, **kwargs):
        raise OSError("storage unavailable")

    # the first run stops after the graph deletion, before any table is purged
    monkeypatch.setattr(dsar, "purge_table", unavailable)
    with pytest.raises(OSError, match="storage unavailable"):
        lake.run("d1", DAY1, job="identity_dsar")
    monkeypatch.setattr(dsar, "purge_table", purge_table)

    lake.run("d2", DAY1, job="identity_dsar")

    assert column_values(spark, str(lake.root / "staging" / "events"), "event_id") == ["e3"]


def test_a_canonical_id_merged_into_another_forgets_the_records_of_the_canonical_user_it_joined(
    spark: SparkSession, tmp_path: Path
) -> None:
    settings, paths = master_lake(tmp_path, [
        {"table": "people", "record_id": "rid", "source_system": "crm",
         "columns": {"email": "email"}}])
    people = paths.table("staging", "people")
    write(rows_frame(spark, [("1", "a@x.org"), ("2", "b@x.org"), ("3", "c@x.org")],
                                "rid string, email string"), people)
    # after the request naming cu_a was filed, a dedupe run merged cu_a into the older cu_b
    write_members(spark, paths, [("crm:1", "cu_b"), ("crm:2", "cu_b"), ("crm:3", "cu_c")])
    write(rows_frame(spark, [("r2", AT, "merged", "cu_a", "cu_b", 1)], HISTORY_SCHEMA),
          paths.table("curated", "canonical_id_history"))

    forget_canonical_user(spark, paths, settings.dedupe, "cu_a")

    assert column_values(spark, people, "rid") == ["3"]
    assert column_values(spark, paths.table("curated", "canonical_members"),
                         "identity_key") == ["crm:3"]


def test_a_source_system_named_by_the_data_with_a_colon_in_it_is_forgotten(
    spark: SparkSession, tmp_path: Path
) -> None:
    settings, paths = master_lake(tmp_path, [
        {"table": "people", "record_id": "rid", "system_column": "sys",
         "columns": {"email": "email"}}])
    people = paths.table("staging", "people")
    write(rows_frame(spark, [("7", "Shop:EU", "a@x.org"), ("8", "shop:eu", "b@x.org")],
                                "rid string, sys string, email string"), people)
    # the dedupe job's identity key: lower-cased, trimmed system ':' record id
    write_members(spark, paths, [("shop:eu:7", "cu_a"), ("shop:eu:8", "cu_b")])

    forget_canonical_user(spark, paths, settings.dedupe, "cu_a")

    assert column_values(spark, people, "rid") == ["8"]


def test_a_record_id_in_a_nested_column_is_forgotten(spark: SparkSession, tmp_path: Path) -> None:
    settings, paths = master_lake(tmp_path, [
        {"table": "people", "record_id": "meta.id", "source_system": "crm",
         "columns": {"email": "email"}}])
    people = paths.table("staging", "people")
    write(rows_frame(spark, [((" 7 ",), "a@x.org"), (("8",), "b@x.org")],
                                "meta struct<id:string>, email string"), people)
    write_members(spark, paths, [("crm:7", "cu_a"), ("crm:8", "cu_b")])

    forget_canonical_user(spark, paths, settings.dedupe, "cu_a")

    assert column_values(spark, people, "meta.id") == ["8"]
