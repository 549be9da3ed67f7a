"""Stable ``identity_id``s: components of this run inherit the ids of the last run.

Rules, applied to the nodes in scope (every node of every identity the run touched):

* **claim** — an old id claims the new component that holds most of its nodes (ties: the
  component with the smaller label). A component that grew keeps its id this way.
* **split** — an old id whose nodes now lie in several components stays with the one it claims;
  the other parts get other ids and one ``split`` history row each.
* **merge** — when several old ids claim one component, the oldest (``identity_created_at``,
  then the smaller id) survives; each other one gets a ``merged`` history row pointing at it.
* **new** — a component no old id claims gets a new id, ``id_`` + 32 hex characters of
  sha256(component label | run id): deterministic for a run, different from every earlier id.
  Without any old node in it the history row says ``created``.
* **deleted** — an old id none of whose nodes is in any component any more (expired, or removed
  by a DSAR deletion) gets a ``deleted`` history row.

An unchanged rerun claims every component with its own id and writes no history.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.identity.components import materialize

HISTORY_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("changed_at", T.TimestampType(), False),
        T.StructField("change", T.StringType(), False),
        T.StructField("identity_id", T.StringType(), False),
        T.StructField("new_identity_id", T.StringType(), True),
        T.StructField("nodes", T.LongType(), False),
    ]
)


def assign_identity_ids(
    components: DataFrame, previous: DataFrame, *, run_id: str, now: datetime, prefix: str = "id_"
) -> tuple[DataFrame, DataFrame]:
    """Give every component an identity id, carrying the previous ids over.

    Args:
        components: ``node``, ``component`` of the nodes in scope.
        previous: ``node``, ``identity_id``, ``identity_created_at`` of the nodes in scope before
            this run (empty on the first run).
        run_id: names the run in new ids and history rows.
        now: the run's time (new ids' ``identity_created_at``, history ``changed_at``).
        prefix: starts every new id (``id_`` for identities; master data uses ``cu_``).

    Returns:
        (``node``, ``component``, ``identity_id``, ``identity_created_at`` per node;
        history rows in :data:`HISTORY_SCHEMA`).
    """
    ts = F.lit(now).cast("timestamp")
    overlap = (
        components.join(previous, on="node", how="inner")
        .groupBy("component", "identity_id", "identity_created_at")
        .agg(F.count("*").alias("n"))
    )
    by_size = Window.partitionBy("identity_id").orderBy(F.desc("n"), "component")
    claims = overlap.withColumn("_r", F.row_number().over(by_size)).where("_r = 1").drop("_r")
    by_age = Window.partitionBy("component").orderBy("identity_created_at", "identity_id")
    winners = (
        claims.withColumn("_r", F.row_number().over(by_age)).where("_r = 1")
        .select("component", F.col("identity_id").alias("kept"),
                F.col("identity_created_at").alias("kept_at"))
    )
    new_id = F.concat(
        F.lit(prefix), F.substring(F.sha2(F.concat_ws("|", "component", F.lit(run_id)), 256), 1, 32)
    )
    ids = (
        components.select("component").distinct()
        .join(winners, on="component", how="left")
        .select(
            "component",
            F.coalesce("kept", new_id).alias("final_id"),
            F.coalesce("kept_at", ts).alias("final_at"),
            F.col("kept").isNull().alias("is_new"),
        )
    )
    ids = materialize(ids)
    assigned = components.join(ids, on="component", how="inner").select(
        "node", "component", F.col("final_id").alias("identity_id"),
        F.col("final_at").alias("identity_created_at"),
    )
    history = _history(components, overlap, claims, ids, previous, run_id, ts)
    return assigned, history


def _history(components, overlap, claims, ids, previous, run_id, ts) -> DataFrame:
    claimed = claims.select("identity_id", "component", F.lit(True).alias("is_claim"))
    moves = (
        overlap.join(ids, on="component", how="inner")
        .join(claimed, on=["identity_id", "component"], how="left")
        .where(F.col("final_id") != F.col("identity_id"))
        .select(
            F.when(F.col("is_claim"), F.lit("merged")).otherwise(F.lit("split")).alias("change"),
            "identity_id", F.col("final_id").alias("new_identity_id"), "n",
        )
    )
    has_old = overlap.select("component").distinct().withColumn("_old", F.lit(True))
    sizes = components.groupBy("component").agg(F.count("*").alias("n"))
    created = (
        ids.where("is_new").join(has_old, on="component", how="left").where(F.col("_old").isNull())
        .join(sizes, on="component", how="inner")
        .select(F.lit("created").alias("change"), F.col("final_id").alias("identity_id"),
                F.lit(None).cast("string").alias("new_identity_id"), "n")
    )
    survivors = overlap.select("identity_id").distinct()
    deleted = (
        previous.groupBy("identity_id").agg(F.count("*").alias("n"))
        .join(survivors, on="identity_id", how="left_anti")
        .select(F.lit("deleted").alias("change"), "identity_id",
                F.lit(None).cast("string").alias("new_identity_id"), "n")
    )
    return moves.unionByName(created).unionByName(deleted).select(
        F.lit(run_id).alias("run_id"), ts.alias("changed_at"), "change", "identity_id",
        "new_identity_id", F.col("n").cast("long").alias("nodes"),
    )

