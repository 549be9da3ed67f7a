"""Identity benchmark: lakejobs connected components against GraphFrames and a driver-side floor.

One process, one generated identity graph (``benchmarks/identity_graph.py``: ``--edges`` string
edges of users, anonymous ids, sessions and devices, with shared devices, one hub of 50,000
edges, chains of 1,000 and 10,000 nodes and 10,000 isolated nodes), written to Parquet once and
read back, so that every method starts from the same files.

Methods, each returning one row per node (the edges' nodes and the isolated ones) with its
component, fully materialised inside the timed region (``write.format("noop")``):

* ``auto``        (A)  ``lakejobs.identity.components.connected_components(edges, nodes)``;
* ``distributed`` (A') the same with ``strategy="distributed"`` (never collects the graph);
* ``graphframes`` (B)  ``GraphFrame(vertices, edges).connectedComponents()`` with its defaults
  (algorithm ``graphframes``/two-phase, broadcast threshold 1,000,000, checkpoint every 2
  iterations); the vertices are the distinct ends of the edges plus the isolated nodes;
* ``floor``       (C)  collect the edges and the isolated nodes to the driver, label them with
  ``scipy.sparse.csgraph.connected_components``; the result stays on the driver (numpy).

The session has a checkpoint directory (GraphFrames requires one; lakejobs then checkpoints
reliably too). Each method gets one warm-up run, whose result is written to Parquet and checked
(see below), then ``--runs`` timed runs interleaved across methods; the median is reported.

Check: every method's labels are normalised to the smallest node id of each component and
compared with the floor's (or, without the floor, with the first method's), node by node;
``identical`` is true when all agree and cover every node. lakejobs promises the smallest node
id as the label itself, so its raw labels are checked against the normalised ones as well.

GraphFrames' JVM side comes from Maven Central as ``io.graphframes:graphframes-spark<M>_<scala>``
at the version of the installed ``graphframes-py`` (``--graphframes-package`` to override), added
to lakejobs' own ``spark.jars.packages``; ``--graphframes-jar`` adds local jars instead.
This machine's Maven Central serves GraphFrames only for Spark 3 / Scala 2.12 (0.10.0), and not
its GraphX copy (``graphframes-graphx-spark3_2.12``, HTTP 404): ``--graphframes-build`` builds
``benchmarks/graphframes/pom.xml`` with Maven (GraphFrames as published plus the stack's own
Spark GraphX relocated to the copy's package, see the pom) and passes that jar. Run it on the
Glue 5.1 stack (hatch environment ``bench5``, graphframes-py 0.10.0); on the Glue 6.0 stack
(``bench``) GraphFrames for Spark 4 is not served at all and the anchor is left out.

Usage:
    python benchmarks/identity_benchmark.py [--edges 1000000] [--runs 3]
        [--methods auto,distributed,graphframes,floor] [--out benchmarks/results/identity.json]
        [--workdir /tmp/identity-bench] [--graphframes-package G:A:V] [--graphframes-jar PATH]
        [--graphframes-build]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity_graph import GraphShape, write_graph

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "identity.json"
ANCHOR_POM = Path(__file__).resolve().parent / "graphframes" / "pom.xml"
METHODS = ("auto", "distributed", "graphframes", "floor")
GOAL_AUTO = 10.0  # B / A
GOAL_DISTRIBUTED = 2.0  # B / A'
EDGE_FILES = 8


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------ graphframes
def graphframes_version() -> str | None:
    try:
        return importlib.metadata.version("graphframes-py")
    except importlib.metadata.PackageNotFoundError:
        return None


def graphframes_coordinate(override: str | None) -> str:
    """Maven coordinate of GraphFrames' jar for this Spark / Scala and the installed Python
    package (both are released together under one version number)."""
    if override:
        return override
    from lakejobs._compat import current_stack

    version = graphframes_version()
    if version is None:
        raise SystemExit("graphframes-py is not installed: run in the 'bench' hatch environment "
                         "or leave graphframes out of --methods")
    stack = current_stack()
    spark_major = stack.spark_minor.split(".")[0]
    return f"io.graphframes:graphframes-spark{spark_major}_{stack.scala}:{version}"


def graphframes_unavailable(coordinate: str, cache: Path) -> str | None:
    """Why GraphFrames' jar cannot be had, or None when it can. Checked before the session
    starts: Ivy's failure inside ``spark.jars.packages`` only shows as "Java gateway process
    exited". Without the jar the benchmark runs the other methods and records the reason."""
    from lakejobs.errors import SessionError
    from lakejobs.jars import fetch_jar

    try:
        fetch_jar(coordinate, cache)
    except SessionError as e:
        return f"GraphFrames' jar is not available: {e}"
    return None


