"""The master_data_dedupe job end to end on generated people: conservation, quality, lineage,
a review round trip, idempotent reruns, versioned profiles with a change feed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import DedupeSettings
from lakejobs.delta_io import table_version
from lakejobs.errors import ConfigError
from lakejobs.identity import dedupe
from lakejobs.identity.dedupe import _fingerprint
from lakejobs.identity.dedupe_store import SCHEMAS
from lakejobs.identity.dsar import REQUEST_SCHEMA
from lakejobs.local_rows import rows_frame
from lakejobs.people_data import generate_people
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job

PEOPLE = ("record_id string, source_system string, first_name string, last_name string, "
          "birth_date string, email string, phone string, address_line string, "
          "postcode string, city string, government_id string, updated_at string")
TABLES = ("source_identities", "potential_duplicates", "canonical_members", "canonical_users",
          "attribute_lineage", "canonical_profiles")


CUSTOMERS = ("customer_id long, full_name string, email string, phone string, "
             "birth_date string, updated_at string")
CUSTOMER_SOURCE = {"table": "customers", "record_id": "customer_id", "source_system": "retail",
                   "columns": {"full_name": "full_name", "email": "email", "phone": "phone",
                               "birth_date": "birth_date"}}


class PeopleLake:
    def __init__(self, spark: SparkSession, tmp_path: Path, columns: dict | None = None,
                 extra_sources: tuple[dict, ...] = ()) -> None:
        self.spark, self.root = spark, tmp_path / "lake"
        self.config = tmp_path / "dev.yaml"
        self.config.write_text(json.dumps({
            "env": "dev", "lake": {"root": str(self.root)},
            "dedupe": {
                "u_sample_records": 400,
                "source_trust": ["crm", "retail", "signup", "support"],
                "sources": [{
                    "table": "people", "record_id": "record_id", "system_column": "source_system",
                    "columns": columns or {
                        "first_name": "first_name", "last_name": "last_name",
                        "birth_date": "birth_date", "email": "email", "phone": "phone",
                        "address": "address_line", "postcode": "postcode", "city": "city",
                        "government_id": "government_id"},
                }, *extra_sources],
            },
        }))

    def stage(self, rows: list[tuple]) -> None:
        df = rows_frame(self.spark, rows, PEOPLE).withColumn(
            "birth_date", F.col("birth_date").cast("date")).withColumn(
            "updated_at", F.to_timestamp("updated_at"))
        df.write.format("delta").mode("overwrite").save(str(self.root / "staging" / "people"))

    def stage_customers(self, rows: list[tuple]) -> None:
        df = rows_frame(self.spark, rows, CUSTOMERS).withColumn(
            "birth_date", F.col("birth_date").cast("date")).withColumn(
            "updated_at", F.to_timestamp("updated_at"))
        df.write.format("delta").mode("overwrite").save(str(self.root / "staging" / "customers"))

    def run(self, run_id: str, job: str = "master_data_dedupe", *, job_name: str | None = None,
            extra: tuple[str, ...] = ()) -> JobResult:
        argv = ["x", "--JOB_NAME", job_name or run_id, "--env", "dev", "--config",
                str(self.config), "--JOB_RUN_ID", run_id, *extra]
        return run_job(get_job(job), argv, spark=self.spark).result

    def path(self, table: str, zone: str = "curated") -> str:
        return str(self.root / zone / table)

    def table(self, table: str, zone: str = "curated") -> DataFrame:
        return self.spark.read.format("delta").load(self.path(table, zone))

    def versions(self) -> dict[str, int]:
        return {t: table_version(self.spark, self.path(t)) for t in TABLES}


def rows_of(records: list[dict]) -> list[tuple]:
    keys = ("record_id", "source_system", "first_name", "last_name", "birth_date", "email",
            "phone", "address_line", "postcode", "city", "government_id", "updated_at")
    return [tuple(r[k] for k in keys) for r in records]


@pytest.mark.slow
def test_dedupe_end_to_end_with_a_review_round_trip(spark: SparkSession, tmp_path: Path) -> None:
    data = generate_people(140, seed=5)
    bad = ("", "crm", "No", "Id", None, None, None, None, None, None, None,
           "2026-03-01T00:00:00Z")
    lake = PeopleLake(spark, tmp_path)
    lake.stage([*rows_of(data.records), bad])

    first = lake.run("r1").summary
    # conservation: every source row is an identity or quarantined with its reason
    records = len(data.records)
    assert first["identities"] + first["older_versions"] + first["quarantined"] == records + 1
    assert first["quarantined"] == 1
    quarantined = lake.table("source_identities", "quarantine").select("source_table", "reason")
    assert_df_equality(quarantined, rows_frame(spark,
        [("staging.people", "missing_record_id")], "source_table string, reason string"),
        ignore_nullable=True)
    # every identity is in exactly one canonical user
    members = lake.table("canonical_members")
    first_members = {r.identity_key: r.canonical_id for r in members.collect()}
    assert members.count() == records == members.select("identity_key").distinct().count()
    assert lake.table("canonical_users").agg(F.sum("records")).first()[0] == records
    assert first["pairs_compared"] == first["candidate_pairs"] == (
        first["auto_merged"] + first["queued_for_review"] + first["no_link"])
    # quality against the generator's truth
    truth = {f"{r['source_system']}:{r['record_id']}": data.truth[r["record_id"]]
             for r in data.records}
    canonical = {r.identity_key: r.canonical_id for r in members.collect()}
    merged = {(a, b) for a in canonical for b in canonical if a < b and canonical[a] ==
              canonical[b]}
    true_pairs = {(a, b) for a in truth for b in truth if a < b and truth[a] == truth[b]}
    precision = len(merged & true_pairs) / len(merged)
    recall = len(merged & true_pairs) / len(true_pairs)
    assert precision >= 0.98 and recall >= 0.85, (precision, recall)
    # every canonical attribute has its lineage row, and the profile shows that row's value
    profiles = lake.table("canonical_profiles")
    attributes = ["first_name", "last_name", "birth_date", "email", "phone", "address",
                  "postcode", "city", "government_id"]
    shown = profiles.select("canonical_id", F.explode(F.array(*[
        F.struct(F.lit(a).alias("attribute"), F.col(a).cast("string").alias("value"))
        for a in attributes])).alias("a")).select("canonical_id", "a.*").where(
        F.col("value").isNotNull())
    lineage = lake.table("attribute_lineage").select("canonical_id", "attribute", "value")
    assert_df_equality(shown, lineage, ignore_row_order=True, ignore_nullable=True)
    assert lake.table("attribute_lineage").where(
        F.col("source_identity_key").isNull() | F.col("rule").isNull()).count() == 0
    assert profiles.where(F.col("version") != 1).count() == 0

    # a review round trip (approve one queued pair, dismiss another) and, in the same run, a
    # changed record that makes a new profile version
    queue = lake.table("potential_duplicates").where("status = 'open'").orderBy("pair_id")
    canonical = {r.identity_key: r.canonical_id for r in members.collect()}
    apart = [q for q in queue.collect() if canonical[q.left_key] != canonical[q.right_key]]
    assert len(apart) >= 2
    approve, dismiss = apart[:2]
    # reviewers decide after the pairs were queued (a decision older than its queue row is not
    # applied: it was about other records)
    rows_frame(spark,
        [(approve.pair_id, "approve", "ann@review", approve.queued_at + timedelta(hours=1)),
         (dismiss.pair_id, "dismiss", "bob@review", dismiss.queued_at + timedelta(hours=2))],
        "pair_id string, decision string, reviewer string, decided_at timestamp",
    ).write.format("delta").mode("append").save(lake.path("merge_decisions"))
    involved = {approve.left_key, approve.right_key, dismiss.left_key, dismiss.right_key}
    person = next(r for r in data.records if r["phone"] is not None
                  and f"{r['source_system']}:{r['record_id']}" not in involved)
    changed = [{**r, "phone": "07700 123456", "updated_at": "2027-06-01T00:00:00Z"}
               if r is person else r for r in data.records]
    lake.stage([*rows_of(changed), bad])
    profiles_version = table_version(spark, lake.path("canonical_profiles"))
    second = lake.run("r2").summary

    statuses = lake.table("potential_duplicates").where(
        F.col("pair_id").isin(approve.pair_id, dismiss.pair_id)).select(
        "pair_id", "status", "decided_by")
    assert_df_equality(statuses, rows_frame(spark,
        [(approve.pair_id, "approved", "ann@review"), (dismiss.pair_id, "dismissed",
                                                       "bob@review")],
        "pair_id string, status string, decided_by string"), ignore_row_order=True,
        ignore_nullable=True)
    canonical = {r.identity_key: r.canonical_id for r in lake.table("canonical_members")
                 .collect()}
    assert canonical[approve.left_key] == canonical[approve.right_key]
    assert second["approved"] == 1 and second["dismissed"] == 1
    assert lake.table("merge_decisions").count() == 2  # kept as the reviewers wrote them
    # the approved merge: one id absorbed, in the id history and the profiles' change feed
    absorbed = {canonical_before for canonical_before in (
        first_members[approve.left_key], first_members[approve.right_key])} - {
        canonical[approve.left_key]}
    history = lake.table("canonical_id_history").where("change = 'merged'").select(
        "identity_id", "new_identity_id")
    assert_df_equality(history, rows_frame(spark,
        [(absorbed.pop(), canonical[approve.left_key])],
        "identity_id string, new_identity_id string"), ignore_nullable=True)
    feed = (spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", profiles_version + 1)
            .load(lake.path("canonical_profiles")))
    merged_away = history.first().identity_id
    assert feed.where((F.col("canonical_id") == merged_away)
                      & (F.col("_change_type") == "delete")).count() == 1
    # the changed record: its profile has version 2 with the new phone, in the change feed
    cid = canonical[f"{person['source_system']}:{person['record_id']}"]
    profile = lake.table("canonical_profiles").where(F.col("canonical_id") == cid).first()
    assert (profile.phone, profile.version) == ("7700123456", 2)
    updates = feed.where((F.col("canonical_id") == cid)
                         & (F.col("_change_type") == "update_postimage"))
    assert [(r.phone, r.version) for r in updates.collect()] == [("7700123456", 2)]

    # every table has the columns and types the data model documents
    for name, schema in SCHEMAS.items():
        got = lake.table(name).schema
        assert ([(f.name, f.dataType.simpleString()) for f in got]
                == [(f.name, f.dataType.simpleString()) for f in schema]), name

    # a rerun on unchanged data commits nothing
    before = lake.versions()
    third = lake.run("r3").summary
    assert lake.versions() == before
    assert third["queue"] == second["queue"]


def test_a_run_whose_inputs_did_not_change_recomputes_nothing_until_one_does_or_full_is_asked(
        spark: SparkSession, tmp_path: Path) -> None:
    lake = PeopleLake(spark, tmp_path)
    records = rows_of(generate_people(12, seed=4).records)
    lake.stage(records)
    first = lake.run("r1", job_name="dedupe").summary
    before = lake.versions()

    skipped = lake.run("r2", job_name="dedupe")
    assert (skipped.rows_read, skipped.rows_written) == (0, 0)
    assert skipped.summary["skipped"] == "inputs unchanged"
    # the review queue is still reported (its age is what alerting watches)
    assert {k: skipped.summary[k] for k in ("queue", "queue_open", "dismissed", "approved")} == {
        k: first[k] for k in ("queue", "queue_open", "dismissed", "approved")}
    assert skipped.summary["queue_age_hours"] >= first["queue_age_hours"]
    assert lake.versions() == before

    forced = lake.run("r3", job_name="dedupe", extra=("--full", "true")).summary
    assert "skipped" not in forced and forced["identities"] == first["identities"] == len(records)
    assert lake.versions() == before  # recomputed, and nothing differed

    # a reviewer's decision is an input: the next run recomputes (and counts it: no such pair)
    rows_frame(spark, [("no-such-pair", "approve", "ann@review", datetime(2026, 1, 1))],
                          "pair_id string, decision string, reviewer string, "
                          "decided_at timestamp").write.format("delta").mode("append").save(
        lake.path("merge_decisions"))
    assert lake.run("r4", job_name="dedupe").summary["decisions_unknown_pair"] == 1
    assert lake.run("r5", job_name="dedupe").summary["skipped"] == "inputs unchanged"


def test_the_dedupe_fingerprint_follows_every_table_state_and_setting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs = {"staging.people": "id-1@3", "merge_decisions": None}, {"x": "id-2@0"}
    base = _fingerprint(DedupeSettings(), inputs, outputs)
    assert base == _fingerprint(DedupeSettings(), dict(inputs), dict(outputs))
    assert base != _fingerprint(DedupeSettings(), {**inputs, "staging.people": "id-1@4"}, outputs)
    # a table dropped and created again at the same version is another table
    assert base != _fingerprint(DedupeSettings(), {**inputs, "staging.people": "id-9@3"}, outputs)
    assert base != _fingerprint(DedupeSettings(), inputs, {"x": "id-2@1"})
    assert base != _fingerprint(DedupeSettings(max_block_size=501), inputs, outputs)
    # another build of lakejobs (changed matching code or nicknames, the same version number)
    monkeypatch.setattr(dedupe, "package_digest", lambda: "another build")
    assert base != _fingerprint(DedupeSettings(), inputs, outputs)


@pytest.mark.slow
def test_a_dsar_naming_a_canonical_user_forgets_their_records_in_sources_and_master_data(
        spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", "dsar-test-salt")
    data = generate_people(40, seed=3)
    lake = PeopleLake(spark, tmp_path, extra_sources=(CUSTOMER_SOURCE,))
    lake.stage(rows_of(data.records))
    # the same person bought in the shop: a retail customer with their exact details
    ann = next(r for r in data.records if r["email"] and r["phone"] and r["birth_date"])
    ann_key = f"{ann['source_system']}:{ann['record_id']}"
    lake.stage_customers([(900001, f"{ann['first_name']} {ann['last_name']}", ann["email"],
                           ann["phone"], ann["birth_date"], "2026-03-01T00:00:00Z"),
                          (900002, "Zed Stranger", "zed@example.org", None, None,
                           "2026-03-01T00:00:00Z")])
    lake.run("r1")
    members = {r.identity_key: r.canonical_id for r in lake.table("canonical_members").collect()}
    canonical = members[ann_key]
    theirs = {k for k, c in members.items() if c == canonical}
    assert "retail:900001" in theirs and ann_key in theirs
    # what the tables hold of them before, counted by plain filters
    pairs = lake.table("potential_duplicates").where(
        F.col("left_key").isin(*theirs) | F.col("right_key").isin(*theirs)).count()
    lineage = lake.table("attribute_lineage").where(F.col("canonical_id") == canonical).count()
    people_ids = {k.split(":", 1)[1] for k in theirs if not k.startswith("retail:")}
    rows_frame(spark, [("req-7", None, None, canonical)], REQUEST_SCHEMA).write.format(
        "delta").save(str(lake.root / "_lakejobs" / "dsar_requests"))

    result = lake.run("d1", job="identity_dsar")

    done = "deleted+vacuumed"
    audit = lake.table("dsar_audit", "_lakejobs").select("user_node", "target", "rows_deleted",
                                                          "status")
    assert_df_equality(audit, rows_frame(spark, [
        (canonical, "staging.people", len(people_ids), done),
        (canonical, "staging.customers", 1, done),
        (canonical, "curated.source_identities", len(theirs), done),
        (canonical, "curated.potential_duplicates", pairs, done),
        (canonical, "curated.canonical_members", len(theirs), done),
        (canonical, "curated.canonical_users", 1, done),
        (canonical, "curated.canonical_profiles", 1, done),
        (canonical, "curated.attribute_lineage", lineage, done),
    ], "user_node string, target string, rows_deleted long, status string"),
        ignore_row_order=True, ignore_nullable=True)
    assert result.summary["requests"] == 1
    # no source or master-data table holds them; everyone else is untouched
    people = lake.table("people", "staging")
    assert people.where(F.col("record_id").isin(*people_ids)).count() == 0
    assert people.count() == len(data.records) - len(people_ids)
    assert [r.customer_id for r in lake.table("customers", "staging").collect()] == [900002]
    others = {k: c for k, c in members.items() if k not in theirs}
    after = {r.identity_key: r.canonical_id for r in lake.table("canonical_members").collect()}
    assert after == others
    assert lake.table("source_identities").where(F.col("identity_key").isin(*theirs)).count() == 0
    for table in ("canonical_users", "canonical_profiles", "attribute_lineage"):
        assert lake.table(table).where(F.col("canonical_id") == canonical).count() == 0, table
    assert lake.table("potential_duplicates").where(
        F.col("left_key").isin(*theirs) | F.col("right_key").isin(*theirs)).count() == 0
    # (the next dedupe run recomputes from the sources, which no longer hold them)
    # the request is answered once
    assert lake.run("d2", job="identity_dsar").summary["requests"] == 0


def test_a_source_column_the_table_lacks_is_a_config_error(spark: SparkSession,
                                                            tmp_path: Path) -> None:
    lake = PeopleLake(spark, tmp_path, columns={"full_name": "name", "email": "email"})
    lake.stage([("1", "crm", "A", "B", "1990-01-01", "a@b.c", None, None, None, None, None,
                 "2026-01-01T00:00:00Z")])
    with pytest.raises(ConfigError, match=r"dedupe.sources \(staging.people\): column\(s\) name "
                                          r"not in the table"):
        lake.run("r1")



def test_merges_that_would_join_two_government_ids_through_a_third_record_are_split(
    spark: SparkSession, tmp_path: Path
) -> None:
    # x1 and x2 share an email, x2 and x3 a phone: each pair merges alone (x2 has no id), but
    # together they would give x1's and x3's different government ids one canonical record
    lake = PeopleLake(spark, tmp_path)
    background = rows_of(generate_people(60, seed=3).records)
    alice = ("Alice", "Walker", "1985-02-03")
    lake.stage([
        *background,
        ("x1", "crm", *alice, "alice.walker@example.org", None, None, None, None, "AB123456C",
         "2026-03-01T00:00:00Z"),
        ("x2", "signup", *alice, "alice.walker@example.org", "07700 900123", None, None, None,
         None, "2026-03-01T00:00:00Z"),
        ("x3", "support", *alice, None, "07700 900123", None, None, None, "ZZ999999Z",
         "2026-03-01T00:00:00Z"),
    ])
    summary = lake.run("r1").summary
    members = {r.source_record_id: r.canonical_id for r in lake.table("canonical_members").join(
        lake.table("source_identities"), "identity_key").where(
        F.col("source_record_id").startswith("x")).collect()}
    assert members["x1"] != members["x3"]
    assert members["x2"] in (members["x1"], members["x3"])
    keys = {r.source_record_id: r.identity_key for r in lake.table("source_identities").collect()}
    queued = lake.table("potential_duplicates").where(
        F.col("reason") == "high_risk_conflict_in_component").select(
        "left_key", "right_key", "status", "score")
    # the refused edge is the one the order of the (tied, score 1.0) edges puts second
    other = "x3" if members["x2"] == members["x1"] else "x1"
    expected = sorted([keys["x2"], keys[other]])
    assert_df_equality(queued, rows_frame(spark,
        [(expected[0], expected[1], "open", 1.0)],
        "left_key string, right_key string, status string, score double"),
        ignore_nullable=True)
    assert summary["merges_refused_in_component"] == 1
