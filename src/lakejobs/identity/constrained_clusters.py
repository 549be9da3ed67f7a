"""Components that would join two different values of a one-per-person attribute, split greedily.

Pairs are judged one by one: a pair whose government ids differ never merges. Through components,
though, merges A–B and B–C each allowed alone can put A's and C's different ids in one canonical
record. Each component holding more than one distinct value is clustered again, in Python, one
component at a time (such components are few and small: they are the contradictions of the
matching): its merge edges are taken strongest first (``weight``
descending, then the pair's node ids, so the result does not depend on row order) and an edge
that would join two clusters holding different values is refused. Components without a
contradiction keep their label; a split component's clusters are labelled, like every
component, with their smallest node id.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

_GREEDY_SCHEMA = T.StructType([
    T.StructField("kind", T.StringType(), False),  # "node": (node, component); "refused": edge
    T.StructField("a", T.StringType(), False),
    T.StructField("b", T.StringType(), False),
])


def split_contradicting_components(
    components: DataFrame, edges: DataFrame, values: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """Split the components that hold two different values.

    Args:
        components: ``node``, ``component`` (as :func:`~lakejobs.identity.components.
            connected_components` gives them).
        edges: ``src``, ``dst``, ``weight``: the merge edges the components come from.
        values: ``node``, ``value``: the attribute's value per node (nodes without one left out).

    Returns:
        (``node``, ``component`` for every node of ``components``; ``src``, ``dst`` of the edges
        refused).
    """
    # few and small (see the module docstring): collected, and most runs stop here
    contradicting = [r.component for r in (
        components.join(values, on="node")
        .groupBy("component").agg(F.countDistinct("value").alias("n"))
        .where(F.col("n") > 1).select("component").collect()
    )]
    if not contradicting:
        return components, edges.select("src", "dst").limit(0)
    held = F.broadcast(values)
    inside = (
        edges.join(components.withColumnRenamed("node", "src"), on="src")
        .where(F.col("component").isin(contradicting))
        .join(held.select(F.col("node").alias("src"), F.col("value").alias("src_value")),
              on="src", how="left")
        .join(held.select(F.col("node").alias("dst"), F.col("value").alias("dst_value")),
              on="dst", how="left")
        .select("component", "src", "dst", "weight", "src_value", "dst_value")
    )
    greedy = inside.groupBy("component").applyInPandas(_greedy_clusters, _GREEDY_SCHEMA)
    split = greedy.where(F.col("kind") == "node").select(
        F.col("a").alias("node"), F.col("b").alias("component"))
    refused = greedy.where(F.col("kind") == "refused").select(
        F.col("a").alias("src"), F.col("b").alias("dst"))
    kept = components.join(split.select("node"), on="node", how="left_anti")
    return kept.unionByName(split), refused


def _greedy_clusters(edges: pd.DataFrame) -> pd.DataFrame:
    """One contradicting component: union-find over its edges strongest first, refusing a union
    of two clusters with different values. Every root is its cluster's smallest node."""
    parent: dict[str, str] = {}
    value: dict[str, str] = {}
    for node, held in [*zip(edges["src"], edges["src_value"], strict=True),
                       *zip(edges["dst"], edges["dst_value"], strict=True)]:
        parent[node] = node
        if isinstance(held, str):
            value[node] = held

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    refused = []
    ordered = edges.sort_values(["weight", "src", "dst"], ascending=[False, True, True])
    for src, dst in zip(ordered["src"], ordered["dst"], strict=True):
        a, b = root(src), root(dst)
        if a == b:
            continue
        if a in value and b in value and value[a] != value[b]:
            refused.append(("refused", src, dst))
            continue
        low, high = min(a, b), max(a, b)
        parent[high] = low
        if high in value:
            value.setdefault(low, value[high])
    rows = [("node", node, root(node)) for node in sorted(parent)] + refused
    return pd.DataFrame(rows, columns=["kind", "a", "b"])
