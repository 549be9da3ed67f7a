"""Connected components of a graph given as an edge DataFrame: the identities of the identity graph.

Two paths, one answer:

* **local** — the edges are collected to the driver (Arrow) and labelled with
  ``scipy.sparse.csgraph.connected_components``. Fastest by far while the graph fits comfortably
  in the driver; the threshold is ``local_max_edges``.
* **distributed** — randomized contraction on DataFrames. Each round every node picks the
  smallest-hashed node within two hops (a fresh hash per round), every edge is rewritten to the
  picked labels and self-loops drop out, so the graph shrinks by a constant factor per round in
  expectation: O(log n) rounds even on long chains, and a hub collapses in one round instead of
  one round per layer. Work per round follows the shrinking graph, not the input. The rounds'
  label maps are composed backwards at the end.

``strategy="auto"`` takes the local path when the edge count is within the threshold and scipy
is installed; otherwise it runs distributed rounds until the remaining (contracted) graph is
within the threshold and finishes it locally. ``"local"`` and ``"distributed"`` force one path
(``"distributed"`` never collects the graph).

The result is the same whatever the path, the partitioning, caching or adaptive query execution:
every random choice is a hash of the node and the round number, never ``rand()`` or
``monotonically_increasing_id()`` (which change when AQE re-plans or a stage is recomputed), and
each component is labelled with its smallest node id (string order). Nodes given in ``nodes``
without any edge come back as components of their own.
"""

from __future__ import annotations

import logging
from typing import Literal

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.errors import LakejobsError
from lakejobs.local_rows import rows_frame

log = logging.getLogger(__name__)

Strategy = Literal["auto", "local", "distributed"]
STRATEGIES: tuple[str, ...] = ("auto", "local", "distributed")
RESULT_SCHEMA = T.StructType(
    [T.StructField("node", T.StringType(), False), T.StructField("component", T.StringType(), False)]
)


class GraphError(LakejobsError):
    """The graph cannot be processed as asked (unknown strategy, local path unavailable)."""


def connected_components(
    edges: DataFrame,
    nodes: DataFrame | None = None,
    *,
    strategy: Strategy = "auto",
    local_max_edges: int = 2_000_000,
) -> DataFrame:
    """Label every node with its connected component.

    Args:
        edges: undirected edges, columns ``src`` and ``dst`` (strings; rows with a null end are
            ignored, duplicates and self-loops are allowed).
        nodes: optional column ``node``: nodes to keep even without edges (isolated nodes).
        strategy: ``auto``, ``local`` or ``distributed`` (see the module docstring).
        local_max_edges: the largest edge count the local path takes (the graph must fit in the
            driver: ~100 bytes per edge for string ids of ~70 characters).

    Returns:
        ``node``, ``component`` (the smallest node id of the node's component), one row per node.

    Raises:
        GraphError: unknown strategy, or ``local`` forced without scipy/pyarrow installed.
    """
    if strategy not in STRATEGIES:
        raise GraphError(f"unknown strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    pairs = edges.select(
        F.col("src").cast("string").alias("src"), F.col("dst").cast("string").alias("dst")
    ).where(F.col("src").isNotNull() & F.col("dst").isNotNull())
    extra = None
    if nodes is not None:
        extra = nodes.select(F.col("node").cast("string").alias("node")).where(
            F.col("node").isNotNull()
        )
    local_ok = _local_available()
    if strategy == "local" and not local_ok:
        raise GraphError("strategy 'local' needs scipy and pyarrow: pip install 'lakejobs[identity]'")
    if strategy == "local" or (
        strategy == "auto" and local_ok and pairs.count() <= local_max_edges
    ):
        return _local_components(edges.sparkSession, pairs, extra)
    finish = local_max_edges if strategy == "auto" and local_ok else None
    return _distributed_components(pairs, extra, finish_below=finish)


# ------------------------------------------------------------------ local path


def _local_available() -> bool:
    try:
        import pyarrow  # noqa: F401
        import scipy.sparse.csgraph  # noqa: F401
    except ImportError:
        return False
    return True


def _collect_arrow(df: DataFrame):  # -> pyarrow.Table
    """``df`` as an Arrow table on the driver (Spark 4: ``toArrow``; Spark 3.5: through pandas,
    which uses Arrow when ``spark.sql.execution.arrow.pyspark.enabled`` is on)."""
    import pyarrow as pa

    if hasattr(df, "toArrow"):
        return df.toArrow()
    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)