def build_anchor_jar(coordinate: str, pom: Path = ANCHOR_POM) -> Path:
    """Build GraphFrames' jar for the Spark 3 stack with Maven (see ``benchmarks/graphframes``):
    GraphFrames at the version of ``coordinate``, GraphX at the installed pyspark's; return its
    path."""
    import subprocess

    from lakejobs._compat import current_stack

    if not current_stack().spark_minor.startswith("3."):
        raise SystemExit(f"--graphframes-build: {pom} packs GraphFrames for Spark 3 / Scala 2.12; "
                         "run on the Glue 5.1 stack (hatch environment 'bench5')")
    versions = {"spark.version": importlib.metadata.version("pyspark"),
                "graphframes.version": coordinate.rsplit(":", 1)[-1]}
    log(f"building GraphFrames' jar with Maven: {pom} {versions}")
    subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "package",
                    *[f"-D{k}={v}" for k, v in versions.items()]], check=True)
    return pom.parent / "target" / "graphframes-anchor.jar"


# ---------------------------------------------------------------------------------- session
def build_session(
    workdir: Path, graphframes: str | None, graphframes_jars: list[str]
) -> SparkSession:
    """The lakejobs local session; GraphFrames' jar joins lakejobs' own jars (``settings.conf``
    replaces a setting of ``local_session_conf`` whole, so the lists are merged here)."""
    from lakejobs.config import SparkSettings
    from lakejobs.session import build_local_session, local_session_conf

    def settings(conf: dict[str, str]) -> SparkSettings:
        return SparkSettings(master="local[2]", app_name="identity-benchmark",
                             shuffle_partitions=8, driver_memory="8g", conf=conf)

    conf = {"spark.sql.warehouse.dir": str(workdir / "warehouse")}
    base = local_session_conf(settings(conf))
    if graphframes:
        conf["spark.jars.packages"] = ",".join(
            p for p in (base["spark.jars.packages"], graphframes) if p)
    if graphframes_jars:
        conf["spark.jars"] = ",".join(p for p in (base["spark.jars"], *graphframes_jars) if p)
    spark = build_local_session(settings(conf))
    if graphframes or graphframes_jars:
        # GraphFrames requires a checkpoint directory; lakejobs then checkpoints reliably too
        spark.sparkContext.setCheckpointDir(str(workdir / "checkpoints"))
    return spark


# ---------------------------------------------------------------------------------- methods
def components_module() -> Any:
    """``lakejobs.identity.components``, imported on first use."""
    return importlib.import_module("lakejobs.identity.components")


def run_lakejobs(strategy: str) -> Callable[[SparkSession, Graph], DataFrame]:
    def run(spark: SparkSession, graph: Graph) -> DataFrame:
        return components_module().connected_components(
            graph.edges(), graph.isolated(), strategy=strategy)
    return run


def run_graphframes(spark: SparkSession, graph: Graph) -> DataFrame:
    from graphframes import GraphFrame

    edges = graph.edges()
    vertices = (
        edges.select(F.col("src").alias("id"))
        .union(edges.select(F.col("dst").alias("id")))
        .union(graph.isolated().select(F.col("node").alias("id")))
        .distinct()
    )
    return GraphFrame(vertices, edges).connectedComponents().select(
        F.col("id").alias("node"), F.col("component"))


