"""Reading and writing Delta tables by location. The only place jobs touch Delta's API."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from delta.tables import DeltaMergeBuilder, DeltaTable
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import types as T

from lakejobs._compat import current_stack, is_delta_conflict
from lakejobs.concurrency import run_side_by_side
from lakejobs.errors import DeltaConflictError
from lakejobs.local_rows import rows_frame
from lakejobs.spark_conf import session_with

log = logging.getLogger(__name__)
R = TypeVar("R")

# Delta refuses a VACUUM retention below the table's (7 days by default) unless this is off.
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# Delta 4.2 (Glue 6) ignores a VACUUM retention other than 0 hours unless this is off: it logs
# "Vacuum with retention threshold other than 0 hours is ignored" and keeps the table's
# delta.deletedFileRetentionDuration (7 days) instead, so a shorter retention removed nothing
# and a longer one deleted files still inside it. Delta 3.3 has no such setting and always
# keeps the retention it is given; setting the key there changes nothing.
RETENTION_WINDOW_IGNORE = "spark.databricks.delta.vacuum.retentionWindowIgnore.enabled"
# The transaction id of the Delta commits of DML statements (see :func:`idempotent_session`).
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at ``path``."""
    return DeltaTable.isDeltaTable(spark, path)


def read_delta(spark: SparkSession, path: str, schema: T.StructType | None = None) -> DataFrame:
    """The table at ``path``; an empty frame of ``schema`` when there is none yet."""
    if schema is not None and not is_delta_table(spark, path):
        return rows_frame(spark, [], schema)
    return spark.read.format("delta").load(path)


def append(df: DataFrame, path: str, *, merge_schema: bool = False,
           txn: tuple[str, int] | None = None, partition_by: Sequence[str] | None = None,
           properties: Mapping[str, str] | None = None) -> None:
    """Append ``df`` to the Delta table at ``path`` (created on first write); with
    ``merge_schema`` new columns of ``df`` are added to the table. ``txn`` (application id,
    version): Delta's transaction identifiers, which skip the append when that application has
    committed that version (or a later one) already: an idempotent append. ``partition_by`` and
    ``properties`` (table properties) shape the table this write creates."""
    writer = df.write.format("delta").mode("append")
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if txn is not None:
        writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
    if partition_by is not None:
        writer = writer.partitionBy(*partition_by)
    for key, value in (properties or {}).items():
        writer = writer.option(key, value)
    writer.save(path)


def ensure_table(
    spark: SparkSession, path: str, schema: T.StructType, partition_by: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
) -> DeltaTable:
    """The Delta table at ``path``, created empty with ``schema`` (and table ``properties``)
    if it does not exist."""
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    builder.execute()
    return DeltaTable.forPath(spark, path)


def insert_new(df: DataFrame, path: str, keys: Sequence[str]) -> None:
    """Insert the rows of ``df`` whose ``keys`` are not in the table yet (idempotent append).

    A replayed batch finds every key present and writes nothing.
    """
    target = ensure_table(df.sparkSession, path, df.schema)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    (
        target.alias("t")
        .merge(df.alias("s"), condition)
        .whenNotMatchedInsertAll()
        .execute()
    )


def upsert_latest(df: DataFrame, path: str, keys: Sequence[str], order_by: str) -> None:
    """Upsert ``df`` by ``keys``: insert new keys, update a key only with a newer ``order_by``.

    ``df`` must hold at most one row per key (deduplicate first). Replays change nothing.
    """
    target = ensure_table(df.sparkSession, path, df.schema)
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    (
        target.alias("t")
        .merge(df.alias("s"), condition)
        .whenMatchedUpdateAll(condition=f"s.`{order_by}` > t.`{order_by}`")
        .whenNotMatchedInsertAll()
        .execute()
    )


def merge_changed(
    df: DataFrame,
    path: str,
    keys: Sequence[str],
    *,
    ignore: Sequence[str] = (),
    partition_by: Sequence[str] = (),
    delete_missing: Column | None = None,
) -> dict[str, int]:
    """Make the table at ``path`` hold ``df``'s rows, by ``keys``, writing only what differs.

    New keys are inserted; a matched row is updated only when a column (other than ``ignore``,
    e.g. a load timestamp) differs, so a rerun or a replayed batch commits no change. With
    ``delete_missing`` (a condition on the target, alias ``t``), target rows in that scope that
    ``df`` no longer holds are deleted: how a recomputed slice (e.g. some days) replaces the old.

    Returns:
        Delta's operation metrics of the MERGE (empty when it committed nothing).
    """
    target = ensure_table(df.sparkSession, path, df.schema, partition_by)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    compared = [c for c in df.columns if c not in keys and c not in ignore]
    if not _differs(df, target.toDF(), [*keys, *compared], delete_missing):
        return {}  # Delta would commit an empty MERGE; a replay should leave no trace
    differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in compared) or "false"
    merge = (
        target.alias("t")
        .merge(df.alias("s"), on)
        .whenMatchedUpdateAll(condition=differs)
        .whenNotMatchedInsertAll()
    )
    if delete_missing is not None:
        merge = merge.whenNotMatchedBySourceDelete(condition=delete_missing)
    return execute_merge(merge, target)


