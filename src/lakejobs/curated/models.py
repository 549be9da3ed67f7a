"""The curated star schemas, declared as data (``conf/models/<domain>.yaml``).

A model names, for each curated table, where its rows come from (staging tables), its grain and
keys, and what each column means (the comments become catalog column comments):

- **dimensions**: SCD2 (tracked) and SCD1 (overwritten) attributes of a staging table, applied by
  :mod:`lakejobs.scd`; every dimension has an unknown member (surrogate key -1) for null keys and
  may hold inferred members for keys facts reference before the source record arrives;
- **calendar**: the generated date dimension;
- **facts**: grain, an optional parent table (order header for order lines), dimension
  references looked up at the fact's event time, date keys and measure expressions (Spark SQL);
- **engagement**: the daily engagement aggregate of analytics events.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakejobs.config.documents import load_document
from lakejobs.scd import ScdSpec

NAME = r"^[a-z_][a-z0-9_]{0,127}$"
Name = Annotated[str, Field(pattern=NAME)]
UNKNOWN_SK = -1
UNKNOWN_DATE_KEY = -1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attribute(_Model):
    """One column of a curated table and its catalog comment."""

    name: Name
    comment: str = ""


class Dimension(_Model):
    """A slowly changing dimension fed by one staging table."""

    name: Name
    comment: str = ""
    source: Name = Field(description="staging table")
    keys: tuple[Attribute, ...] = Field(min_length=1, description="natural key columns")
    surrogate_key: Name
    sequence_by: Name = Field(description="orders the changes of a key (LSN, updated_at, ...)")
    effective_at: Name | None = Field(None, description="timestamp of a change; default sequence_by")
    operation: Name | None = Field(None, description="CDC operation column (d = delete)")
    scd2: tuple[Attribute, ...] = Field((), description="tracked: a change opens a new version")
    scd1: tuple[Attribute, ...] = Field((), description="overwritten in every version")

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def scd_spec(self) -> ScdSpec:
        return ScdSpec(
            keys=self.key_names,
            sequence_by=self.sequence_by,
            effective_at=self.effective_at,
            operation=self.operation,
            scd2_columns=tuple(a.name for a in self.scd2),
            scd1_columns=tuple(a.name for a in self.scd1),
            surrogate_key=self.surrogate_key,
            inferred_members=True,
        )

    def source_columns(self) -> list[str]:
        extra = [c for c in (self.effective_at, self.operation) if c]
        names = [*self.key_names, *[a.name for a in (*self.scd2, *self.scd1)], self.sequence_by]
        return list(dict.fromkeys([*names, *extra]))


class Calendar(_Model):
    """The generated date dimension: one row per day, keyed ``yyyymmdd``."""

    name: Name = "dim_date"
    comment: str = "calendar: one row per day; date_key -1 is the unknown date"
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Calendar:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Parent(_Model):
    """A header table whose latest row is joined to each fact row (e.g. the order of a line)."""

    source: Name
    keys: tuple[Name, ...] = Field(min_length=1, description="join columns, in both tables")
    sequence_by: Name
    columns: tuple[Name, ...] = Field(min_length=1, description="columns taken from the parent")


class DimensionRef(_Model):
    """A fact's reference to a dimension, looked up at the fact's event time."""

    dimension: Name
    columns: tuple[Name, ...] = Field(
        min_length=1, description="fact columns holding the dimension's natural key, in order")
    comment: str = ""


class DateKey(_Model):
    """A ``yyyymmdd`` key into the calendar, from a date or timestamp column."""

    name: Name
    column: Name
    comment: str = ""


class Measure(_Model):
    """A fact column computed with a Spark SQL expression over the source (and parent) row."""

    name: Name
    expr: str = Field(min_length=1)
    comment: str = ""


class Fact(_Model):
    """A fact table at a declared grain, merged on its natural key."""

    name: Name
    comment: str = ""
    source: Name = Field(description="staging table, one row per grain (latest by sequence_by)")
    grain: tuple[Attribute, ...] = Field(min_length=1, description="natural key of a fact row")
    sequence_by: Name
    event_time: Name = Field(description="when the fact happened: dimension versions valid then")
    parent: Parent | None = None
    dimensions: tuple[DimensionRef, ...] = ()
    dates: tuple[DateKey, ...] = ()
    measures: tuple[Measure, ...] = ()
    partition_by: tuple[Name, ...] = ()

    @property
    def grain_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.grain)


class Engagement(_Model):
    """Daily engagement of identities, from analytics events."""

    name: Name = "fct_user_engagement"
    daily_name: Name = "agg_daily_engagement"
    comment: str = "one row per day and identity: events, sessions, first and last event"
    daily_comment: str = "one row per day: active identities, events, events per identity"
    source: Name = "events"
    event_id: Name = "event_id"
    event_time: Name = "occurred_at"
    identities: tuple[Name, ...] = Field(
        ("user_id", "anon_id"),
        min_length=1,
        description="identifier columns, strongest first: an event counts for the first present",
    )
    session: Name | None = "session_id"


class CuratedModel(_Model):
    """Every curated table of one domain."""

    calendar: Calendar
    dimensions: tuple[Dimension, ...] = ()
    facts: tuple[Fact, ...] = ()
    engagement: Engagement | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> CuratedModel:
        names = [self.calendar.name, *[d.name for d in self.dimensions],
                 *[f.name for f in self.facts]]
        if self.engagement:
            names += [self.engagement.name, self.engagement.daily_name]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"table names must be unique, {duplicated} repeat")
        dimensions = {d.name: d for d in self.dimensions}
        for fact in self.facts:
            referenced = [ref.dimension for ref in fact.dimensions]
            twice = sorted({d for d in referenced if referenced.count(d) > 1})
            if twice:
                # the fact has one column per dimension (its surrogate key): a second reference
                # would overwrite the first one's key
                raise ValueError(f"fact {fact.name}: references {twice} twice: a fact may "
                                 "reference each dimension once (role-playing dimensions are "
                                 "not supported)")
            for ref in fact.dimensions:
                if ref.dimension not in dimensions:
                    raise ValueError(f"fact {fact.name}: unknown dimension {ref.dimension!r}: "
                                     f"expected one of {sorted(dimensions)}")
                if len(ref.columns) != len(dimensions[ref.dimension].keys):
                    raise ValueError(f"fact {fact.name}: {ref.dimension} has "
                                     f"{len(dimensions[ref.dimension].keys)} key column(s), "
                                     f"columns lists {len(ref.columns)}")
            keys = [dimensions[d].surrogate_key for d in referenced]
            shared = sorted({k for k in keys if keys.count(k) > 1})
            if shared:
                # the fact holds each dimension's surrogate key in a column of that name: one
                # dimension's key would overwrite the other's, and the integrity check see one
                sharing = [d for d in referenced if dimensions[d].surrogate_key in shared]
                raise ValueError(f"fact {fact.name}: dimensions {sharing} share the surrogate "
                                 f"key name(s) {shared}: expected a distinct surrogate_key per "
                                 "dimension the fact references")
            columns = {*fact.grain_names, *keys, *[c for r in fact.dimensions for c in r.columns],
                       *[d.name for d in fact.dates], fact.event_time,
                       *[m.name for m in fact.measures], fact.sequence_by}
            unknown = [c for c in fact.partition_by if c not in columns]
            if unknown:
                raise ValueError(f"fact {fact.name}: partition_by names {unknown}, which are "
                                 f"not columns of the fact: expected some of {sorted(columns)}")
        return self

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)


def load_model(location: str) -> CuratedModel:
    """Read a curated model (local path or ``s3://``).

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    return load_document(location, CuratedModel)
