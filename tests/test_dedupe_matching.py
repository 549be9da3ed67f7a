"""Master-data matching pieces: normalisation, blocking, comparison levels, EM, decisions."""

from __future__ import annotations

import math
import random
from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import BlockingRule, DedupeSource, DedupeThresholds
from lakejobs.identity.blocking import blocking_report, candidate_pairs
from lakejobs.identity.matching import (
    Comparison,
    classify,
    comparisons,
    estimate_m,
    pair_records,
    with_conflicts,
    with_gammas,
)
from lakejobs.identity.source_identities import nickname_frame, read_source, with_match_keys
from lakejobs.local_rows import rows_frame

PEOPLE = ("record_id string, system string, first_name string, last_name string, "
          "birth_date date, email string, phone string, address_line string, postcode string, "
          "city string, government_id string, updated_at timestamp")
SOURCE = DedupeSource(
    table="people", record_id="record_id", system_column="system",
    columns={"first_name": "first_name", "last_name": "last_name", "birth_date": "birth_date",
             "email": "email", "phone": "phone", "address": "address_line",
             "postcode": "postcode", "city": "city", "government_id": "government_id"})
T0 = datetime(2026, 1, 1)


def person(rid: str, first: str | None, last: str | None, born: date | None = None,
           email: str | None = None, phone: str | None = None, address: str | None = None,
           postcode: str | None = None, gov: str | None = None, system: str = "crm",
           city: str | None = None) -> tuple:
    return (rid, system, first, last, born, email, phone, address, postcode, city, gov, T0)


