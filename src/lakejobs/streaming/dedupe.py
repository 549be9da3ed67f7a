"""Duplicates and late records of a micro-batch, flagged (never silently dropped).

A record is a duplicate when an earlier record of the same batch, or a record landed within the
watermark (by ingestion time), has the same dedupe key: ``request_id`` for events, (key, commit
position, op) for CDC. Duplicates are counted and not landed; everything else lands, records
whose event time is older than the watermark on arrival flagged ``_is_late``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakejobs.streaming.manifest import PARTITION_COLUMNS


def hour_number(year: Column, month: Column, day: Column, hour: Column) -> Column:
    """``yyyymmddhh`` as a number: partition pruning on the landing partition columns."""
    return year * 1_000_000 + month * 10_000 + day * 100 + hour


def recent_keys(landed: DataFrame, keys: Sequence[str], since: datetime) -> DataFrame:
    """The distinct dedupe keys of landing rows ingested since ``since`` (partitions pruned)."""
    cutoff = int(since.strftime("%Y%m%d%H"))
    in_window = hour_number(*[F.col(c) for c in PARTITION_COLUMNS]) >= cutoff
    return (
        landed.where(in_window & (F.col("_ingested_at") >= F.lit(since)))
        .select(*[F.col(f"`{k}`") for k in keys])
        .distinct()
    )


def flag_duplicates(keys: Sequence[str], history: DataFrame | None
                    ) -> Callable[[DataFrame], DataFrame]:
    """Adds ``_duplicate``: a later copy within the batch (by Kafka partition and offset), or a
    key already in ``history`` (see :func:`recent_keys`). Rows with ``_error`` set are never
    duplicates: they go to quarantine as they are."""
    keys = tuple(keys)

    def transform(rows: DataFrame) -> DataFrame:
        if not keys:
            return rows.withColumn("_duplicate", F.lit(False))
        valid = F.col("_error").isNull()
        first = Window.partitionBy(valid, *[F.col(f"`{k}`") for k in keys]).orderBy(
            "topic", "partition", "offset")
        flagged = rows.withColumn("_copy", F.row_number().over(first) > 1)
        if history is not None:
            seen = history.select(*[F.col(f"`{k}`").alias(f"_seen_{k}") for k in keys]).withColumn(
                "_seen", F.lit(True))
            condition = [F.col(f"`{k}`").eqNullSafe(F.col(f"_seen_{k}")) for k in keys]
            flagged = flagged.join(seen, on=condition, how="left").drop(
                *[f"_seen_{k}" for k in keys])
        else:
            flagged = flagged.withColumn("_seen", F.lit(None).cast("boolean"))
        duplicate = valid & (F.col("_copy") | F.coalesce(F.col("_seen"), F.lit(False)))
        return flagged.withColumn("_duplicate", duplicate).drop("_copy", "_seen")

    return transform


def flag_late(ingested_at: datetime, watermark: timedelta) -> Callable[[DataFrame], DataFrame]:
    """Adds ``_is_late``: the record's event time is older than the watermark on arrival."""

    def transform(rows: DataFrame) -> DataFrame:
        late = F.col("_event_time") < F.lit(ingested_at - watermark)
        return rows.withColumn("_is_late", F.coalesce(late, F.lit(False)))

    return transform
