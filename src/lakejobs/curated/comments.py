"""Column comments of curated tables, taken from the model.

Comments are written into the Delta schema when a table is created (so registering it in the
catalog carries them at no extra cost) and checked again at registration.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.curated.calendar import CALENDAR_COMMENTS
from lakejobs.curated.engagement import DAILY_COMMENTS, ENGAGEMENT_COMMENTS
from lakejobs.curated.facts import LOADED_AT
from lakejobs.curated.models import CuratedModel
from lakejobs.scd.spec import (
    CHANGE_LOG,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    IS_CURRENT,
    IS_DELETED,
    IS_INFERRED,
    SEQ_FROM,
    TRACKED_HASH,
)

DIMENSION_COMMENTS = {
    EFFECTIVE_FROM: "start of the version's validity (UTC)",
    EFFECTIVE_TO: "end of the version's validity, exclusive (9999-12-31 while current)",
    IS_CURRENT: "the key's current version",
    IS_DELETED: "the source deleted the key at effective_to",
    IS_INFERRED: "placeholder created for a fact whose source record has not arrived",
    SEQ_FROM: "source sequence that opened the version",
    TRACKED_HASH: "hash of the versioned columns (change detection)",
    CHANGE_LOG: "changes absorbed by the version without opening a new one",
}


def table_comments(model: CuratedModel) -> dict[str, tuple[str, dict[str, str]]]:
    """Table name → (table comment, column comments) for every table of ``model``."""
    tables = {model.calendar.name: (model.calendar.comment, CALENDAR_COMMENTS)}
    for d in model.dimensions:
        columns = {d.surrogate_key: "surrogate key of the version (-1: unknown member)",
                   **{a.name: a.comment for a in (*d.keys, *d.scd2, *d.scd1)},
                   **DIMENSION_COMMENTS}
        tables[d.name] = (d.comment, columns)
    for f in model.facts:
        columns = {g.name: g.comment for g in f.grain}
        for ref in f.dimensions:
            sk = model.dimension(ref.dimension).surrogate_key
            columns[sk] = ref.comment or f"{ref.dimension} version valid at {f.event_time}"
        columns.update({d.name: d.comment for d in f.dates})
        columns.update({m.name: m.comment for m in f.measures})
        columns[f.event_time] = columns.get(f.event_time) or "when the fact happened (UTC)"
        columns[LOADED_AT] = "when the row was last written"
        tables[f.name] = (f.comment, columns)
    if model.engagement is not None:
        e = model.engagement
        tables[e.name] = (e.comment, ENGAGEMENT_COMMENTS)
        tables[e.daily_name] = (e.daily_comment, DAILY_COMMENTS)
    return tables


def with_comments(df: DataFrame, comments: Mapping[str, str]) -> DataFrame:
    """``df`` whose columns carry their comments as metadata (kept when a table is created)."""
    return df.select(*[
        F.col(c).alias(c, metadata={"comment": comments[c]}) if comments.get(c) else F.col(c)
        for c in df.columns
    ])


def schema_with_comments(schema: T.StructType, comments: Mapping[str, str]) -> T.StructType:
    """``schema`` with the comments as field metadata."""
    return T.StructType([
        T.StructField(f.name, f.dataType, f.nullable,
                      {**f.metadata, "comment": comments[f.name]} if comments.get(f.name)
                      else f.metadata)
        for f in schema.fields
    ])
