"""Pure transforms that turn change events into dimension versions (no I/O).

The model: a key's history is a function of its change events, ordered by sequence. A change to
a tracked (SCD2) column opens a version; a delete closes the open version and flags it deleted;
a change that alters no tracked column opens nothing and is recorded in the ``_change_log`` of
the version it confirms. Because the log keeps every sequence a version absorbed, the events can
be recovered from the dimension itself (:func:`versions_to_events`), and applying a new batch is
"rebuild the touched keys from old events + new events". That is why several changes per key in
a batch, late changes, duplicates, deletes and re-inserts, and replays all come out right: there
is one code path, and it does not depend on the order in which batches arrive.

The common case has a shortcut with the same result (:func:`append_changes`): a batch holding
one change per key, each newer than everything its key has recorded, only appends to the end of
each history, so the touched keys' versions are updated in place instead of rebuilt from events.

Inferred members (``ScdSpec.inferred_members``) are one more event kind: a placeholder with no
sequence (so it sorts before every real change of its key) and an early effective time. The first
real change of the key does not open a version; it fills the placeholder's version, which keeps
its surrogate key (the hash of the key alone) and its ``effective_from``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import MAX_MICROS, MIN_MICROS, try_cast_sql
from lakejobs.scd.spec import (
    CHANGE_LOG,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    IS_CURRENT,
    IS_DELETED,
    IS_INFERRED,
    SEQ_FROM,
    TRACKED_HASH,
    ScdSpec,
    end_of_time,
)

UPSERT = "u"
DELETE = "d"
INFERRED = "i"
# Event columns besides keys and attributes.
SEQ, EFF, OP, HASH, ORIGIN = "_seq", "_eff", "_op", "_hash", "_origin"
EXISTING, INCOMING = 0, 1


# Timestamps as JSON text, exactly: every microsecond, in UTC. Spark's default writes
# milliseconds in the session's zone, so a change below a millisecond would hash the same (and
# be lost) and writers in two zones would hash one value two ways. Null fields are always left
# out (Spark's default), whatever ``spark.sql.jsonGenerator.ignoreNullFields`` a session sets:
# writing them would hash an unchanged null value another way.
_EXACT_JSON = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
               "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "timeZone": "UTC",
               "ignoreNullFields": "true"}


def values_hash(columns: tuple[str, ...]) -> Column:
    """A 64-bit hash of the values of ``columns``, null-safe and position-safe.

    Hashing the JSON of a struct (field names included, nulls omitted) tells ``(null, 1)`` from
    ``(1, null)``, which Spark's own ``xxhash64(a, b)`` does not.
    """
    return F.xxhash64(F.to_json(F.struct(*[F.col(c) for c in columns]), _EXACT_JSON))


def tracked_hash(columns: tuple[str, ...], schema: T.StructType) -> Column:
    """The hash of the tracked columns (0 when there are none) of a frame of ``schema``.

    As :func:`values_hash`, except that values Spark SQL holds equal but writes two ways hash
    alike: a float or double -0.0 (at any depth of arrays, structs and map values) hashes as 0.0,
    since ``-0.0 = 0.0`` and a change of sign is no change. Every NaN already writes as ``NaN``.
    Columns without floating-point values are hashed as they are, so no other stored hash moves.
    """
    if not columns:
        return F.lit(0).cast("bigint")
    types = {f.name: f.dataType for f in schema.fields}
    fields = [_signless_zeros(F.col(c), types[c]).alias(c) if _holds_floats(types[c])
              else F.col(c) for c in columns]
    return F.xxhash64(F.to_json(F.struct(*fields), _EXACT_JSON))


def _holds_floats(data_type: T.DataType) -> bool:
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return True
    if isinstance(data_type, T.ArrayType):
        return _holds_floats(data_type.elementType)
    if isinstance(data_type, T.MapType):
        return _holds_floats(data_type.valueType)
    if isinstance(data_type, T.StructType):
        return any(_holds_floats(f.dataType) for f in data_type.fields)
    return False


def _signless_zeros(value: Column, data_type: T.DataType) -> Column:
    """``value`` with every floating-point -0.0 in it written as 0.0 (map keys left as they are:
    rewriting one could collide with another key)."""
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return F.when(value == 0, F.lit(0).cast(data_type)).otherwise(value)
    if isinstance(data_type, T.ArrayType):
        return F.transform(value, lambda v: _signless_zeros(v, data_type.elementType))
    if isinstance(data_type, T.MapType):
        return F.transform_values(value, lambda _, v: _signless_zeros(v, data_type.valueType))
    if isinstance(data_type, T.StructType):
        fields = [_signless_zeros(value.getField(f.name), f.dataType).alias(f.name)
                  if _holds_floats(f.dataType) else value.getField(f.name).alias(f.name)
                  for f in data_type.fields]
        return F.when(value.isNotNull(), F.struct(*fields))
    return value


def surrogate_key(keys: list[str], seq_from: Column) -> Column:
    """A version's surrogate key: the hash of its key and the sequence that opened it."""
    return F.xxhash64(*[F.col(k) for k in keys], seq_from)


