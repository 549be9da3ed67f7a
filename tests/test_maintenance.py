"""The maintenance job: compaction and VACUUM change no row, and retention is guarded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakejobs.config import load_settings
from lakejobs.errors import ConfigError
from lakejobs.incremental import list_files
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import run_job


def write_config(tmp_path: Path, lake: Path, maintenance: dict) -> Path:
    path = tmp_path / "dev.yaml"
    path.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake)},
                                "maintenance": maintenance}))
    return path


def test_optimize_and_vacuum_keep_every_row_and_remove_old_files(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    table = str(lake_root / "staging" / "orders")
    for batch in range(4):  # four small files
        rows_frame(spark, [(batch * 10 + i, f"v{batch}") for i in range(3)],
                              "id bigint, v string").coalesce(1).write.format("delta").mode(
                                  "append").save(table)
    DeltaTable.forPath(spark, table).update("id = 0", {"v": "'changed'"})  # leaves an old file
    files_before = len(list_files(spark, table))
    config = write_config(tmp_path, lake_root, {
        "retention_hours": 0, "allow_short_retention": True,
        "tables": [{"zone": "staging", "name": "orders", "zorder_by": ["id"]},
                   {"zone": "curated", "name": "not_there"}]})

    outcome = run_job(get_job("maintenance"), [
        "job.py", "--JOB_NAME", "maintenance", "--env", "dev", "--config", str(config),
        "--JOB_RUN_ID", "m1"], spark=spark)

    expected = [(0, "changed"), (1, "v0"), (2, "v0"), (10, "v1"), (11, "v1"), (12, "v1"),
                (20, "v2"), (21, "v2"), (22, "v2"), (30, "v3"), (31, "v3"), (32, "v3")]
    assert_df_equality(spark.read.format("delta").load(table),
                       rows_frame(spark, expected, "id bigint, v string"),
                       ignore_row_order=True, ignore_nullable=True)
    figures = outcome.result.summary["staging/orders"]
    assert (figures["rows"], figures["files_added"], figures["retention_hours"]) == (12, 1, 0)
    assert figures["files_removed"] == 4  # the update rewrote one of the four files
    assert len(list_files(spark, table)) == 1  # only the compacted file is left
    assert files_before == 5  # four appended + the rewrite of the updated one
    assert figures["files_vacuumed"] == 5  # all of them: the compacted file replaced them
    assert outcome.result.summary["curated/not_there"] == {"skipped": "not a Delta table (yet)"}
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"


def test_a_retention_below_seven_days_needs_an_explicit_flag(tmp_path: Path, lake_root: Path
                                                              ) -> None:
    config = write_config(tmp_path, lake_root, {"tables": [
        {"zone": "curated", "name": "dim_customer", "retention_hours": 24}]})
    with pytest.raises(ConfigError, match=r"dev.yaml: maintenance: .*24 h is below Delta's 168 h"):
        load_settings("dev", str(config))
