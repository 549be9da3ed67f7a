"""Landing → staging validation edge cases: null sets and flags, Parquet schemas and fractions,
quarantine on retry, GX suite conditions, Java regexes, reference columns."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.conform import conform
from lakejobs.batch.contracts import Contract
from lakejobs.batch.landing import read_landed
from lakejobs.batch.rules import flag_column
from lakejobs.batch.suites import rules_from_gx_suite, rules_from_mapping
from lakejobs.batch.validate import all_checks, flag_rows, good_rows, measure_and_hold_bad_rows
from lakejobs.errors import ConfigError
from lakejobs.local_rows import rows_frame

IDS = T.StructType([T.StructField("id", T.LongType(), True)])


def ids(spark: SparkSession, *values: int | None) -> DataFrame:
    return rows_frame(spark, [(v,) for v in values], IDS)


def failing(df: DataFrame, rule: dict) -> DataFrame:
    rule_set = rules_from_mapping({"table": "t", "rules": [rule]}, source="test")
    flagged = df.transform(flag_rows(rule_set, source="test"))
    return flagged.where(F.col(flag_column(rule["id"]))).select("id")


def test_in_set_with_a_null_among_its_values_still_fails_values_outside_it(
    spark: SparkSession,
) -> None:
    df = rows_frame(spark, [(1, "a"), (2, "b"), (3, None)], "id long, status string")
    rule = {"id": "r", "check": "in_set", "column": "status", "values": ["a", None]}
    assert_df_equality(failing(df, rule), ids(spark, 2), ignore_row_order=True)


@pytest.mark.parametrize(("rule", "message"), [
    ({"check": "in_set", "values": [1, 2, "unknown"]}, r"value 'unknown' is not a int"),
    ({"check": "between", "min": 0, "max": "lots"}, r"value 'lots' is not a int"),
])
def test_a_set_value_or_bound_that_is_no_value_of_the_column_type_is_a_config_error(
    spark: SparkSession, rule: dict, message: str
) -> None:
    # Spark casts it to the column's type to compare: under ANSI mode (Glue 6.0) the run failed
    # at its first row with CAST_INVALID_INPUT, without ANSI the rule compared null
    df = rows_frame(spark, [(1, 1), (2, 3)], "id long, quantity int")
    with pytest.raises(ConfigError, match=r"test: rule 'r': " + message
                       + r": expected values of column 'quantity' \(int\)"):
        failing(df, {"id": "r", "column": "quantity", **rule})


def test_in_set_with_a_null_among_its_values_loses_no_row_in_the_split(
    spark: SparkSession,
) -> None:
    df = rows_frame(spark, [(1, "a"), (2, "b"), (3, None)], "id long, status string")
    rule_set = rules_from_mapping({"table": "t", "rules": [
        {"id": "r", "check": "in_set", "column": "status", "values": ["a", None]}]},
        source="test")
    checks = all_checks(rule_set)
    flagged = (df.withColumns({"_source_file": F.lit("f"), "_extra_columns": F.create_map(),
                               "_raw_record": F.to_json(F.struct("id", "status"))})
               .transform(flag_rows(rule_set)))
    good = flagged.transform(good_rows(["id"], checks)).select("id")
    measurement, bad = measure_and_hold_bad_rows(flagged, rule_set, checks, table="t",
                                                 run_id="r")
    try:
        assert_df_equality(good, ids(spark, 1, 3), ignore_row_order=True)
        assert (measurement.rows, measurement.rows_bad, bad.count()) == (3, 1, 1)
    finally:
        bad.unpersist()


def test_csv_files_are_read_by_their_own_header_and_lines_off_it_are_malformed(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Spark read every CSV file of a run with one file's header and matched the others' fields
    by position: a file listing the columns in another order landed each value under another
    column, and a line with an unquoted comma lost its last field unflagged. A CSV column named
    like the landing job's metadata ("_note") was dropped, not drift."""
    contract = Contract.model_validate({"table": "people", "format": "csv", "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "full_name", "type": "string"}, {"name": "email", "type": "string"}]})
    (tmp_path / "a-crm.csv").write_text(
        "id,full_name,email,_note\n1,Ada Lovelace,ada@example.org,vip\n")
    (tmp_path / "b-shop.csv").write_text("id,email,full_name\n2,bob@example.org,Bob Smith\n")
    (tmp_path / "c-support.csv").write_text(
        "id,full_name,email\n3,Lovelace, Ada,ada2@example.org\n4,Short\n")
    (tmp_path / "d-zipped.csv.gz").write_bytes(
        gzip.compress("\ufeffemail,id,full_name\nzed@example.org,5,Zed\n".encode()))
    (tmp_path / "e-empty.csv").write_text("")
    files = sorted(str(p) for p in tmp_path.iterdir())

    landed = read_landed(spark, files, contract).select(
        "id", "full_name", "email", F.to_json("_extra_columns").alias("extra"), "_malformed",
        F.regexp_extract("_source_file", r"[^/]*$", 0).alias("file"))

    # a CSV column named "_note" is the source's, not the landing job's metadata: drift
    assert_df_equality(landed, rows_frame(spark, [
        ("1", "Ada Lovelace", "ada@example.org", '{"_note":"vip"}', False, "a-crm.csv"),
        ("2", "Bob Smith", "bob@example.org", "{}", False, "b-shop.csv"),
        ("3", "Lovelace", " Ada", "{}", True, "c-support.csv"),
        ("4", "Short", None, "{}", True, "c-support.csv"),
        ("5", "Zed", "zed@example.org", "{}", False, "d-zipped.csv.gz"),
    ], "id string, full_name string, email string, extra string, _malformed boolean, "
       "file string"), ignore_row_order=True, ignore_nullable=True)


def test_json_numbers_for_decimal_columns_keep_every_digit(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Fields were read as text, Spark's rewrite of a JSON number through a double: an amount
    staged with its 17th and later digits changed, no failure recorded."""
    contract = Contract.model_validate({"table": "payments", "format": "json", "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "amount", "type": "decimal(38,18)"}, {"name": "total", "type": "decimal(20,2)"}]})
    (tmp_path / "a.jsonl").write_text(
        '{"id": 1, "amount": 1.000000000000000001, "total": 123456789012345678.91}\n'
        '{"id": 2, "amount": "1.000000000000000002", "total": "1,5"}\n'
        '{"id": 3, "amount": 12, "total": 1E2}\n')

    conformed = read_landed(spark, [str(tmp_path / "a.jsonl")], contract).transform(
        conform(contract)).select("id", "amount", "total",
                                  F.col(flag_column("contract_total_type")).alias("total_bad"))

    expected = rows_frame(spark, [
        (1, Decimal("1.000000000000000001"), Decimal("123456789012345678.91"), False),
        (2, Decimal("1.000000000000000002"), None, True),  # a JSON string "1,5": no number
        (3, Decimal("12"), Decimal("100"), False),
    ], "id bigint, amount decimal(38,18), total decimal(20,2), total_bad boolean")
    assert_df_equality(conformed, expected, ignore_row_order=True, ignore_nullable=True)


def test_parquet_landing_files_with_different_columns_keep_every_column(
    spark: SparkSession, tmp_path: Path
) -> None:
    contract = Contract.model_validate({"table": "t", "format": "parquet", "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "email", "type": "string"}]})
    old, new = tmp_path / "a-old", tmp_path / "b-new"
    rows_frame(spark, [(1,)], "id long").coalesce(1).write.parquet(str(old))
    rows_frame(spark, [(2, "x@example.org")], "id long, email string").coalesce(1) \
        .write.parquet(str(new))
    files = sorted(str(p) for p in [*old.glob("*.parquet"), *new.glob("*.parquet")])

    conformed = read_landed(spark, files, contract).transform(conform(contract))

    expected = rows_frame(spark, [(1, None), (2, "x@example.org")], "id long, email string")
    assert_df_equality(conformed.select("id", "email"), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_gx_unexpected_rows_query_of_two_negations_reads_as_one_condition() -> None:
    suite = {"name": "staging.t", "expectations": [{
        "type": "unexpected_rows_expectation",
        "kwargs": {"unexpected_rows_query":
                   "SELECT * FROM {batch} WHERE NOT (amount > 0) OR NOT (qty > 0)"},
        "meta": {"rule_id": "positive"}}]}
    [rule] = rules_from_gx_suite(suite, source="suite").rules
    assert rule.expression == "NOT (NOT (amount > 0) OR NOT (qty > 0))"


def test_a_regex_java_cannot_compile_is_a_config_error(spark: SparkSession) -> None:
    df = rows_frame(spark, [(1, "a")], "id long, code string")
    rule = {"id": "r", "check": "regex", "column": "code", "pattern": "^(?P<x>a)$"}
    with pytest.raises(ConfigError, match=r"^test: rule 'r': pattern '\^\(\?P<x>a\)\$': expected "
                                          r"a Java regular expression \(Unknown inline modifier"):
        failing(df, rule)


def test_a_java_regex_with_unicode_classes_is_accepted(spark: SparkSession) -> None:
    df = rows_frame(spark, [(1, "Ada"), (2, "ada")], "id long, name string")
    rule = {"id": "r", "check": "regex", "column": "name", "pattern": r"^\p{Lu}"}
    assert_df_equality(failing(df, rule), ids(spark, 2), ignore_row_order=True)


def test_a_parquet_fraction_does_not_conform_to_an_int(spark: SparkSession, tmp_path: Path) -> None:
    contract = Contract.model_validate({"table": "t", "format": "parquet", "columns": [
        {"name": "id", "type": "bigint", "nullable": False},
        {"name": "qty", "type": "int"}]})
    folder = tmp_path / "p"
    rows_frame(spark, [(1, 5.7), (2, 5.0)], "id long, qty double").coalesce(1) \
        .write.parquet(str(folder))
    files = [str(p) for p in folder.glob("*.parquet")]
    conformed = read_landed(spark, files, contract).transform(conform(contract))
    actual = conformed.select("id", "qty", flag_column("contract_qty_type"))
    expected = rows_frame(spark, [(1, None, True), (2, 5, False)],
                                     "id long, qty int, flag boolean").toDF(*actual.columns)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_references_rule_naming_a_column_the_reference_lacks_is_a_config_error(
    spark: SparkSession,
) -> None:
    orders = rows_frame(spark, [(1, 10)], "id long, customer_id long")
    customers = rows_frame(spark, [(10,)], "customer_id long")
    rule_set = rules_from_mapping({"table": "orders", "rules": [
        {"id": "r", "check": "references", "columns": ["customer_id"], "table": "customers",
         "ref_columns": ["customer_key"]}]}, source="orders.yaml")
    with pytest.raises(ConfigError, match=r"^orders.yaml: rule 'r': .*'customer_key'"):
        orders.transform(flag_rows(rule_set, {"customers": customers}, source="orders.yaml"))


def land(lake: Path, table: str, folder: str, records: list) -> None:
    target = lake / "landing" / table / folder
    target.mkdir(parents=True, exist_ok=True)
    (target / "part-0000.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (target / "_SUCCESS").write_text("")


def test_a_rerun_whose_batch_has_no_bad_rows_clears_the_quarantine_of_its_files(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    from lakejobs.errors import DataQualityError
    from lakejobs.registry import get_job
    from lakejobs.runtime import run_job

    def rules(email_severity: str, max_orders: int) -> None:
        (tmp_path / "customers.yaml").write_text(json.dumps({"table": "customers", "rules": [
            {"id": "email_format", "check": "regex", "column": "email", "pattern": "@",
             "severity": email_severity}]}))
        (tmp_path / "orders.yaml").write_text(json.dumps({"table": "orders", "rules": [
            {"id": "few", "check": "row_count", "max": max_orders, "severity": "fail"}]}))

    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)}, "validation": {
        "tables": [
            {"name": "customers", "contract": "conf/contracts/customers.yaml",
             "rules": str(tmp_path / "customers.yaml")},
            {"name": "orders", "contract": "conf/contracts/orders.yaml",
             "rules": str(tmp_path / "orders.yaml")}]}}))
    land(lake_root, "customers", "dt=2026-11-22", [
        {"customer_id": 1, "email": "ada@example.org", "full_name": "Ada",
         "updated_at": "2026-11-22T10:00:00Z"},
        {"customer_id": 2, "email": "bob", "full_name": "Bob",
         "updated_at": "2026-11-22T10:00:00Z"}])
    land(lake_root, "orders", "dt=2026-11-22", [
        {"order_id": 1, "customer_id": 1, "ordered_at": "2026-11-22T10:00:00Z"}])

    def run(run_id: str):
        argv = ["job.py", "--JOB_NAME", "landing_to_staging", "--env", "dev", "--config",
                str(config), "--JOB_RUN_ID", run_id]
        return run_job(get_job("landing_to_staging"), argv, spark=spark).result

    rules("drop", 0)
    with pytest.raises(DataQualityError):
        run("r1")  # customers written, orders stopped: no file is marked processed
    rules("warn", 10)  # the fix: a bad email is kept and recorded
    result = run("r2")

    assert result.summary["customers"]["staged"] == 2
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "customers"))
    quarantined = spark.read.format("delta").load(str(lake_root / "quarantine" / "customers"))
    assert (staged.count(), quarantined.count()) == (2, 0)


def test_an_exported_gx_suite_leaves_a_null_out_of_the_value_set() -> None:
    from lakejobs.batch.suites import to_gx_suite

    rule_set = rules_from_mapping({"table": "t", "rules": [
        {"id": "r", "check": "in_set", "column": "status", "values": ["a", None]}]},
        source="test")
    assert to_gx_suite(rule_set)["expectations"][0]["kwargs"]["value_set"] == ["a"]


def test_an_in_set_rule_of_null_alone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\] \(rule 'r'\)\.values: .*not null"):
        rules_from_mapping({"table": "t", "rules": [
            {"id": "r", "check": "in_set", "column": "status", "values": [None]}]},
            source="test")


NUMBERS = Contract.model_validate({"table": "t", "format": "json", "columns": [
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "qty", "type": "bigint"}, {"name": "amount", "type": "decimal(10,2)"}]})
NUMBERS_SCHEMA = "id bigint, qty bigint, amount decimal(10,2), qty_bad boolean, amount_bad boolean"


def conformed_numbers(spark: SparkSession, files: list[str]) -> DataFrame:
    return read_landed(spark, files, NUMBERS).transform(conform(NUMBERS)).select(
        "id", "qty", "amount", F.col(flag_column("contract_qty_type")).alias("qty_bad"),
        F.col(flag_column("contract_amount_type")).alias("amount_bad"))


def test_numbers_conform_by_their_value_typed_or_as_text(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A Parquet double 3.0 conformed to a bigint but its JSON text "3.0" did not (a replay of a
    quarantined Parquet row, or a batch of Parquet and JSON files), and a number with more
    fraction digits than a decimal's scale was rounded half up without a word (19.995 staged as
    20.00). Now a whole number converts to an integral type typed or as text, and a decimal
    takes a number only if its value has no more fraction digits than the scale."""
    folder = tmp_path / "parquet"
    rows_frame(spark, [(1, 3.0, 19.99), (2, 1.0e7, 19.995), (3, 5.7, 0.1 + 0.2)],
               "id bigint, qty double, amount double").coalesce(1).write.parquet(str(folder))
    parquet = [str(p) for p in folder.glob("*.parquet")]
    (tmp_path / "b.jsonl").write_text(
        '{"id": 4, "qty": 3.0, "amount": 19.990}\n'
        '{"id": 5, "qty": 1.0E7, "amount": 19.995}\n'
        '{"id": 6, "qty": "5.7", "amount": "19.995"}\n'
        '{"id": 7, "qty": 12, "amount": "3.10 "}\n'
        '{"id": 8, "qty": "1e3", "amount": 1.995E1}\n')

    typed = [(1, 3, Decimal("19.99"), False, False), (2, 10_000_000, None, False, True),
             (3, None, None, True, True)]  # 0.30000000000000004 is no decimal(10,2)
    assert_df_equality(conformed_numbers(spark, parquet), rows_frame(spark, typed, NUMBERS_SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)
    as_text = [(4, 3, Decimal("19.99"), False, False), (5, 10_000_000, None, False, True),
               (6, None, None, True, True), (7, 12, Decimal("3.10"), False, False),
               (8, 1000, Decimal("19.95"), False, False)]
    assert_df_equality(conformed_numbers(spark, [*parquet, str(tmp_path / "b.jsonl")]),
                       rows_frame(spark, typed + as_text, NUMBERS_SCHEMA),
                       ignore_row_order=True, ignore_nullable=True)


def test_parquet_files_whose_column_types_spark_cannot_merge_are_read_one_schema_at_a_time(
    spark: SparkSession, tmp_path: Path
) -> None:
    """pandas writes an integer column as int64, or as float64 once a batch holds a null: Spark
    refused to merge the files' schemas and every run of the table failed with its stack
    trace (CANNOT_MERGE_SCHEMAS), nothing staged or quarantined."""
    contract = Contract.model_validate({"table": "t", "format": "parquet", "columns": [
        {"name": "id", "type": "bigint", "nullable": False}, {"name": "qty", "type": "bigint"}]})
    rows_frame(spark, [(1, 2)], "id long, qty long").coalesce(1).write.parquet(
        str(tmp_path / "a"))
    rows_frame(spark, [(2, 3.0), (3, None), (4, 2.5)], "id long, qty double").coalesce(1) \
        .write.parquet(str(tmp_path / "b"))
    files = sorted(str(p) for p in tmp_path.glob("*/*.parquet"))

    conformed = read_landed(spark, files, contract).transform(conform(contract)).select(
        "id", "qty", F.col(flag_column("contract_qty_type")).alias("qty_bad"))

    expected = rows_frame(spark, [(1, 2, False), (2, 3, False), (3, None, False),
                                  (4, None, True)], "id bigint, qty bigint, qty_bad boolean")
    assert_df_equality(conformed, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_sql_rule_that_cannot_be_computed_for_a_row_passes_it_on_both_stacks(
    spark: SparkSession
) -> None:
    """Under ANSI mode (Glue 6.0's default) a division by zero in one row's rule failed the whole
    table's run, every run; without it (Glue 5.1) the row passed. Now the row passes on both
    (null passes, as in a SQL CHECK constraint), the flags keep the rules' order, and the
    session's ANSI setting is left as it was."""
    ansi = spark.conf.get("spark.sql.ansi.enabled")
    df = rows_frame(spark, [(1, 10, 2), (2, 10, 0), (3, 500, 2), (4, 0, 0)],
                    "id long, total int, qty int")
    rule_set = rules_from_mapping({"table": "t", "rules": [
        {"id": "qty_set", "check": "not_null", "column": "qty"},
        {"id": "unit_price", "check": "sql", "expression": "total / qty <= 100"},
        {"id": "some", "check": "between", "column": "total", "min": 1}]}, source="test")

    flagged = df.transform(flag_rows(rule_set, source="test"))

    assert flagged.columns == ["id", "total", "qty", *[flag_column(r) for r in (
        "qty_set", "unit_price", "some")]]
    expected = rows_frame(spark, [(1, False, False), (2, False, False), (3, True, False),
                                  (4, False, True)], "id long, unit_price boolean, some boolean")
    assert_df_equality(flagged.select("id", flag_column("unit_price"), flag_column("some")),
                       expected.toDF("id", flag_column("unit_price"), flag_column("some")),
                       ignore_row_order=True, ignore_nullable=True)
    assert spark.conf.get("spark.sql.ansi.enabled") == ansi
