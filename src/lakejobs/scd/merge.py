"""Apply a batch of changes to a Delta dimension: the I/O side of the SCD module.

One call rebuilds the touched keys from their recorded events plus the batch (see
:mod:`lakejobs.scd.history`) and writes the difference with a single Delta MERGE keyed on the
surrogate key. A batch that only appends to the histories (one change per key, each newer than
its key's history: the usual CDC micro-batch) skips the rebuild: its MERGE updates the touched
keys' versions in place (:func:`~lakejobs.scd.history.append_changes`), and falls back to the
rebuild as soon as one key does not fit. Cost follows the changes:

- the existing rows are read, and the MERGE scans the table, only within the key ranges the batch
  touches (literal range predicates that Delta's file statistics turn into file skipping);
- versions that come out identical are not written at all;
- with deletion vectors (on by default for tables this module creates) an update marks the old
  row instead of rewriting its file; a small dimension (``small_table_bytes``, 16 MiB of data
  files by default) is merged by rewriting its touched files instead, which takes fewer Spark
  jobs when the files are small.

Concurrency: the MERGE's source is evaluated inside the MERGE's own transaction, so it sees the
same snapshot Delta checks for conflicts; when another writer commits first, Delta raises a
conflict and the whole MERGE (source included) is retried on the new snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import try_cast_sql
from lakejobs.delta_io import execute_merge, retry_on_conflict, table_size_bytes
from lakejobs.errors import ConfigError, ContractError, DeltaConflictError
from lakejobs.scd.history import (
    EFF,
    HASH,
    INCOMING,
    INFERRED,
    NOT_APPENDABLE,
    OP,
    ORIGIN,
    SEQ,
    UPSERT,
    append_changes,
    appendable,
    build_versions,
    deduplicate_events,
    dimension_columns,
    dimension_schema,
    rejection_reasons,
    to_change_events,
    tracked_hash,
    version_changes,
    versions_to_events,
)
from lakejobs.scd.key_ranges import KeyRanges, key_ranges
from lakejobs.scd.spec import IS_CURRENT, SEQ_FROM, TRACKED_HASH, ScdSpec
from lakejobs.spark_conf import session_with

log = logging.getLogger(__name__)

# Whether a MERGE into a table with deletion vectors marks the rows it changes in them (Delta's
# default) or rewrites the files that hold them.
MERGE_DELETION_VECTORS = "spark.databricks.delta.merge.deletionVectors.persistent"
# Dimensions up to this size are merged by rewriting the touched files (see
# ``apply_changes(small_table_bytes=...)``).
SMALL_TABLE_BYTES = 16 * 1024 * 1024

# Where an inferred member's history starts: before any fact, so point-in-time lookups of facts
# older than the key's first real version still find it.
INFERRED_FROM = datetime(1900, 1, 1)


class ScdConflictError(DeltaConflictError):
    """Concurrent writers kept conflicting with a merge beyond the retry budget."""


@dataclass(frozen=True)
class ScdResult:
    """What one ``apply_changes`` call did."""

    changes_received: int
    changes_rejected: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    attempts: int
    rejected: DataFrame | None = None
    appended: bool = False  # applied by appending to the histories (no rebuild)

    @property
    def changes_accepted(self) -> int:
        return self.changes_received - self.changes_rejected


def ensure_dimension(
    spark: SparkSession, path: str, schema: T.StructType, *, deletion_vectors: bool = True
) -> None:
    """Create the dimension table at ``path`` if it does not exist."""
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if deletion_vectors:
        builder = builder.property("delta.enableDeletionVectors", "true")
    retry_on_conflict(builder.execute, what=f"create {path}", error=ScdConflictError)


def initial_dimension(changes: DataFrame, spec: ScdSpec) -> DataFrame:
    """The dimension rows a first load of ``changes`` produces (for bulk initial loads).

    Raises:
        ContractError: a change row cannot be applied (a null key or sequence, an effective
            time that is no timestamp …: one Spark job counts them); :func:`apply_changes`
            returns such rows for quarantine instead.
    """
    schema = dimension_schema(changes.schema, spec)
    reasons = rejection_reasons(spec, changes.schema)
    bad = (changes.select(F.explode(reasons).alias("reason")).groupBy("reason").count()
           .orderBy("reason").collect())
    if bad:
        counts = ", ".join(f"{row['reason']} ({row['count']})" for row in bad)
        raise ContractError(f"initial_dimension: change rows that cannot be applied: {counts}: "
                            "expected them left out, or apply_changes, which returns them for "
                            "quarantine")
    events = deduplicate_events(to_change_events(changes, spec), spec)
    # Cast to the table schema: Spark infers some nested fields as NOT NULL, which Delta refuses
    # as a nested constraint when a table is created from this frame.
    return build_versions(events, spec).select(
        *[F.col(f.name).cast(f.dataType) for f in schema.fields])


def apply_changes(
    spark: SparkSession,
    changes: DataFrame,
    spec: ScdSpec,
    path: str,
    *,
    max_attempts: int = 8,
    max_key_ranges: int = 32,
    deletion_vectors: bool = True,
    append_shortcut: bool = True,
    small_table_bytes: int = SMALL_TABLE_BYTES,
) -> ScdResult:
    """Apply a batch of changes (any number per key, in any order) to the dimension at ``path``.

    Args:
        spark: the session.
        changes: change rows with the spec's keys, sequence, attributes (and op/flag columns).
        spec: how changes map to the dimension.
        path: the Delta table; created on first use.
        max_attempts: how often to retry when a concurrent writer conflicts.
        max_key_ranges: how many key ranges bound the read and the MERGE (file skipping).
        deletion_vectors: enable deletion vectors when the table is created.
        append_shortcut: try the append-only MERGE first when the batch has one change per key
            (``False``: always rebuild the touched keys; same result, for comparisons).
        small_table_bytes: a dimension of at most this many bytes of data files is merged by
            rewriting the files the MERGE touches rather than by adding deletion vectors (0:
            always as the table is set). On a few small files the rewrite is cheaper (fewer
            Spark jobs) and leaves no deletion vectors to purge; on large files deletion vectors
            spare rewriting every row around a changed one.

    Returns:
        Counts of the batch and of the rows written; ``rejected`` holds the change rows that
        cannot be applied (null key or sequence, an effective time that is no timestamp) with
        ``_reasons``, for the caller's quarantine.
        Conservation: received = accepted + rejected, and every accepted change is recorded in
        the dimension (as a version or in a version's change log).
    """
    schema = dimension_schema(changes.schema, spec)  # checks the spec against the changes
    # Cached: the input is counted, then turned into events, and read once for both.
    checked = changes.withColumn("_reasons", F.concat(
        rejection_reasons(spec, changes.schema),
        _misfits(spark, path, spec, changes.schema))).persist()
    valid = checked.where(F.size("_reasons") == 0).drop("_reasons")
    rejected = checked.where(F.size("_reasons") > 0)
    counts = checked.groupBy((F.size("_reasons") > 0).alias("bad")).count().collect()
    received = sum(r["count"] for r in counts)
    n_rejected = sum(r["count"] for r in counts if r.bad)
    ensure_dimension(spark, path, schema, deletion_vectors=deletion_vectors)
    attempts, appended, metrics = 0, False, {}
    try:
        if received > n_rejected:  # else nothing to apply: no MERGE, no commit
            attempts, (appended, metrics) = _apply_events(
                spark, to_change_events(valid, spec), spec, path, max_attempts=max_attempts,
                max_key_ranges=max_key_ranges, event_count=received - n_rejected,
                append_shortcut=append_shortcut, small_table_bytes=small_table_bytes)
    finally:
        checked.unpersist()
    return ScdResult(
        changes_received=received,
        changes_rejected=n_rejected,
        rows_inserted=metrics.get("numTargetRowsInserted", 0),
        rows_updated=metrics.get("numTargetRowsUpdated", 0),
        rows_deleted=metrics.get("numTargetRowsDeleted", 0),
        attempts=attempts,
        rejected=rejected if n_rejected else None,
        appended=appended,
    )


def add_inferred_members(
    spark: SparkSession,
    keys: DataFrame,
    spec: ScdSpec,
    path: str,
    *,
    effective_from: datetime = INFERRED_FROM,
    max_attempts: int = 8,
) -> int:
    """Create a flagged placeholder version for every key of ``keys`` the dimension lacks.

    Facts that reference a key before its source record arrives point at the placeholder; the
    key's first real change fills it in place (same surrogate key). Keys already in the
    dimension, and null keys, are left alone, so calling this again changes nothing.

    Args:
        keys: rows holding (at least) the spec's key columns; duplicates are fine.
        path: an existing dimension (its schema gives the attribute types).

    Returns:
        How many placeholders were inserted.

    Raises:
        ConfigError: the spec does not allow inferred members, or the dimension does not exist.
    """
    if not spec.inferred_members:
        raise ConfigError(f"{path}: inferred members need ScdSpec(inferred_members=True)")
    if not DeltaTable.isDeltaTable(spark, path):
        raise ConfigError(f"{path}: the dimension must exist before inferred members are added")
    types = {f.name: f.dataType for f in spark.read.format("delta").load(path).schema.fields}
    # keys read in the dimension's types first, nulls dropped after: a key that is no value of
    # that type (text "N/A" for a bigint key) would otherwise become a placeholder with a null
    # key (or, under ANSI mode, fail the call)
    typed_keys = keys.select(*[try_cast_sql(f"`{k}`", types[k].simpleString()).alias(k)
                               for k in spec.keys]).where(spec.keys_present())
    placeholders = typed_keys.select(
        *[F.col(k) for k in spec.keys],
        F.lit(None).cast(types[SEQ_FROM]).alias(SEQ),
        F.lit(effective_from).cast("timestamp").alias(EFF),
        F.lit(INFERRED).alias(OP),
        F.lit(None).cast("bigint").alias(HASH),
        *[F.lit(None).cast(types[c]).alias(c) for c in spec.attribute_columns],
        F.lit(INCOMING).alias(ORIGIN),
    ).distinct()
    # Most calls find every key present: an anti join is much cheaper than a MERGE that changes
    # nothing. A key that appears meanwhile is still safe: the MERGE drops late placeholders.
    held = spark.read.format("delta").load(path).select(*spec.keys)
    missing = placeholders.join(held, on=list(spec.keys), how="left_anti").persist()
    try:
        if missing.isEmpty():
            return 0
        _, (_, metrics) = _apply_events(spark, missing, spec, path, max_attempts=max_attempts)
    finally:
        missing.unpersist()
    return metrics.get("numTargetRowsInserted", 0)


def _apply_events(
    spark: SparkSession,
    events: DataFrame,
    spec: ScdSpec,
    path: str,
    *,
    max_attempts: int = 8,
    max_key_ranges: int = 32,
    event_count: int | None = None,
    append_shortcut: bool = False,
    small_table_bytes: int = SMALL_TABLE_BYTES,
) -> tuple[int, tuple[bool, dict[str, int]]]:
    """Merge change events into the dimension, retrying on conflicts.

    ``event_count``: the number of events, when known. ``append_shortcut``: try the append-only
    MERGE first when the events hold one per key (needs ``event_count``; else: rebuild).
    ``small_table_bytes``: see :func:`apply_changes`.
    Returns (attempts, (appended, metrics)).
    """
    incoming = _as_stored(spark, events, spec, path).persist()
    touched = incoming.select(*spec.keys).distinct().persist()
    try:
        ranges = key_ranges(touched, spec.keys[0], max_key_ranges, at_most=event_count)
        append = append_shortcut and event_count is not None and appendable(spec)
        if append:  # one change per key? (a single key's distinct values are already counted)
            distinct = ranges.distinct_values if len(spec.keys) == 1 else None
            append = (distinct if distinct is not None else touched.count()) == event_count

        def merge_once() -> tuple[bool, dict[str, int]]:
            nonlocal append
            if append:
                try:
                    return True, _merge(spark, path, spec, incoming, touched, ranges,
                                        append=True, small_table_bytes=small_table_bytes)
                except (Py4JJavaError, PySparkException) as e:
                    if NOT_APPENDABLE not in str(e):
                        raise
                    log.info("%s: the batch does more than append to the histories: rebuilding "
                             "the touched keys", path)
                    append = False
            return False, _merge(spark, path, spec, incoming, touched, ranges, append=False,
                                 small_table_bytes=small_table_bytes)

        return retry_on_conflict(merge_once, what=f"merge into {path}", attempts=max_attempts,
                                 error=ScdConflictError)
    finally:
        incoming.unpersist()
        touched.unpersist()


def _as_stored(spark: SparkSession, events: DataFrame, spec: ScdSpec, path: str) -> DataFrame:
    """The events with their keys and sequence in the dimension's column types. Surrogate keys
    hash the key and sequence values, and ``xxhash64`` hashes an ``int`` 5 unlike a ``bigint``
    5: a batch typed narrower than the table (a literal sequence, an ``int`` column) must give
    a version the key it gets from the rebuild, which reads the table's types."""
    stored = {f.name: f.dataType for f in spark.read.format("delta").load(path).schema.fields}
    missing = [c for c in dimension_columns(spec) if c not in stored]
    if missing:
        # Not added on the fly: a new tracked column would change every stored tracked hash,
        # and the next change of each key would open a version for nothing.
        raise ContractError(
            f"{path}: the dimension has no column(s) {missing} that the SCD spec names: expected "
            "the spec the dimension was built with, or the columns added to it first (ALTER "
            "TABLE ... ADD COLUMNS, and for a tracked column a recomputed _tracked_hash)")
    # Attributes too: the tracked hash hashes their JSON, and a decimal(12,4) 1.5000 is not
    # the JSON of the decimal(10,2) 1.50 the table holds (nor a float the double it becomes), so
    # an unchanged value typed otherwise would open a version.
    wanted = ({k: stored[k] for k in spec.keys} | {SEQ: stored[SEQ_FROM]}
              | {c: stored[c] for c in spec.attribute_columns})
    if all(events.schema[c].dataType == t for c, t in wanted.items()):
        return events
    retyped = events.withColumns({c: F.col(c).cast(t) for c, t in wanted.items()})
    if all(events.schema[c].dataType == stored[c] for c in spec.scd2_columns):
        return retyped
    return retyped.withColumn(HASH, F.when(F.col(OP) == UPSERT,
                                           tracked_hash(spec.scd2_columns, retyped.schema)))


def _misfits(spark: SparkSession, path: str, spec: ScdSpec, schema: T.StructType) -> Column:
    """Why a change row's values do not fit the dimension's column types (empty array when they
    do, or when there is no dimension yet): the merge casts keys, sequence and attributes to
    them, and a cast that changes a value would lose it unseen: a bigint key 2^32 + 1 cast to
    an ``int`` key is 1 (another customer's; under ANSI mode a failed batch), a sequence 1.5
    cast to a ``bigint`` is 1 (taken for a duplicate of the stored change and dropped), a
    ``decimal(12,4)`` 1.2345 cast to ``decimal(10,2)`` is 1.23 ("unchanged"). A value the cast
    keeps (1.5000 as 1.50: a source column widened meanwhile) fits."""
    if not DeltaTable.isDeltaTable(spark, path):
        return F.array().cast("array<string>")
    stored = {f.name: f.dataType for f in spark.read.format("delta").load(path).schema.fields}
    columns = {c: stored.get(c) for c in (*spec.keys, *spec.attribute_columns)}
    columns[spec.sequence_by] = stored.get(SEQ_FROM)
    checks = []
    for name, table_type in columns.items():
        batch_type = schema[name].dataType
        if table_type is None or _holds(spark, batch_type, table_type):
            continue
        kept = try_cast_sql(f"try_cast(`{name}` AS {table_type.simpleString()})",
                            batch_type.simpleString())
        checks.append(F.when(F.col(f"`{name}`").isNotNull() & ~F.coalesce(
            kept == F.col(f"`{name}`"), F.lit(False)),
            F.lit(f"{name}_does_not_fit_{table_type.simpleString()}")))
    return F.filter(F.array(*checks), lambda r: r.isNotNull()) if checks else (
        F.array().cast("array<string>"))


def _holds(spark: SparkSession, batch: T.DataType, table: T.DataType) -> bool:
    """Whether every value of type ``batch`` converts to type ``table`` without loss (Spark's
    own up-cast rule, which its typed Datasets apply: ``int`` to ``bigint``, ``decimal(10,2)`` to
    ``decimal(12,4)``, anything to a string; not ``bigint`` to ``int``)."""
    if batch == table:
        return True
    jvm = spark.sparkContext._jvm  # type: ignore[union-attr]
    parse = jvm.org.apache.spark.sql.types.DataType.fromJson
    return bool(jvm.org.apache.spark.sql.catalyst.expressions.Cast.canUpCast(
        parse(batch.json()), parse(table.json())))


def changes_writer(
    spec: ScdSpec, path: str, on_rejected: Callable[[DataFrame], None] | None = None
) -> Callable[[DataFrame, int], None]:
    """A ``foreachBatch`` function applying each micro-batch of a CDC stream to the dimension.

    Replayed micro-batches are harmless: applying a batch twice changes nothing.
    """

    def write(batch: DataFrame, batch_id: int) -> None:
        result = apply_changes(batch.sparkSession, batch, spec, path)
        log.info("batch %s: %s", batch_id, result)
        if result.rejected is not None and on_rejected is not None:
            on_rejected(result.rejected)

    return write


def _merge(
    spark: SparkSession,
    path: str,
    spec: ScdSpec,
    incoming: DataFrame,
    touched: DataFrame,
    ranges: KeyRanges,
    *,
    append: bool,
    small_table_bytes: int = SMALL_TABLE_BYTES,
) -> dict[str, int]:
    table = DeltaTable.forPath(spark, path)
    # Measured, a few-row merge into a small dimension (median of 10, warm): 2.45 s with deletion
    # vectors, 2.04 s rewriting its files on Glue 6.0 (2.53 and 2.30 s on Glue 5.1); the 5M-row
    # benchmark's scattered batch (every file touched) 8.7 s with them, 14.3 s rewriting.
    size = table_size_bytes(table)
    if size is not None and size <= small_table_bytes:
        # in a copy of the session: the setting is this MERGE's alone, not that of MERGEs other
        # threads run in ``spark`` meanwhile (into larger tables, say)
        spark = session_with(spark, {MERGE_DELETION_VECTORS: "false"})
        table = DeltaTable.forPath(spark, path)
    keys = list(spec.keys)
    existing = (
        spark.read.format("delta").load(path)
        .where(ranges.predicate())
        .join(F.broadcast(touched), on=keys, how="left_semi")
    )
    if append:
        # read once, by one join with the events, which broadcasts it: an exchange of its own
        # would be shuffled only to be collected for the broadcast
        source = append_changes(existing, incoming, spec)
    else:
        existing = existing.repartition(*keys)  # the rebuild reads it twice: one exchange
        recorded = versions_to_events(existing, spec)
        versions = build_versions(deduplicate_events(recorded.unionByName(incoming), spec), spec)
        source = version_changes(versions, existing, spec)
    # Not persisted on purpose: the MERGE evaluates its source inside its own transaction, so
    # the rows read here are the rows Delta checks for conflicts with concurrent writers. When
    # every change of the batch is already recorded the source is empty, and Delta commits
    # nothing for a MERGE that changes nothing: a replay writes nothing.
    sk = spec.surrogate_key
    columns = dimension_columns(spec)
    assignments = {c: F.col(f"s.{c}") for c in columns}
    merge = (
        table.alias("t")
        .merge(source.alias("s"), (F.col(f"t.{sk}") == F.col(f"s.{sk}")) & ranges.predicate("t"))
        .whenMatchedDelete(condition=F.col("s._action") == "delete")
        .whenMatchedUpdate(condition=F.col("s._action") == "upsert", set=assignments)
        .whenNotMatchedInsert(condition=F.col("s._action") == "upsert", values=assignments)
    )
    return execute_merge(merge, table)


def current_rows(dimension: DataFrame) -> DataFrame:
    """The current version of every key."""
    return dimension.where(F.col(IS_CURRENT))


def real_versions(dimension: DataFrame) -> DataFrame:
    """Versions without tombstones (deletes of keys the dimension never held)."""
    return dimension.where(F.col(TRACKED_HASH).isNotNull())
