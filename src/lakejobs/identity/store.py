"""Reading and writing the identity tables (Delta, in the configured private zone).

| table | key | what |
|---|---|---|
| ``identity_nodes`` | node | every identifier node: type, first/last seen, observations |
| ``identity_edges`` | src, dst, source | typed edges with provenance, including non-linkable ones |
| ``identity_resolution`` | node | node → ``identity_id``, ``confidence_score`` (live nodes) |
| ``identity_id_history`` | — | created / merged / split / deleted ids, per run |
| ``identity_deny_list`` | node | nodes removed by DSAR deletions: never linked again |
| ``identity_tombstones`` | request_id | one record per DSAR deletion, for downstream purges |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.delta_io import (
    append,
    ensure_table,
    execute_merge,
    idempotent_session,
    is_delta_table,
    read_delta,
)
from lakejobs.identity.graph import EDGE_SCHEMA, NODE_SCHEMA
from lakejobs.identity.stable_ids import HISTORY_SCHEMA
from lakejobs.paths import LakePaths

RESOLUTION_SCHEMA = T.StructType(
    [
        T.StructField("node", T.StringType(), False),
        T.StructField("node_type", T.StringType(), False),
        T.StructField("identity_id", T.StringType(), False),
        T.StructField("identity_created_at", T.TimestampType(), False),
        T.StructField("confidence_score", T.DoubleType(), False),
        T.StructField("first_seen", T.TimestampType(), True),
        T.StructField("last_seen", T.TimestampType(), True),
        T.StructField("run_id", T.StringType(), False),
    ]
)
DENY_SCHEMA = T.StructType(
    [
        T.StructField("node", T.StringType(), False),
        T.StructField("request_id", T.StringType(), False),
        T.StructField("denied_at", T.TimestampType(), False),
    ]
)
TOMBSTONE_SCHEMA = T.StructType(
    [
        T.StructField("request_id", T.StringType(), False),
        T.StructField("identity_id", T.StringType(), True),
        T.StructField("nodes", T.ArrayType(T.StringType()), False),
        T.StructField("requested_at", T.TimestampType(), True),
        T.StructField("deleted_at", T.TimestampType(), False),
    ]
)
DESCRIPTIONS = {
    "identity_nodes": "every identifier node ever observed (salted hash, type, first/last seen, "
    "observations); key `node`",
    "identity_edges": "typed edges centre → other identifier of a row, per source, with "
    "first/last seen and observations, non-linkable types included; key (`src`, `dst`, "
    "`source`)",
    "identity_resolution": "live linkable node → `identity_id` and `confidence_score` "
    "(docs/operations.md); key `node`",
    "identity_id_history": "`created`, `merged` (into `new_identity_id`), `split` (nodes moved "
    "to `new_identity_id`) and `deleted` ids per run: remap downstream tables from it",
    "identity_deny_list": "nodes removed by DSAR deletions; never linked again; key `node`",
    "identity_tombstones": "one record per DSAR deletion (hashed nodes only) for downstream "
    "purges; key `request_id`",
}
TABLES = {
    "identity_nodes": NODE_SCHEMA,
    "identity_edges": EDGE_SCHEMA,
    "identity_resolution": RESOLUTION_SCHEMA,
    "identity_id_history": HISTORY_SCHEMA,
    "identity_deny_list": DENY_SCHEMA,
    "identity_tombstones": TOMBSTONE_SCHEMA,
}


@dataclass(frozen=True)
class ZoneTables:
    """Tables of one lake zone, by name, each with its schema (``SCHEMAS``)."""

    SCHEMAS: ClassVar[Mapping[str, T.StructType]] = {}

    spark: SparkSession
    paths: LakePaths
    zone: str

    def path(self, table: str) -> str:
        return self.paths.table(self.zone, table)

    def read(self, table: str) -> DataFrame:
        """The table; empty with its schema before the first write."""
        return read_delta(self.spark, self.path(table), self.SCHEMAS[table])


@dataclass(frozen=True)
class IdentityStore(ZoneTables):
    """The identity tables of one lake."""

    SCHEMAS: ClassVar[Mapping[str, T.StructType]] = TABLES

    def accumulate_nodes(self, observed: DataFrame, *, writer_id: str | None = None) -> None:
        """Add one batch's node observations: first/last seen widen, observations add up."""
        self._accumulate("identity_nodes", observed, ("node",), writer_id)

    def accumulate_edges(self, observed: DataFrame, *, writer_id: str | None = None) -> None:
        """Add one batch's edge observations (per src, dst and source)."""
        self._accumulate("identity_edges", observed, ("src", "dst", "source"), writer_id)

    def _accumulate(self, table: str, observed: DataFrame, keys: tuple[str, ...],
                    writer_id: str | None) -> None:
        """MERGE the observations in; with ``writer_id`` (one per batch) as the commit's Delta
        transaction id, so that adding the same batch again commits nothing."""
        path = self.path(table)
        target = ensure_table(self.spark, path, TABLES[table])
        if writer_id is not None:
            target = DeltaTable.forPath(idempotent_session(self.spark, writer_id), path)
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        (
            target.alias("t")
            .merge(observed.alias("s"), on)
            .whenMatchedUpdate(set={
                "first_seen": "least(t.first_seen, s.first_seen)",
                "last_seen": "greatest(t.last_seen, s.last_seen)",
                "observations": "t.observations + s.observations",
            })
            .whenNotMatchedInsertAll()
            .execute()
        )

    def replace_resolution(self, rows: DataFrame, removed: DataFrame) -> None:
        """Write the recomputed scope: ``rows`` (RESOLUTION_SCHEMA) replace their nodes' rows;
        the nodes in ``removed`` (column ``node``) leave the table. Rows whose identity, score
        and dates did not change are not rewritten."""
        target = ensure_table(self.spark, self.path("identity_resolution"), RESOLUTION_SCHEMA)
        upserts = rows.select(*RESOLUTION_SCHEMA.fieldNames(), F.lit(False).alias("_delete"))
        deletes = removed.join(rows.select("node"), on="node", how="left_anti").select(
            "node", *[F.lit(None).cast(f.dataType).alias(f.name)
                      for f in RESOLUTION_SCHEMA.fields if f.name != "node"],
            F.lit(True).alias("_delete"),
        )
        changed = " OR ".join(
            f"NOT (t.{c} <=> s.{c})"
            for c in ("identity_id", "identity_created_at", "confidence_score", "first_seen",
                      "last_seen", "node_type")
        )
        (
            target.alias("t")
            .merge(upserts.unionByName(deletes).alias("s"), "t.node = s.node")
            .whenMatchedDelete(condition="s._delete")
            .whenMatchedUpdate(condition=f"NOT s._delete AND ({changed})",
                               set={c: f"s.{c}" for c in RESOLUTION_SCHEMA.fieldNames()})
            .whenNotMatchedInsert(condition="NOT s._delete",
                                  values={c: f"s.{c}" for c in RESOLUTION_SCHEMA.fieldNames()})
            .execute()
        )

    def append_history(self, history: DataFrame) -> None:
        append(history, self.path("identity_id_history"))

    def delete_nodes(self, nodes: DataFrame) -> dict[str, int]:
        """Remove ``nodes`` (column ``node``) from the node and edge tables; rows deleted each."""
        counts = {}
        for table, conditions in (("identity_nodes", ("t.node = s.node",)),
                                  ("identity_edges", ("t.src = s.node", "t.dst = s.node"))):
            counts[table] = sum(delete_matching(self.spark, self.path(table), nodes, condition)
                                for condition in conditions)
        return counts


def delete_matching(spark: SparkSession, path: str, source: DataFrame, condition: str) -> int:
    """Delete the rows of the Delta table at ``path`` that match a row of ``source`` (alias
    ``s``; the table is ``t``) by ``condition``; returns the rows deleted (0 without a table).

    A MERGE rather than a DELETE with the values in its predicate: the commit log records the
    join condition, never the matched values (identifiers, for DSAR deletions)."""
    if not is_delta_table(spark, path):
        return 0
    target = DeltaTable.forPath(spark, path)
    merge = target.alias("t").merge(source.alias("s"), condition).whenMatchedDelete()
    return execute_merge(merge, target).get("numTargetRowsDeleted", 0)