def is_delete(spec: ScdSpec) -> Column:
    """True for a change row that deletes its key."""
    condition = F.lit(False)
    if spec.operation:
        condition = condition | F.coalesce(F.col(spec.operation).isin(*spec.delete_operations),
                                           F.lit(False))
    if spec.delete_flag:
        condition = condition | F.coalesce(delete_flag_value(spec), F.lit(False))
    return condition


def delete_flag_value(spec: ScdSpec) -> Column:
    """A change row's delete flag as a boolean; null when its value reads as none (``"D"``):
    a plain cast would take such a row as an upsert, or under ANSI mode fail the batch."""
    return try_cast_sql(f"`{spec.delete_flag}`", "BOOLEAN")


def rejection_reasons(spec: ScdSpec, schema: T.StructType) -> Column:
    """Why a change row of ``schema`` cannot be applied (empty array when it can)."""
    checks = [F.when(F.col(k).isNull(), F.lit(f"{k}_is_null")) for k in spec.keys]
    checks.append(F.when(F.col(spec.sequence_by).isNull(), F.lit(f"{spec.sequence_by}_is_null")))
    if spec.effective_at:
        checks.append(F.when(F.col(spec.effective_at).isNull(),
                             F.lit(f"{spec.effective_at}_is_null")))
    # an effective time given as text that is no timestamp: a plain cast would make it a null
    # effective_from (or, under ANSI mode, fail the whole batch)
    effective = spec.effective_column
    checks.append(F.when(F.col(effective).isNotNull() & effective_time(spec, schema).isNull(),
                         F.lit(f"{effective}_is_not_a_timestamp")))
    if spec.delete_flag:
        checks.append(F.when(F.col(spec.delete_flag).isNotNull()
                             & delete_flag_value(spec).isNull(),
                             F.lit(f"{spec.delete_flag}_is_not_a_boolean")))
    return F.filter(F.array(*checks), lambda reason: reason.isNotNull())


