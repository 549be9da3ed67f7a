"""Point-in-time dimension lookups and latest-row selection (pure transforms)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakejobs.commit_versions import VALIDATED_AT
from lakejobs.curated.models import UNKNOWN_SK
from lakejobs.scd.spec import EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, IS_DELETED, TRACKED_HASH

Transform = Callable[[DataFrame], DataFrame]
TOMBSTONE = "_tombstone"


def latest_per_key(keys: Sequence[str], sequence_by: str) -> Transform:
    """The newest row of each key by ``sequence_by`` (a null sequence counts as oldest).

    Ties (the same change staged twice) are broken by the staging time, then by the row's content,
    so the choice never depends on partitioning.
    """

    def transform(df: DataFrame) -> DataFrame:
        order = [F.col(sequence_by).desc_nulls_last()]
        if VALIDATED_AT in df.columns:
            order.append(F.col(VALIDATED_AT).desc_nulls_last())
        order.append(F.xxhash64(F.to_json(F.struct(*df.columns))))
        newest_first = Window.partitionBy(*keys).orderBy(*order)
        return (
            df.withColumn("_newest", F.row_number().over(newest_first))
            .where(F.col("_newest") == 1)
            .drop("_newest")
        )

    return transform


def lookup_versions(dimension: DataFrame) -> DataFrame:
    """The dimension versions a fact may point at, with ``_tombstone`` flagging tombstones.

    A tombstone (a delete of a key the dimension never held) has no tracked hash but is flagged
    deleted; an inferred placeholder has no tracked hash and is not deleted. A fact points at a
    tombstone only when its key has nothing else (:func:`point_in_time_key` ranks tombstones
    last): such a key gets no inferred member (the key is held), and without the tombstone its
    facts would get no surrogate key at all.
    """
    return dimension.withColumn(TOMBSTONE, F.col(IS_DELETED) & F.col(TRACKED_HASH).isNull())


def point_in_time_key(
    versions: DataFrame,
    *,
    dimension_keys: Sequence[str],
    fact_columns: Sequence[str],
    surrogate_key: str,
    event_time: str,
    grain: Sequence[str],
) -> Transform:
    """Add ``surrogate_key``: the dimension version valid at each fact row's ``event_time``.

    Args:
        versions: the dimension (see :func:`lookup_versions`).
        dimension_keys: the dimension's natural key columns.
        fact_columns: the fact columns holding that natural key, in the same order.
        surrogate_key: the dimension's surrogate key column (added to the facts).
        event_time: when the fact happened.
        grain: the fact's key (one row per grain in, one row out).

    A row with a null natural key gets the unknown member (-1). A tombstone is taken only when
    the key has no other version. When no version covers the event
    time (an order placed before the customer's first recorded change, or after its delete), the
    nearest version in time is taken (distance to its interval; on a tie the one valid later);
    without an event time, the current version, else the last one (a deleted key). A key the
    dimension does not hold at all gets null, which the integrity check reports; the job creates
    inferred members first so this does not happen.
    """

    def transform(facts: DataFrame) -> DataFrame:
        candidates = versions.select(
            *[F.col(k).alias(c) for k, c in zip(dimension_keys, fact_columns, strict=True)],
            F.col(surrogate_key).alias("_pit_sk"),
            F.col(EFFECTIVE_FROM).alias("_pit_from"),
            F.col(EFFECTIVE_TO).alias("_pit_to"),
            F.col(IS_CURRENT).alias("_pit_current"),
            (F.col(TOMBSTONE) if TOMBSTONE in versions.columns else F.lit(False))
            .alias("_pit_tombstone"),
        )
        at = F.col(event_time).cast("timestamp")
        valid_then = (F.col("_pit_from") <= at) & (at < F.col("_pit_to"))
        # how far the event time lies outside the version's interval (null without a time);
        # the current version only breaks ties, else it would beat a nearer older version
        before = F.unix_micros(F.col("_pit_from")) - F.unix_micros(at)
        after = F.unix_micros(at) - F.unix_micros(F.col("_pit_to"))
        distance = F.when(at.isNotNull(), F.greatest(before, after, F.lit(0)))
        best_first = Window.partitionBy(*grain).orderBy(
            F.col("_pit_tombstone").asc_nulls_last(),
            valid_then.desc_nulls_last(),
            distance.asc_nulls_last(),
            F.col("_pit_current").desc_nulls_last(),
            F.col("_pit_to").desc_nulls_last(),
            F.col("_pit_sk"),
        )
        key_missing = F.lit(False)
        for column in fact_columns:
            key_missing = key_missing | F.col(column).isNull()
        return (
            facts.join(candidates, on=list(fact_columns), how="left")
            .withColumn("_pit_rank", F.row_number().over(best_first))
            .where(F.col("_pit_rank") == 1)
            .withColumn(surrogate_key, F.when(key_missing, F.lit(UNKNOWN_SK).cast("bigint"))
                        .otherwise(F.col("_pit_sk")))
            .drop("_pit_sk", "_pit_from", "_pit_to", "_pit_current", "_pit_tombstone", "_pit_rank")
        )

    return transform
