"""The validation engine rule by rule: the exact failing rows of every rule type, dataset rules,
failure lists, the good/bad split and rule sets read from YAML and GX suites."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.rules import RuleSet, flag_column
from lakejobs.batch.suites import load_rules, rules_from_gx_suite, rules_from_mapping, to_gx_suite
from lakejobs.batch.validate import (
    all_checks,
    flag_rows,
    good_rows,
    held_duplicated_keys,
    measure,
    measure_and_hold_bad_rows,
)
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame

ORDERS = T.StructType(
    [
        T.StructField("id", T.LongType(), True),
        T.StructField("customer_id", T.LongType(), True),
        T.StructField("region", T.StringType(), True),
        T.StructField("status", T.StringType(), True),
        T.StructField("code", T.StringType(), True),
        T.StructField("amount", T.DoubleType(), True),
        T.StructField("ordered_at", T.TimestampType(), True),
    ]
)
IDS = T.StructType([T.StructField("id", T.LongType(), True)])


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    return rows_frame(spark,
        [
            (1, 10, "eu", "paid", "AB-1", 5.0, datetime(2026, 11, 20, 9)),
            (2, 11, "eu", "PAID", "AB-22", 0.0, datetime(2026, 11, 21, 9)),
            (3, None, "us", "lost", "ab-3", -1.0, datetime(2026, 11, 19, 9)),
            (3, 12, "us", None, None, 100.0, None),
            (4, 99, None, "paid", "ABC-4444", None, datetime(2026, 11, 22, 9)),
            (None, 10, "eu", "shipped", "AB-5", 100.01, datetime(2026, 11, 22, 10)),
        ],
        ORDERS,
    )


def failing(df: DataFrame, rule: dict, references: dict | None = None) -> DataFrame:
    """Ids of the rows that fail ``rule``, the way the engine flags them."""
    rule_set = rules_from_mapping({"table": "orders", "rules": [rule]}, source="test")
    flagged = df.transform(flag_rows(rule_set, references, source="test"))
    return flagged.where(F.col(flag_column(rule["id"]))).select("id")


def ids(spark: SparkSession, *values: int | None) -> DataFrame:
    return rows_frame(spark, [(v,) for v in values], IDS)


def test_not_null_fails_rows_without_a_value(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "not_null", "column": "customer_id"})
    assert_df_equality(actual, ids(spark, 3), ignore_row_order=True)


def test_between_is_inclusive_and_ignores_nulls(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "between", "column": "amount", "min": 0,
                              "max": 100})
    assert_df_equality(actual, ids(spark, 3, None), ignore_row_order=True)


def test_between_strict_bounds_exclude_the_bounds(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "between", "column": "amount", "min": 0,
                              "max": 100, "strict_min": True, "strict_max": True})
    assert_df_equality(actual, ids(spark, 2, 3, 3, None), ignore_row_order=True)


def test_in_set_is_case_sensitive_and_ignores_nulls(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "in_set", "column": "status",
                              "values": ["paid", "shipped"]})
    assert_df_equality(actual, ids(spark, 2, 3), ignore_row_order=True)


def test_regex_fails_values_that_do_not_match(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "regex", "column": "code",
                              "pattern": "^[A-Z]{2}-[0-9]+$"})
    assert_df_equality(actual, ids(spark, 3, 4), ignore_row_order=True)


def test_length_counts_characters(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "length", "column": "code", "min": 4, "max": 5})
    assert_df_equality(actual, ids(spark, 4), ignore_row_order=True)


def test_unique_fails_every_row_of_a_duplicated_key(spark: SparkSession, orders: DataFrame) -> None:
    actual = failing(orders, {"id": "r", "check": "unique", "columns": ["id"]})
    assert_df_equality(actual, ids(spark, 3, 3), ignore_row_order=True)


def test_composite_unique_compares_all_key_columns(spark: SparkSession, orders: DataFrame) -> None:
    # (eu, 10) twice: ids 1 and None; (us, 3) differs by customer; nulls group with nulls
    actual = failing(orders, {"id": "r", "check": "unique", "columns": ["region", "customer_id"]})
    assert_df_equality(actual, ids(spark, 1, None), ignore_row_order=True)


def test_held_duplicated_keys_are_the_keys_flag_rows_uses(
    spark: SparkSession, orders: DataFrame
) -> None:
    rule_set = rules_from_mapping({"table": "orders", "rules": [
        {"id": "pair", "check": "unique", "columns": ["region", "customer_id"]}]}, source="test")
    with held_duplicated_keys(orders, rule_set) as held:
        assert_df_equality(held["pair"], rows_frame(spark,
            [("eu", 10)], "_dq_k0 string, _dq_k1 long"), ignore_nullable=True)
        # the held frame is what flags the rows, not a second aggregation of the input
        given = {"pair": rows_frame(spark, [("us", 12)], "_dq_k0 string, _dq_k1 long")}
        flagged = orders.transform(flag_rows(rule_set, duplicated=given))
        assert_df_equality(flagged.where(F.col(flag_column("pair"))).select("id"),
                           ids(spark, 3), ignore_row_order=True)
        assert held["pair"].is_cached
    assert not held["pair"].is_cached


def test_references_fail_keys_missing_from_the_reference_table(
    spark: SparkSession, orders: DataFrame
) -> None:
    customers = rows_frame(spark, [(10,), (11,), (12,), (12,)], "customer_key long")
    rule = {"id": "r", "check": "references", "columns": ["customer_id"], "table": "customers",
            "ref_columns": ["customer_key"]}
    actual = failing(orders, rule, {"customers": customers})
    assert_df_equality(actual, ids(spark, 4), ignore_row_order=True)


def test_references_to_an_unknown_table_is_a_config_error(orders: DataFrame) -> None:
    rule = {"id": "r", "check": "references", "columns": ["customer_id"], "table": "customers"}
    with pytest.raises(ConfigError, match="references table 'customers'"):
        failing(orders, rule, {})


def test_sql_expression_fails_rows_where_it_is_false(spark: SparkSession, orders: DataFrame) -> None:
    rule = {"id": "r", "check": "sql", "expression": "amount >= 0 OR status = 'lost'"}
    # id 3 (lost, -1.0) passes by the second clause; a null result passes, as in a CHECK
    actual = failing(orders, rule)
    assert_df_equality(actual, ids(spark), ignore_row_order=True)
    rule = {"id": "r", "check": "sql", "expression": "amount < 100"}
    assert_df_equality(failing(orders, rule), ids(spark, 3, None), ignore_row_order=True)


@pytest.mark.parametrize(("expression", "message"), [
    ("amount >= (", r"expected a Spark SQL condition on the table's columns \(.+\)$"),
    ("amont > 0", r"expected a Spark SQL condition on the table's columns \(.*amont.*\)$"),
    ("amount + 1", r"expected a boolean condition, got double$"),
], ids=["syntax", "unknown_column", "not_boolean"])
def test_a_sql_rule_that_is_no_condition_on_the_columns_is_a_config_error(
        orders: DataFrame, expression: str, message: str) -> None:
    rule = {"id": "r", "check": "sql", "expression": expression}
    prefix = re.escape(f"test: rule 'r': expression {expression!r}: ")
    with pytest.raises(ConfigError, match=f"^{prefix}{message}"):
        failing(orders, rule)


def test_measure_counts_every_rule_and_judges_dataset_rules(orders: DataFrame) -> None:
    rule_set = rules_from_mapping(
        {"table": "orders", "rules": [
            {"id": "amount_range", "check": "between", "column": "amount", "min": 0, "max": 100,
             "severity": "warn"},
            {"id": "id_unique", "check": "unique", "columns": ["id"]},
            {"id": "big_batch", "check": "row_count", "min": 10, "severity": "fail"},
            {"id": "fresh", "check": "freshness", "column": "ordered_at", "max_age": "1d"},
            {"id": "stale", "check": "freshness", "column": "ordered_at", "max_age": "1h"},
            {"id": "mean_amount", "check": "aggregate", "column": "amount", "statistic": "mean",
             "min": 0, "max": 50},
            {"id": "max_amount", "check": "aggregate", "column": "amount", "statistic": "max",
             "max": 100},
        ]},
        source="test",
    )
    flagged = orders.transform(flag_rows(rule_set))
    result = measure(flagged, rule_set, all_checks(rule_set),
                     as_of=datetime(2026, 11, 22, 12, tzinfo=UTC))
    summary = {o.rule: (o.rows_failed, o.observed, o.outcome) for o in result.outcomes}
    assert summary == {
        "amount_range": (2, None, "warned"),
        "id_unique": (2, None, "quarantined"),
        "big_batch": (None, "6", "failed"),
        "fresh": (None, "2026-11-22 10:00:00", "passed"),
        "stale": (None, "2026-11-22 10:00:00", "warned"),
        "mean_amount": (None, "40.802", "passed"),  # nulls left out: 204.01 / 5
        "max_amount": (None, "100.01", "warned"),
    }
    assert (result.rows, result.rows_bad) == (6, 2)
    assert [o.rule for o in result.failed] == ["big_batch"]


def test_split_keeps_warned_rows_and_quarantines_dropped_ones_with_every_reason(
    spark: SparkSession, orders: DataFrame
) -> None:
    rule_set = rules_from_mapping(
        {"table": "orders", "rules": [
            {"id": "amount_range", "check": "between", "column": "amount", "min": 0, "max": 100,
             "severity": "warn"},
            {"id": "id_unique", "check": "unique", "columns": ["id"]},
            {"id": "id_present", "check": "not_null", "column": "id"},
        ]},
        source="test",
    )
    checks = all_checks(rule_set)
    flagged = (
        orders.withColumns({"_source_file": F.lit("f1"), "_extra_columns": F.create_map(),
                            "_raw_record": F.to_json(F.struct("id", "amount"))})
        .transform(flag_rows(rule_set))
    )
    good = flagged.transform(good_rows(["id", "amount"], checks)).select("id", "_dq_warnings")
    expected_good = rows_frame(spark,
        [(1, []), (2, []), (4, [])],
        T.StructType([IDS.fields[0], T.StructField("_dq_warnings", T.ArrayType(T.StringType()))]),
    )
    assert_df_equality(good, expected_good, ignore_row_order=True, ignore_nullable=True)
    measurement, held = measure_and_hold_bad_rows(flagged, rule_set, checks, table="orders",
                                                  run_id="run1")
    bad = held.select("raw_record", "failures")
    failure = T.StructType([T.StructField(n, T.StringType()) for n in ("rule", "severity", "reason")])
    expected_bad = rows_frame(spark,
        [
            ('{"id":3,"amount":-1.0}', [("amount_range", "warn", "out_of_range"),
                                         ("id_unique", "drop", "duplicate_key")]),
            ('{"id":3,"amount":100.0}', [("id_unique", "drop", "duplicate_key")]),
            ('{"amount":100.01}', [("amount_range", "warn", "out_of_range"),
                                   ("id_present", "drop", "null")]),
        ],
        T.StructType([T.StructField("raw_record", T.StringType()),
                      T.StructField("failures", T.ArrayType(failure))]),
    )
    assert_df_equality(bad, expected_bad, ignore_row_order=True, ignore_nullable=True)
    assert good.count() + bad.count() == orders.count()
    # the observed counts of the one-pass variant equal those of a separate aggregation
    assert measurement == measure(flagged, rule_set, checks)
    assert (measurement.rows, measurement.rows_bad) == (6, 3)
    held.unpersist()


def test_gx_suite_and_yaml_rules_read_into_the_same_rule_set() -> None:
    yaml_rules = rules_from_mapping(
        {"table": "orders", "rules": [
            {"id": "id_present", "check": "not_null", "column": "id"},
            {"id": "amount_range", "check": "between", "column": "amount", "min": 0, "max": 9,
             "strict_max": True, "severity": "warn"},
            {"id": "status_known", "check": "in_set", "column": "status", "values": ["a", "b"]},
            {"id": "code_format", "check": "regex", "column": "code", "pattern": "^A"},
            {"id": "code_length", "check": "length", "column": "code", "min": 1, "max": 3},
            {"id": "id_unique", "check": "unique", "columns": ["id"]},
            {"id": "pair_unique", "check": "unique", "columns": ["region", "code"]},
            {"id": "rows", "check": "row_count", "min": 1, "max": 10},
            {"id": "amount_stdev", "check": "aggregate", "column": "amount",
             "statistic": "stdev", "max": 3.5},
            {"id": "positive", "check": "sql", "expression": "amount > 0"},
        ]},
        source="test",
    )
    suite = to_gx_suite(yaml_rules)
    assert suite["expectations"][1] == {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 9, "strict_min": False,
                   "strict_max": True},
        "meta": {"rule_id": "amount_range", "severity": "warn"},
    }
    assert suite["expectations"][-1]["kwargs"] == {
        "unexpected_rows_query": "SELECT * FROM {batch} WHERE NOT (amount > 0)"
    }
    assert suite["expectations"][-2] == {
        "type": "expect_column_stdev_to_be_between", "kwargs": {"column": "amount",
                                                                "max_value": 3.5},
        "meta": {"rule_id": "amount_stdev", "severity": "warn"},
    }
    assert rules_from_gx_suite(json.loads(json.dumps(suite)), source="suite") == yaml_rules


def test_bundled_suite_and_rules_load(tmp_path: Path) -> None:
    customers = load_rules("expectations/customers.json")
    assert customers.table == "customers"
    assert [r.check for r in customers.rules] == [
        "not_null", "regex", "unique", "in_set", "length", "between", "row_count"
    ]
    orders = load_rules("conf/rules/orders.yaml")
    assert {r.id: r.severity for r in orders.rules}["customer_exists"] == "warn"
    assert to_gx_suite(orders)["meta"]["lakejobs_only_rules"] == ["customer_exists", "orders_fresh"]


def test_unsupported_expectation_type_is_named(tmp_path: Path) -> None:
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({"name": "s", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        {"type": "expect_column_kl_divergence_to_be_less_than", "kwargs": {"column": "a"}},
    ]}))
    with pytest.raises(ConfigError) as error:
        load_rules(str(suite))
    message = str(error.value)
    assert message.startswith(f"{suite}: expectations[1].type: unsupported expectation type "
                              "'expect_column_kl_divergence_to_be_less_than': expected one of")


def test_bad_rule_names_file_rule_and_key(tmp_path: Path) -> None:
    rules = tmp_path / "orders.yaml"
    rules.write_text("table: orders\nrules:\n  - {id: amount_range, check: between, column: a}\n"
                     "  - {id: sev, check: not_null, column: a, severity: loud}\n")
    with pytest.raises(ConfigError, match=r"orders.yaml: rules\[0\] \(rule 'amount_range'\)"
                                          r".*at least one of 'min' and 'max'"):
        load_rules(str(rules))
    rules.write_text("table: orders\nrules:\n  - {id: sev, check: not_null, column: a, "
                     "severity: loud}\n")
    with pytest.raises(ConfigError, match=r"rules\[0\] \(rule 'sev'\)\.severity: .*'warn', "
                                          r"'drop' or 'fail'"):
        load_rules(str(rules))


def test_dataset_rule_cannot_drop_rows() -> None:
    with pytest.raises(ConfigError, match="'rows' .*expected severity 'warn' or 'fail'"):
        rules_from_mapping({"table": "t", "rules": [
            {"id": "rows", "check": "row_count", "min": 1, "severity": "drop"}]}, source="t.yaml")


def test_between_on_dates_compares_as_dates(spark: SparkSession) -> None:
    df = rows_frame(spark, [(1, date(1899, 12, 31)), (2, date(1990, 1, 1)), (3, None)],
                               "id long, born date")
    actual = failing(df, {"id": "r", "check": "between", "column": "born", "min": "1900-01-01"})
    assert_df_equality(actual, ids(spark, 1), ignore_row_order=True)


def test_empty_rule_set_measures_only_rows(orders: DataFrame) -> None:
    rule_set = RuleSet(table="orders")
    result = measure(orders.transform(flag_rows(rule_set)), rule_set, all_checks(rule_set))
    assert (result.rows, result.rows_bad, result.outcomes) == (6, 0, ())


def test_typed_landing_keeps_unknown_columns_and_quarantines_the_original_record(
    spark: SparkSession,
) -> None:
    from lakejobs.batch.conform import conform, contract_checks
    from lakejobs.batch.contracts import Contract
    from lakejobs.batch.landing import landed_columns

    contract = Contract.model_validate({"table": "t", "format": "parquet", "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "qty", "type": "int"},
    ]})
    landed = rows_frame(spark,
        [(1, "5", "x"), (None, "7", None), (3, "lots", "y")],
        "id long, qty string, note string",
    ).withColumn("_source_file", F.lit("f.parquet"))
    rule_set = RuleSet(table="t")
    checks = all_checks(rule_set, contract_checks(contract))
    flagged = (landed_columns(landed, contract).transform(conform(contract))
               .transform(flag_rows(rule_set)))
    good = flagged.transform(good_rows(contract.names, checks)).select(
        "id", "qty", F.to_json("_extra_columns").alias("extra"), "_dq_warnings")
    expected_good = rows_frame(spark,
        [(1, 5, '{"note":"x"}', ["contract_schema_drift"])],
        "id long, qty int, extra string, _dq_warnings array<string>",
    )
    assert_df_equality(good, expected_good, ignore_nullable=True)
    measurement, held = measure_and_hold_bad_rows(flagged, rule_set, checks, table="t",
                                                  run_id="r")
    bad = held.select("raw_record", F.transform("failures", lambda f: f["reason"]).alias("why"))
    expected_bad = rows_frame(spark,
        [('{"qty":"7"}', ["null"]),
         ('{"id":3,"qty":"lots","note":"y"}', ["unknown_columns", "not_int"])],
        "raw_record string, why array<string>",
    )
    assert_df_equality(bad, expected_bad, ignore_row_order=True, ignore_nullable=True)
    assert (measurement.rows, measurement.rows_bad) == (3, 2)
    held.unpersist()


def test_a_landed_timestamp_text_without_a_date_does_not_conform_to_today(
    spark: SparkSession,
) -> None:
    from lakejobs.batch.conform import conform
    from lakejobs.batch.contracts import Contract
    from lakejobs.batch.landing import landed_columns

    contract = Contract.model_validate({"table": "t", "format": "csv", "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "at", "type": "timestamp"}]})
    landed = rows_frame(spark,
        [("1", "2024-01-15 10:00:00"), ("2", "08:00"), ("3", "T08:00:00Z")],
        "id string, at string").withColumn("_source_file", F.lit("f.csv"))

    conformed = landed_columns(landed, contract).transform(conform(contract)).select("id", "at")

    expected = rows_frame(spark,
        [(1, datetime(2024, 1, 15, 10)), (2, None), (3, None)], "id long, at timestamp")
    assert_df_equality(conformed, expected, ignore_row_order=True, ignore_nullable=True)
