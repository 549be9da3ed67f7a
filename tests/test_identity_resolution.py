"""The identity_resolution job: hashed nodes, typed edges, policy, stable ids, incremental runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from identity_support import DAY1, SALT, IdentityLake, ev, node
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs.identity import resolution
from lakejobs.local_rows import rows_frame


@pytest.fixture
def lake(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IdentityLake:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    return IdentityLake(spark, tmp_path)


def test_edges_link_each_rows_identifiers_to_its_strongest_with_provenance(
    spark: SparkSession, lake: IdentityLake
) -> None:
    lake.stage([
        ev(1, DAY1, user="U1", anon="A1", session="S1", device="D1"),
        ev(2, DAY1 + timedelta(hours=2), user="U1", anon="A1"),
        ev(3, DAY1, anon="A2", session=" "),  # blank identifiers are no identifiers
        ev(4, DAY1),
    ])
    result = lake.run("r1", DAY1 + timedelta(hours=3))
    u1, a1, s1, d1 = node("u", "U1"), node("a", "A1"), node("s", "S1"), node("d", "D1")
    expected = rows_frame(spark,
        [(u1, a1, "u", "a", "staging.events", DAY1, DAY1 + timedelta(hours=2), 2),
         (u1, s1, "u", "s", "staging.events", DAY1, DAY1, 1),
         (u1, d1, "u", "d", "staging.events", DAY1, DAY1, 1)],
        "src string, dst string, src_type string, dst_type string, source string, "
        "first_seen timestamp, last_seen timestamp, observations long")
    assert_df_equality(lake.table("identity_edges"), expected, ignore_row_order=True,
                       ignore_nullable=True)
    assert result.summary["sources"]["staging.events"] == {
        "rows": 4, "linked": 2, "single": 1, "no_identifier": 1}


def test_resolution_keeps_linkable_nodes_with_confidence_and_leaves_devices_out(
    spark: SparkSession, lake: IdentityLake
) -> None:
    lake.stage([
        ev(1, DAY1, user="U1", anon="A1", session="S1", device="D1"),
        ev(2, DAY1, user="U1", anon="A1"),
        ev(3, DAY1, anon="A2"),
    ])
    lake.run("r1", DAY1 + timedelta(hours=1))
    rows = lake.table("identity_resolution").select("node", "node_type", "identity_id",
                                                     "confidence_score")
    ids = lake.ids()
    one = ids[node("u", "U1")]
    # u-a seen twice: 0.8 × (1 − 0.25) = 0.6; u-s once: 0.6 × 0.5 = 0.3
    expected = rows_frame(spark,
        [(node("u", "U1"), "u", one, 0.72),  # 1 − (1 − 0.6)(1 − 0.3)
         (node("a", "A1"), "a", one, 0.6),
         (node("s", "S1"), "s", one, 0.3),
         (node("a", "A2"), "a", ids[node("a", "A2")], 1.0)],
        "node string, node_type string, identity_id string, confidence_score double")
    assert_df_equality(rows, expected, ignore_row_order=True, ignore_nullable=True)
    assert ids[node("a", "A2")] != one
    assert sorted(c for c, *_ in lake.history("r1")) == ["created", "created"]


@pytest.mark.slow
def test_identity_ids_survive_growth_merge_split_and_an_unchanged_rerun(
    lake: IdentityLake,
) -> None:
    u1, a1, u2, a2, s1, s2, a3 = (node("u", "U1"), node("a", "A1"), node("u", "U2"),
                                  node("a", "A2"), node("s", "S1"), node("s", "S2"),
                                  node("a", "A3"))
    at = [DAY1 + timedelta(days=d) for d in range(8)]
    lake.stage([ev(1, at[0], user="U1", anon="A1")])
    lake.run("r1", at[0])
    first = lake.ids()[u1]
    # grow: a session joins U1's identity, which keeps its id
    lake.stage([ev(2, at[1], user="U1", session="S1")])
    lake.run("r2", at[1])
    assert lake.ids() == {u1: first, a1: first, s1: first}
    assert lake.history("r2") == []
    # merge: a second identity appears, then an anon id they share merges it into the older
    lake.stage([ev(3, at[2], user="U2", anon="A2")])
    lake.run("r3", at[2])
    second = lake.ids()[u2]
    assert second != first
    lake.stage([ev(4, at[3], user="U2", anon="A1")])
    lake.run("r4", at[3])
    # (the session was last seen two days ago: past its 1-day retention it leaves the graph)
    assert lake.ids() == {u1: first, a1: first, u2: first, a2: first}
    assert lake.history("r4") == [("merged", second, first, 2)]
    # split: A3 joins through a session only; when the session ages out, A3 is cut off, and the
    # larger part keeps the id
    lake.stage([ev(5, at[5], user="U1", session="S2"), ev(6, at[5], anon="A3", session="S2")])
    lake.run("r5", at[5])
    assert lake.ids() == {u1: first, a1: first, u2: first, a2: first, s2: first, a3: first}
    lake.stage([ev(7, at[7], user="U2", anon="A2")])
    lake.run("r6", at[7])
    after = lake.ids()
    assert after[a3] not in (first, second)
    assert after == {u1: first, a1: first, u2: first, a2: first, a3: after[a3]}
    assert lake.history("r6") == [("split", first, after[a3], 1)]
    # unchanged rerun: nothing new, same time: same ids, no history, no rewrite
    lake.run("r7", at[7])
    assert lake.ids() == after and lake.history("r7") == []
    assert lake.table("identity_resolution").where(F.col("run_id") == "r7").count() == 0


def test_an_incremental_run_recomputes_only_the_identities_it_touches(
    lake: IdentityLake,
) -> None:
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, user="U2", anon="A2"),
                ev(3, DAY1, user="U3", anon="A3")])
    lake.run("r1", DAY1)
    lake.stage([ev(4, DAY1 + timedelta(hours=1), user="U3", anon="A4")])
    result = lake.run("r2", DAY1 + timedelta(hours=1))
    assert result.summary["scope_nodes"] == 3  # U3, A3, A4: not U1/U2's identities
    touched = lake.table("identity_resolution").where(F.col("run_id") == "r2").select("node")
    # U3 was seen again and gained a link: rewritten with A4; A3's row is unchanged
    assert sorted(r.node for r in touched.collect()) == sorted([node("a", "A4"), node("u", "U3")])
    full = lake.run("r3", DAY1 + timedelta(hours=1), full=True)
    assert full.summary["scope_nodes"] == 7 and lake.history("r3") == []


def test_a_row_stamped_before_a_taken_row_but_committed_after_it_is_still_linked(
    lake: IdentityLake,
) -> None:
    lake.stage([ev(1, DAY1, user="U1", anon="A1")])
    lake.run("r1", DAY1)
    lake.stage([ev(2, DAY1, user="U2", anon="A2")], stamped_at=datetime(2026, 4, 1, 0, 0, 30))
    lake.run("r2", DAY1)
    # a quarantine replay stamped its row before the row r2 took in, and committed after r2 read
    lake.stage([ev(3, DAY1, user="U3", anon="A3")], stamped_at=datetime(2026, 4, 1, 0, 0, 10))
    lake.run("r3", DAY1)
    ids = lake.ids()
    assert ids.get(node("u", "U3")) is not None
    assert ids[node("u", "U3")] == ids[node("a", "A3")]


class _Interrupted(RuntimeError):
    """Stands for whatever stops a run between ingesting its sources and committing."""


def test_a_run_failing_after_ingest_is_retried_without_counting_an_observation_twice(
    spark: SparkSession, lake: IdentityLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, user="U2", anon="A2")])

    def interrupted(*args: object, **kwargs: object) -> None:
        raise _Interrupted("stopped after ingest")

    with monkeypatch.context() as patch:
        patch.setattr(resolution, "resolve_scope", interrupted)
        with pytest.raises(_Interrupted):
            lake.run("r1", DAY1)
    # a row arrives before the retry: the retry takes it in too, each observation once
    lake.stage([ev(3, DAY1 + timedelta(hours=1), user="U1", anon="A1")])
    result = lake.run("r1-retry", DAY1 + timedelta(hours=1))
    u1, a1, u2, a2 = node("u", "U1"), node("a", "A1"), node("u", "U2"), node("a", "A2")
    expected_edges = rows_frame(spark,
        [(u1, a1, DAY1, DAY1 + timedelta(hours=1), 2), (u2, a2, DAY1, DAY1, 1)],
        "src string, dst string, first_seen timestamp, last_seen timestamp, observations long")
    assert_df_equality(
        lake.table("identity_edges").select(*expected_edges.columns), expected_edges,
        ignore_row_order=True, ignore_nullable=True)
    expected_nodes = rows_frame(spark,
        [(u1, 2), (a1, 2), (u2, 1), (a2, 1)], "node string, observations long")
    assert_df_equality(lake.table("identity_nodes").select("node", "observations"),
                       expected_nodes, ignore_row_order=True, ignore_nullable=True)
    # the retry read the failed run's rows again (its batch) and the new one
    assert result.summary["sources"]["staging.events"] == {
        "rows": 3, "linked": 3, "single": 0, "no_identifier": 0}
    # and the next run finds nothing new
    assert lake.run("r2", DAY1 + timedelta(hours=1)).summary["sources"]["staging.events"][
        "rows"] == 0


def test_the_salt_never_appears_in_a_query_plan(spark: SparkSession) -> None:
    from lakejobs.config import IdentitySettings
    from lakejobs.identity.graph import salt_frame, with_nodes, with_salt

    rows = rows_frame(spark, [("U1", "A1")], "user_id string, anon_id string")
    hashed = rows.transform(with_salt(salt_frame(spark, SALT))).transform(
        with_nodes({"user_id": "u", "anon_id": "a"}, IdentitySettings().types))
    assert hashed.first()["_nodes"][0]["node"] == node("u", "U1")
    plans = hashed._jdf.queryExecution().toString()  # parsed, analyzed, optimized, physical
    assert "sha2" in plans and SALT not in plans


def test_a_source_column_that_the_table_lacks_is_a_config_error_naming_it(
    spark: SparkSession, lake: IdentityLake
) -> None:
    from lakejobs.errors import ConfigError

    rows_frame(lake.spark, [("e1", DAY1)], "event_id string, occurred_at timestamp") \
        .withColumn("_validated_at", F.lit(DAY1)) \
        .write.format("delta").save(str(lake.root / "staging" / "events"))
    with pytest.raises(ConfigError, match=r"staging\.events.*user_id, anon_id, session_id, "
                       r"device_ua_hash not in the table: expected one of _validated_at, "
                       r"event_id, occurred_at"):
        lake.run("r1", DAY1)
