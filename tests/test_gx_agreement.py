"""The engine and Great Expectations agree: on the same DataFrame and the same suite, the engine's
failing-row count of every rule equals GX's unexpected count (and dataset rules get the same
verdict), for every supported expectation type."""

from __future__ import annotations

import math
from pathlib import Path

from pyspark.sql import SparkSession

from lakejobs.batch.gx_validation import run_gx_suite
from lakejobs.batch.rules import RuleSet
from lakejobs.batch.suites import SUPPORTED_GX_TYPES, rules_from_gx_suite, to_gx_suite
from lakejobs.batch.validate import all_checks, flag_rows, measure
from lakejobs.local_rows import rows_frame

ROWS = [
    # id, region, status, code, amount, qty, email
    (1, "eu", "paid", "AB-1", 5.0, 1, "a@x.io"),
    (2, "eu", "PAID", "AB-22", 0.0, 2, "b@x.io"),
    (3, "us", "lost", "ab-3", -1.0, None, "c@x"),
    (3, "us", None, None, 100.0, 4, None),
    (4, None, "paid", "ABC-4444", None, 5, ""),
    (None, "eu", "shipped", "AB-5", 100.01, 6, "f@x.io"),
    (None, None, "paid", "", 7.5, 7, "g@x.io"),
    (5, "us", "paid", "AB-6", 12.0, 8, "h@x.io"),
    (6, None, "paid", "AB-7", 12.0, 9, "i@x.io"),
    (7, None, "paid", "AB-8", 12.0, 9, "j@x.io"),
]
SCHEMA = "id long, region string, status string, code string, amount double, qty int, email string"

RULES = RuleSet.model_validate({"table": "orders", "rules": [
    {"check": "not_null", "id": "id_present", "column": "id"},
    {"check": "not_null", "id": "email_present", "column": "email", "severity": "warn"},
    {"check": "between", "id": "amount_range", "column": "amount", "min": 0, "max": 100},
    {"check": "between", "id": "amount_strict", "column": "amount", "min": 0, "max": 100,
     "strict_min": True, "strict_max": True},
    {"check": "between", "id": "qty_min_only", "column": "qty", "min": 3},
    {"check": "in_set", "id": "status_known", "column": "status", "values": ["paid", "shipped"]},
    {"check": "regex", "id": "code_format", "column": "code", "pattern": "^[A-Z]{2}-[0-9]+$"},
    {"check": "regex", "id": "email_search", "column": "email", "pattern": "@x\\.io"},
    {"check": "length", "id": "code_length", "column": "code", "min": 1, "max": 5},
    {"check": "unique", "id": "id_unique", "columns": ["id"]},
    {"check": "unique", "id": "region_qty_unique", "columns": ["region", "qty"]},
    {"check": "unique", "id": "region_amount_unique", "columns": ["region", "amount"]},
    {"check": "sql", "id": "paid_has_amount", "expression": "status <> 'paid' OR amount > 6"},
    {"check": "row_count", "id": "rows_ok", "min": 1, "max": 100},
    {"check": "row_count", "id": "rows_too_few", "min": 11, "severity": "warn"},
    {"check": "aggregate", "id": "amount_mean", "column": "amount", "statistic": "mean",
     "min": 0, "max": 30},
    {"check": "aggregate", "id": "amount_max", "column": "amount", "statistic": "max", "max": 100},
    {"check": "aggregate", "id": "qty_min", "column": "qty", "statistic": "min", "min": 1},
    {"check": "aggregate", "id": "qty_sum", "column": "qty", "statistic": "sum", "max": 60},
    {"check": "aggregate", "id": "amount_stdev", "column": "amount", "statistic": "stdev",
     "max": 10},
]})


def test_engine_counts_equal_gx_unexpected_counts_for_every_supported_type(
    spark: SparkSession, tmp_path: Path
) -> None:
    df = rows_frame(spark, ROWS, SCHEMA)
    suite = to_gx_suite(RULES)
    assert {e["type"] for e in suite["expectations"]} == set(SUPPORTED_GX_TYPES)
    assert rules_from_gx_suite(suite, source="suite") == RULES

    ours = measure(df.transform(flag_rows(RULES)), RULES, all_checks(RULES)).by_rule()
    report = run_gx_suite(df, suite, project_dir=tmp_path / "gx", run_name="agreement",
                          build_docs=False)

    compared = {}
    for result in report.results:
        outcome = ours[result.meta["rule_id"]]
        if result.type == "unexpected_rows_expectation":
            gx_count = result.observed_value  # GX reports the rows the query returned here
        else:
            gx_count = result.unexpected_count
        compared[outcome.rule] = (outcome.rows_failed, gx_count,
                                  outcome.outcome == "passed", result.success)
        if outcome.level == "dataset" and outcome.check == "aggregate":
            assert math.isclose(float(outcome.observed), float(result.observed_value),
                                rel_tol=1e-9), outcome.rule
    # (engine failing rows, GX unexpected count, engine passed, GX passed), worked out by hand
    assert compared == {
        "id_present": (2, 2, False, False),
        "email_present": (1, 1, False, False),
        "amount_range": (2, 2, False, False),
        "amount_strict": (4, 4, False, False),
        "qty_min_only": (2, 2, False, False),
        "status_known": (2, 2, False, False),
        "code_format": (3, 3, False, False),
        "email_search": (2, 2, False, False),
        "code_length": (2, 2, False, False),
        "id_unique": (2, 2, False, False),
        "region_qty_unique": (2, 2, False, False),
        "region_amount_unique": (2, 2, False, False),
        "paid_has_amount": (1, 1, False, False),
        "rows_ok": (None, None, True, True),
        "rows_too_few": (None, None, False, False),
        "amount_mean": (None, None, True, True),
        "amount_max": (None, None, False, False),
        "qty_min": (None, None, True, True),
        "qty_sum": (None, None, True, True),
        "amount_stdev": (None, None, False, False),
    }