# Delta 4's MERGE returns its counts; named as in the commit's operation metrics
_MERGE_COUNTS = {"num_inserted_rows": "numTargetRowsInserted",
                 "num_updated_rows": "numTargetRowsUpdated",
                 "num_deleted_rows": "numTargetRowsDeleted"}


def retry_on_conflict(
    action: Callable[[], R], *, what: str, attempts: int = 8,
    error: type[DeltaConflictError] = DeltaConflictError,
) -> tuple[int, R]:
    """Run ``action`` (a change of Delta tables that reads what it changes inside the call), and
    run it again when a concurrent writer's commit makes Delta refuse it as a conflict.

    Between tries a jittered pause (0.1-0.3 s, doubling up to 5 s): two writers that collided
    should not retry in lockstep. Returns (the try that succeeded, its result).

    Raises:
        DeltaConflictError: (``error``, one of its kinds) still conflicting after ``attempts``
            tries; errors other than Delta's conflicts at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return attempt, action()
        except (Py4JJavaError, PySparkException) as e:
            if not is_delta_conflict(e):
                raise
            if attempt == attempts:
                raise error(f"{what}: still conflicting with concurrent writers after {attempt} "
                            "attempts") from e
            pause = min(5.0, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random())
            log.info("%s: concurrent commit, retrying in %.1fs (attempt %d)", what, pause, attempt)
            time.sleep(pause)
    raise ValueError(f"attempts: expected at least 1, got {attempts}")


def execute_merge(merge: DeltaMergeBuilder, table: DeltaTable) -> dict[str, int]:
    """Run ``merge`` (into ``table``) and return its row counts (``numTargetRowsInserted``,
    ``numTargetRowsUpdated``, ``numTargetRowsDeleted``; nothing written: zeros or empty).

    Delta 4 returns them from the MERGE itself; Delta 3 (Glue 5.1) returns nothing, so they come
    from the commit's operation metrics (the version before the MERGE is read only then).
    """
    if current_stack().merge_returns_counts:
        row = merge.execute().first()
        return {name: int(row[column] or 0) for column, name in _MERGE_COUNTS.items()} if row else {}
    before = latest_version(table)
    merge.execute()
    return _commit_metrics(table, before)


def idempotent_session(spark: SparkSession, app_id: str) -> SparkSession:
    """A copy of ``spark`` (:func:`~lakejobs.spark_conf.session_with`) whose Delta commits carry
    the transaction id (``app_id``, 0): a statement run in it again for the same ``app_id``
    commits nothing, as Delta skips a write whose id the table already holds. One ``app_id`` per
    batch of input and table.

    DML (MERGE, UPDATE, DELETE) reads the id from its session's settings, not from writer
    options. Set in ``spark`` itself, it would also stamp the commits other threads make in
    ``spark`` meanwhile, and a table stamped so would later skip that batch's own write."""
    return session_with(spark, {TXN_APP_ID: app_id, TXN_VERSION: "0"})


def _commit_metrics(table: DeltaTable, before: int) -> dict[str, int]:
    """Delta's operation metrics of the MERGE committed after version ``before``; empty when the
    MERGE committed nothing. With a concurrent writer the newest MERGE could be theirs, so the
    counts are informational."""
    last = table.history(1).select("version", "operation", "operationMetrics").first()
    if last is None or last.version == before or last.operation != "MERGE":
        return {}
    metrics = dict(last.operationMetrics or {})
    return {k: int(v) for k, v in metrics.items() if v is not None and str(v).isdigit()}


def _differs(
    source: DataFrame, target: DataFrame, columns: Sequence[str], delete_missing: Column | None
) -> bool:
    """Whether merging ``source`` would change ``target``: a source row with no identical target
    row, or (with ``delete_missing``) a target row in scope with no identical source row."""
    same = [source[c].eqNullSafe(target[c]) for c in columns]
    condition = same[0]
    for part in same[1:]:
        condition = condition & part
    if not source.join(target, on=condition, how="left_anti").isEmpty():
        return True
    if delete_missing is None:
        return False
    scoped = target.alias("t").where(delete_missing)
    return not scoped.join(source, on=[scoped[c].eqNullSafe(source[c]) for c in columns],
                           how="left_anti").isEmpty()


