"""Loading curated tables from staging: the I/O side of the staging → curated job.

Every function reads the staging rows new since its bookmark (the ``_validated_at`` watermark
the landing → staging job stamps), works out which curated rows they touch, recomputes exactly
those from staging and merges them, writing nothing for rows that come out the same. That makes
reruns and replayed batches no-ops, and lets late data (a customer change older than an order,
an order header after its lines) correct the rows it affects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.commit_versions import COMMIT_VERSION
from lakejobs.curated.comments import schema_with_comments, with_comments
from lakejobs.curated.engagement import (
    EVENT_DATE,
    IDENTITY,
    daily_engagement,
    engagement_by_identity,
    engagement_events,
)
from lakejobs.curated.facts import LOADED_AT, fact_columns, fact_inputs, keyed_facts
from lakejobs.curated.lookups import VALIDATED_AT
from lakejobs.curated.models import UNKNOWN_SK, CuratedModel, Dimension, Engagement, Fact
from lakejobs.delta_io import (
    append,
    insert_new,
    is_delta_table,
    merge_changed,
    read_delta,
    table_version,
)
from lakejobs.errors import ConfigError, ConservationError
from lakejobs.incremental import by_commit_version, rows_after_watermark
from lakejobs.local_rows import rows_frame
from lakejobs.runtime import JobContext
from lakejobs.scd import (
    INFERRED_FROM,
    add_inferred_members,
    apply_changes,
    dimension_schema,
    ensure_dimension,
)
from lakejobs.scd.spec import end_of_time

log = logging.getLogger(__name__)

MAX_RECOMPUTED_DAYS = 3_700  # ten years of days: the engagement days one run may recompute


@dataclass
class Loaded:
    """What loading one curated table did (``figures`` go to the run log's summary)."""

    table: str
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    figures: dict[str, Any] = field(default_factory=dict)
    changed_keys: DataFrame | None = None  # dimensions: the changes of this run (their keys)


def staging_snapshot(context: JobContext, table: str) -> DataFrame | None:
    """The staging table pinned at its current version (one consistent snapshot per run), or
    None when it does not exist yet."""
    path = context.paths.table("staging", table)
    if not is_delta_table(context.spark, path):
        return None
    version = table_version(context.spark, path)
    return context.spark.read.format("delta").option("versionAsOf", version).load(path)


def fresh_rows(context: JobContext, target: str, source: str, rows: DataFrame) -> DataFrame:
    """Rows of ``source`` (its :func:`staging_snapshot`) the ``target`` table has not taken in
    yet (bookmark per pair).

    A staging table that tracks its rows is read by commit version: a row committed after the
    last run is new, whenever its writer stamped it (see :mod:`lakejobs.commit_versions`). A
    staging table written before lakejobs tracked rows is read by its ``_validated_at``
    watermark; the first run after the writer turned row tracking on still takes that
    watermark (the backfill gave every row the same new version) and notes the snapshot's
    highest commit version, which the next runs follow (:func:`by_commit_version`).
    """
    frame, bookmark, column = by_commit_version(rows, context.bookmarks, f"{target}__{source}",
                                                VALIDATED_AT)
    return rows_after_watermark(frame, context.bookmarks, bookmark, column).drop(COMMIT_VERSION)


def load_dimension(
    context: JobContext, dimension: Dimension, comments: Mapping[str, str]
) -> Loaded:
    """Apply the new staging changes of ``dimension.source`` with the SCD module."""
    staging = staging_snapshot(context, dimension.source)
    if staging is None:
        log.warning("%s: staging table %s does not exist yet", dimension.name, dimension.source)
        return Loaded(dimension.name, figures={"skipped": f"no staging table {dimension.source}"})
    missing = [c for c in dimension.source_columns() if c not in staging.columns]
    if missing:
        raise ConfigError(f"model: dimension {dimension.name}: staging table {dimension.source} "
                          f"has no column(s) {missing}")
    spark, spec = context.spark, dimension.scd_spec()
    path = context.paths.table("curated", dimension.name)
    changes = fresh_rows(context, dimension.name, dimension.source, staging).select(
        *dimension.source_columns()).persist()
    ensure_dimension(spark, path,
                     schema_with_comments(dimension_schema(changes.schema, spec), comments))
    held = read_delta(spark, path)
    if held.where(F.col(dimension.surrogate_key) == UNKNOWN_SK).isEmpty():
        insert_new(unknown_member(context, path, dimension), path, [dimension.surrogate_key])
    result = apply_changes(spark, changes, spec, path)
    if result.rejected is not None:
        append(result.rejected.withColumn("_run_id", F.lit(context.run_id)),
               context.paths.table("quarantine", dimension.name), merge_schema=True)
    figures = {"changes": result.changes_received, "rejected": result.changes_rejected,
               "versions_inserted": result.rows_inserted, "versions_updated": result.rows_updated}
    log.info("%s: %s", dimension.name, figures)
    return Loaded(
        dimension.name,
        rows_read=result.changes_received,
        rows_written=result.changes_accepted,
        rows_quarantined=result.changes_rejected,
        figures=figures,
        changed_keys=changes,  # cached; the job unpersists it once the facts are loaded
    )


def unknown_member(context: JobContext, path: str, dimension: Dimension) -> DataFrame:
    """The dimension's unknown member: surrogate key -1, null natural key, valid forever."""
    schema = context.spark.read.format("delta").load(path).schema
    values = {
        dimension.surrogate_key: UNKNOWN_SK,
        "effective_from": INFERRED_FROM,
        "is_current": True,
        "is_deleted": False,
        "is_inferred": False,
        "_change_log": [],
    }
    row = tuple(values.get(f.name) for f in schema.fields)
    return rows_frame(context.spark, [row], schema).withColumn(
        "effective_to", end_of_time())


def load_fact(
    context: JobContext, model: CuratedModel, fact: Fact, changed: Mapping[str, DataFrame],
    comments: Mapping[str, str],
) -> Loaded:
    """Recompute and merge the fact rows touched by new staging rows or changed dimensions."""
    sources = staging_snapshot(context, fact.source)
    parents = staging_snapshot(context, fact.parent.source) if fact.parent else None
    waiting = [d.dimension for d in fact.dimensions
               if not is_delta_table(context.spark, context.paths.table("curated", d.dimension))]
    if sources is None or (fact.parent and parents is None) or waiting:
        reason = f"waiting for {', '.join(waiting)}" if waiting else "no staging table yet"
        log.warning("%s: %s", fact.name, reason)
        return Loaded(fact.name, figures={"skipped": reason})
    _check_fact_columns(fact, sources, parents)
    path = context.paths.table("curated", fact.name)
    grain = list(fact.grain_names)
    affected = fresh_rows(context, fact.name, fact.source, sources).select(*grain)
    if fact.parent and parents is not None:
        parent_keys = list(fact.parent.keys)
        new_parents = fresh_rows(context, fact.name, fact.parent.source, parents)
        affected = affected.unionByName(
            sources.join(new_parents.select(*parent_keys).distinct(), on=parent_keys,
                         how="left_semi").select(*grain))
    affected = affected.unionByName(_facts_of_changed_members(
        context, model, fact, path, changed, sources.select(*grain).schema))
    affected = affected.distinct().persist()
    try:
        if affected.isEmpty():
            return Loaded(fact.name, figures={"rows": 0})
        return _merge_facts(context, model, fact, path, sources, parents, affected, comments)
    finally:
        affected.unpersist()


def _check_fact_columns(fact: Fact, sources: DataFrame, parents: DataFrame | None) -> None:
    """Refuse a model naming columns the staging tables lack, before anything is written.

    Raises:
        ConfigError: naming the fact, the staging table and the missing columns.
    """
    from_parent = set(fact.parent.columns) if fact.parent else set()
    needed = [*fact.grain_names, fact.sequence_by, fact.event_time,
              *[c for ref in fact.dimensions for c in ref.columns],
              *[d.column for d in fact.dates], *(fact.parent.keys if fact.parent else ())]
    missing = [c for c in dict.fromkeys(needed)
               if c not in sources.columns and c not in from_parent]
    if missing:
        raise ConfigError(f"model: fact {fact.name}: staging table {fact.source} has no "
                          f"column(s) {missing}")
    if fact.parent and parents is not None:
        parent = fact.parent
        needed = [*parent.keys, parent.sequence_by, *parent.columns]
        missing = [c for c in dict.fromkeys(needed) if c not in parents.columns]
        if missing:
            raise ConfigError(f"model: fact {fact.name}: parent staging table {parent.source} "
                              f"has no column(s) {missing}")


def check_fact_tables(context: JobContext, model: CuratedModel) -> None:
    """Refuse a model whose facts no longer match the fact tables already written (a measure
    added or removed since), before anything is written: the fact's MERGE updates every column
    of a row, and would fail on a column only one side has.

    Raises:
        ConfigError: naming the fact, the columns and the two ways on.
    """
    for fact in model.facts:
        path = context.paths.table("curated", fact.name)
        if not is_delta_table(context.spark, path):
            continue
        held = read_delta(context.spark, path).columns
        declared = fact_columns(fact, model)
        added = [c for c in declared if c not in held]
        dropped = [c for c in held if c not in declared]
        if added or dropped:
            change = " and ".join(
                [f"declares column(s) {added} the table lacks"] * bool(added)
                + [f"no longer declares column(s) {dropped} the table holds"] * bool(dropped))
            raise ConfigError(
                f"model: fact {fact.name}: the model {change} ({path}): expected the table "
                "changed to match first (ALTER TABLE ... ADD/DROP COLUMNS; existing rows keep "
                "null in an added column until their source rows change) or the fact rebuilt "
                "(drop the table and reset its staging_to_curated bookmarks: "
                "docs/operations.md, 'Rebuild curated tables')")


def _check_engagement_columns(engagement: Engagement, events: DataFrame) -> None:
    """Refuse a model naming event columns the staging table lacks, before anything is written.

    Raises:
        ConfigError: naming the engagement mart, the staging table and the missing columns.
    """
    needed = [engagement.event_id, engagement.event_time, *engagement.identities,
              *([engagement.session] if engagement.session else [])]
    missing = [c for c in dict.fromkeys(needed) if c not in events.columns]
    if missing:
        raise ConfigError(f"model: engagement {engagement.name}: staging table "
                          f"{engagement.source} has no column(s) {missing}")


def _facts_of_changed_members(
    context: JobContext, model: CuratedModel, fact: Fact, path: str,
    changed: Mapping[str, DataFrame], grain_schema: T.StructType,
) -> DataFrame:
    """Grain of the existing facts whose dimension keys changed in this run: a late change can
    move the version valid at their event time."""
    found = rows_frame(context.spark, [], grain_schema)
    if not is_delta_table(context.spark, path):
        return found
    existing = read_delta(context.spark, path)
    for ref in fact.dimensions:
        keys = changed.get(ref.dimension)
        if keys is None:
            continue
        natural_key = model.dimension(ref.dimension).key_names
        renamed = keys.select(*[F.col(k).alias(c)
                                for k, c in zip(natural_key, ref.columns, strict=True)])
        found = found.unionByName(existing.join(renamed, on=list(ref.columns), how="left_semi")
                                  .select(*fact.grain_names))
    return found


def _merge_facts(
    context: JobContext, model: CuratedModel, fact: Fact, path: str, sources: DataFrame,
    parents: DataFrame | None, affected: DataFrame, comments: Mapping[str, str],
) -> Loaded:
    spark = context.spark
    grain = list(fact.grain_names)
    touched = sources.join(affected, on=grain, how="left_semi")
    if fact.parent and parents is not None:
        parent_keys = list(fact.parent.keys)
        parents = parents.join(touched.select(*parent_keys).distinct(), on=parent_keys,
                               how="left_semi")
    inputs = fact_inputs(fact, touched, parents).persist()
    try:
        inferred = 0
        dimensions = {}
        for ref in fact.dimensions:
            dimension = model.dimension(ref.dimension)
            dim_path = context.paths.table("curated", dimension.name)
            keys = inputs.select(*[F.col(c).alias(k) for c, k in
                                   zip(ref.columns, dimension.key_names, strict=True)])
            inferred += add_inferred_members(spark, keys, dimension.scd_spec(), dim_path)
            dimensions[ref.dimension] = read_delta(spark, dim_path)
        rows = inputs.transform(keyed_facts(fact, model, dimensions)).persist()
        n_inputs, n_rows = inputs.count(), rows.count()
        if n_rows != n_inputs:
            raise ConservationError(f"{fact.name}: {n_inputs} source rows gave {n_rows} fact rows")
        metrics = merge_changed(with_comments(rows, comments), path, grain, ignore=[LOADED_AT],
                                partition_by=fact.partition_by)
        rows.unpersist()
    finally:
        inputs.unpersist()
    written = metrics.get("numTargetRowsInserted", 0) + metrics.get("numTargetRowsUpdated", 0)
    figures = {"rows": n_rows, "inserted": metrics.get("numTargetRowsInserted", 0),
               "updated": metrics.get("numTargetRowsUpdated", 0), "inferred_members": inferred}
    log.info("%s: %s", fact.name, figures)
    return Loaded(fact.name, rows_read=n_inputs, rows_written=written, figures=figures)


def load_engagement(
    context: JobContext, engagement: Engagement,
    comments: Mapping[str, tuple[str, Mapping[str, str]]],
) -> Loaded:
    """Recompute the engagement of every day that received new events and merge those days.

    An event counts once, on the day of its latest staged copy (:func:`engagement_events`). A
    copy staged again with another event time (a redelivery whose clock moved) moves it: the
    days of every copy of a new event are recomputed, and each recomputed day takes the events
    whose latest copy, among all their copies, falls on it.
    """
    events = staging_snapshot(context, engagement.source)
    if events is None:
        return Loaded(engagement.name, figures={"skipped": "no staging table yet"})
    _check_engagement_columns(engagement, events)
    event_id = engagement.event_id
    fresh = fresh_rows(context, engagement.name, engagement.source, events)
    day = F.to_date(engagement.event_time)
    copies = events.join(fresh.select(event_id).distinct(), on=[event_id], how="left_semi")
    days = [r.d for r in fresh.select(day.alias("d")).union(copies.select(day.alias("d")))
            .where(F.col("d").isNotNull()).distinct().limit(MAX_RECOMPUTED_DAYS + 1).collect()]
    if len(days) > MAX_RECOMPUTED_DAYS:
        raise ConfigError(f"{engagement.name}: new events span more than {MAX_RECOMPUTED_DAYS} "
                          "days: backfill in slices (reset the bookmark per period)")
    if not days:
        return Loaded(engagement.name, figures={"days": 0})
    # every copy of the events seen on those days, so that one whose latest copy is on another
    # day is left to that day
    seen = events.where(day.isin(days)).select(event_id).distinct()
    day_events = (events.join(seen, on=[event_id], how="left_semi")
                  .transform(engagement_events(engagement))
                  .where(F.col(EVENT_DATE).isin(days)).persist())
    try:
        per_identity = engagement_by_identity(day_events).persist()
        daily = daily_engagement(day_events).persist()
        n_events = day_events.count()
        attributed = per_identity.agg(F.sum("events")).first()[0] or 0
        unattributed = daily.agg(F.sum("unattributed_events")).first()[0] or 0
        if attributed + unattributed != n_events:
            raise ConservationError(f"{engagement.name}: {n_events} events but {attributed} "
                                    f"attributed + {unattributed} unattributed")
        in_days = F.col(f"t.{EVENT_DATE}").isin(days)
        identity_metrics = merge_changed(
            with_comments(per_identity, comments[engagement.name][1]),
            context.paths.table("curated", engagement.name), [EVENT_DATE, IDENTITY],
            delete_missing=in_days)
        merge_changed(with_comments(daily, comments[engagement.daily_name][1]),
                      context.paths.table("curated", engagement.daily_name), [EVENT_DATE],
                      delete_missing=in_days)
        per_identity.unpersist()
        daily.unpersist()
    finally:
        day_events.unpersist()
    figures = {"days": len(days), "events": n_events, "unattributed_events": unattributed,
               "rows_inserted": identity_metrics.get("numTargetRowsInserted", 0),
               "rows_updated": identity_metrics.get("numTargetRowsUpdated", 0)}
    log.info("%s: %s", engagement.name, figures)
    return Loaded(engagement.name, rows_read=n_events, rows_written=n_events, figures=figures)