def identities(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return (read_source(rows_frame(spark, rows, PEOPLE), SOURCE, "44")
            .transform(with_match_keys(nickname_frame(spark))))


def test_source_records_are_normalised_for_matching(spark: SparkSession) -> None:
    rows = [
        person("1", "  José ", "O'Brien-Smith", date(1980, 5, 4), " Jose.OB@Example.COM ",
               "+44 (0)7700 900123", "12, Station Road", "sw1a 1aa", "ab 12 34 56 c",
               city=" london"),
        person("2", "BOB", "smith", None, "not-an-email", "123", "", None, None),
    ]
    got = identities(spark, rows).select(
        "identity_key", "first_name", "first_name_canonical", "last_name", "email", "phone",
        "address", "postcode", "postcode_district", "government_id", "city",
        "first_name_display")
    expected = rows_frame(spark, [
        ("crm:1", "jose", "jose", "obriensmith", "jose.ob@example.com", "7700900123",
         "12 station rd", "SW1A1AA", "SW1A", "AB123456C", "london", "José"),
        ("crm:2", "bob", "robert", "smith", None, None, None, None, None, None, None, "Bob"),
    ], "identity_key string, first_name string, first_name_canonical string, last_name string, "
       "email string, phone string, address string, postcode string, postcode_district string, "
       "government_id string, city string, first_name_display string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_full_name_only_source_is_split_into_first_and_last(spark: SparkSession) -> None:
    source = DedupeSource(table="customers", record_id="customer_id", source_system="retail",
                          columns={"full_name": "full_name"})
    rows = rows_frame(spark, [(7, "  Mary  Ann   Jones ", T0), (8, "Cher", T0)],
                                 "customer_id long, full_name string, updated_at timestamp")
    got = read_source(rows, source, "44").select("source_system", "source_record_id",
                                                 "first_name", "last_name")
    expected = rows_frame(spark, [("retail", "7", "mary", "jones"),
                                      ("retail", "8", "cher", None)],
                                     "source_system string, source_record_id string, "
                                     "first_name string, last_name string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_blocking_unions_rules_without_a_cross_join_and_skips_oversize_blocks(
    spark: SparkSession
) -> None:
    rows = [
        person("1", "ann", "lee", email="a@x.com", phone="07700900001"),
        person("2", "anne", "lee", email="a@x.com", phone="07700900001"),
        person("3", "bo", "kim", email="b@x.com"),
        person("4", "bo", "kim", email="shared@x.com"),
        person("5", "cy", "ng", email="shared@x.com"),
        person("6", "di", "ox", email="shared@x.com"),
    ]
    ids = identities(spark, rows)
    rules = [BlockingRule(name="email", keys=("email",)), BlockingRule(name="phone", keys=("phone",)),
             BlockingRule(name="name", keys=("first_name", "last_name"))]
    pairs = candidate_pairs(ids, rules, max_block_size=2)
    expected = rows_frame(spark,
        [("crm:1", "crm:2", ["email", "phone"]), ("crm:3", "crm:4", ["name"])],
        "left_key string, right_key string, blocked_by array<string>")
    assert_df_equality(pairs, expected, ignore_row_order=True, ignore_nullable=True)
    report = blocking_report(pairs, ids, rules, 2)
    assert report.candidate_pairs == 2
    assert report.pairs_by_rule == {"email": 1, "phone": 1, "name": 1}
    assert report.skipped_blocks == {"email": 1, "phone": 0, "name": 0}  # shared@x.com: 3


def levels(spark: SparkSession, left: tuple, right: tuple) -> dict[str, str]:
    comps = comparisons()
    ids = identities(spark, [left, right])
    pair = rows_frame(spark, [("crm:" + left[0], "crm:" + right[0])],
                                 "left_key string, right_key string")
    row = pair_records(pair, ids).transform(with_gammas(comps)).first()
    return {c.name: c.level_names[row[c.gamma]] for c in comps}


@pytest.mark.parametrize(("left", "right", "expected"), [
    (person("1", "Robert", "Smith", date(1980, 3, 7), "r@x.com", "07700900001", "1 High St",
            "AB1 2CD", "AB123456C"),
     person("2", "Bob", "Smyth", date(1980, 7, 3), "R@X.com", "+447700900002", "1 high street",
            "ab12cd", "AB123456C"),
     {"first_name": "nickname", "last_name": "fuzzy", "birth_date": "transposed",
      "email": "exact", "phone": "fuzzy", "address": "exact", "government_id": "exact"}),
    (person("1", "Smith", "John", date(1980, 3, 7), "john@a.com", None, "1 high st", "AB1 2CD"),
     person("2", "John", "Smith", date(1981, 3, 7), "john@b.org", "07700900009", None, "AB1 9ZZ",
            "CD654321A"),
     {"first_name": "exact", "last_name": "exact", "birth_date": "typo", "email": "fuzzy",
      "phone": "missing", "address": "district_or_city", "government_id": "missing"}),
    (person("1", "Jon", "Smith-Jones", date(1980, 3, 7), gov="AB123456C", postcode="AB1 2CD"),
     person("2", "Mary", "Jones", date(1990, 1, 1), gov="ZZ999999Z", postcode="AB1 2CD"),
     {"first_name": "different", "last_name": "phonetic_or_part", "birth_date": "different",
      "email": "missing", "phone": "missing", "address": "postcode",
      "government_id": "different"}),
])
def test_comparison_levels(spark: SparkSession, left: tuple, right: tuple,
                           expected: dict[str, str]) -> None:
    assert levels(spark, left, right) == expected


def test_em_recovers_the_m_probabilities_and_the_match_share_without_labels() -> None:
    # Two binary-ish comparisons with 3 levels each (exact, fuzzy, different); pairs drawn from
    # a known mixture: 30% matches.
    names = ("a", "b", "c")
    true_m = {"a": (0.0, 0.85, 0.10, 0.05), "b": (0.0, 0.7, 0.2, 0.1), "c": (0.0, 0.9, 0.05, 0.05)}
    u = {"a": (0.0, 0.01, 0.04, 0.95), "b": (0.0, 0.02, 0.08, 0.90), "c": (0.0, 0.05, 0.05, 0.9)}
    rng = random.Random(3)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(40_000):
        probs = true_m if rng.random() < 0.3 else u
        pattern = tuple(rng.choices((1, 2, 3), weights=probs[n][1:])[0] for n in names)
        counts[pattern] = counts.get(pattern, 0) + 1
    comps = [Comparison(n, F.lit(True), (("exact", F.lit(True)), ("fuzzy", F.lit(True))))
             for n in names]
    model = estimate_m(sorted(counts.items()), comps, u, iterations=200)
    assert model.lam == pytest.approx(0.3, abs=0.02)
    for n in names:
        for got, want in zip(model.m[n][1:], true_m[n][1:], strict=True):
            assert got == pytest.approx(want, abs=0.03)
    assert model.weights("a")[1] == pytest.approx(math.log2(model.m["a"][1] / 0.01))


DECIDE = ("pair string, match_probability double, deterministic boolean, "
          "identity_conflict boolean, high_risk_conflict boolean")


def test_decisions_at_each_threshold_edge_and_for_conflicts(spark: SparkSession) -> None:
    pairs = rows_frame(spark, [
        ("at_auto", 0.95, False, False, False),
        ("just_below_auto", 0.9499999, False, False, False),
        ("at_review", 0.75, False, False, False),
        ("just_below_review", 0.7499999, False, False, False),
        ("deterministic_low_probability", 0.2, True, False, False),
        ("deterministic_government_id_conflict", 0.2, True, False, True),
        ("high_score_government_id_conflict", 0.999, False, False, True),
        ("low_score_government_id_conflict", 0.3, False, False, True),
        ("high_score_identity_conflict", 0.99, False, True, False),
    ], DECIDE)
    got = pairs.transform(classify(DedupeThresholds())).select("pair", "score", "decision",
                                                               "reason")
    expected = rows_frame(spark, [
        ("at_auto", 0.95, "auto_merge", "probabilistic"),
        ("just_below_auto", 0.9499999, "review", "review_band"),
        ("at_review", 0.75, "review", "review_band"),
        ("just_below_review", 0.7499999, "no_link", "below_review"),
        ("deterministic_low_probability", 1.0, "auto_merge", "deterministic"),
        ("deterministic_government_id_conflict", 1.0, "review", "high_risk_conflict"),
        ("high_score_government_id_conflict", 0.999, "review", "high_risk_conflict"),
        ("low_score_government_id_conflict", 0.3, "no_link", "below_review"),
        ("high_score_identity_conflict", 0.99, "review", "identity_conflict"),
    ], "pair string, score double, decision string, reason string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_shared_contact_is_deterministic_only_without_an_identity_conflict(
    spark: SparkSession
) -> None:
    comps = comparisons()
    rows = [
        person("1", "Ann", "Lee", date(1980, 1, 2), email="home@lee.com", gov="AB111111A"),
        person("2", "Anne", "Lee", None, email="home@lee.com"),        # same person
        person("3", "Tom", "Lee", date(2010, 5, 6), email="home@lee.com"),  # her son
        person("4", "Ann", "Lee", date(1980, 1, 2), email="home@lee.com", gov="ZZ999999Z"),
    ]
    ids = identities(spark, rows)
    pairs = rows_frame(spark, [("crm:1", "crm:2"), ("crm:1", "crm:3"), ("crm:1", "crm:4")],
                                  "left_key string, right_key string")
    got = (pair_records(pairs, ids).transform(with_gammas(comps))
           .transform(with_conflicts(comps, ["government_id"]))
           .select("right_key", "deterministic", "identity_conflict", "high_risk_conflict"))
    expected = rows_frame(spark,
        [("crm:2", True, False, False), ("crm:3", False, True, False),
         ("crm:4", True, False, True)],
        "right_key string, deterministic boolean, identity_conflict boolean, "
        "high_risk_conflict boolean")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
