"""Keeping dimension tables cheap to merge: compaction and clustering by key."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession


def optimize_dimension(
    spark: SparkSession, path: str, *, zorder_by: Sequence[str] = ()
) -> DataFrame:
    """Compact small files (OPTIMIZE); with ``zorder_by`` (the key) also cluster rows by key.

    Merges read and rewrite only files whose key range a batch touches, so files with tight,
    non-overlapping key ranges (the effect of Z-ordering on the key) keep merges cheap.

    Returns:
        Delta's OPTIMIZE metrics.
    """
    from lakejobs.maintenance import optimize_table  # the job module imports the runtime

    return optimize_table(spark, path, zorder_by=zorder_by)
