"""A synthetic identity graph for the connected-components benchmark, deterministic for a seed.

Nodes are strings ``<kind>:<16 hex digits>``: ``u`` users, ``a`` anonymous ids (cookies, ad ids),
``s`` sessions, ``d`` devices. The hex part is a 64-bit hash of the seed, the kind and the node's
position, so node ids are in no particular string order along any structure (the smallest id of
a chain sits anywhere on it). Edges, undirected, exactly ``edges`` of them:

* **users** (the bulk): each user has 1 to 19 edges (2 to 20 nodes): 1-3 anonymous ids linked to
  the user, sessions linked to one of those anonymous ids, and for a quarter of the users one
  personal device as the last edge. Every edge brings one new node, so each user's part is a tree.
* **shared devices**: ``edges // 20,000`` devices (50 at 1M), each linked to 200-400 users
  (spread evenly over the user range): they merge those users into components of thousands of
  nodes (devices can share users and so merge further).
* **hub**: one device linked to ``hub_edges`` anonymous ids of its own (a bot or a default device
  id): one star component of ``hub_edges + 1`` nodes.
* **chains**: a path per entry of ``chains`` (nodes alternate user / anonymous id, no other edges),
  the worst case for label propagation, whose rounds grow with the diameter.
* **isolated nodes**: ``isolated`` users without any edge, returned as a separate DataFrame.

Everything is computed by Spark from ``spark.range`` with hash functions (no driver-side data,
no randomness that depends on partitioning), so the same seed gives the same graph on any
machine, and 5M edges cost no more driver memory than 1M.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

MAX_USER_EDGES = 19  # edges per user: 1..19, i.e. 2..20 nodes per user
ANON_PER_USER = 3  # anonymous ids per user: 1..3 (at most the user's edge count)
SHARED_MIN_USERS, SHARED_MAX_USERS = 200, 400
EDGES_PER_SHARED_DEVICE = 20_000  # one shared device per this many edges


@dataclass(frozen=True)
class GraphShape:
    """Sizes of the parts of the graph (see the module docstring)."""

    edges: int = 1_000_000
    hub_edges: int = 50_000
    chains: tuple[int, ...] = (1_000, 10_000)
    isolated: int = 10_000
    seed: int = 42
    shared_devices: int = -1  # -1: edges // EDGES_PER_SHARED_DEVICE

    @property
    def devices(self) -> int:
        if self.shared_devices >= 0:
            return self.shared_devices
        return self.edges // EDGES_PER_SHARED_DEVICE

    def shared_sizes(self) -> list[int]:
        """Users per shared device: a fixed function of the seed and the device number."""
        span = SHARED_MAX_USERS - SHARED_MIN_USERS + 1
        return [SHARED_MIN_USERS + _mix(self.seed, 1, d) % span for d in range(self.devices)]

    @property
    def shared_edges(self) -> int:
        return sum(self.shared_sizes())

    @property
    def chain_edges(self) -> int:
        return sum(max(0, n - 1) for n in self.chains)

    @property
    def user_edges(self) -> int:
        return self.edges - self.shared_edges - self.hub_edges - self.chain_edges

    def describe(self) -> dict[str, object]:
        return {
            "edges": self.edges,
            "user_edges": self.user_edges,
            "shared_devices": self.devices,
            "shared_device_edges": self.shared_edges,
            "hub_edges": self.hub_edges,
            "chains": list(self.chains),
            "isolated_nodes": self.isolated,
            "seed": self.seed,
        }


def _mix(*values: int) -> int:
    """A small deterministic integer hash (driver side, for the few per-device sizes)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h ^= (v + 0x632BE59BD9B4E5 + (h << 6) + (h >> 2)) & 0xFFFFFFFFFFFFFFFF
        h = (h * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h


def node_id(kind: str, seed: int, part: str, *keys: Column) -> Column:
    """``kind:<16 hex digits>`` from a 64-bit hash of the seed, the part and the keys."""
    digest = F.xxhash64(F.lit(seed), F.lit(part), *keys)
    return F.concat(F.lit(f"{kind}:"), F.lower(F.lpad(F.hex(digest), 16, "0")))


def _hash_mod(seed: int, part: str, key: Column, modulus: int) -> Column:
    return F.pmod(F.xxhash64(F.lit(seed), F.lit(part), key), F.lit(modulus))


def user_node(seed: int, user: Column) -> Column:
    return node_id("u", seed, "user", user)


def user_part(spark: SparkSession, shape: GraphShape) -> tuple[DataFrame, int]:
    """Edges of the ordinary users, exactly ``shape.user_edges`` of them, and the user count.

    Each user's edge count is hashed from its number; users are laid end to end along the edge
    range (a running sum over the user numbers) and the last one is cut to fit.
    """
    seed, total = shape.seed, shape.user_edges
    if total <= 0:
        raise ValueError(f"{shape.edges} edges leave no room for users after the fixed parts")
    average = (MAX_USER_EDGES + 1) / 2
    candidates = int(total / average * 1.2) + 100
    size = _hash_mod(seed, "size", F.col("id"), MAX_USER_EDGES) + 1
    # One ordered pass over the candidate users (~120k at 1M edges): deterministic running sum.
    running = F.sum("size").over(Window.orderBy("id").rowsBetween(Window.unboundedPreceding, 0))
    users = (
        spark.range(candidates)
        .withColumn("size", size.cast("int"))
        .withColumn("end", running)
        .select(F.col("id").alias("user"), (F.col("end") - F.col("size")).alias("start"), "size")
        .where(F.col("start") < total)
        .select("user", F.least("size", F.lit(total) - F.col("start")).cast("int").alias("size"))
    )
    user_count = users.count()
    user = F.col("user")
    k = F.col("k")
    anons = F.least(F.col("size"), _hash_mod(seed, "anons", user, ANON_PER_USER) + 1).cast("int")
    has_device = (_hash_mod(seed, "device", user, 4) == 0) & (F.col("size") > anons)
    is_device_edge = has_device & (k == F.col("size") - 1)

    def anon_of(j: Column) -> Column:
        return node_id("a", seed, "anon", user, j)

    edges = (
        users.select("user", "size", anons.alias("anons"))
        .select("user", "size", "anons",
                F.explode(F.sequence(F.lit(0), F.col("size") - 1)).alias("k"))
        .select(
            F.when(k < F.col("anons"), user_node(seed, user))
            .when(is_device_edge, user_node(seed, user))
            .otherwise(anon_of(F.pmod(k, F.col("anons"))))
            .alias("src"),
            F.when(k < F.col("anons"), anon_of(k))
            .when(is_device_edge, node_id("d", seed, "device", user))
            .otherwise(node_id("s", seed, "session", user, k))
            .alias("dst"),
        )
    )
    return edges, user_count


def shared_part(spark: SparkSession, shape: GraphShape, user_count: int) -> DataFrame:
    """Each shared device linked to its users, spread evenly over the user numbers (distinct)."""
    seed, sizes = shape.seed, shape.shared_sizes()
    if not sizes:
        return spark.createDataFrame([], "src string, dst string")
    step = max(1, user_count // SHARED_MAX_USERS)
    device = F.col("device")
    per_device = F.element_at(F.array(*[F.lit(n) for n in sizes]), (device + 1).cast("int"))
    offset = _hash_mod(seed, "offset", device, user_count)
    return (
        spark.range(len(sizes))
        .select(F.col("id").alias("device"))
        .select("device", F.explode(F.sequence(F.lit(0), per_device - 1)).alias("r"))
        .select(
            node_id("d", seed, "shared", device).alias("src"),
            user_node(seed, F.pmod(offset + F.col("r") * step, F.lit(user_count))).alias("dst"),
        )
    )


def hub_part(spark: SparkSession, shape: GraphShape) -> DataFrame:
    """One device with ``hub_edges`` anonymous ids of its own."""
    return spark.range(shape.hub_edges).select(
        node_id("d", shape.seed, "hub", F.lit(0)).alias("src"),
        node_id("a", shape.seed, "hub-anon", F.col("id")).alias("dst"),
    )


def chain_part(spark: SparkSession, shape: GraphShape) -> DataFrame:
    """One path per entry of ``shape.chains``; nodes alternate user / anonymous id."""
    parts = []
    for number, length in enumerate(shape.chains):
        if length < 2:
            continue

        def chain_node(i: Column, number: int = number) -> Column:
            part = f"chain-{number}"
            return F.when(F.pmod(i, F.lit(2)) == 0, node_id("u", shape.seed, part, i)).otherwise(
                node_id("a", shape.seed, part, i)
            )

        i = F.col("id")
        parts.append(spark.range(length - 1).select(
            chain_node(i).alias("src"), chain_node(i + 1).alias("dst")))
    if not parts:
        return spark.createDataFrame([], "src string, dst string")
    result = parts[0]
    for part in parts[1:]:
        result = result.unionByName(part)
    return result


def isolated_nodes(spark: SparkSession, shape: GraphShape) -> DataFrame:
    return spark.range(shape.isolated).select(
        node_id("u", shape.seed, "isolated", F.col("id")).alias("node"))


def identity_graph(
    spark: SparkSession, shape: GraphShape = GraphShape()
) -> tuple[DataFrame, DataFrame]:
    """``(edges, isolated)``: edges ``src``, ``dst`` (strings, exactly ``shape.edges`` rows) and
    the isolated nodes ``node`` (``shape.isolated`` rows), both lazy DataFrames."""
    users, user_count = user_part(spark, shape)
    edges = (
        users.unionByName(shared_part(spark, shape, user_count))
        .unionByName(hub_part(spark, shape))
        .unionByName(chain_part(spark, shape))
    )
    return edges, isolated_nodes(spark, shape)


def write_graph(
    spark: SparkSession, shape: GraphShape, edges_path: str, nodes_path: str, files: int = 8
) -> dict[str, int]:
    """Write the graph to Parquet (edges hash-partitioned into ``files`` files, so that no file
    holds whole components in order) and return the row counts read back."""
    edges, isolated = identity_graph(spark, shape)
    edges.repartition(files, "src").write.mode("overwrite").parquet(edges_path)
    isolated.coalesce(1).write.mode("overwrite").parquet(nodes_path)
    return {
        "edges": spark.read.parquet(edges_path).count(),
        "isolated_nodes": spark.read.parquet(nodes_path).count(),
    }
