"""Snapshot mode: a full extract of a source table (no CDC) turned into changes, as dbt does.

Keys new to the dimension are inserts, keys whose attributes differ from their current version
are updates, current keys missing from the snapshot are deletes; identical keys produce nothing,
except an inferred member (a placeholder): its key in the snapshot is its first real change and
fills it, even when the real row's attributes are as empty as the placeholder's. A placeholder
missing from the snapshot stays as it is (it exists because the source does not hold the key
yet). A key the snapshot holds twice is rejected and its version left alone.
Snapshots are meant to be applied in order; each is stamped with one sequence value.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakejobs.delta_io import is_delta_table
from lakejobs.errors import ConfigError
from lakejobs.scd.history import tracked_hash
from lakejobs.scd.merge import ScdResult, apply_changes
from lakejobs.scd.spec import IS_CURRENT, IS_INFERRED, ScdSpec

SNAPSHOT_OP = "_snapshot_op"


def snapshot_changes(
    snapshot: DataFrame, current: DataFrame, spec: ScdSpec, sequence: Any, effective_at: datetime | None
) -> DataFrame:
    """Change rows (op ``c``/``u``/``d``) that turn the ``current`` versions into ``snapshot``."""
    attributes = list(spec.attribute_columns)
    snap = snapshot.select(*spec.keys, *attributes)
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
) -> ScdResult:
    """Detect inserts, updates and deletes in a full ``snapshot`` and apply them to ``path``.

    Args:
        sequence: the snapshot's position in the sequence (e.g. its extraction time); it must be
            of the type of ``spec.sequence_by``.
        effective_at: the snapshot's effective time when ``spec.effective_at`` is set.

    Returns:
        The merge result; rows with duplicate keys are not applied and come back as rejected.
    """
    if SNAPSHOT_OP in (*spec.keys, *spec.attribute_columns, spec.sequence_by):
        raise ConfigError(f"ScdSpec: {SNAPSHOT_OP!r}: expected another column name in snapshot "
                          "mode (it is the snapshot's working operation column)")
    duplicates = duplicate_snapshot_keys(snapshot, spec)
    duplicate_keys = duplicates.select(*spec.keys).distinct()
    unique = snapshot.join(duplicate_keys, on=list(spec.keys), how="left_anti")
    if is_delta_table(spark, path):
        # a key the snapshot holds twice is not applied: its version must not look deleted
        current = (spark.read.format("delta").load(path).where(F.col(IS_CURRENT))
                   .join(duplicate_keys, on=list(spec.keys), how="left_anti"))
    else:
        current = unique.limit(0)
    changes = snapshot_changes(unique, current, spec, sequence, effective_at)
    snapshot_spec = replace(spec, operation=SNAPSHOT_OP, delete_operations=("d",), delete_flag=None)
    result = apply_changes(spark, changes, snapshot_spec, path)
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
