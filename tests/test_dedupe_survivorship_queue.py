"""Survivorship rules and attribute lineage; the review queue's state transitions."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakejobs.config import DedupeSettings
from lakejobs.identity.review_queue import (
    QUEUE_SCHEMA,
    apply_decisions,
    latest_decisions,
    next_queue,
)
from lakejobs.identity.survivorship import attribute_candidates, choose, profiles
from lakejobs.local_rows import rows_frame

MEMBERS = ("canonical_id string, identity_key string, source_system string, "
           "source_record_id string, updated_at timestamp, first_name_display string, "
           "last_name_display string, birth_date date, email string, phone string, "
           "address_display string, postcode string, city string, government_id string")
OLD, NEW = datetime(2026, 1, 1), datetime(2026, 6, 1)


def test_each_survivorship_rule_and_one_lineage_row_per_attribute(spark: SparkSession) -> None:
    members = rows_frame(spark, [
        # crm: trusted, older, most complete (birth date, government id, longer first name)
        ("cu_1", "crm:1", "crm", "1", OLD, "Katherine", "Lee", date(1980, 1, 2), "k@old.com",
         None, "1 High St", "AB12CD", "york", "AB123456C"),
        # signup: newer, sparse
        ("cu_1", "signup:9", "signup", "9", NEW, "Kate", "Lee", None, "kate@new.com",
         "7700900001", None, None, None, None),
    ], MEMBERS)
    settings = DedupeSettings(source_trust=("crm", "signup"), survivorship_default="most_recent",
                              survivorship={"first_name": "most_complete",
                                            "email": "most_trusted"})
    lineage = choose(attribute_candidates(members, settings), "run-1")
    expected = rows_frame(spark, [
        ("cu_1", "first_name", "Katherine", "most_complete", "crm:1", "crm", "1", OLD),
        ("cu_1", "last_name", "Lee", "most_recent", "signup:9", "signup", "9", NEW),
        ("cu_1", "birth_date", "1980-01-02", "most_recent", "crm:1", "crm", "1", OLD),
        ("cu_1", "email", "k@old.com", "most_trusted", "crm:1", "crm", "1", OLD),
        ("cu_1", "phone", "7700900001", "most_recent", "signup:9", "signup", "9", NEW),
        ("cu_1", "address", "1 High St", "most_recent", "crm:1", "crm", "1", OLD),
        ("cu_1", "postcode", "AB12CD", "most_recent", "crm:1", "crm", "1", OLD),
        ("cu_1", "city", "york", "most_recent", "crm:1", "crm", "1", OLD),
        ("cu_1", "government_id", "AB123456C", "most_recent", "crm:1", "crm", "1", OLD),
    ], "canonical_id string, attribute string, value string, rule string, "
       "source_identity_key string, source_system string, source_record_id string, "
       "source_updated_at timestamp")
    assert_df_equality(lineage.drop("run_id"), expected, ignore_row_order=True,
                       ignore_nullable=True)
    got = profiles(lineage).drop("profile_hash")
    expected_profile = rows_frame(spark,
        [("cu_1", "Katherine", "Lee", date(1980, 1, 2), "k@old.com", "7700900001", "1 High St",
          "AB12CD", "york", "AB123456C")],
        "canonical_id string, first_name string, last_name string, birth_date date, "
        "email string, phone string, address string, postcode string, city string, "
        "government_id string")
    assert_df_equality(got, expected_profile, ignore_nullable=True)


def test_most_trusted_prefers_listed_systems_then_recency(spark: SparkSession) -> None:
    members = rows_frame(spark, [
        ("cu_1", "web:1", "web", "1", NEW, "Al", None, None, None, None, None, None, None, None),
        ("cu_1", "crm:2", "crm", "2", OLD, "Alan", None, None, None, None, None, None, None,
         None),
        ("cu_2", "web:3", "web", "3", OLD, "Bo", None, None, None, None, None, None, None, None),
        ("cu_2", "pos:4", "pos", "4", NEW, "Bob", None, None, None, None, None, None, None,
         None),
    ], MEMBERS)
    settings = DedupeSettings(source_trust=("crm",), survivorship_default="most_trusted")
    got = choose(attribute_candidates(members, settings), "r").select(
        "canonical_id", "value", "source_identity_key")
    expected = rows_frame(spark, [("cu_1", "Alan", "crm:2"), ("cu_2", "Bob", "pos:4")],
                                     "canonical_id string, value string, "
                                     "source_identity_key string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


T1, T2, T3 = datetime(2026, 2, 1), datetime(2026, 2, 2), datetime(2026, 2, 3)


def queue_row(pid: str, status: str, lh: str = "h1", rh: str = "h2", score: float = 0.8,
              by: str | None = None, at: datetime | None = None) -> tuple:
    return (pid, f"{pid}-l", f"{pid}-r", lh, rh, score, "review_band", None, None, None, None,
            status, T1, by, at)


def test_queue_transitions_after_decisions(spark: SparkSession) -> None:
    queue = rows_frame(spark, [
        queue_row("stays_open", "open"),
        queue_row("goes_away", "open"),
        queue_row("approve_me", "open"),
        queue_row("dismiss_me", "open"),
        queue_row("dismissed_changed", "dismissed", by="eve", at=T1),
        queue_row("was_withdrawn", "withdrawn"),
    ], QUEUE_SCHEMA)
    decisions = rows_frame(spark, [
        ("approve_me", "dismiss", "ann", T1),
        ("approve_me", "Approve", "bob", T2),   # the latest decision wins
        ("dismiss_me", "dismiss", "ann", T2),
        ("dismissed_changed", "dismiss", "eve", T1),  # already applied: not newer
        ("stays_open", "maybe", "ann", T2),      # invalid: reported, not applied
    ], "pair_id string, decision string, reviewer string, decided_at timestamp")
    good, invalid = latest_decisions(decisions)
    assert [(r.pair_id, r.problem) for r in invalid.collect()] == [("stays_open",
                                                                     "unknown_decision")]
    decided = apply_decisions(queue, good)
    review = rows_frame(spark, [
        (pid, f"{pid}-l", f"{pid}-r", lh, "h2", 0.9, "review_band", None, None, None, None)
        for pid, lh in [("stays_open", "h1"), ("approve_me", "h1"), ("dismiss_me", "h1"),
                        ("dismissed_changed", "h1-changed"), ("was_withdrawn", "h1"),
                        ("brand_new", "h1")]
    ], "pair_id string, left_key string, right_key string, left_hash string, right_hash string, "
       "score double, reason string, blocked_by array<string>, comparison array<struct<"
       "attribute:string, level:string, weight:double, left_value:string, right_value:string>>, "
       "left_record string, right_record string")
    after = next_queue(decided, review, T3).select("pair_id", "status", "left_hash", "score",
                                                    "queued_at", "decided_by")
    expected = rows_frame(spark, [
        ("stays_open", "open", "h1", 0.9, T1, None),
        ("goes_away", "withdrawn", "h1", 0.8, T1, None),
        ("approve_me", "approved", "h1", 0.8, T1, "bob"),
        ("dismiss_me", "dismissed", "h1", 0.8, T1, "ann"),
        ("dismissed_changed", "open", "h1-changed", 0.9, T3, None),
        ("was_withdrawn", "open", "h1", 0.9, T3, None),
        ("brand_new", "open", "h1", 0.9, T3, None),
    ], "pair_id string, status string, left_hash string, score double, queued_at timestamp, "
       "decided_by string")
    assert_df_equality(after, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_decision_made_before_a_pair_was_reopened_is_not_applied_again(
    spark: SparkSession,
) -> None:
    # dismissed by eve at T1; a record then changed, so the last run reopened the pair at T2
    # (queued again, decision cleared). Eve's T1 decision was about the old record: it must not
    # dismiss the reopened pair on the next run.
    decisions = rows_frame(spark,
        [("reopened", "dismiss", "eve", T1)],
        "pair_id string, decision string, reviewer string, decided_at timestamp")
    good, _ = latest_decisions(decisions)
    reopened = queue_row("reopened", "open", lh="h1-changed")
    queue = rows_frame(spark, [reopened[:12] + (T2, None, None)], QUEUE_SCHEMA)
    decided = apply_decisions(queue, good).select("pair_id", "status", "decided_by",
                                                   "decided_at")
    expected = rows_frame(spark, [("reopened", "open", None, None)],
                                     "pair_id string, status string, decided_by string, "
                                     "decided_at timestamp")
    assert_df_equality(decided, expected, ignore_nullable=True)