def effective_time(spec: ScdSpec, schema: T.StructType) -> Column:
    """A change row's effective time as a timestamp; null when its value is no timestamp. An
    integral number is milliseconds since 1970 (Debezium's ``ts_ms``; a cast would read it as
    seconds, 1000 times later), within years 1 to 9999."""
    name = spec.effective_column
    if isinstance(schema[name].dataType, T.IntegralType):
        millis = F.col(f"`{name}`")
        return F.when(millis.between(MIN_MICROS // 1000, MAX_MICROS // 1000),
                      F.timestamp_millis(millis))
    return try_cast_sql(f"`{name}`", "TIMESTAMP")


def to_change_events(changes: DataFrame, spec: ScdSpec) -> DataFrame:
    """Valid change rows as events: keys, sequence, effective time, op, tracked hash, attributes."""
    delete = is_delete(spec)
    return changes.select(
        *[F.col(k) for k in spec.keys],
        F.col(spec.sequence_by).alias(SEQ),
        effective_time(spec, changes.schema).alias(EFF),
        F.when(delete, F.lit(DELETE)).otherwise(F.lit(UPSERT)).alias(OP),
        F.when(delete, F.lit(None).cast("bigint")).otherwise(
            tracked_hash(spec.scd2_columns, changes.schema)).alias(HASH),
        *[F.col(c) for c in spec.attribute_columns],
        F.lit(INCOMING).alias(ORIGIN),
    )


def versions_to_events(dimension: DataFrame, spec: ScdSpec) -> DataFrame:
    """Recover the change events a dimension was built from (the inverse of build_versions).

    Each version gives its opening event plus one event per entry of its change log (one scan,
    one explode). Recovered upserts carry the version's attributes; SCD1 values are the key's
    latest anyway.
    """
    tombstone = F.col(TRACKED_HASH).isNull()
    # Only a placeholder opens a version without a sequence (real changes always have one).
    placeholder = F.col(SEQ_FROM).isNull() if spec.inferred_members else F.lit(False)
    opening = F.struct(
        F.col(SEQ_FROM).alias("seq"),
        F.col(EFFECTIVE_FROM).alias("effective_at"),
        F.when(placeholder, F.lit(INFERRED)).when(tombstone, F.lit(DELETE))
        .otherwise(F.lit(UPSERT)).alias("op"),
    )
    return dimension.select(
        *spec.keys, *spec.attribute_columns, TRACKED_HASH,
        F.explode(F.concat(F.array(opening), F.col(CHANGE_LOG))).alias("event"),
    ).select(
        *[F.col(k) for k in spec.keys],
        F.col("event.seq").alias(SEQ),
        F.col("event.effective_at").alias(EFF),
        F.col("event.op").alias(OP),
        F.when(F.col("event.op").isin(DELETE, INFERRED), F.lit(None).cast("bigint"))
        .otherwise(F.col(TRACKED_HASH)).alias(HASH),
        *[F.col(c) for c in spec.attribute_columns],
        F.lit(EXISTING).alias(ORIGIN),
    )


def deduplicate_events(events: DataFrame, spec: ScdSpec) -> DataFrame:
    """One event per (key, sequence): an event already in the dimension wins over a new one;
    among new duplicates the choice is deterministic (delete first, then lowest hash of the
    tracked columns, then of every attribute as written, so that of a 0.0 and a -0.0 one is
    always kept: never the rows' order in the batch).

    A new placeholder (inferred member) for a key the dimension already holds is dropped: it would
    otherwise take over the surrogate key of the key's first real version.

    The events are hash-partitioned by key here, once: every later window and aggregation is per
    key, so none of them needs another shuffle.
    """
    tie_break = (values_hash(spec.attribute_columns) if spec.attribute_columns
                 else F.lit(0))
    same_position = Window.partitionBy(*spec.keys, SEQ).orderBy(
        F.col(ORIGIN), F.col(OP), F.col(HASH).asc_nulls_first(), tie_break
    )
    deduplicated = (
        events.repartition(*spec.keys)
        .withColumn("_rank", F.row_number().over(same_position))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )
    if not spec.inferred_members:
        return deduplicated
    whole_key = Window.partitionBy(*spec.keys)
    held = F.max((F.col(ORIGIN) == EXISTING).cast("int")).over(whole_key) == 1
    late_placeholder = (F.col(OP) == INFERRED) & (F.col(ORIGIN) == INCOMING) & F.col("_held")
    return deduplicated.withColumn("_held", held).where(~late_placeholder).drop("_held")


def build_versions(events: DataFrame, spec: ScdSpec) -> DataFrame:
    """Dimension versions from deduplicated events (any number per key, in any order).

    Returns rows in the dimension's column order (see :func:`dimension_columns`).
    """
    keys = list(spec.keys)
    in_order = Window.partitionBy(*keys).orderBy(SEQ)
    so_far = in_order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    before = in_order.rowsBetween(Window.unboundedPreceding, -1)
    whole_key = in_order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    if not spec.hard_delete:
        # The sequence orders a key's versions; an effective time behind a predecessor's (clock
        # skew among the source's writers, a sequence that is not the commit time) is raised to
        # it, so intervals never run backwards. Rejecting such a change instead would make the
        # result depend on which change arrived first. A running maximum only grows when events
        # are added, and the dimension records the raised times, so recovering events and
        # rebuilding gives the same times in any split into batches. (With hard deletes only
        # the key's last, open version is kept: nothing to raise.)
        events = events.withColumn(EFF, F.max(EFF).over(so_far))
    prev_op = F.lag(OP).over(in_order)
    prev_hash = F.lag(HASH).over(in_order)
    is_upsert = F.col(OP) == UPSERT
    is_placeholder = F.col(OP) == INFERRED
    if spec.inferred_members:
        # Until its first real upsert, a placeholder's key has no real version: that upsert fills
        # the placeholder, and a delete sequenced before it closes nothing (it is only logged),
        # whether it arrives before the upsert or after it.
        unfilled = (F.max(is_placeholder).over(whole_key)
                    & (F.coalesce(F.sum(is_upsert.cast("int")).over(before), F.lit(0)) == 0))
    else:
        unfilled = F.lit(False)
    # A delete or a placeholder opens a version only as a key's first event: a tombstone (delete
    # of a key never seen), or a placeholder (always first: it has no sequence, nulls sort first).
    opens_version = (
        is_upsert & ~F.col("_unfilled")
        & (prev_op.isNull() | (prev_op == DELETE) | (prev_hash != F.col(HASH)))
    ) | (~is_upsert & prev_op.isNull())
    closing_delete = (F.col(OP) == DELETE) & ~F.col("_unfilled")
    scd1_latest = F.last(
        F.when(is_upsert, F.struct(*[F.col(c) for c in spec.scd1_columns])),
        ignorenulls=True,
    ).over(whole_key) if spec.scd1_columns else F.lit(None)
    marked = (
        events.withColumn("_unfilled", unfilled)
        .withColumn("_opens", opens_version)
        .withColumn("_version", F.sum(F.col("_opens").cast("int")).over(so_far))
        .withColumn("_scd1", scd1_latest)
    )
    opening = F.struct(F.col(EFF).alias("eff"), F.col(OP).alias("op"), F.col(HASH).alias("hash"),
                       *[F.col(c) for c in spec.scd2_columns])
    logged = F.when(~F.col("_opens"), F.struct(F.col(SEQ).alias("seq"),
                                                F.col(EFF).alias("effective_at"),
                                                F.col(OP).alias("op")))
    versions = marked.groupBy(*keys, "_version").agg(
        # a filled placeholder keeps no sequence, hence its surrogate key
        F.when(F.count(F.when(is_placeholder, 1)) == 0, F.min(SEQ)).alias(SEQ_FROM),
        # attributes come from the first real change (a placeholder, and a delete before the
        # placeholder is filled, carry none)
        F.min_by(opening, F.when(is_upsert | closing_delete, F.col(SEQ))).alias("_start"),
        F.coalesce(F.max(F.when(is_placeholder, F.col(EFF))), F.min_by(F.col(EFF), F.col(SEQ)))
        .alias("_eff_from"),
        (F.max(is_placeholder) & ~F.max(is_upsert)).alias("_inferred_only"),
        F.sort_array(F.collect_list(logged)).alias(CHANGE_LOG),
        F.min_by(F.col(EFF), F.when(closing_delete, F.col(SEQ))).alias("_deleted_at"),
        F.max(closing_delete.cast("int")).alias("_has_delete"),
        F.first("_scd1").alias("_scd1"),
    )
    by_start = Window.partitionBy(*keys).orderBy(SEQ_FROM)
    next_from = F.lead(F.col("_eff_from")).over(by_start)
    deleted = F.col("_has_delete") == 1
    result = versions.select(
        surrogate_key(keys, F.col(SEQ_FROM)).alias(spec.surrogate_key),
        *[F.col(k) for k in keys],
        *[F.col(f"_start.{c}").alias(c) for c in spec.scd2_columns],
        *[F.col(f"_scd1.{c}").alias(c) for c in spec.scd1_columns],
        F.col("_eff_from").alias(EFFECTIVE_FROM),
        F.when(deleted, F.col("_deleted_at"))
        .otherwise(F.coalesce(next_from, end_of_time()))
        .alias(EFFECTIVE_TO),
        (~deleted & next_from.isNull()).alias(IS_CURRENT),
        deleted.alias(IS_DELETED),
        *([F.col("_inferred_only").alias(IS_INFERRED)] if spec.inferred_members else []),
        F.col(SEQ_FROM),
        F.col("_start.hash").alias(TRACKED_HASH),
        F.col(CHANGE_LOG),
    )
    if spec.hard_delete:
        # SCD1 with hard deletes: a delete forgets the key's history up to it, so a key whose
        # latest version is deleted disappears entirely, and one re-inserted after a delete
        # starts afresh, as when the delete and the re-insert come in separate batches.
        whole_key = Window.partitionBy(*keys)
        last_delete = F.max(F.when(F.col(IS_DELETED), F.col(SEQ_FROM))).over(whole_key)
        result = (
            result.withColumn("_forgotten", F.coalesce(F.col(SEQ_FROM) <= last_delete,
                                                       F.lit(False)))
            .where(~F.col("_forgotten"))
            .drop("_forgotten")
        )
    return result


NOT_APPENDABLE = "LAKEJOBS_SCD_NOT_APPENDABLE"


def appendable(spec: ScdSpec) -> bool:
    """Whether :func:`append_changes` applies to dimensions of ``spec`` at all."""
    return not spec.inferred_members and not spec.hard_delete


def append_changes(existing: DataFrame, events: DataFrame, spec: ScdSpec) -> DataFrame:
    """The rows to write for a batch that only appends to the touched keys' histories.

    Gives what :func:`version_changes` of :func:`build_versions` gives for ``existing`` (every
    version of the touched keys) plus ``events``, when ``events`` holds one change
    per key and each change is newer than everything its key has recorded (its sequence above
    every version's and change log's), and a delete's key exists. Then the change either opens a
    version after the key's latest (a changed tracked hash, or an upsert after a delete), closing
    the latest if it is open, or joins the latest's change log (a delete closes it and flags it
    deleted); an upsert's SCD1 values go to every version of its key. Nothing else moves, so no
    history is rebuilt, and ``existing`` is read once: one join with the events, per-key figures
    by window, and each joined row gives its updated version and, on the key's latest row, the
    version the change opens.

    A key for which that does not hold (a late or already recorded change, a delete of an unknown
    key) makes evaluation fail with :data:`NOT_APPENDABLE` in the message: the caller then
    applies the batch with :func:`build_versions`. Checking inside the evaluation keeps the check
    and the rows it guards in one read of the table (the same transaction).
    """
    if not appendable(spec):
        raise ValueError("append_changes: not for specs with inferred members or hard deletes")
    keys = list(spec.keys)
    sk = spec.surrogate_key
    columns = dimension_columns(spec)
    log_type = existing.schema[CHANGE_LOG].dataType
    held = existing.select(*[F.col(c).alias(f"_o_{c}") if c not in keys else F.col(c)
                             for c in columns])
    old = {c: F.col(f"_o_{c}") for c in columns if c not in keys}
    whole_key = Window.partitionBy(*keys)
    last_logged = F.get(old[CHANGE_LOG], F.size(old[CHANGE_LOG]) - 1)
    recorded_to = F.max(F.greatest(old[SEQ_FROM], F.array_max(old[CHANGE_LOG]["seq"])))
    latest = F.max_by(F.struct(
        old[sk].alias("sk"),
        old[TRACKED_HASH].alias("hash"),
        F.coalesce(last_logged["op"], F.when(old[TRACKED_HASH].isNull(), F.lit(DELETE))
                   .otherwise(F.lit(UPSERT))).alias("last_op"),
    ), old[SEQ_FROM])
    # the latest effective time recorded: the change's own is raised to it, as the rebuild does
    recorded_eff = F.max(F.greatest(old[EFFECTIVE_FROM],
                                    F.array_max(old[CHANGE_LOG]["effective_at"])))
    joined = (
        events.join(held, on=keys, how="left")
        .withColumn("_recorded_to", recorded_to.over(whole_key))
        .withColumn("_latest", latest.over(whole_key))
        .withColumn(EFF, F.greatest(F.col(EFF), recorded_eff.over(whole_key)))
    )
    known = old[sk].isNotNull()
    fits = F.when(known, F.col(SEQ) > F.col("_recorded_to")).otherwise(F.col(OP) == UPSERT)
    upsert = F.col(OP) == UPSERT
    opens = upsert & (~known | (F.col("_latest.last_op") == DELETE)
                      | ~F.col("_latest.hash").eqNullSafe(F.col(HASH)))
    is_latest = known & (old[sk] == F.col("_latest.sk"))
    closes = is_latest & ~old[IS_DELETED] & (opens | (F.col(OP) == DELETE))
    logs = is_latest & ~opens
    entry = F.struct(F.col(SEQ).alias("seq"), F.col(EFF).alias("effective_at"),
                     F.col(OP).alias("op"))
    scd1 = {c: F.when(upsert, F.col(c)).otherwise(old[c]) for c in spec.scd1_columns}
    updated = {
        sk: old[sk],
        **{k: F.col(k) for k in keys},
        **{c: old[c] for c in spec.scd2_columns},
        **scd1,
        EFFECTIVE_FROM: old[EFFECTIVE_FROM],
        EFFECTIVE_TO: F.when(closes, F.col(EFF)).otherwise(old[EFFECTIVE_TO]),
        IS_CURRENT: F.when(closes, F.lit(False)).otherwise(old[IS_CURRENT]),
        IS_DELETED: old[IS_DELETED] | (logs & (F.col(OP) == DELETE)),
        SEQ_FROM: old[SEQ_FROM],
        TRACKED_HASH: old[TRACKED_HASH],
        CHANGE_LOG: F.when(logs, F.concat(old[CHANGE_LOG], F.array(entry).cast(log_type)))
        .otherwise(old[CHANGE_LOG]),
    }
    scd1_changed = F.lit(False)
    for c in spec.scd1_columns:
        scd1_changed = scd1_changed | ~scd1[c].eqNullSafe(old[c])
    opened = {
        sk: surrogate_key(keys, F.col(SEQ)),
        **{k: F.col(k) for k in keys},
        **{c: F.col(c) for c in spec.attribute_columns},
        EFFECTIVE_FROM: F.col(EFF),
        EFFECTIVE_TO: end_of_time(),
        IS_CURRENT: F.lit(True),
        IS_DELETED: F.lit(False),
        SEQ_FROM: F.col(SEQ),
        TRACKED_HASH: F.col(HASH),
        CHANGE_LOG: F.array().cast(log_type),
    }
    rows = F.array(
        F.when(known & (closes | logs | scd1_changed), F.struct(*[updated[c].alias(c)
                                                                   for c in columns])),
        F.when(opens & (is_latest | ~known), F.struct(*[opened[c].alias(c) for c in columns])),
    )
    refuse = F.raise_error(F.format_string(f"{NOT_APPENDABLE}: key %s",
                                           F.to_json(F.struct(*keys))))
    return (
        joined.where(F.when(fits, F.lit(True)).otherwise(refuse))
        .select(F.explode(rows).alias("_row"))
        .where(F.col("_row").isNotNull())
        .select(*[F.col(f"_row.{c}").alias(c) for c in columns], F.lit("upsert").alias("_action"))
    )


def dimension_columns(spec: ScdSpec) -> list[str]:
    """Column order of a dimension table."""
    inferred = [IS_INFERRED] if spec.inferred_members else []
    return [spec.surrogate_key, *spec.keys, *spec.attribute_columns, EFFECTIVE_FROM, EFFECTIVE_TO,
            IS_CURRENT, IS_DELETED, *inferred, SEQ_FROM, TRACKED_HASH, CHANGE_LOG]


def dimension_schema(changes_schema: T.StructType, spec: ScdSpec) -> T.StructType:
    """The dimension table's schema for changes of ``changes_schema``."""
    types = {f.name: f.dataType for f in changes_schema.fields}
    missing = [c for c in (*spec.keys, *spec.attribute_columns, spec.sequence_by) if c not in types]
    if missing:
        from lakejobs.errors import ContractError

        raise ContractError(f"changes lack the column(s) {missing} named in the SCD spec")
    seq_type = types[spec.sequence_by]
    if spec.effective_at is not None and spec.effective_at not in types:
        from lakejobs.errors import ContractError

        raise ContractError(f"changes lack the column {spec.effective_at!r} named in the SCD "
                            "spec's effective_at")
    if spec.effective_at is not None and isinstance(
            types[spec.effective_at], (T.FractionalType, T.BooleanType, T.BinaryType)):
        from lakejobs.errors import ContractError

        raise ContractError(
            f"SCD spec: effective_at column {spec.effective_at!r} is "
            f"{types[spec.effective_at].simpleString()}: expected a timestamp or date (or its "
            "text), or an integral number of milliseconds since 1970")
    if spec.effective_at is None and not isinstance(
            seq_type, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        from lakejobs.errors import ContractError

        # a number read as a time is seconds since 1970: an LSN or a ts_ms would give versions
        # effective in the wrong century without a word
        raise ContractError(
            f"SCD spec: sequence_by column {spec.sequence_by!r} is {seq_type.simpleString()}, and "
            "without effective_at it gives the versions' effective times: expected a timestamp "
            "or date column, or effective_at naming one")
    log_entry = T.StructType([
        T.StructField("seq", seq_type, True),
        T.StructField("effective_at", T.TimestampType(), True),
        T.StructField("op", T.StringType(), True),
    ])
    return T.StructType([
        T.StructField(spec.surrogate_key, T.LongType(), False),
        *[T.StructField(c, types[c], True) for c in (*spec.keys, *spec.attribute_columns)],
        T.StructField(EFFECTIVE_FROM, T.TimestampType(), True),
        T.StructField(EFFECTIVE_TO, T.TimestampType(), True),
        T.StructField(IS_CURRENT, T.BooleanType(), True),
        T.StructField(IS_DELETED, T.BooleanType(), True),
        *([T.StructField(IS_INFERRED, T.BooleanType(), True)] if spec.inferred_members else []),
        T.StructField(SEQ_FROM, seq_type, True),
        T.StructField(TRACKED_HASH, T.LongType(), True),
        T.StructField(CHANGE_LOG, T.ArrayType(log_entry, True), True),
    ])


def version_changes(new: DataFrame, old: DataFrame, spec: ScdSpec) -> DataFrame:
    """What must change in the table so that ``old`` (touched keys' rows) becomes ``new``.

    Returns new or changed rows with ``_action = 'upsert'`` and vanished rows (by surrogate key)
    with ``_action = 'delete'``; identical rows are left out, so unchanged versions write nothing.
    Both sides are partitioned by key, so the full outer join on (key, surrogate key) needs no
    shuffle; rows are compared column by column with null-safe equality.
    """
    sk = spec.surrogate_key
    columns = dimension_columns(spec)
    join_on = [*spec.keys, sk]
    compared = [c for c in columns if c not in join_on]
    previous = old.select(*join_on, *[F.col(c).alias(f"_old_{c}") for c in compared],
                          F.lit(True).alias("_old_row"))
    joined = new.withColumn("_new_row", F.lit(True)).join(previous, on=join_on, how="full")
    unchanged = F.lit(True)
    for c in compared:
        unchanged = unchanged & F.col(c).eqNullSafe(F.col(f"_old_{c}"))
    action = (
        F.when(F.col("_new_row").isNull(), F.lit("delete"))
        .when(F.col("_old_row").isNull() | ~unchanged, F.lit("upsert"))
    )
    return joined.withColumn("_action", action).where(F.col("_action").isNotNull()).select(
        *columns, "_action")
