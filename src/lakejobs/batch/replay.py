"""Quarantine replay: after a contract or rule fix, quarantined records are validated again.

The ``replay_quarantine`` job (``--table``) takes the quarantine rows of a table that were never
replayed, or that failed their last replay, and runs their original records through the same
contract and row rules as landing → staging (dataset rules judge landed batches, which a replay
is not). Rows that now pass go to staging; rows that still fail stay in quarantine with the
reasons of this replay. Every replayed quarantine row is marked
(``replayed_at``, ``replay_run_id``, ``replay_outcome`` = ``staged`` | ``still_failing``).

No duplicates, also across crashes: a replayed record's staging rows carry
``_quarantine_key`` (a hash of its source file, record hash and original run), and staging rows
are written by replacing the rows with the same keys. A replay that crashed after writing staging
but before marking quarantine is simply done again and replaces what it wrote.
Conservation: replayed rows = staged + still failing, checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.batch.conform import conform, contract_checks
from lakejobs.batch.contracts import Contract
from lakejobs.batch.landing import landed_json
from lakejobs.batch.landing_to_staging import configured_table, reference_tables, table_rules
from lakejobs.batch.rules import Check, RuleSet
from lakejobs.batch.validate import all_checks, flag_rows, good_rows, measure_and_hold_bad_rows
from lakejobs.batch.validation_io import check_evolution, staging_rows
from lakejobs.commit_versions import ROW_TRACKING_OPTIONS, enable_row_tracking
from lakejobs.delta_io import is_delta_table, read_delta, rows_written_since, table_version
from lakejobs.errors import ConservationError, DataQualityError
from lakejobs.runtime import JobContext, JobResult

log = logging.getLogger(__name__)

QUARANTINE_KEY = "_quarantine_key"
REPLAYED_AT, REPLAY_RUN_ID, REPLAY_OUTCOME = "replayed_at", "replay_run_id", "replay_outcome"
STAGED, STILL_FAILING = "staged", "still_failing"
MAX_KEYS = 1_000_000  # keys of one replay are collected for the staging replace


def quarantine_key(alias: str | None = None) -> Column:
    """The identity of a quarantined record: source file, record hash and the run that
    quarantined it (identical records of one file and run share it, and share their fate)."""
    prefix = f"{alias}." if alias else ""
    parts = [F.col(f"{prefix}{c}") for c in ("_source_file", "record_hash", "run_id")]
    return F.sha2(F.concat_ws("|", *parts), 256)


def pending(quarantine: DataFrame) -> DataFrame:
    """Quarantine rows never replayed or still failing after their last replay."""
    if REPLAY_OUTCOME not in quarantine.columns:
        return quarantine
    return quarantine.where(F.col(REPLAY_OUTCOME).isNull()
                            | (F.col(REPLAY_OUTCOME) == STILL_FAILING))


def run(context: JobContext) -> JobResult:
    """Replay the quarantined records of ``--table``."""
    spark, paths = context.spark, context.paths
    table = configured_table(context, context.args["table"])
    contract, rule_set = table_rules(table)
    # as landing → staging does, before any work: a contract that changed a column's type (or
    # breaks its evolution policy) would otherwise reach staging through the schema merge
    check_evolution(spark, paths.table("staging", table.name), contract)
    quarantine_path = paths.table("quarantine", table.name)
    if not is_delta_table(spark, quarantine_path):
        return JobResult(summary={table.name: {"replayed": 0}})
    waiting = pending(read_delta(spark, quarantine_path)).withColumn(
        QUARANTINE_KEY, quarantine_key()).persist()
    try:
        return _replay(context, table.name, contract, rule_set, waiting, quarantine_path)
    finally:
        waiting.unpersist()


def _replay(
    context: JobContext, name: str, contract: Contract, rule_set: RuleSet, waiting: DataFrame,
    quarantine_path: str,
) -> JobResult:
    spark = context.spark
    n_waiting = waiting.count()
    if n_waiting == 0:
        return JobResult(summary={name: {"replayed": 0}})
    keys = waiting.select("_source_file", "record_hash", QUARANTINE_KEY).distinct()
    table = configured_table(context, name)
    references = reference_tables(context, table)
    checks = all_checks(rule_set, contract_checks(contract))
    flagged = (
        landed_json(waiting.select(F.col("raw_record").alias("value"), "_source_file"), contract)
        .transform(conform(contract))
        .transform(flag_rows(rule_set, references, source=str(table.rules)))
        .withColumn("record_hash", F.sha2(F.col("_raw_record"), 256))
        .join(keys, on=["_source_file", "record_hash"], how="left")
    )
    measurement, bad = measure_and_hold_bad_rows(flagged, rule_set, checks, table=name,
                                                 run_id=context.run_id)
    # dataset rules (row count, aggregates, freshness) judge a landed batch; the quarantined
    # records of a replay are no batch (few, and old by definition): only row rules stop it
    failed = [o.rule for o in measurement.failed if o.level == "row"]
    try:
        if failed:
            raise DataQualityError(f"{name}: replay stopped by fail-level rules "
                                   f"{failed}: nothing was written")
        failing_keys = bad.join(keys, on=["_source_file", "record_hash"], how="left").select(
            QUARANTINE_KEY, F.col("failures").alias("_replay_failures")).dropDuplicates(
            [QUARANTINE_KEY])
        staged = _write_staging(context, name, contract, checks, flagged, keys)
        outcomes = keys.select(QUARANTINE_KEY).join(failing_keys, on=QUARANTINE_KEY, how="left")
        _mark(spark, quarantine_path, outcomes, context.run_id)
        still_failing = measurement.rows_bad
    finally:
        bad.unpersist()
    if staged + still_failing != n_waiting:
        raise ConservationError(f"{name}: {n_waiting} quarantined rows replayed but {staged} "
                                f"staged + {still_failing} still failing")
    figures = {"replayed": n_waiting, "staged": staged, "still_failing": still_failing}
    log.info("replay %s: %s", name, figures)
    return JobResult(rows_read=n_waiting, rows_written=staged, rows_quarantined=still_failing,
                     summary={name: figures})


def _write_staging(
    context: JobContext, name: str, contract: Contract, checks: Sequence[Check],
    flagged: DataFrame, keys: DataFrame,
) -> int:
    """Replace the staging rows of the replayed keys by the rows that now pass."""
    spark = context.spark
    path = context.paths.table("staging", name)
    good = flagged.transform(good_rows(contract.names, checks, keep=[QUARANTINE_KEY])).transform(
        lambda rows: staging_rows(rows, context.run_id))
    # staging's incremental readers follow commit versions; turned on (a table written before)
    # ahead of the version the written rows are counted from
    enable_row_tracking(spark, path)
    before = table_version(spark, path)
    writer = good.write.format("delta").option("mergeSchema", "true")
    if not is_delta_table(spark, path):  # created as landing → staging creates it
        writer = writer.options(**ROW_TRACKING_OPTIONS).mode("append")
    elif QUARANTINE_KEY in read_delta(spark, path).columns:
        replayed = [r[0] for r in keys.select(QUARANTINE_KEY).limit(MAX_KEYS + 1).collect()]
        if len(replayed) > MAX_KEYS:
            raise DataQualityError(f"{name}: more than {MAX_KEYS} quarantined records to "
                                   "replay at once: replay per source (fix, then run again)")
        quoted = ", ".join(f"'{k}'" for k in replayed)  # hex digests: nothing to escape
        writer = writer.mode("overwrite").option("replaceWhere",
                                                 f"{QUARANTINE_KEY} IN ({quoted})")
    else:
        writer = writer.mode("append")  # no replayed rows in staging yet: nothing to replace
    writer.save(path)
    return rows_written_since(spark, path, before)


def _mark(spark: SparkSession, path: str, outcomes: DataFrame, run_id: str) -> None:
    """Mark the replayed quarantine rows with this replay's outcome."""
    columns = read_delta(spark, path).columns
    if REPLAY_OUTCOME not in columns:
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({REPLAYED_AT} timestamp, "
                  f"{REPLAY_RUN_ID} string, {REPLAY_OUTCOME} string, "
                  f"_replay_failures array<struct<rule:string,severity:string,reason:string>>)")
    now = datetime.now(UTC)
    source = outcomes.select(
        QUARANTINE_KEY,
        F.when(F.col("_replay_failures").isNull(), F.lit(STAGED)).otherwise(F.lit(STILL_FAILING))
        .alias(REPLAY_OUTCOME),
        F.col("_replay_failures"),
    )
    (
        DeltaTable.forPath(spark, path).alias("t")
        .merge(source.alias("s"), quarantine_key("t") == F.col(f"s.{QUARANTINE_KEY}"))
        .whenMatchedUpdate(set={
            REPLAYED_AT: F.lit(now).cast("timestamp"),
            REPLAY_RUN_ID: F.lit(run_id),
            REPLAY_OUTCOME: F.col(f"s.{REPLAY_OUTCOME}"),
            "_replay_failures": F.col("s._replay_failures"),
        })
        .execute()
    )
