"""DSAR deletion end to end: graph, re-split, deny-list, tombstone, table purge, audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from identity_support import DAY1, SALT, IdentityLake, ev, node
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs.identity.dsar import REQUEST_SCHEMA
from lakejobs.local_rows import rows_frame

STAGING_EVENTS = {"user_id": "u", "anon_id": "a", "session_id": "s", "device_ua_hash": "d"}


@pytest.fixture
def lake(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IdentityLake:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    return IdentityLake(spark, tmp_path, dsar_tables=[
        {"zone": "staging", "table": "events", "columns": STAGING_EVENTS},
        {"zone": "curated", "table": "never_written", "columns": {"user_id": "u"}},
    ])


@pytest.mark.slow
def test_a_dsar_deletion_forgets_the_person_everywhere_and_they_never_link_again(
    spark: SparkSession, lake: IdentityLake
) -> None:
    u1, a1, d2, s1, a5, u2 = (node("u", "U1"), node("a", "A1"), node("d", "D2"),
                              node("s", "S1"), node("a", "A5"), node("u", "U2"))
    lake.stage([
        ev(1, DAY1, user="U1", anon="A1", session="S1", device="D1"),
        ev(2, DAY1, user="U1", device="D2"),
        ev(3, DAY1, anon="A5", session="S1"),   # S1 leads to U2 through A5: shared, kept
        ev(4, DAY1, user="U2", anon="A5", device="D1"),  # D1 is shared by U1 and U2: kept
        ev(5, DAY1, anon="A9"),
    ])
    lake.run("r1", DAY1)
    identity = lake.ids()[u1]
    assert {n for n, i in lake.ids().items() if i == identity} == {u1, a1, s1, a5, u2}
    requests = rows_frame(spark, [("req-1", "U1", DAY1, None)], REQUEST_SCHEMA)
    requests.write.format("delta").save(str(lake.root / "_lakejobs" / "dsar_requests"))

    result = lake.run("d1", DAY1, job="identity_dsar")

    # graph: their nodes and every edge touching them are gone; the rest of the identity keeps
    # its id (largest remaining part)
    ids = lake.ids()
    assert ids == {s1: identity, a5: identity, u2: identity, node("a", "A9"): ids[node("a", "A9")]}
    ends = lake.table("identity_edges").select("src").union(
        lake.table("identity_edges").select("dst")).distinct()
    assert sorted(r.src for r in ends.collect()) == sorted(
        [s1, a5, u2, node("d", "D1")])
    assert lake.history("d1") == []
    # deny-list, tombstone, audit, request
    deny = lake.table("identity_deny_list").select("node", "request_id")
    assert_df_equality(deny, rows_frame(spark,
        [(u1, "req-1"), (a1, "req-1"), (d2, "req-1")], "node string, request_id string"),
        ignore_row_order=True, ignore_nullable=True)
    tombstone = lake.table("identity_tombstones").first()
    assert (tombstone.request_id, tombstone.identity_id, tombstone.nodes) == (
        "req-1", identity, sorted([u1, a1, d2]))
    audit = lake.table("dsar_audit", zone="_lakejobs").select("target", "rows_deleted", "status")
    # graph: 3 nodes + 4 edges (u1-a1, u1-s1, u1-d1, u1-d2); events 1 and 2 carry U1
    assert_df_equality(audit, rows_frame(spark,
        [("identity_graph", 7, "deleted"), ("staging.events", 2, "deleted+vacuumed"),
         ("curated.never_written", 0, "absent")],
        "target string, rows_deleted long, status string"),
        ignore_row_order=True, ignore_nullable=True)
    assert result.summary == {"requests": 1, "rows_deleted": 9, "not_found": 0}
    request = lake.table("dsar_requests", zone="_lakejobs").first()
    assert (request.request_id, request.user_id) == ("req-1", None)
    # no table holds their identifiers any more
    events = lake.table("events").select("event_id", "user_id", "anon_id", "device_ua_hash")
    assert sorted(r.event_id for r in events.collect()) == ["e3", "e4", "e5"]
    # a new event from them links nothing: U1 is denied, so A7 stays alone
    lake.stage([ev(6, DAY1 + timedelta(hours=1), user="U1", anon="A7", session="S1")])
    lake.run("r2", DAY1 + timedelta(hours=1))
    ids = lake.ids()
    assert u1 not in ids
    assert ids[node("a", "A7")] == ids[s1] == identity  # A7 meets S1 (not theirs) only
    assert lake.table("identity_edges").where(
        (F.col("src") == u1) | (F.col("dst") == u1)).count() == 0
    # and the request is not processed twice
    assert lake.run("d2", DAY1, job="identity_dsar").summary == {
        "requests": 0, "rows_deleted": 0, "not_found": 0}


def test_a_dsar_deletion_resolves_again_the_other_identity_one_of_their_nodes_now_belongs_to(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S1 was U1's session on day 1 (that edge has expired: sessions link for a day); on day 3 an
    # anonymous visitor A2 used it. S1 leads to no other user, so it is theirs and is deleted,
    # but it now sits in A2's identity, not in U1's.
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    # no retention: what the deletion rewrote is vacuumed by the same run
    lake = IdentityLake(spark, tmp_path, maintenance={"retention_hours": 0,
                                                      "allow_short_retention": True})
    u1, s1, a2 = node("u", "U1"), node("s", "S1"), node("a", "A2")
    day3 = DAY1 + timedelta(days=2)
    lake.stage([ev(1, DAY1, user="U1", session="S1"), ev(2, day3, anon="A2", session="S1")])
    lake.run("r1", day3)
    ids = lake.ids()
    assert ids[s1] == ids[a2] != ids[u1]
    rows_frame(spark, [("req-1", "U1", day3, None)], REQUEST_SCHEMA).write.format("delta").save(
        str(lake.root / "_lakejobs" / "dsar_requests"))

    lake.run("d1", day3, job="identity_dsar")

    assert lake.table("identity_tombstones").first().nodes == sorted([u1, s1])
    # no resolution row is left for a deleted node; A2's identity keeps its id
    assert lake.ids() == {a2: ids[a2]}
    # and no file of the job's tables holds the raw id or their nodes any more (time travel
    # included): every file is read, not only those of the current version
    files = lake.root / "_lakejobs" / "dsar_requests"
    assert [tuple(r) for r in spark.read.parquet(str(files)).select(
        "request_id", "user_id").collect()] == [("req-1", None)]
    for table in ("identity_nodes", "identity_resolution"):
        nodes = spark.read.parquet(str(lake.root / "staging" / table)).select("node")
        assert sorted(r.node for r in nodes.distinct().collect()) == [a2], table


def test_a_device_another_user_used_before_logging_in_is_shared_and_kept(
    spark: SparkSession, lake: IdentityLake
) -> None:
    """U2 reaches D1 only through their anonymous id A2 (a device used before login): D1 was
    taken for U1's alone, denied, and U2's event on it deleted with U1's."""
    lake.stage([ev(1, DAY1, user="U1", device="D1"), ev(2, DAY1, anon="A2", device="D1"),
                ev(3, DAY1, user="U2", anon="A2")])
    lake.run("r1", DAY1)
    rows_frame(spark, [("req-1", "U1", DAY1, None)], REQUEST_SCHEMA).write.format("delta").save(
        str(lake.root / "_lakejobs" / "dsar_requests"))

    lake.run("d1", DAY1, job="identity_dsar")

    assert_df_equality(lake.table("events").select("event_id"),
                       rows_frame(spark, [("e2",), ("e3",)], "event_id string"),
                       ignore_row_order=True, ignore_nullable=True)
    assert [r.node for r in lake.table("identity_deny_list").collect()] == [node("u", "U1")]
    assert lake.table("identity_edges").where(
        (F.col("src") == node("a", "A2")) & (F.col("dst") == node("d", "D1"))).count() == 1


