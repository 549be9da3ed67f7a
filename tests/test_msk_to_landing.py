"""The msk_to_landing job against a real Kafka broker: Debezium and envelope topics landed by
the job itself, incremental across runs, and exactly once across SIGKILLs of its process; the
file-backed source lands the same records the same way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from kafka_support import produce
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from streaming_records import envelope

from lakejobs.demo_data import rounds
from lakejobs.demo_kafka import kafka_records, publish
from lakejobs.local_kafka import LocalKafka
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.resources import resolve_location
from lakejobs.runtime import run_job
from lakejobs.streaming.manifest import load_manifest
from lakejobs.streaming.record_files import write_record_file

CUSTOMERS = "retail.customer.cdc"
EVENTS = "analytics.events"
BIN = Path(sys.executable).parent


def debezium(op: str, before: dict | None, after: dict | None, lsn: str) -> bytes:
    """A SQL Server Debezium change event as the JsonConverter writes it without schemas."""
    return json.dumps({
        "before": before, "after": after, "op": op, "ts_ms": 1764064800000,
        "source": {"connector": "sqlserver", "name": "retail", "db": "retail", "schema": "dbo",
                   "table": "customers", "change_lsn": lsn, "commit_lsn": lsn,
                   "ts_ms": 1764064799000},
    }).encode()


def customer(customer_id: int, email: str) -> dict:
    # birth_date: days since epoch (io.debezium.time.Date); updated_at: µs (MicroTimestamp)
    return {"customer_id": customer_id, "email": email, "phone": None, "full_name": "Ada",
            "country": "GB", "birth_date": 3652, "updated_at": 1764064799000000}


def config(tmp_path: Path, lake_root: Path, broker: LocalKafka, **streaming: object) -> Path:
    path = tmp_path / f"dev-{len(list(tmp_path.glob('dev-*.yaml')))}.yaml"
    path.write_text(json.dumps({
        "env": "dev", "lake": {"root": str(lake_root)},
        "spark": {"tiny_tables": True},  # for the job run as its own process (the fault test)
        "streaming": {"bootstrap_servers": broker.bootstrap_servers, "trigger": "available_now",
                      "topics": [CUSTOMERS, EVENTS], **streaming}}))
    return path


def run(spark: SparkSession, config_path: Path, run_id: str):
    argv = ["job.py", "--JOB_NAME", "msk_to_landing", "--env", "dev", "--config",
            str(config_path), "--JOB_RUN_ID", run_id]
    return run_job(get_job("msk_to_landing"), argv, spark=spark).result


@pytest.fixture(scope="module")
def topics(kafka_broker: LocalKafka) -> LocalKafka:
    kafka_broker.create_topic(CUSTOMERS, partitions=2)
    kafka_broker.create_topic(EVENTS, partitions=2)
    return kafka_broker


def test_the_job_lands_cdc_and_events_from_kafka_and_a_rerun_reads_only_new_records(
    spark: SparkSession, tmp_path: Path, lake_root: Path, topics: LocalKafka
) -> None:
    bootstrap = topics.bootstrap_servers
    produce(spark, bootstrap, CUSTOMERS, [
        (b'{"customer_id": 1}', debezium("c", None, customer(1, "a@x.io"), "00000027:0001:0001"), 0),
        (b'{"customer_id": 1}', debezium("u", customer(1, "a@x.io"), customer(1, "b@x.io"),
                                         "00000027:0002:0001"), 0),
        (b'{"customer_id": 1}', None, 0),  # tombstone after a delete
        (b'{"customer_id": 2}', b"garbage", 1),
    ])
    produce(spark, bootstrap, EVENTS, [
        (b"a-1", envelope("page_view", 1, "r-1", {"page_url": "/", "referrer": None}), 0),
        (b"a-1", envelope("page_view", 1, "r-1", {"page_url": "/", "referrer": None}), 0),
    ])
    cfg = config(tmp_path, lake_root, topics)

    first = run(spark, cfg, "run-1")
    produce(spark, bootstrap, EVENTS, [
        (b"a-2", envelope("add_to_cart", 1, "r-2", {"product_id": 5, "quantity": 1}), 1)])
    second = run(spark, cfg, "run-2")

    assert (first.rows_read, first.rows_written, first.rows_quarantined) == (6, 4, 1)
    assert first.summary["duplicates"] == 1
    assert (second.rows_read, second.rows_written, second.rows_quarantined) == (1, 1, 0)
    customers = spark.read.format("delta").load(str(lake_root / "landing" / "customers"))
    expected = rows_frame(spark, [
        (1, "a@x.io", date(1980, 1, 1), datetime(2025, 11, 25, 9, 59, 59), "c", 0),
        (1, "b@x.io", date(1980, 1, 1), datetime(2025, 11, 25, 9, 59, 59), "u", 1),
        (1, None, None, None, "t", 2),
    ], "customer_id long, email string, birth_date date, updated_at timestamp, _op string, "
       "_offset long")
    assert_df_equality(
        customers.select("customer_id", "email", "birth_date", "updated_at", "_op", "_offset"),
        expected, ignore_row_order=True, ignore_nullable=True)
    events = spark.read.format("delta").load(str(lake_root / "landing" / "events"))
    assert sorted(r["event_id"] for r in events.collect()) == ["r-1", "r-2"]


def landed_offsets(spark: SparkSession, lake_root: Path) -> list[tuple]:
    landed = spark.read.format("delta").load(str(lake_root / "landing" / "events")).select(
        F.col("_partition").alias("partition"), F.col("_offset").alias("offset"))
    quarantined = spark.read.format("delta").load(
        str(lake_root / "quarantine" / "kafka_quarantine")).select("partition", "offset")
    return sorted(tuple(r) for r in landed.unionByName(quarantined).collect())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def committed_batches(checkpoint: Path) -> set[int]:
    commits = checkpoint / "commits"
    return {int(p.name) for p in commits.iterdir() if p.name.isdigit()} if commits.exists() else set()


def landed_batches(lake_root: Path) -> set[int]:
    """Batch ids whose landing write is in the events table's Delta log (txn actions)."""
    log_dir = lake_root / "landing" / "events" / "_delta_log"
    found = set()
    for commit in log_dir.glob("*.json") if log_dir.exists() else []:
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "txn" in action:
                found.add(int(action["txn"]["version"]))
    return found


