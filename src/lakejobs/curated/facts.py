"""Fact rows from staging rows (pure transforms): parent columns, date keys, measures, keys."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakejobs.curated.calendar import date_key
from lakejobs.curated.lookups import (
    Transform,
    latest_per_key,
    lookup_versions,
    point_in_time_key,
)
from lakejobs.curated.models import CuratedModel, Fact
from lakejobs.errors import ConfigError, ContractError

LOADED_AT = "_loaded_at"


def natural_key_columns(fact: Fact) -> list[str]:
    """Fact columns that hold dimension natural keys, besides the grain."""
    names = [c for ref in fact.dimensions for c in ref.columns]
    return [c for c in dict.fromkeys(names) if c not in fact.grain_names]


def fact_columns(fact: Fact, model: CuratedModel) -> list[str]:
    """The fact table's columns, in order: grain, surrogate keys, natural keys, date keys, event
    time, measures, sequence, load time."""
    surrogate = [model.dimension(ref.dimension).surrogate_key for ref in fact.dimensions]
    columns = [*fact.grain_names, *surrogate, *natural_key_columns(fact),
               *[d.name for d in fact.dates], fact.event_time,
               *[m.name for m in fact.measures if m.name not in fact.grain_names],
               fact.sequence_by, LOADED_AT]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ContractError(f"fact {fact.name}: column(s) {repeated} are defined twice "
                            "(grain, keys, dates, event time, measures and sequence must differ)")
    return columns


def with_parent(fact: Fact, parents: DataFrame | None) -> Transform:
    """Join each row to the latest row of its parent (order header of an order line).

    A row whose parent has not arrived keeps null parent columns; when the parent arrives the
    job recomputes the row (its parent key is among the changed ones) and the fact is updated.
    """

    def transform(rows: DataFrame) -> DataFrame:
        parent = fact.parent
        if parent is None or parents is None:
            return rows
        clash = sorted(set(parent.columns) & set(rows.columns))
        if clash:
            raise ContractError(f"fact {fact.name}: parent {parent.source} column(s) {clash} "
                                f"also exist in {fact.source}")
        latest = parents.transform(latest_per_key(parent.keys, parent.sequence_by)).select(
            *parent.keys, *parent.columns)
        return rows.join(latest, on=list(parent.keys), how="left")

    return transform


def with_measures(fact: Fact) -> Transform:
    """Date keys and measures, evaluated on the (parent-joined) source row."""

    def transform(rows: DataFrame) -> DataFrame:
        measures = {}
        for m in fact.measures:
            if m.name in fact.grain_names:
                continue
            try:  # analysed here, so a wrong expression names its measure, not a query plan
                measures[m.name] = F.expr(m.expr)
                rows.select(measures[m.name])
            except AnalysisException as e:
                raise ConfigError(f"model: fact {fact.name}: measure {m.name} ({m.expr!r}) "
                                  f"does not evaluate on {fact.source}: "
                                  f"{str(e).splitlines()[0]}") from e
        return rows.withColumns({
            **{d.name: date_key(d.column) for d in fact.dates},
            **measures,
        })

    return transform


def with_dimension_keys(
    fact: Fact, model: CuratedModel, dimensions: Mapping[str, DataFrame]
) -> Transform:
    """Add the surrogate key of every referenced dimension, looked up at the event time."""

    def transform(rows: DataFrame) -> DataFrame:
        for ref in fact.dimensions:
            dimension = model.dimension(ref.dimension)
            rows = rows.transform(point_in_time_key(
                lookup_versions(dimensions[ref.dimension]),
                dimension_keys=dimension.key_names,
                fact_columns=ref.columns,
                surrogate_key=dimension.surrogate_key,
                event_time=fact.event_time,
                grain=fact.grain_names,
            ))
        return rows

    return transform


def fact_inputs(fact: Fact, sources: DataFrame, parents: DataFrame | None) -> DataFrame:
    """The latest source row per grain with its parent columns, date keys and measures: what the
    dimension lookups need (the natural keys that may call for inferred members)."""
    return (
        sources.transform(latest_per_key(fact.grain_names, fact.sequence_by))
        .transform(with_parent(fact, parents))
        .transform(with_measures(fact))
    )


def keyed_facts(
    fact: Fact, model: CuratedModel, dimensions: Mapping[str, DataFrame]
) -> Transform:
    """Fact rows in table layout: inputs (see :func:`fact_inputs`) with their surrogate keys."""

    def transform(inputs: DataFrame) -> DataFrame:
        return (
            inputs.transform(with_dimension_keys(fact, model, dimensions))
            .withColumn(LOADED_AT, F.current_timestamp())
            .select(*fact_columns(fact, model))
        )

    return transform
