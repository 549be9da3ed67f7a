"""Operations edge cases: replay, bookmarks, runtime and maintenance cases operators hit."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from lakejobs.arguments import COMMON_OPTIONAL, COMMON_REQUIRED, resolve_options
from lakejobs.bookmarks import BookmarkStore
from lakejobs.errors import ConfigError, ContractError, JobArgumentError
from lakejobs.incremental import rows_after_watermark
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job
from lakejobs.spark_conf import temporary_conf

REPO = Path(__file__).resolve().parents[1]
ORDERS = [
    {"order_id": 1, "customer_id": 7, "order_status": "placed", "order_total": "10.00",
     "currency": "EUR", "ordered_at": "2026-11-22T10:00:00Z"},
    {"order_id": 2, "customer_id": 7, "order_status": "refunded", "order_total": "5.00",
     "currency": "EUR", "ordered_at": "2026-11-22T11:00:00Z"},
]


def write_rules(tmp_path: Path, statuses: list[str], extra: tuple[dict, ...] = ()) -> None:
    (tmp_path / "orders-rules.yaml").write_text(json.dumps({"table": "orders", "rules": [
        {"id": "order_status_known", "check": "in_set", "column": "order_status",
         "severity": "drop", "values": statuses}, *extra]}))


def orders_lake(tmp_path: Path, lake_root: Path) -> Path:
    """Landed orders, a copy of the orders contract and a config naming both; returns the
    config."""
    folder = lake_root / "landing" / "orders" / "dt=2026-11-22"
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("\n".join(json.dumps(o) for o in ORDERS) + "\n")
    (folder / "_SUCCESS").write_text("")
    contract = tmp_path / "orders-contract.yaml"
    contract.write_text((REPO / "conf" / "contracts" / "orders.yaml").read_text())
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)}, "validation": {
        "tables": [{"name": "orders", "contract": str(contract),
                    "rules": str(tmp_path / "orders-rules.yaml")}]}}))
    return config


def run(spark: SparkSession, job: str, config: Path, run_id: str, *extra: str) -> JobResult:
    argv = ["job.py", "--JOB_NAME", job, "--env", "dev", "--config", str(config),
            "--JOB_RUN_ID", run_id, *extra]
    return run_job(get_job(job), argv, spark=spark).result


def test_replay_with_a_contract_that_changed_a_column_type_is_a_contract_error_and_writes_nothing(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    config = orders_lake(tmp_path, lake_root)
    write_rules(tmp_path, ["placed"])
    run(spark, "landing_to_staging", config, "v1")
    contract = tmp_path / "orders-contract.yaml"
    contract.write_text(contract.read_text().replace(
        '{name: order_total, type: "decimal(12,2)"}', "{name: order_total, type: string}"))
    write_rules(tmp_path, ["placed", "refunded"])
    staging = str(lake_root / "staging" / "orders")
    version = spark.sql(f"DESCRIBE HISTORY delta.`{staging}`").agg({"version": "max"}).first()[0]

    with pytest.raises(ContractError, match=r"column 'order_total' is decimal\(12,2\) in staging "
                                            r"but string in the contract"):
        run(spark, "replay_quarantine", config, "r1", "--table", "orders")

    after = spark.sql(f"DESCRIBE HISTORY delta.`{staging}`").agg({"version": "max"}).first()[0]
    assert after == version
    quarantine = spark.read.format("delta").load(str(lake_root / "quarantine" / "orders"))
    assert quarantine.columns == ["table", "_source_file", "record_hash", "raw_record",
                                  "failures", "run_id", "quarantined_at"]


def test_a_timestamp_watermark_taken_in_the_autumn_repeated_hour_reads_no_row_twice(
    spark: SparkSession, tmp_path: Path
) -> None:
    # 00:30 and 01:30 UTC on 2026-10-25 are both 02:30 on a Paris clock (summer time ends at
    # 01:00 UTC): a watermark kept as Paris wall-clock text names the earlier of the two
    store = BookmarkStore(spark, str(tmp_path / "bookmarks"))
    rows = rows_frame(spark, [(1, datetime(2026, 10, 25, 0, 30)),
                                  (2, datetime(2026, 10, 25, 1, 30))], "id long, ts timestamp")
    with temporary_conf(spark, {"spark.sql.session.timeZone": "Europe/Paris"}):
        first = store.load("job_a")
        assert sorted(r.id for r in rows_after_watermark(rows, first, "events", "ts").collect()
                      ) == [1, 2]
        store.commit(first, "run-1")
        second = store.load("job_a")
        assert rows_after_watermark(rows, second, "events", "ts").collect() == []


def test_a_run_whose_bookmarks_cannot_be_read_is_logged_as_failed(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    # a bookmark table that is not one (here: another table's schema) fails the load
    rows_frame(spark, [("x",)], "other string").write.format("delta").save(
        str(lake_root / "_lakejobs" / "job_bookmarks"))
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)}}))

    with pytest.raises(AnalysisException):
        run(spark, "maintenance", config, "m1")

    logged = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "analytics_job_run"))
    [row] = logged.select("run_id", "status", "error_message").collect()
    assert (row.run_id, row.status) == ("m1", "FAILED")
    assert row.error_message.startswith("AnalysisException: ")


def test_an_optional_argument_given_empty_is_named() -> None:
    # e.g. --table "$TABLE" with the variable unset: landing_to_staging would validate every
    # table instead of the one meant
    with pytest.raises(JobArgumentError,
                       match=r"^landing_to_staging: argument --table: expected a non-empty value$"):
        resolve_options(["job.py", "--JOB_NAME", "j", "--env", "dev", "--table", ""],
                        COMMON_REQUIRED, {**COMMON_OPTIONAL, "table": "one table"},
                        job="landing_to_staging")


def test_a_batch_level_rule_does_not_stop_the_replay_of_a_few_quarantined_records(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    # a landed batch of fewer than 2 orders is suspect; a replay of 1 record is not a batch
    batch_size = {"id": "batch_size", "check": "row_count", "min": 2, "severity": "fail"}
    config = orders_lake(tmp_path, lake_root)
    write_rules(tmp_path, ["placed"], (batch_size,))
    first = run(spark, "landing_to_staging", config, "v1")
    write_rules(tmp_path, ["placed", "refunded"], (batch_size,))

    replay = run(spark, "replay_quarantine", config, "r1", "--table", "orders")

    assert (first.rows_written, first.rows_quarantined) == (1, 1)
    assert (replay.rows_read, replay.rows_written, replay.rows_quarantined) == (1, 1, 0)
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "orders"))
    assert sorted((r.order_id, r.order_status) for r in staged.collect()) == [
        (1, "placed"), (2, "refunded")]


def test_a_zorder_column_the_table_lacks_is_a_config_error_naming_the_key(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    table = str(lake_root / "staging" / "orders")
    rows_frame(spark, [(1, "a")], "id bigint, v string").write.format("delta").save(table)
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)}, "maintenance": {
        "tables": [{"zone": "staging", "name": "orders", "zorder_by": ["order_id"]}]}}))

    with pytest.raises(ConfigError, match=re.escape(
            "maintenance.tables (staging/orders).zorder_by: column(s) ['order_id'] are not in "
            "the table: expected some of ['id', 'v']")):
        run(spark, "maintenance", config, "m1")