def test_two_requests_of_one_run_splitting_one_identity_twice_give_each_part_its_own_id(
    spark: SparkSession, lake: IdentityLake
) -> None:
    """New ids hash the part with the run id: the second request's new part, named by the same
    smallest node as the part the first split off, got that part's id (two people, one id)."""
    a2, a3 = sorted(["A2", "A3"], key=lambda a: node("a", a))  # a2's node is P's smallest
    rows = [("U1", "A1"), ("U1", a2), *[(u, "A1") for u in ("U5", "U6", "U7", "U9")],
            ("U2", a2), ("U8", a2), ("U2", a3), ("U3", a3), ("U4", a3)]
    lake.stage([ev(i, DAY1, user=u, anon=a) for i, (u, a) in enumerate(rows)])
    lake.run("r1", DAY1)
    rows_frame(spark, [("req-1", "U1", DAY1, None), ("req-2", "U2", DAY1, None)],
               REQUEST_SCHEMA).write.format("delta").save(
        str(lake.root / "_lakejobs" / "dsar_requests"))

    lake.run("d1", DAY1, job="identity_dsar")

    parts: dict[str, set[str]] = {}
    for n, identity in lake.ids().items():
        parts.setdefault(identity, set()).add(n)
    expected = [{node("a", "A1"), *[node("u", u) for u in ("U5", "U6", "U7", "U9")]},
                {node("a", a2), node("u", "U8")}, {node("a", a3), node("u", "U3"), node("u", "U4")}]
    assert sorted(parts.values(), key=sorted) == sorted(expected, key=sorted)
    assert [change for change, *_ in lake.history("d1/req-2")].count("split") == 1