def _to_spark(spark: SparkSession, table) -> DataFrame:  # table: pyarrow.Table
    try:
        return spark.createDataFrame(table, RESULT_SCHEMA)  # Spark 4 takes Arrow directly
    except TypeError:
        return spark.createDataFrame(table.to_pandas(), RESULT_SCHEMA)


def _label_codes(src_codes, dst_codes, n: int):  # numpy arrays -> numpy array
    """Component of each of ``n`` nodes, labelled by its smallest node code."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    graph = coo_matrix((np.ones(len(src_codes), dtype=np.int8), (src_codes, dst_codes)),
                       shape=(n, n))
    _, labels = scipy_components(graph, directed=False)
    smallest = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    return smallest[labels]


def _local_components(spark: SparkSession, pairs: DataFrame, extra: DataFrame | None) -> DataFrame:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    table = _collect_arrow(pairs)
    src = table.column("src").to_numpy(zero_copy_only=False)
    dst = table.column("dst").to_numpy(zero_copy_only=False)
    parts = [src, dst]
    if extra is not None:
        parts.append(_collect_arrow(extra).column("node").to_numpy(zero_copy_only=False))
    everything = np.concatenate(parts) if parts else np.array([], dtype=object)
    # sort=True: codes follow string order, so the smallest code of a component is its smallest id
    codes, uniques = pd.factorize(everything, sort=True)
    n_edges = len(src)
    labels = _label_codes(codes[:n_edges], codes[n_edges : 2 * n_edges], len(uniques))
    uniques = np.asarray(uniques, dtype=object)
    result = pa.table({"node": pa.array(uniques, pa.string()),
                       "component": pa.array(uniques[labels], pa.string())})
    log.info("connected components (local): %d edges, %d nodes", n_edges, len(uniques))
    return _to_spark(spark, result)


# ------------------------------------------------------------ distributed path


def materialize(df: DataFrame) -> DataFrame:
    """Cut ``df``'s lineage so that the plan does not grow with every round: a reliable
    checkpoint when the application has a checkpoint directory (survives executor loss, as on
    Glue with autoscaling), a local checkpoint otherwise."""
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


def _node_ids(pairs: DataFrame, extra: DataFrame | None) -> tuple[DataFrame, bool]:
    """``node`` (string) → ``id`` (long), and whether the ids are the nodes' 64-bit hashes.

    Hashes let the edges get their ids without a join; if two nodes collide (about one chance
    in 10^7 at a million nodes), dense ranks are used instead.
    """
    names = pairs.select(F.col("src").alias("node")).union(pairs.select(F.col("dst").alias("node")))
    if extra is not None:
        names = names.union(extra)
    hashed = materialize(names.distinct().withColumn("id", F.xxhash64("node")))
    counts = hashed.agg(F.count("*").alias("nodes"), F.countDistinct("id").alias("ids")).first()
    if counts.nodes == counts.ids:
        return hashed, True
    log.warning("node id hash collision among %d nodes: using dense ids", counts.nodes)
    # one ordered pass over all node names; only taken on a 64-bit collision
    dense = hashed.select(
        "node", F.row_number().over(Window.orderBy("node")).cast("long").alias("id"))
    return materialize(dense), False


def _contract(edges: DataFrame, round_no: int) -> tuple[DataFrame, DataFrame]:
    """One contraction round on undirected edges ``a < b`` (longs).

    Returns the round's label map (``x`` → ``label``, for every node of ``edges``) and the
    contracted edges.
    """
    key = lambda c: F.struct(F.xxhash64(c, F.lit(round_no)).alias("h"), c.alias("v"))
    both = edges.select(F.col("a").alias("x"), F.col("b").alias("y")).union(
        edges.select(F.col("b").alias("x"), F.col("a").alias("y"))
    )
    # hop 1: the smallest key in the closed neighbourhood of x
    hop1 = both.groupBy("x").agg(F.min(key(F.col("y"))).alias("m")).select(
        "x", F.least("m", key(F.col("x"))).alias("m")
    )
    # hop 2: the smallest hop-1 choice among x and its neighbours (a star collapses in one round)
    via_neighbours = (
        both.join(hop1.select(F.col("x").alias("y"), "m"), on="y", how="inner")
        .groupBy("x")
        .agg(F.min("m").alias("m2"))
    )
    picked = hop1.join(via_neighbours, on="x", how="inner").select(
        "x", F.least("m", "m2").getField("v").alias("label"))
    # pointer jump: take the label's own label (any node of x's component is a valid label, see
    # the module docstring); a chain then shrinks by about a quarter per round, not a half
    jump = picked.select(F.col("x").alias("label"), F.col("label").alias("onward"))
    labels = picked.join(jump, on="label", how="left").select(
        "x", F.coalesce("onward", "label").alias("label")).persist()
    la = labels.select(F.col("x").alias("a"), F.col("label").alias("la"))
    lb = labels.select(F.col("x").alias("b"), F.col("label").alias("lb"))
    contracted = (
        edges.join(la, on="a", how="inner")
        .join(lb, on="b", how="inner")
        .where(F.col("la") != F.col("lb"))
        .select(F.least("la", "lb").alias("a"), F.greatest("la", "lb").alias("b"))
        .distinct()
    )
    return labels, contracted


def _distributed_components(
    pairs: DataFrame, extra: DataFrame | None, *, finish_below: int | None
) -> DataFrame:
    spark = pairs.sparkSession
    ids, hashed = _node_ids(pairs, extra)
    if hashed:
        with_ids = pairs.select(F.xxhash64("src").alias("sa"), F.xxhash64("dst").alias("sb"))
    else:
        src_ids = ids.select(F.col("node").alias("src"), F.col("id").alias("sa"))
        dst_ids = ids.select(F.col("node").alias("dst"), F.col("id").alias("sb"))
        with_ids = pairs.join(src_ids, on="src", how="inner").join(dst_ids, on="dst", how="inner")
    edges = materialize(
        with_ids.where(F.col("sa") != F.col("sb"))
        .select(F.least("sa", "sb").alias("a"), F.greatest("sa", "sb").alias("b"))
        .distinct()
    )
    maps: list[DataFrame] = []
    remaining = edges.count()
    round_no = 0
    while remaining:
        if finish_below is not None and remaining <= finish_below:
            maps.append(_finish_locally(spark, edges))
            break
        labels, contracted = _contract(edges, round_no)
        edges = materialize(contracted)  # also fills the cache of this round's labels
        maps.append(labels)
        remaining = edges.count()
        round_no += 1
        log.debug("contraction round %d: %d edges left", round_no, remaining)
    log.info("connected components (distributed): %d contraction rounds%s", round_no,
             ", finished locally" if len(maps) > round_no else "")
    final = _compose(spark, maps)
    by_id = (
        ids.join(final, on=F.col("id") == F.col("x"), how="left")
        .select("node", F.coalesce("label", "id").alias("label"))
    )
    smallest = by_id.groupBy("label").agg(F.min("node").alias("component"))
    result = materialize(by_id.join(smallest, on="label", how="inner").select("node", "component"))
    for labels in maps:
        labels.unpersist()
    return result


def _compose(spark: SparkSession, maps: list[DataFrame]) -> DataFrame:
    """Compose the rounds' label maps backwards into ``x`` → final ``label``."""
    if not maps:
        return rows_frame(spark, [], "x long, label long")
    final = maps[-1]
    for labels in reversed(maps[:-1]):
        onward = final.select(F.col("x").alias("label"), F.col("label").alias("onward"))
        final = labels.join(onward, on="label", how="left").select(
            "x", F.coalesce("onward", "label").alias("label")
        )
    return final


def _finish_locally(spark: SparkSession, edges: DataFrame) -> DataFrame:
    """The label map of a (contracted) long-id graph small enough for the driver."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    table = _collect_arrow(edges)
    a = table.column("a").to_numpy()
    b = table.column("b").to_numpy()
    codes, uniques = pd.factorize(np.concatenate([a, b]), sort=True)
    labels = _label_codes(codes[: len(a)], codes[len(a) :], len(uniques))
    uniques = np.asarray(uniques, dtype=np.int64)
    mapping = pa.table({"x": pa.array(uniques, pa.int64()),
                        "label": pa.array(uniques[labels], pa.int64())})
    schema = "x long, label long"
    try:
        return spark.createDataFrame(mapping, schema)
    except TypeError:
        return spark.createDataFrame(mapping.to_pandas(), schema)
