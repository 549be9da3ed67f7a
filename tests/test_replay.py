"""Quarantine replay: after a rule fix the records that now pass are staged once, the rest stay
quarantined, every replayed row is marked, and replaying again duplicates nothing."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job

ORDERS = [
    {"order_id": 1, "customer_id": 7, "order_status": "placed", "order_total": "10.00",
     "currency": "EUR", "ordered_at": "2026-11-22T10:00:00Z"},
    {"order_id": 2, "customer_id": 7, "order_status": "refunded", "order_total": "5.00",
     "currency": "EUR", "ordered_at": "2026-11-22T11:00:00Z"},
    {"order_id": 3, "customer_id": 8, "order_status": "placed", "order_total": "3.00",
     "currency": "EURO", "ordered_at": "2026-11-22T12:00:00Z"},
]


def rules(tmp_path: Path, statuses: list[str]) -> None:
    (tmp_path / "orders-rules.yaml").write_text(json.dumps({"table": "orders", "rules": [
        {"id": "order_status_known", "check": "in_set", "column": "order_status",
         "severity": "drop", "values": statuses},
        {"id": "currency_code", "check": "regex", "column": "currency", "pattern": "^[A-Z]{3}$",
         "severity": "drop"},
    ]}))


def run(spark: SparkSession, job: str, config: Path, run_id: str, *extra: str) -> JobResult:
    argv = ["job.py", "--JOB_NAME", job, "--env", "dev", "--config", str(config),
            "--JOB_RUN_ID", run_id, *extra]
    return run_job(get_job(job), argv, spark=spark).result


def test_replay_after_a_rule_fix_stages_what_now_passes_exactly_once(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    folder = lake_root / "landing" / "orders" / "dt=2026-11-22"
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("\n".join(json.dumps(o) for o in ORDERS) + "\n")
    (folder / "_SUCCESS").write_text("")
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)}, "validation": {
        "tables": [{"name": "orders", "contract": "conf/contracts/orders.yaml",
                    "rules": str(tmp_path / "orders-rules.yaml")}]}}))
    rules(tmp_path, ["placed", "paid"])
    first = run(spark, "landing_to_staging", config, "v1")
    assert (first.rows_written, first.rows_quarantined) == (1, 2)

    rules(tmp_path, ["placed", "paid", "refunded"])  # the fix: refunds are legitimate
    replay = run(spark, "replay_quarantine", config, "r1", "--table", "orders")
    again = run(spark, "replay_quarantine", config, "r2", "--table", "orders")

    assert (replay.rows_read, replay.rows_written, replay.rows_quarantined) == (2, 1, 1)
    assert (again.rows_read, again.rows_written, again.rows_quarantined) == (1, 0, 1)
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "orders"))
    assert_df_equality(
        staged.select("order_id", "order_status", "currency"),
        rows_frame(spark, [(1, "placed", "EUR"), (2, "refunded", "EUR")],
                              "order_id bigint, order_status string, currency string"),
        ignore_row_order=True, ignore_nullable=True)
    quarantine = spark.read.format("delta").load(str(lake_root / "quarantine" / "orders"))
    marked = quarantine.selectExpr(
        "get_json_object(raw_record, '$.order_id') AS order_id", "replay_run_id",
        "replay_outcome", "transform(_replay_failures, f -> f.rule) AS replay_failed")
    assert_df_equality(marked, rows_frame(spark, [
        ("2", "r1", "staged", None),
        ("3", "r2", "still_failing", ["currency_code"]),
    ], "order_id string, replay_run_id string, replay_outcome string, "
       "replay_failed array<string>"), ignore_row_order=True, ignore_nullable=True)


def test_replay_of_a_streamed_parquet_row_stages_its_exact_values_and_metadata_is_not_drift(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    # what the streaming job lands: typed columns (microsecond timestamps) and its own
    # _-prefixed metadata; orders quarantine drift, so metadata taken for drift never replays
    rows_frame(spark,
        [(1, 7, "placed", Decimal("10.00"), "EUR", datetime(2026, 11, 22, 10, 0, 0, 123456),
          "retail.orders", 5),
         (2, 7, "refunded", Decimal("5.00"), "EUR", datetime(2026, 11, 22, 11, 0, 0, 654321),
          "retail.orders", 6)],
        "order_id bigint, customer_id bigint, order_status string, order_total decimal(12,2), "
        "currency string, ordered_at timestamp, _topic string, _offset bigint",
    ).write.parquet(str(lake_root / "landing" / "orders" / "hour=10" / "batch=0"))
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)}, "validation": {
        "tables": [{"name": "orders", "contract": "conf/contracts/orders.yaml",
                    "rules": str(tmp_path / "orders-rules.yaml")}]}}))
    rules(tmp_path, ["placed"])
    first = run(spark, "landing_to_staging", config, "v1")
    rules(tmp_path, ["placed", "refunded"])
    replay = run(spark, "replay_quarantine", config, "r1", "--table", "orders")

    assert (first.rows_written, first.rows_quarantined) == (1, 1)
    assert (replay.rows_read, replay.rows_written, replay.rows_quarantined) == (1, 1, 0)
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "orders"))
    assert_df_equality(
        staged.select("order_id", "ordered_at", F.map_keys("_extra_columns").alias("extra")),
        rows_frame(spark, [
            (1, datetime(2026, 11, 22, 10, 0, 0, 123456), []),
            (2, datetime(2026, 11, 22, 11, 0, 0, 654321), []),
        ], "order_id bigint, ordered_at timestamp, extra array<string>"),
        ignore_row_order=True, ignore_nullable=True)
