"""Reading and writing Delta tables by location. The only place jobs touch Delta's API."""

from __future__ import annotations

from collections.abc import Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at ``path``."""
    return DeltaTable.isDeltaTable(spark, path)


def read_delta(spark: SparkSession, path: str, schema: T.StructType | None = None) -> DataFrame:
    """The table at ``path``; an empty frame of ``schema`` when there is none yet."""
    if schema is not None and not is_delta_table(spark, path):
        return spark.createDataFrame([], schema)
    return spark.read.format("delta").load(path)


def append(df: DataFrame, path: str) -> None:
    """Append ``df`` to the Delta table at ``path`` (created on first write)."""
    df.write.format("delta").mode("append").save(path)


def ensure_table(spark: SparkSession, path: str, schema: T.StructType) -> DeltaTable:
    """The Delta table at ``path``, created empty with ``schema`` if it does not exist."""
    DeltaTable.createIfNotExists(spark).location(path).addColumns(schema).execute()
    return DeltaTable.forPath(spark, path)


def insert_new(df: DataFrame, path: str, keys: Sequence[str]) -> None:
    """Insert the rows of ``df`` whose ``keys`` are not in the table yet (idempotent append).

    A replayed batch finds every key present and writes nothing.
    """
    target = ensure_table(df.sparkSession, path, df.schema)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    (
        target.alias("t")
        .merge(df.alias("s"), condition)
        .whenNotMatchedInsertAll()
        .execute()
    )


def upsert_latest(df: DataFrame, path: str, keys: Sequence[str], order_by: str) -> None:
    """Upsert ``df`` by ``keys``: insert new keys, update a key only with a newer ``order_by``.

    ``df`` must hold at most one row per key (deduplicate first). Replays change nothing.
    """
    target = ensure_table(df.sparkSession, path, df.schema)
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    (
        target.alias("t")
        .merge(df.alias("s"), condition)
        .whenMatchedUpdateAll(condition=f"s.`{order_by}` > t.`{order_by}`")
        .whenNotMatchedInsertAll()
        .execute()
    )
