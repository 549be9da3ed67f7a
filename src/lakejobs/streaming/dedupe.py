"""Duplicates and late records of a micro-batch, flagged (never silently dropped).

A record is a duplicate when an earlier record of the same batch, or a record landed within the
watermark (by ingestion time), has the same dedupe key: ``request_id`` for events, (key, commit
position) for CDC. Duplicates are counted and not landed; everything else lands, records
whose event time is older than the watermark on arrival flagged ``_is_late``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakejobs.streaming.manifest import PARTITION_COLUMNS, POSITION_COLUMNS


def hour_number(year: Column, month: Column, day: Column, hour: Column) -> Column:
    """``yyyymmddhh`` as a number: partition pruning on the landing partition columns."""
    return year * 1_000_000 + month * 10_000 + day * 100 + hour


def recent_keys(landed: DataFrame, keys: Sequence[str], since: datetime) -> DataFrame:
    """The dedupe keys of landing rows ingested since ``since`` (partitions pruned), as many times
    as they landed (:func:`duplicate_offsets` needs no distinct keys)."""
    cutoff = int(since.strftime("%Y%m%d%H"))
    in_window = hour_number(*[F.col(c) for c in PARTITION_COLUMNS]) >= cutoff
    return (
        landed.where(in_window & (F.col("_ingested_at") >= F.lit(since)))
        .select(*[F.col(f"`{k}`") for k in keys])
    )


def duplicate_offsets(keys: Sequence[str], history: DataFrame | None, rows: DataFrame
                      ) -> DataFrame:
    """The position (``_topic``, ``_partition``, ``_offset``) of every duplicate among ``rows``: a
    later copy within the
    batch (by Kafka partition and offset), or a key already in ``history`` (see
    :func:`recent_keys`). Rows with ``_error`` set are never duplicates: they are quarantined
    as they are. Works on the key columns only, in one shuffle: the history's keys and the
    batch's are numbered together per key, history first, and every batch row but a key's first
    row is a duplicate. At most one row per record of the batch."""
    position = list(POSITION_COLUMNS)
    key_columns = [F.col(f"`{k}`") for k in keys]
    candidates = rows.where(F.col("_error").isNull()).select(
        *key_columns, *position, F.lit(1).alias("_from_batch"))
    if history is not None:
        candidates = history.select(
            *key_columns, F.lit(None).cast("string").alias("_topic"),
            F.lit(None).cast("int").alias("_partition"),
            F.lit(None).cast("bigint").alias("_offset"),
            F.lit(0).alias("_from_batch"),
        ).unionByName(candidates)
    first = Window.partitionBy(*key_columns).orderBy("_from_batch", *position)
    return (candidates.withColumn("_copy", F.row_number().over(first) > 1)
            .where(F.col("_copy") & (F.col("_from_batch") == 1)).select(*position))


def flag_duplicates(duplicates: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Adds ``_duplicate``: the record's position is in ``duplicates`` (see
    :func:`duplicate_offsets`; broadcast: it is bounded by the batch size and usually empty)."""

    def transform(rows: DataFrame) -> DataFrame:
        marked = duplicates.select(*POSITION_COLUMNS, F.lit(True).alias("_dup"))
        return (rows.join(F.broadcast(marked), on=list(POSITION_COLUMNS), how="left")
                .withColumn("_duplicate", F.coalesce(F.col("_dup"), F.lit(False)))
                .drop("_dup"))

    return transform


def flag_late(ingested_at: datetime, watermark: timedelta, *, whole_days: bool = False
              ) -> Callable[[DataFrame], DataFrame]:
    """Adds ``_is_late``: the record's event time is older than the watermark on arrival.

    Args:
        ingested_at: the batch's time.
        watermark: how far back from ``ingested_at`` a record is still on time.
        whole_days: the event time is a date (``_event_time`` holds its midnight): a day is late
            only once all of it is older than the watermark, i.e. when it ended (the next
            midnight) at or before ``ingested_at - watermark``. Measured from its midnight, a
            record dated today would be late as soon as the watermark is shorter than the time
            since midnight.
    """
    cutoff = ingested_at - watermark
    if whole_days:
        late = F.col("_event_time") <= F.lit(cutoff - timedelta(days=1))
    else:
        late = F.col("_event_time") < F.lit(cutoff)

    def transform(rows: DataFrame) -> DataFrame:
        return rows.withColumn("_is_late", F.coalesce(late, F.lit(False)))

    return transform