@pytest.mark.slow
def test_sigkill_after_commits_and_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    spark: SparkSession, tmp_path: Path, lake_root: Path, kafka_broker: LocalKafka
) -> None:
    topic = "analytics.events.fault"
    kafka_broker.create_topic(topic, partitions=2)
    records = []
    for i in range(240):
        payload = {"page_url": f"/p/{i}", "referrer": None}
        value = b"not json" if i % 37 == 0 else envelope("page_view", 1, f"r-{i}", payload)
        records.append((f"a-{i % 7}".encode(), value, i % 2))
    produce(spark, kafka_broker.bootstrap_servers, topic, records)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"routes": [{
        "name": "page_view_v1", "format": "envelope", "topics": [topic], "event": "page_view",
        "version": 1, "target": "events",
        "columns": [{"name": "page_url", "type": "string", "nullable": False},
                    {"name": "referrer", "type": "string"}]}]}))
    streaming = {"topics": [topic], "manifest": str(manifest), "max_offsets_per_trigger": 30,
                 "trigger": "processing_time", "trigger_interval": "1 second"}
    continuous = config(tmp_path, lake_root, kafka_broker, **streaming)
    checkpoint = lake_root / "_lakejobs" / "checkpoints" / "msk_to_landing"

    def start(cfg: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [str(BIN / "lakejobs"), "run", "msk_to_landing", "--JOB_NAME", "msk_to_landing",
             "--env", "dev", "--config", str(cfg)],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYSPARK_PYTHON": sys.executable})

    # 1. killed after some batches committed
    job = start(continuous)
    wait_for(lambda: len(committed_batches(checkpoint)) >= 2, 180, "two committed batches")
    job.send_signal(signal.SIGKILL)
    job.wait(30)
    # 2. killed in the middle of a new batch: its landing write is done, its commit is not
    first_new = max(landed_batches(lake_root) | committed_batches(checkpoint)) + 1
    job = start(continuous)
    wait_for(lambda: {b for b in landed_batches(lake_root) - committed_batches(checkpoint)
                      if b >= first_new}, 180, "a new batch landed but not committed")
    job.send_signal(signal.SIGKILL)
    job.wait(30)
    interrupted = {b for b in landed_batches(lake_root) - committed_batches(checkpoint)
                   if b >= first_new}
    # 3. restarted (in this process, to save a JVM start): lands everything still available
    final = config(tmp_path, lake_root, kafka_broker, **{
        **streaming, "trigger": "available_now", "max_offsets_per_trigger": 1000})
    run(spark, final, "restart")

    assert interrupted, "the second kill did not land in the middle of a batch"
    expected = sorted((i % 2, i // 2) for i in range(240))
    assert landed_offsets(spark, lake_root) == expected  # each record exactly once


def landing_rows(spark: SparkSession, lake: Path, table: str) -> DataFrame:
    """A Parquet landing table's records, without the columns that say when and from where."""
    rows = spark.read.parquet(*[str(p) for p in (lake / "landing" / table).rglob("*.parquet")])
    return rows.drop("_partition", "_offset", "_kafka_timestamp", "_ingested_at", "_batch_id",
                     "_is_late")


def test_the_demo_records_land_the_same_from_a_broker_and_from_record_files(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The file-backed source feeds the same code as Kafka: one round of the demo's records,
    published to a broker of its own (the demo's topic names, created by its publisher) and
    written as a record file, lands the same rows; a second run of each reads nothing new."""
    records = kafka_records(rounds(12), load_manifest(
        resolve_location("conf/streaming/manifest.yaml")))[1]
    with LocalKafka(tmp_path / "kafka") as kafka_broker:
        publish(spark, kafka_broker.bootstrap_servers, records)
        land_from_both(spark, tmp_path, kafka_broker.bootstrap_servers, records)


def land_from_both(spark: SparkSession, tmp_path: Path, bootstrap: str, records: list) -> None:
    """Land ``records`` from the broker and from a record file into two lakes; compare."""
    folder = tmp_path / "records"
    assert write_record_file(spark, records, folder, "round-1")
    assert not write_record_file(spark, records, folder, "round-1")  # never twice
    lakes = {"kafka": tmp_path / "lake-kafka", "files": tmp_path / "lake-files"}
    for source, lake in lakes.items():
        path = tmp_path / f"{source}.yaml"
        path.write_text(json.dumps({
            "env": "dev", "lake": {"root": str(lake)},
            "streaming": {"trigger": "available_now", "landing_format": "parquet",
                          "topics": sorted({r[2] for r in records})}}))
        source_args = (["--bootstrap_servers", bootstrap]
                       if source == "kafka" else ["--records_path", str(folder)])
        argv = ["job.py", "--JOB_NAME", "msk_to_landing", "--env", "dev", "--config", str(path),
                *source_args]
        first = run_job(get_job("msk_to_landing"), argv, spark=spark).result
        again = run_job(get_job("msk_to_landing"), argv, spark=spark).result
        assert (first.rows_read, first.rows_quarantined, first.summary["duplicates"]) == (
            len(records), 0, 3), source
        assert first.rows_written == len(records) - 3
        assert again.rows_read == 0
    for table in ("customers", "products", "orders", "order_items", "events"):
        from_kafka = landing_rows(spark, lakes["kafka"], table)
        assert from_kafka.count() > 0, table
        assert_df_equality(from_kafka, landing_rows(spark, lakes["files"], table),
                           ignore_row_order=True, ignore_column_order=True)