def vacuum(spark: SparkSession, path: str, retention_hours: float, *,
           allow_short_retention: bool = False) -> None:
    """VACUUM the Delta table at ``path``: delete the files it no longer references that were
    removed (and written) more than ``retention_hours`` ago, on both stacks alike.

    ``allow_short_retention`` lets a retention below Delta's safety limit (7 days) through; the
    caller checked that config asks for it.
    """
    vacuum_tables(spark, [path], retention_hours, allow_short_retention=allow_short_retention)


def vacuum_tables(spark: SparkSession, paths: Sequence[str], retention_hours: float, *,
                  allow_short_retention: bool = False, threads: int = 1) -> None:
    """:func:`vacuum` each table of ``paths``, up to ``threads`` side by side.

    A VACUUM of a small table is mostly driver work (listing, comparing with the log) while the
    executors idle; two side by side overlap it (measured: four tables of a few files 4.6 s one
    after another, 3.3 s on two threads).
    """
    # In a copy of the session: the settings hold for these VACUUMs only, not for what other
    # threads run in ``spark`` meanwhile, and nothing is set back afterwards.
    settings = {RETENTION_WINDOW_IGNORE: "false"}
    if allow_short_retention:
        settings[RETENTION_CHECK] = "false"
    session = session_with(spark, settings)
    run_side_by_side([partial(_vacuum_one, session, path, float(retention_hours))
                      for path in paths], threads)


def _vacuum_one(spark: SparkSession, path: str, retention_hours: float) -> None:
    DeltaTable.forPath(spark, path).vacuum(retention_hours)


def table_version(spark: SparkSession, path: str) -> int:
    """The latest version of the Delta table at ``path``; -1 when there is no table."""
    if not is_delta_table(spark, path):
        return -1
    return latest_version(DeltaTable.forPath(spark, path))


def latest_version(table: DeltaTable) -> int:
    """The latest committed version of ``table``, read from its transaction log.

    ``DeltaLog.update()`` is what Delta's own commands call before they read; ``history(1)``
    gives the same number through a Spark job (~10x slower, and jobs call this around every
    write). The log method is the same on Delta 3.3 and 4.2 (both stacks are tested).
    """
    return int(_latest_snapshot(table).version())


def table_state(spark: SparkSession, path: str) -> str | None:
    """Which table is at ``path`` and at which version, as ``<table id>@<version>``; ``None``
    when there is no table.

    Two equal states mean the table has not changed: a table dropped and created again at the
    same path gets a new id, so it never passes for the old one at the same version number.
    """
    if not is_delta_table(spark, path):
        return None
    snapshot = _latest_snapshot(DeltaTable.forPath(spark, path))
    return f"{snapshot.metadata().id()}@{snapshot.version()}"


def table_size_bytes(table: DeltaTable) -> int | None:
    """The bytes of ``table``'s data files at the latest version this session has seen, when
    Delta knows them without a Spark job (from the version's checksum file); None otherwise.
    Neither lists the log nor runs a job: a hint for choosing how to write, not a figure to
    report (a commit by another session since may have changed it). A Delta build without these
    methods gives None too."""
    try:
        snapshot = table._jdt.deltaLog().unsafeVolatileSnapshot()  # not in the Python API
        size = snapshot.sizeInBytesIfKnown()
        return int(size.get()) if size.isDefined() else None
    except Py4JError as e:
        log.debug("no table size from Delta's log: %s", e)
        return None


def _latest_snapshot(table: DeltaTable) -> Any:
    jvm = table._spark.sparkContext._jvm  # the log is not in the Python API
    empty = jvm.scala.Option.empty()
    return table._jdt.deltaLog().update(False, empty, empty)


def rows_written_since(spark: SparkSession, path: str, version: int) -> int:
    """Rows the commits after ``version`` wrote (Delta's ``numOutputRows``); 0 if none.

    A write that has nothing to add or remove may commit nothing, so the caller notes the version
    before writing instead of trusting the latest commit to be its own.
    """
    if not is_delta_table(spark, path):
        return 0
    history = DeltaTable.forPath(spark, path).history().where(f"version > {version}")
    return sum(int((r.operationMetrics or {}).get("numOutputRows", 0))
               for r in history.select("operationMetrics").collect())