def collect_columns(df: DataFrame, columns: list[str]) -> dict[str, Any]:
    """``df``'s columns as numpy arrays on the driver, by the fastest way installed (Arrow)."""
    import numpy as np

    if hasattr(df, "toArrow"):
        try:
            table = df.toArrow()
        except ImportError:
            pass
        else:
            return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}
    rows = df.collect()
    return {c: np.array([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)}


def floor_components(spark: SparkSession, graph: Graph) -> dict[str, Any]:
    """Collect, factorise, label with scipy: ``{"node": array, "component": array}`` (smallest
    node id per component)."""
    import numpy as np
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = collect_columns(graph.edges(), ["src", "dst"])
    isolated = collect_columns(graph.isolated(), ["node"])["node"]
    m = len(edges["src"])
    codes, uniques = pd.factorize(np.concatenate([edges["src"], edges["dst"], isolated]),
                                  sort=True)  # codes in string order: min code = min id
    n = len(uniques)
    matrix = coo_matrix((np.ones(m, dtype=np.int8), (codes[:m], codes[m:2 * m])), shape=(n, n))
    _, labels = connected_components(matrix, directed=False)
    smallest = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    uniques = np.asarray(uniques, dtype=object)
    return {"node": uniques, "component": uniques[smallest[labels]]}


class Graph:
    def __init__(self, spark: SparkSession, workdir: Path) -> None:
        self.spark = spark
        self.edges_path, self.nodes_path = workdir / "edges", workdir / "isolated"

    def edges(self) -> DataFrame:
        return self.spark.read.parquet(str(self.edges_path))

    def isolated(self) -> DataFrame:
        return self.spark.read.parquet(str(self.nodes_path))


SPARK_METHODS: dict[str, Callable[[SparkSession, Graph], DataFrame]] = {
    "auto": run_lakejobs("auto"),
    "distributed": run_lakejobs("distributed"),
    "graphframes": run_graphframes,
}


def timed(spark: SparkSession, method: str, graph: Graph, keep: Path | None = None) -> float:
    """One run of ``method``, materialised in full; with ``keep`` its result is also written to
    Parquet there (the warm-up run, outside the medians) for the check."""
    started = time.perf_counter()
    if method == "floor":
        result = floor_components(spark, graph)
        seconds = time.perf_counter() - started
        if keep is not None:
            import pandas as pd

            keep.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(result).to_csv(keep / "floor.csv", index=False)
        return seconds
    df = SPARK_METHODS[method](spark, graph)
    if keep is None:
        df.write.format("noop").mode("overwrite").save()
    else:
        df.write.mode("overwrite").parquet(str(keep))
    return time.perf_counter() - started


def reset(spark: SparkSession, workdir: Path) -> None:
    """Drop what a run left behind, so that runs start alike: cached data (GraphFrames persists
    its result) and checkpoint files (neither library deletes its reliable checkpoints)."""
    spark.catalog.clearCache()
    for rdd in spark.sparkContext._jsc.getPersistentRDDs().values():
        rdd.unpersist()
    for app_dir in (workdir / "checkpoints").glob("*"):
        for entry in app_dir.glob("*"):
            shutil.rmtree(entry, ignore_errors=True)


# ------------------------------------------------------------------------------------ check
def read_result(spark: SparkSession, method: str, path: Path) -> DataFrame:
    if method == "floor":
        return spark.read.csv(str(path / "floor.csv"), header=True,
                              schema="node string, component string")
    return spark.read.parquet(str(path))


def normalised(result: DataFrame) -> DataFrame:
    """``node``, ``component`` relabelled with the smallest node of each label's group."""
    smallest = result.groupBy("component").agg(F.min("node").alias("smallest"))
    return result.join(smallest, on="component").select(
        "node", F.col("smallest").alias("component"))


def compare(spark: SparkSession, kept: dict[str, Path], methods: list[str]) -> dict[str, Any]:
    reference = "floor" if "floor" in methods else methods[0]
    ref = normalised(read_result(spark, reference, kept[reference])).cache()
    ref_rows = ref.count()
    report: dict[str, Any] = {"reference": reference, "nodes": ref_rows,
                              "components": ref.select("component").distinct().count()}
    flags = []
    for method in methods:
        raw = read_result(spark, method, kept[method])
        norm = normalised(raw)
        rows, distinct_nodes = raw.count(), raw.select("node").distinct().count()
        entry: dict[str, Any] = {"rows": rows, "distinct_nodes": distinct_nodes}
        if method != reference:
            entry["rows_only_here"] = norm.exceptAll(ref).count()
            entry["rows_only_in_reference"] = ref.exceptAll(norm).count()
        entry["identical"] = (rows == distinct_nodes == ref_rows
                              and not entry.get("rows_only_here")
                              and not entry.get("rows_only_in_reference"))
        if method in ("auto", "distributed"):
            # lakejobs labels each component with its smallest node id itself
            entry["labels_are_smallest_node"] = raw.exceptAll(norm).isEmpty()
            entry["identical"] = entry["identical"] and entry["labels_are_smallest_node"]
        flags.append(entry["identical"])
        report[method] = entry
        log(f"check {method}: {entry}")
    ref.unpersist()
    report["identical"] = all(flags)
    return report


# ---------------------------------------------------------------------------------- harness
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--hub-edges", type=int, default=50_000)
    parser.add_argument("--chains", default="1000,10000", help="chain lengths in nodes")
    parser.add_argument("--isolated", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per method after 1 warm-up")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--graphframes-package", default=None,
                        help="Maven coordinate of GraphFrames' jar "
                        "(default: the one matching graphframes-py)")
    parser.add_argument("--graphframes-jar", action="append", default=[],
                        help="local GraphFrames jar(s) for spark.jars instead of Maven Central")
    parser.add_argument("--graphframes-build", action="store_true",
                        help="build GraphFrames' jar from benchmarks/graphframes/pom.xml with "
                        "Maven and use it (Glue 5.1 stack: hatch environment bench5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/identity-bench"))
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    args.chains = tuple(int(c) for c in args.chains.split(",") if c)
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown or not args.methods:
        parser.error(f"--methods: expected a non-empty subset of {','.join(METHODS)}")
    if args.runs < 1:
        parser.error("--runs: expected at least 1")
    # The published numbers are for >= 1M edges; a smoke run must not overwrite them.
    if args.edges < 1_000_000 and args.out.resolve() == DEFAULT_OUT:
        parser.error(f"--edges {args.edges} is a smoke-test size: pass --out elsewhere")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    shape = GraphShape(edges=args.edges, hub_edges=args.hub_edges, chains=args.chains,
                       isolated=args.isolated, seed=args.seed)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    coordinate, unavailable = None, None
    if "graphframes" in args.methods:
        if args.graphframes_build:
            published = graphframes_coordinate(args.graphframes_package)
            args.graphframes_jar.append(str(build_anchor_jar(published)))
            coordinate = (f"{published} with org.apache.spark:spark-graphx_2.12 of the stack "
                          "relocated in place of its GraphX copy (benchmarks/graphframes/pom.xml)")
        elif args.graphframes_jar:
            coordinate = args.graphframes_package or "local jar(s)"
        else:
            coordinate = graphframes_coordinate(args.graphframes_package)
            unavailable = graphframes_unavailable(coordinate, args.workdir / "jar-check")
            if unavailable:
                log(f"{unavailable}: running without the anchor")
                args.methods = [m for m in args.methods if m != "graphframes"]
                coordinate = None
    started = time.perf_counter()
    spark = build_session(args.workdir,
                          None if args.graphframes_jar or coordinate is None else coordinate,
                          args.graphframes_jar)
    log(f"writing the graph: {shape.describe()}")
    t = time.perf_counter()
    counts = write_graph(spark, shape, str(args.workdir / "edges"), str(args.workdir / "isolated"),
                         files=EDGE_FILES)
    generate_s = time.perf_counter() - t
    log(f"graph written in {generate_s:.1f}s: {counts}")
    graph = Graph(spark, args.workdir)

    kept = {m: args.workdir / "results" / m for m in args.methods}
    times: dict[str, list[float]] = {m: [] for m in args.methods}
    warmups: dict[str, float] = {}
    for method in args.methods:
        warmups[method] = round(timed(spark, method, graph, keep=kept[method]), 3)
        reset(spark, args.workdir)
        log(f"{method}: warm-up {warmups[method]:.1f}s")
    for run in range(args.runs):
        for method in args.methods:
            seconds = timed(spark, method, graph)
            reset(spark, args.workdir)
            times[method].append(round(seconds, 3))
            log(f"{method}: run {run + 1}/{args.runs} {seconds:.1f}s")
    check = compare(spark, kept, args.methods)
    payload = report(args, shape, counts, coordinate, generate_s, times, warmups, check,
                     time.perf_counter() - started)
    if unavailable:
        payload["anchor_unavailable"] = unavailable
    write_json(args.out, payload)
    log(f"wrote {args.out}")
    spark.stop()


