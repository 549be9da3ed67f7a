"""Snapshot mode: a full extract of a source table (no CDC) turned into changes, as dbt does.

Keys new to the dimension are inserts, keys whose attributes differ from their current version
are updates, current keys missing from the snapshot are deletes; identical keys produce nothing,
except an inferred member (a placeholder): its key in the snapshot is its first real change and
fills it, even when the real row's attributes are as empty as the placeholder's. A placeholder
missing from the snapshot stays as it is (it exists because the source does not hold the key
yet). A key the snapshot holds twice is rejected and its version left alone.
Snapshots are meant to be applied in order; each is stamped with one sequence value.

Concurrency: the changes are the difference between the snapshot and the dimension at one
version, and a writer committing between that read and the MERGE (a CDC stream, another
snapshot) would leave a difference nobody applied: a key it inserts that the snapshot lacks
would stay current. So the commits after that version are checked; when one is not this call's
own (Delta's commit ``userMetadata`` tags them, set in a copy of the session that runs the pass,
so that commits other threads make in the caller's session are not tagged), the snapshot is
applied again against the new version. Applying a snapshot twice changes nothing, so a second
pass writes only the difference the first one missed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakejobs.delta_io import table_version
from lakejobs.errors import ConfigError
from lakejobs.scd.history import tracked_hash
from lakejobs.scd.merge import ScdConflictError, ScdResult, apply_changes
from lakejobs.scd.spec import IS_CURRENT, IS_INFERRED, ScdSpec
from lakejobs.spark_conf import session_with

log = logging.getLogger(__name__)

SNAPSHOT_OP = "_snapshot_op"
# Delta writes this session setting into the commitInfo of every commit the session makes
COMMIT_TAG = "spark.databricks.delta.commitInfo.userMetadata"


def snapshot_changes(
    snapshot: DataFrame, current: DataFrame, spec: ScdSpec, sequence: Any, effective_at: datetime | None
) -> DataFrame:
    """Change rows (op ``c``/``u``/``d``) that turn the ``current`` versions into ``snapshot``."""
    attributes = list(spec.attribute_columns)
    # Fingerprints hash the values' JSON: a decimal(12,4) 1.5000 is not the text of the
    # decimal(10,2) 1.50 the dimension holds (nor a float the double it becomes), so the
    # snapshot's attributes are read in the dimension's types (the merge casts them to those).
    stored = {f.name: f.dataType for f in current.schema.fields}
    snap = snapshot.select(*spec.keys, *[F.col(c).cast(stored[c]).alias(c) if c in stored
                                         else F.col(c) for c in attributes])
    snap = snap.withColumn("_new_fp", tracked_hash(tuple(attributes), snap.schema))
    # (no dimension yet: ``current`` is the empty snapshot, without the flag)
    placeholder = F.col(IS_INFERRED) if IS_INFERRED in current.columns else F.lit(False)
    cur = current.select(*spec.keys, *attributes, placeholder.alias("_placeholder"))
    cur = cur.withColumn("_old_fp", tracked_hash(tuple(attributes), cur.schema))
    joined = snap.alias("n").join(cur.alias("o"), on=list(spec.keys), how="full")
    is_placeholder = F.coalesce(F.col("_placeholder"), F.lit(False))
    op = (
        F.when(F.col("_old_fp").isNull(), F.lit("c"))
        .when(F.col("_new_fp").isNull(), F.when(~is_placeholder, F.lit("d")))
        .when((F.col("_new_fp") != F.col("_old_fp")) | F.col("_placeholder"), F.lit("u"))
    )
    columns = [
        *[F.col(k) for k in spec.keys],
        *[F.coalesce(F.col(f"n.{c}"), F.when(F.col("_new_fp").isNull(), F.col(f"o.{c}"))).alias(c)
          for c in attributes],
        F.lit(sequence).alias(spec.sequence_by),
    ]
    if spec.effective_at:
        columns.append(F.lit(effective_at).cast("timestamp").alias(spec.effective_at))
    return joined.withColumn(SNAPSHOT_OP, op).where(F.col(SNAPSHOT_OP).isNotNull()).select(
        *columns, F.col(SNAPSHOT_OP))


def duplicate_snapshot_keys(snapshot: DataFrame, spec: ScdSpec) -> DataFrame:
    """Snapshot rows whose key occurs more than once (a snapshot has one row per key). Rows with
    a null key are left to the merge, which rejects them for that reason (once)."""
    per_key = Window.partitionBy(*spec.keys)
    return (
        snapshot.where(spec.keys_present()).withColumn("_copies", F.count(F.lit(1)).over(per_key))
        .where(F.col("_copies") > 1)
        .drop("_copies")
        .withColumn("_reasons", F.array(F.lit("duplicate_key_in_snapshot")))
    )


def apply_snapshot(
    spark: SparkSession,
    snapshot: DataFrame,
    spec: ScdSpec,
    path: str,
    *,
    sequence: Any,
    effective_at: datetime | None = None,
    max_passes: int = 4,
) -> ScdResult:
    """Detect inserts, updates and deletes in a full ``snapshot`` and apply them to ``path``.

    Args:
        sequence: the snapshot's position in the sequence (e.g. its extraction time); it must be
            of the type of ``spec.sequence_by``.
        effective_at: the snapshot's effective time when ``spec.effective_at`` is set.
        max_passes: how often the snapshot is applied again when other writers commit between
            its read of the dimension and its MERGE (see the module docstring).

    Returns:
        The merge result; rows with duplicate keys are not applied and come back as rejected.
        Written rows and attempts add up over the passes; a later pass adds only the changes it
        applies (its rejected rows are the first pass's again).

    Raises:
        ScdConflictError: other writers committed in between on every pass.
    """
    if SNAPSHOT_OP in (*spec.keys, *spec.attribute_columns, spec.sequence_by):
        raise ConfigError(f"ScdSpec: {SNAPSHOT_OP!r}: expected another column name in snapshot "
                          "mode (it is the snapshot's working operation column)")
    if spec.effective_at and effective_at is None:
        # every change would be rejected as <effective_at>_is_null
        raise ConfigError(f"apply_snapshot: effective_at: expected the snapshot's effective time "
                          f"(ScdSpec.effective_at names {spec.effective_at!r})")
    duplicates = duplicate_snapshot_keys(snapshot, spec)
    duplicate_keys = duplicates.select(*spec.keys).distinct()
    unique = snapshot.join(duplicate_keys, on=list(spec.keys), how="left_anti")
    result: ScdResult | None = None
    for _ in range(max_passes):
        read_version = table_version(spark, path)
        tag = f"lakejobs:snapshot:{uuid.uuid4()}"
        # the pass's statements run in a copy of the session holding the tag: commits other
        # threads make in ``spark`` meanwhile are not tagged as this pass's own
        applied = _apply_at(spark, session_with(spark, {COMMIT_TAG: tag}), unique,
                            duplicate_keys, spec, path, read_version, sequence=sequence,
                            effective_at=effective_at)
        result = applied if result is None else _add_pass(result, applied)
        if not _others_committed(spark, path, read_version, tag):
            break
        log.info("%s: another writer committed while the snapshot was applied: applying it "
                 "again against the new version", path)
    else:
        raise ScdConflictError(f"{path}: other writers committed during each of {max_passes} "
                               "passes of the snapshot")
    n_duplicates = duplicates.count()
    if not n_duplicates:
        return result
    return replace(
        result,
        changes_received=result.changes_received + n_duplicates,
        changes_rejected=result.changes_rejected + n_duplicates,
        rejected=duplicates if result.rejected is None else result.rejected.unionByName(
            duplicates, allowMissingColumns=True),
    )


def _apply_at(
    spark: SparkSession, tagged: SparkSession, unique: DataFrame, duplicate_keys: DataFrame,
    spec: ScdSpec, path: str, read_version: int, *, sequence: Any, effective_at: datetime | None,
) -> ScdResult:
    """Apply the difference between ``unique`` and the dimension at ``read_version`` (-1: none
    yet), committing from the ``tagged`` session. The version is pinned: a Delta table read by
    path is read again by every action."""
    if read_version >= 0:
        # a key the snapshot holds twice is not applied: its version must not look deleted
        current = (spark.read.format("delta").option("versionAsOf", read_version).load(path)
                   .where(F.col(IS_CURRENT))
                   .join(duplicate_keys, on=list(spec.keys), how="left_anti"))
    else:
        current = unique.limit(0)
    changes = snapshot_changes(unique, current, spec, sequence, effective_at)
    snapshot_spec = replace(spec, operation=SNAPSHOT_OP, delete_operations=("d",), delete_flag=None)
    return apply_changes(tagged, changes, snapshot_spec, path)


def _others_committed(spark: SparkSession, path: str, read_version: int, tag: str) -> bool:
    """Whether a commit after ``read_version`` lacks this pass's ``tag``."""
    commits = table_version(spark, path) - read_version
    if commits <= 0:
        return False
    history = DeltaTable.forPath(spark, path).history(commits)
    return not history.where((F.col("version") > read_version)
                             & ~F.col("userMetadata").eqNullSafe(tag)).isEmpty()


def _add_pass(first: ScdResult, later: ScdResult) -> ScdResult:
    return replace(
        first,
        changes_received=first.changes_received + later.changes_accepted,
        rows_inserted=first.rows_inserted + later.rows_inserted,
        rows_updated=first.rows_updated + later.rows_updated,
        rows_deleted=first.rows_deleted + later.rows_deleted,
        attempts=first.attempts + later.attempts,
    )
