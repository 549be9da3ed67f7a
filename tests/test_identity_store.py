"""The identity store's idempotent writes: a batch's observations are merged with the batch's
Delta transaction id, and that id stamps the batch's own commits only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from chispa import assert_df_equality
from delta.tables import DeltaMergeBuilder
from pyspark.sql import SparkSession

from lakejobs.config import LakeSettings
from lakejobs.identity.graph import EDGE_SCHEMA, NODE_SCHEMA
from lakejobs.identity.store import IdentityStore
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths

DAY1 = datetime(2026, 3, 1, 9)
DAY2 = datetime(2026, 3, 2, 9)


def nodes(spark: SparkSession, rows: list[tuple]):
    return rows_frame(spark, rows, NODE_SCHEMA)


def edges(spark: SparkSession, rows: list[tuple]):
    return rows_frame(spark, rows, EDGE_SCHEMA)


def test_a_batch_added_twice_counts_once_and_a_commit_made_meanwhile_does_not_take_its_id(
    spark: SparkSession, tmp_path: Path, monkeypatch
) -> None:
    """While batch b-2's nodes merge with its id, another thread of the job commits to the edges
    table in the same session. That commit must not carry b-2's id: the edges table would then
    skip b-2's own edges as written already, and they would be lost."""
    store = IdentityStore(spark, LakePaths(LakeSettings(root=str(tmp_path / "lake"))), "staging")
    store.accumulate_nodes(nodes(spark, [("e:1", "email", DAY1, DAY1, 1)]), writer_id="b-1")
    store.accumulate_edges(edges(spark, [("e:1", "p:1", "email", "phone", "crm", DAY1, DAY1, 1)]),
                           writer_id="b-1")

    real_execute = DeltaMergeBuilder.execute
    interleaved = []

    def another_thread_commits_first(merge: DeltaMergeBuilder):
        if not interleaved:  # the nodes' MERGE: an append to the edges table, untagged
            interleaved.append(True)
            edges(spark, [("e:9", "p:9", "email", "phone", "web", DAY2, DAY2, 1)]).write.format(
                "delta").mode("append").save(store.path("identity_edges"))
        return real_execute(merge)

    monkeypatch.setattr(DeltaMergeBuilder, "execute", another_thread_commits_first)
    batch2_nodes = nodes(spark, [("e:1", "email", DAY2, DAY2, 2)])
    batch2_edges = edges(spark, [("e:1", "p:1", "email", "phone", "crm", DAY2, DAY2, 2)])
    store.accumulate_nodes(batch2_nodes, writer_id="b-2")
    store.accumulate_edges(batch2_edges, writer_id="b-2")
    assert interleaved
    # a retried run adds batch 2 again: nothing counts twice
    store.accumulate_nodes(batch2_nodes, writer_id="b-2")
    store.accumulate_edges(batch2_edges, writer_id="b-2")

    assert_df_equality(store.read("identity_nodes"),
                       nodes(spark, [("e:1", "email", DAY1, DAY2, 3)]), ignore_row_order=True)
    assert_df_equality(store.read("identity_edges"), edges(spark, [
        ("e:1", "p:1", "email", "phone", "crm", DAY1, DAY2, 3),
        ("e:9", "p:9", "email", "phone", "web", DAY2, DAY2, 1),
    ]), ignore_row_order=True)
    assert spark.conf.get("spark.databricks.delta.write.txnAppId", None) is None
