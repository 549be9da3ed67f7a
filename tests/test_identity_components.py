"""Connected components against networkx, an independent oracle, on every path and AQE setting."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakejobs.identity.components import RESULT_SCHEMA, GraphError, connected_components

CHAIN = 10_000
HUB_EDGES = 50_000


def oracle(edges: list[tuple[str, str]], isolated: list[str]) -> list[tuple[str, str]]:
    """(node, smallest node of its component) by networkx."""
    graph = nx.Graph()
    graph.add_edges_from(edges)
    graph.add_nodes_from(isolated)
    return [(n, min(c)) for c in nx.connected_components(graph) for n in c]


@pytest.fixture(scope="module")
def hard_graph() -> tuple[list[tuple[str, str]], list[str]]:
    """A 10,000-node chain (in shuffled edge order), a hub with 50,000 edges, random small
    components, duplicate and reversed edges, a self-loop, and isolated nodes."""
    rng = random.Random(7)
    chain = [(f"c:{i:05d}", f"c:{i + 1:05d}") for i in range(CHAIN - 1)]
    rng.shuffle(chain)
    hub = [("h:hub", f"h:{i}") for i in range(HUB_EDGES)]
    small = [(f"r:{rng.randrange(3000)}", f"r:{rng.randrange(3000)}") for _ in range(2000)]
    extra = [("c:00010", "c:00009"), ("h:7", "h:hub"), ("x:self", "x:self")]
    isolated = ["i:alone", "i:other", "c:00042"]  # the last one also has edges
    return chain + hub + small + extra, isolated


@pytest.mark.parametrize(
    ("strategy", "aqe", "local_max_edges"),
    [
        ("distributed", "true", 2_000_000),
        ("distributed", "false", 2_000_000),
        ("local", "true", 2_000_000),
        # auto on a graph above the threshold: distributed rounds, finished on the driver
        ("auto", "false", 20_000),
    ],
)
def test_components_equal_the_networkx_oracle(
    spark: SparkSession, hard_graph, strategy: str, aqe: str, local_max_edges: int
) -> None:
    edges, isolated = hard_graph
    spark.conf.set("spark.sql.adaptive.enabled", aqe)
    try:
        actual = connected_components(
            spark.createDataFrame(edges, "src string, dst string").repartition(3),
            spark.createDataFrame([(n,) for n in isolated], "node string"),
            strategy=strategy, local_max_edges=local_max_edges,
        )
        expected = spark.createDataFrame(oracle(edges, isolated), RESULT_SCHEMA)
        # 62,000 rows: compared in Spark (chispa compares row by row on the driver)
        assert actual.count() == expected.count() == 62_225
        assert actual.exceptAll(expected).isEmpty() and expected.exceptAll(actual).isEmpty()
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_graphs_agree_on_both_paths_with_and_without_caching(
    spark: SparkSession, seed: int
) -> None:
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(rng.randint(50, 400))]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(rng.randint(20, 300))]
    df = spark.createDataFrame(edges, "src string, dst string")
    if seed % 2:
        df = df.cache()
    everyone = spark.createDataFrame([(n,) for n in nodes], "node string")
    expected = spark.createDataFrame(oracle(edges, nodes), RESULT_SCHEMA)
    for strategy in ("distributed", "local"):
        actual = connected_components(df, everyone, strategy=strategy)
        assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    df.unpersist()


def test_null_ends_are_ignored_and_an_empty_graph_gives_only_the_given_nodes(
    spark: SparkSession,
) -> None:
    edges = spark.createDataFrame([("a", None), (None, "b")], "src string, dst string")
    nodes = spark.createDataFrame([("z",)], "node string")
    for strategy in ("distributed", "local"):
        actual = connected_components(edges, nodes, strategy=strategy)
        assert_df_equality(actual, spark.createDataFrame([("z", "z")], RESULT_SCHEMA),
                           ignore_nullable=True)


def test_an_unknown_strategy_is_an_error_naming_it(spark: SparkSession) -> None:
    edges = spark.createDataFrame([("a", "b")], "src string, dst string")
    with pytest.raises(GraphError, match="'fastest'.*auto, local, distributed"):
        connected_components(edges, strategy="fastest")  # type: ignore[arg-type]
