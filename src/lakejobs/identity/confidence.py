"""``confidence_score``: how sure the resolution is that a node belongs to its identity.

Each live edge is evidence with a strength

    edge_score = min(weight(src type), weight(dst type)) × (1 − 0.5 ^ observations)

— a link between a user id and an anon id seen once counts 0.8 × 0.5 = 0.4, seen five times
0.8 × 0.97 = 0.78; a session link never counts more than the session weight 0.6. A node's
evidence combines like independent witnesses (noisy-OR):

    confidence_score = 1 − Π (1 − edge_score)   over the node's live edges

so it grows with every independent link and never reaches 1 through weak types alone. A node
alone in its identity has nothing to be wrong about: 1.0. Scores are rounded to 4 decimals.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakejobs.config import IdentifierType


def _weight(type_column: Column, types: Sequence[IdentifierType]) -> Column:
    weight = F.lit(None).cast("double")
    for t in types:
        weight = F.when(type_column == t.prefix, F.lit(t.weight)).otherwise(weight)
    return weight


def edge_score(types: Sequence[IdentifierType]) -> Column:
    """The strength of one edge (columns ``src_type``, ``dst_type``, ``observations``)."""
    weakest = F.least(_weight(F.col("src_type"), types), _weight(F.col("dst_type"), types))
    return weakest * (F.lit(1.0) - F.pow(F.lit(0.5), F.col("observations")))


def node_confidence(edges: DataFrame, types: Sequence[IdentifierType]) -> DataFrame:
    """``node``, ``confidence_score`` for every node with at least one of ``edges`` (live edges,
    one row per source: observations of one pair from several sources are added first)."""
    pairs = edges.groupBy("src", "dst", "src_type", "dst_type").agg(
        F.sum("observations").alias("observations")
    ).withColumn("_s", edge_score(types))
    ends = pairs.select(F.col("src").alias("node"), "_s").unionByName(
        pairs.select(F.col("dst").alias("node"), "_s")
    )
    # Π(1 − s) as exp(Σ log(1 − s)); s < 1 always (1 − 0.5^n < 1)
    return ends.groupBy("node").agg(
        F.round(F.lit(1.0) - F.exp(F.sum(F.log1p(-F.col("_s")))), 4).alias("confidence_score")
    )