def report(
    args: argparse.Namespace, shape: GraphShape, counts: dict[str, int], coordinate: str | None,
    generate_s: float, times: dict[str, list[float]], warmups: dict[str, float],
    check: dict[str, Any], elapsed_s: float,
) -> dict[str, Any]:
    medians = {m: round(statistics.median(t), 3) for m, t in times.items()}
    ours, ours_d = medians.get("auto"), medians.get("distributed")
    anchor, floor = medians.get("graphframes"), medians.get("floor")

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    gf = graphframes_version()
    return {
        "name": "identity",
        "params": {
            **shape.describe(),
            "nodes": check.get("nodes"),
            "components": check.get("components"),
            "edge_files": EDGE_FILES,
            "methods": args.methods,
            "warmup_runs": 1,
            "spark": importlib.metadata.version("pyspark"),
            "delta": importlib.metadata.version("delta-spark"),
            "graphframes_py": gf,
            "graphframes_jar": coordinate,
            "master": "local[2]",
            "cpus": os.cpu_count(),
            "generate_s": round(generate_s, 3),
            "rows_written": counts,
        },
        "ours_s": ours,
        "anchor": f"GraphFrames {gf} connectedComponents (default algorithm)",
        "anchor_s": anchor,
        "ratio": ratio(anchor, ours),
        "runs": args.runs,
        "distributed_s": ours_d,
        "ratio_distributed": ratio(anchor, ours_d),
        "floor_s": floor,
        # null: not measurable (no anchor)
        "goals": {
            "auto_10x": None if anchor is None or ours is None
            else ratio(anchor, ours) >= GOAL_AUTO,
            "distributed_2x": None if anchor is None or ours_d is None
            else ratio(anchor, ours_d) >= GOAL_DISTRIBUTED,
        },
        "auto_vs_floor": ratio(ours, floor),
        "distributed_vs_auto": ratio(ours_d, ours),
        "identical": check["identical"],
        "check": check,
        "results": {m: {"median_s": medians[m], "runs_s": times[m], "warmup_s": warmups[m]}
                    for m in args.methods},
        "elapsed_s": round(elapsed_s, 1),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
