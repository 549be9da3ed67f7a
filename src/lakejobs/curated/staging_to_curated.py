"""The staging → curated job: the star schemas of a curated model, kept incrementally.

Order of work, and why:

1. the calendar (facts' date keys point into it);
2. dimensions, from the new staging changes (SCD module), so facts look up fresh versions;
3. facts: new source rows, rows whose parent changed and rows whose dimension keys changed are
   recomputed; missing dimension keys become inferred members first; merged on the grain;
4. the engagement aggregate, for the days that received events (it needs no dimension, so it
   runs next to steps 2–3; dimensions load side by side: ``spark.table_threads``);
5. a referential-integrity check of every fact against its dimensions and the calendar, whose
   figures go to the run log;
6. registration of every table in the catalog, with the model's comments.

Rows read and written are not 1:1 here (versions, aggregates), so the run log's conservation
check is off for this job; conservation is checked per stage instead: every dimension change is
applied or quarantined with a reason, every fact source row gives one fact row, and every event
is counted for one identity or as unattributed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakejobs.concurrency import run_side_by_side
from lakejobs.curated.calendar import calendar_days
from lakejobs.curated.catalog import register_table
from lakejobs.curated.comments import table_comments, with_comments
from lakejobs.curated.loading import (
    Loaded,
    check_fact_tables,
    load_dimension,
    load_engagement,
    load_fact,
)
from lakejobs.curated.models import CuratedModel, Fact, load_model
from lakejobs.delta_io import insert_new, is_delta_table, read_delta
from lakejobs.resources import resolve_location
from lakejobs.runtime import JobContext, JobResult

log = logging.getLogger(__name__)


def run(context: JobContext) -> JobResult:
    """Build or update every table of the configured curated model."""
    model = load_model(resolve_location(context.settings.curated.model))
    check_fact_tables(context, model)
    comments = table_comments(model)
    ensure_calendar(context, model)
    threads = context.settings.spark.table_threads

    def star_schema() -> list[Loaded]:
        """Dimensions side by side, then the facts (they read the dimensions)."""
        loaded = run_side_by_side([partial(load_dimension, context, d, comments[d.name][1])
                                   for d in model.dimensions], threads)
        changed = {lo.table: lo.changed_keys for lo in loaded if lo.changed_keys is not None}
        try:
            # one after another: two facts may need the same inferred member, and the first
            # adds it (side by side they would race for it and their counts would depend on
            # which won)
            loaded += [load_fact(context, model, f, changed, comments[f.name][1])
                       for f in model.facts]
        finally:
            for changes in changed.values():
                changes.unpersist()
        return loaded

    tasks: list[Callable[[], list[Loaded]]] = [star_schema]
    if model.engagement is not None:  # reads only events: next to the star schema
        engagement = model.engagement
        tasks.append(lambda: [load_engagement(context, engagement, comments)])
    loaded = [lo for part in run_side_by_side(tasks, threads) for lo in part]
    integrity = check_integrity(context, model)
    if context.settings.curated.register_tables:
        register_model(context, model)
    summary: dict[str, Any] = {lo.table: lo.figures for lo in loaded}
    summary["integrity"] = integrity
    return JobResult(
        rows_read=sum(lo.rows_read for lo in loaded),
        rows_written=sum(lo.rows_written for lo in loaded),
        rows_quarantined=sum(lo.rows_quarantined for lo in loaded),
        summary=summary,
    )


def check_integrity(context: JobContext, model: CuratedModel) -> dict[str, Any]:
    """Fact rows whose surrogate or date keys are missing from their dimension, per key column.

    One pass per fact: the fact is left-joined to the key sets of its dimensions and the misses
    are counted in a single aggregation.
    """
    spark = context.spark
    calendar = read_delta(spark, context.paths.table("curated", model.calendar.name))
    orphans: dict[str, int] = {}
    for fact in model.facts:
        path = context.paths.table("curated", fact.name)
        if not is_delta_table(spark, path):
            continue
        checked = read_delta(spark, path)
        key_sets = _key_sets(context, model, fact, calendar)
        for column, keys in key_sets.items():
            checked = checked.join(keys, on=column, how="left")
        counts = checked.agg(*[F.count(F.when(F.col(f"_has_{c}").isNull(), 1)).alias(c)
                               for c in key_sets]).first()
        orphans.update({f"{fact.name}.{c}": int(counts[c]) for c in key_sets})
    missing = sum(orphans.values())
    if missing:
        log.warning("referential integrity: %d fact keys without a dimension row: %s", missing,
                    {k: v for k, v in orphans.items() if v})
    return {"ok": missing == 0, "orphans": orphans}


def _key_sets(
    context: JobContext, model: CuratedModel, fact: Fact, calendar: DataFrame
) -> dict[str, DataFrame]:
    sets: dict[str, DataFrame] = {}
    for ref in fact.dimensions:
        sk = model.dimension(ref.dimension).surrogate_key
        dimension = read_delta(context.spark, context.paths.table("curated", ref.dimension))
        sets[sk] = dimension.select(sk).distinct().withColumn(f"_has_{sk}", F.lit(True))
    for date in fact.dates:
        sets[date.name] = calendar.select(F.col("date_key").alias(date.name)).withColumn(
            f"_has_{date.name}", F.lit(True))
    return sets


def register_model(context: JobContext, model: CuratedModel) -> list[str]:
    """Register every existing curated table of ``model`` with its comments."""
    database = context.settings.curated.database
    registered = []
    for table, (comment, columns) in table_comments(model).items():
        path = context.paths.table("curated", table)
        if is_delta_table(context.spark, path):
            registered.append(register_table(context.spark, database, table, path,
                                             comment=comment, column_comments=columns))
    return registered


def ensure_calendar(context: JobContext, model: CuratedModel) -> None:
    """Write the calendar's missing days (all of them on the first run, none on most runs)."""
    path = context.paths.table("curated", model.calendar.name)
    days = calendar_days(context.spark, model.calendar)
    # which days are missing, not how many rows there are: a calendar moved to another range of
    # the same length has as many rows and still lacks the new days (a few thousand rows: cheap)
    if is_delta_table(context.spark, path) and days.join(
            read_delta(context.spark, path).select("date_key"), on="date_key",
            how="left_anti").isEmpty():
        return
    comment = table_comments(model)[model.calendar.name][1]
    insert_new(with_comments(days, comment), path, ["date_key"])
