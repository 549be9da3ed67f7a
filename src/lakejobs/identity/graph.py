"""The identity graph from source rows: salted-hash nodes, typed edges with provenance, policy.

A row that carries several identifiers links them: its identifiers become nodes
``<prefix>:<sha256(identifier + salt)>`` and each is linked to the row's *centre*, the first of
its identifiers in the configured type order (user before anon before session before device), so
a row with k identifiers gives k-1 edges that connect the same nodes as all k(k-1)/2 pairs would.

The salt never appears in a query plan or a log: it is joined in from a one-row local relation
(plans print such a relation's columns, not its values) instead of being a literal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.config import IdentifierType
from lakejobs.local_rows import rows_frame

SALT = "_salt"
NODES = "_nodes"

NODE_SCHEMA = T.StructType(
    [
        T.StructField("node", T.StringType(), False),
        T.StructField("node_type", T.StringType(), False),
        T.StructField("first_seen", T.TimestampType(), True),
        T.StructField("last_seen", T.TimestampType(), True),
        T.StructField("observations", T.LongType(), False),
    ]
)
EDGE_SCHEMA = T.StructType(
    [
        T.StructField("src", T.StringType(), False),
        T.StructField("dst", T.StringType(), False),
        T.StructField("src_type", T.StringType(), False),
        T.StructField("dst_type", T.StringType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("first_seen", T.TimestampType(), True),
        T.StructField("last_seen", T.TimestampType(), True),
        T.StructField("observations", T.LongType(), False),
    ]
)


def edge_ends(edges: DataFrame) -> DataFrame:
    """Each edge once from either end: (``node``, ``other``), from one read of ``edges`` (a
    Delta table read twice in one query has its files listed once more at execution: the
    second read's attributes differ from those its file list was prepared for)."""
    ends = F.explode(F.array(
        F.struct(F.col("src").alias("node"), F.col("dst").alias("other")),
        F.struct(F.col("dst").alias("node"), F.col("src").alias("other")),
    ))
    return edges.select(ends.alias("_end")).select("_end.node", "_end.other")


def salt_frame(spark: SparkSession, salt: str) -> DataFrame:
    """A one-row frame holding the salt, to be joined in (see the module docstring)."""
    return rows_frame(spark, [(salt,)], T.StructType([T.StructField(SALT, T.StringType())]))


def hashed(value: Column, prefix: str) -> Column:
    """``<prefix>:<sha256(value + salt)>`` for a trimmed, non-empty identifier, else null.

    Needs the salt column (:func:`with_salt`)."""
    text = F.trim(value.cast("string"))
    digest = F.sha2(F.concat(text, F.col(SALT)), 256)
    return F.when(text != "", F.concat(F.lit(f"{prefix}:"), digest))


def with_salt(salt: DataFrame):
    """Transform: add the salt column (a broadcast cross join with the one-row salt frame)."""

    def transform(df: DataFrame) -> DataFrame:
        return df.crossJoin(F.broadcast(salt))

    return transform


def with_nodes(
    identifiers: Mapping[str, str], types: Sequence[IdentifierType], deny: DataFrame | None = None
):
    """Transform: add ``_nodes``, the row's identifier nodes (``node``, ``node_type``) in type
    priority order, leaving out empty identifiers and nodes on the deny-list (column ``node``).

    Needs the salt column; drops it.
    """
    order = {t.prefix: i for i, t in enumerate(types)}
    columns = sorted(identifiers, key=lambda c: (order[identifiers[c]], c))

    def transform(df: DataFrame) -> DataFrame:
        out = df
        names = []
        for i, column in enumerate(columns):
            name = f"_node_{i}"
            out = out.withColumn(name, hashed(F.col(column), identifiers[column]))
            if deny is not None:
                # a node on the deny-list is dropped from the row before the row's edges are
                # made: the person's other identifiers are not linked through it either
                denied = F.broadcast(deny.select(F.col("node").alias(name),
                                                 F.lit(True).alias(f"{name}_denied")).distinct())
                out = out.join(denied, on=name, how="left").withColumn(
                    name, F.when(F.col(f"{name}_denied").isNull(), F.col(name))
                ).drop(f"{name}_denied")
            names.append(name)
        nodes = F.array(*[
            F.struct(F.col(n).alias("node"), F.lit(identifiers[c]).alias("node_type"))
            for n, c in zip(names, columns, strict=True)
        ])
        return out.withColumn(NODES, F.filter(nodes, lambda x: x["node"].isNotNull())).drop(
            SALT, *names
        )

    return transform


def node_observations(time_column: str):
    """Transform: rows with ``_nodes`` → one row per node (first/last seen, observations)."""

    def transform(df: DataFrame) -> DataFrame:
        return (
            df.select(F.col(time_column).cast("timestamp").alias("_seen"),
                      F.explode(NODES).alias("n"))
            .groupBy(F.col("n.node").alias("node"), F.col("n.node_type").alias("node_type"))
            .agg(F.min("_seen").alias("first_seen"), F.max("_seen").alias("last_seen"),
                 F.count("*").alias("observations"))
            .select(*NODE_SCHEMA.fieldNames())
        )

    return transform


def edge_observations(source: str, time_column: str):
    """Transform: rows with ``_nodes`` → one row per edge centre → other identifier of a row,
    with the source name, first/last seen and observations."""

    def transform(df: DataFrame) -> DataFrame:
        linked = df.where(F.size(NODES) >= 2).select(
            F.col(time_column).cast("timestamp").alias("_seen"),
            F.col(NODES)[0].alias("c"),
            F.explode(F.slice(NODES, 2, F.size(NODES))).alias("o"),
        )
        return (
            linked.groupBy(
                F.col("c.node").alias("src"), F.col("o.node").alias("dst"),
                F.col("c.node_type").alias("src_type"), F.col("o.node_type").alias("dst_type"),
            )
            .agg(F.min("_seen").alias("first_seen"), F.max("_seen").alias("last_seen"),
                 F.count("*").alias("observations"))
            .withColumn("source", F.lit(source))
            .select(*EDGE_SCHEMA.fieldNames())
        )

    return transform


def _fresh(last_seen: Column, type_column: Column, types: Sequence[IdentifierType],
           as_of: datetime) -> Column:
    """Whether a node or edge end of ``type_column`` was last seen within its type's retention."""
    condition = F.lit(True)
    for t in types:
        if t.retention_days is not None:
            horizon = F.lit(as_of - timedelta(days=t.retention_days)).cast("timestamp")
            condition = condition & ((type_column != t.prefix) | (last_seen >= horizon))
    return condition


def _linkable_type(type_column: Column, types: Sequence[IdentifierType]) -> Column:
    return type_column.isin([t.prefix for t in types if t.linkable])


def is_live_edge(types: Sequence[IdentifierType], as_of: datetime) -> Column:
    """An edge that stitches at ``as_of``: both ends of linkable types, seen within retention."""
    return (
        _linkable_type(F.col("src_type"), types) & _linkable_type(F.col("dst_type"), types)
        & _fresh(F.col("last_seen"), F.col("src_type"), types, as_of)
        & _fresh(F.col("last_seen"), F.col("dst_type"), types, as_of)
    )


def is_live_node(types: Sequence[IdentifierType], as_of: datetime) -> Column:
    """A node that belongs to an identity at ``as_of``: linkable type, seen within retention."""
    return _linkable_type(F.col("node_type"), types) & _fresh(
        F.col("last_seen"), F.col("node_type"), types, as_of
    )
