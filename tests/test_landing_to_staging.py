"""The landing → staging job end to end on a local lake: complete folders only, conservation,
quarantine with reasons, fail rules that write nothing, dq_results, reruns and contract drift."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.landing_to_staging import table_rules
from lakejobs.config import ValidationTable
from lakejobs.errors import ConfigError, ContractError, DataQualityError
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job

CUSTOMERS = [
    {"customer_id": 1, "email": " Ada@Example.com ", "phone": "07700 900123",
     "full_name": "Ada", "country": "gb", "birth_date": "1990-05-01",
     "updated_at": "2026-11-22T10:00:00+01:00"},
    {"customer_id": "2", "email": "bob@example.org", "phone": "+1 (415) 555-2671",
     "full_name": "Bob", "country": "US", "updated_at": "2026-11-22T10:00:00Z", "loyalty": "gold"},
    {"customer_id": "x3", "email": "cy@example.org", "full_name": "Cy",
     "updated_at": "2026-11-22T10:00:00Z"},
    {"customer_id": 4, "email": "not-an-email", "full_name": "Di", "country": "XX",
     "updated_at": "2026-11-22T10:00:00Z"},
    {"customer_id": 5, "email": "eve@example.org", "full_name": "Eve", "phone": "12",
     "updated_at": "2026-11-22T10:00:00Z"},
]
STAGED = T.StructType(
    [
        T.StructField("customer_id", T.LongType()),
        T.StructField("email", T.StringType()),
        T.StructField("phone", T.StringType()),
        T.StructField("country", T.StringType()),
        T.StructField("birth_date", T.DateType()),
        T.StructField("updated_at", T.TimestampType()),
        T.StructField("_extra_columns", T.StringType()),  # compared as JSON
        T.StructField("_dq_warnings", T.ArrayType(T.StringType())),
    ]
)


def land(lake: Path, table: str, folder: str, records: list, *, complete: bool = True) -> Path:
    target = lake / "landing" / table / folder
    target.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    (target / "part-0000.jsonl").write_text("\n".join(lines) + "\n")
    if complete:
        (target / "_SUCCESS").write_text("")
    return target


@pytest.fixture
def config(tmp_path: Path, lake_root: Path) -> Path:
    return write_config(tmp_path, lake_root, [
        {"name": "customers", "contract": "conf/contracts/customers.yaml",
         "rules": "expectations/customers.json"},
        {"name": "orders", "contract": "conf/contracts/orders.yaml",
         "rules": "conf/rules/orders.yaml", "references": ["customers"]},
    ])


def write_config(tmp_path: Path, lake_root: Path, tables: list[dict]) -> Path:
    path = tmp_path / "dev.yaml"
    path.write_text(json.dumps({"env": "dev", "lake": {"root": str(lake_root)},
                                "validation": {"tables": tables}}))
    return path


def run(spark: SparkSession, config: Path, run_id: str, *extra: str) -> JobResult:
    argv = ["job.py", "--JOB_NAME", "landing_to_staging", "--env", "dev", "--config", str(config),
            "--JOB_RUN_ID", run_id, *extra]
    return run_job(get_job("landing_to_staging"), argv, spark=spark).result


def delta_version(spark: SparkSession, path: Path) -> int:
    return DeltaTable.forPath(spark, str(path)).history(1).first().version


def test_complete_landing_folders_are_split_into_staging_and_quarantine(
    spark: SparkSession, config: Path, lake_root: Path
) -> None:
    # a key named twice: one of its values would be dropped unseen
    twice = ('{"customer_id": 6, "email": "fay@example.org", "full_name": "Fay", '
             '"updated_at": "2026-11-22T10:00:00Z", "customer_id": 7}')
    land(lake_root, "customers", "dt=2026-11-22", [*CUSTOMERS, "{not json", twice])
    land(lake_root, "customers", "dt=2026-11-23", CUSTOMERS[:1], complete=False)

    result = run(spark, config, "r1", "--table", "customers")

    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (7, 2, 5)
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "customers"))
    expected = rows_frame(spark,
        [
            (1, "ada@example.com", "+447700900123", "GB", date(1990, 5, 1),
             datetime(2026, 11, 22, 9), "{}", []),
            (2, "bob@example.org", "+14155552671", "US", None, datetime(2026, 11, 22, 10),
             '{"loyalty":"gold"}', ["contract_schema_drift"]),
        ],
        STAGED,
    )
    actual = staged.withColumn("_extra_columns", F.to_json("_extra_columns"))
    assert_df_equality(actual.select(*STAGED.names), expected, ignore_row_order=True,
                       ignore_nullable=True)
    quarantined = spark.read.format("delta").load(str(lake_root / "quarantine" / "customers"))
    reasons = quarantined.select(
        F.get_json_object("raw_record", "$.full_name").alias("name"),
        F.transform("failures", lambda f: f["reason"]).alias("reasons"),
    )
    expected_reasons = rows_frame(spark,
        [
            ("Cy", ["not_bigint"]),
            ("Di", ["pattern_mismatch", "not_in_set"]),
            ("Eve", ["not_e164_phone"]),
            # the rules still run on a malformed record: its email is missing too
            (None, ["malformed_record", "null"]),
            ("Fay", ["malformed_record"]),
        ],
        "name string, reasons array<string>",
    )
    assert_df_equality(reasons, expected_reasons, ignore_row_order=True, ignore_nullable=True)
    assert quarantined.where(F.col("raw_record") == "{not json").count() == 1


def test_results_are_recorded_per_rule_and_summarised_in_the_run_log(
    spark: SparkSession, config: Path, lake_root: Path
) -> None:
    land(lake_root, "customers", "dt=2026-11-22", CUSTOMERS)
    run(spark, config, "r1", "--table", "customers")

    results = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "dq_results"))
    failing = results.where(F.col("outcome") != "passed").select(
        "rule", "severity", "rows_checked", "rows_failed", "failure_rate", "outcome"
    )
    expected = rows_frame(spark,
        [
            ("contract_schema_drift", "warn", 5, 1, 0.2, "warned"),
            ("contract_customer_id_type", "drop", 5, 1, 0.2, "quarantined"),
            ("contract_phone_e164", "drop", 5, 1, 0.2, "quarantined"),
            ("email_format", "drop", 5, 1, 0.2, "quarantined"),
            ("country_known", "warn", 5, 1, 0.2, "warned"),
        ],
        "rule string, severity string, rows_checked long, rows_failed long, "
        "failure_rate double, outcome string",
    )
    assert_df_equality(failing, expected, ignore_row_order=True, ignore_nullable=True)
    assert results.where(F.col("rule") == "row_count_bounds").select("observed").first()[0] == "5"
    log = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "analytics_job_run"))
    summary = json.loads(log.select("summary").first()[0])
    assert summary["customers"]["rules"]["email_format"] == {
        "outcome": "quarantined", "failed": 1, "observed": None
    }
    assert (summary["customers"]["staged"], summary["customers"]["quarantined"]) == (2, 3)


def test_rerun_validates_nothing_twice_and_later_complete_folders_are_picked_up(
    spark: SparkSession, config: Path, lake_root: Path
) -> None:
    land(lake_root, "customers", "dt=2026-11-22", CUSTOMERS[:2])
    second = land(lake_root, "customers", "dt=2026-11-23", CUSTOMERS[3:4], complete=False)
    assert run(spark, config, "r1", "--table", "customers").rows_read == 2
    staging = lake_root / "staging" / "customers"
    version = delta_version(spark, staging)

    assert run(spark, config, "r2", "--table", "customers").rows_read == 0
    assert delta_version(spark, staging) == version

    (second / "_SUCCESS").write_text("")
    result = run(spark, config, "r3", "--table", "customers")
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (1, 0, 1)
    assert spark.read.format("delta").load(str(staging)).count() == 2


def test_files_named_with_spaces_under_a_lake_in_an_underscore_folder_are_staged_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Three ways a landed record went nowhere or somewhere else: a lake below a folder whose
    name starts with "_" listed no file at all, every run; a file name with a space was named
    percent-encoded in its rows (Spark's file URI), so the second such file failed every run at
    its replaceWhere; a blank line was quarantined as a malformed record."""
    lake = tmp_path / "_shared" / "lake"
    config = write_config(tmp_path, lake, [
        {"name": "customers", "contract": "conf/contracts/customers.yaml"}])
    first = land(lake, "customers", "dt=2026-11-22", [*CUSTOMERS[:2], ""])
    (first / "part-0000.jsonl").rename(first / "export 1.jsonl")
    assert (run(spark, config, "r1").rows_read, run(spark, config, "r2").rows_read) == (2, 0)
    second = land(lake, "customers", "dt=2026-11-23", [
        {"customer_id": 5, "email": "eve@example.org", "full_name": "Eve",
         "updated_at": "2026-11-22T10:00:00Z"}])
    (second / "part-0000.jsonl").rename(second / "export 2.jsonl")

    result = run(spark, config, "r3")

    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (1, 1, 0)
    staged = spark.read.format("delta").load(str(lake / "staging" / "customers")).select(
        "customer_id", F.regexp_extract("_source_file", r"[^/]*$", 0).alias("file"))
    assert_df_equality(staged, rows_frame(spark, [
        (1, "export 1.jsonl"), (2, "export 1.jsonl"), (5, "export 2.jsonl")],
        "customer_id bigint, file string"), ignore_row_order=True, ignore_nullable=True)


def test_a_failed_fail_rule_writes_nothing_and_leaves_files_for_the_next_run(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    rules = tmp_path / "customers.yaml"
    rules.write_text("table: customers\nrules:\n"
                     "  - {id: tiny_batches, check: row_count, max: 2, severity: fail}\n")
    config = write_config(tmp_path, lake_root, [
        {"name": "customers", "contract": "conf/contracts/customers.yaml", "rules": str(rules)}])
    land(lake_root, "customers", "dt=2026-11-22", CUSTOMERS[:2])
    run(spark, config, "r1")
    staging = lake_root / "staging" / "customers"
    version = delta_version(spark, staging)

    land(lake_root, "customers", "dt=2026-11-23", CUSTOMERS[2:])
    with pytest.raises(DataQualityError, match=r"tiny_batches \(row_count: 3\).*nothing was written"):
        run(spark, config, "r2")

    assert delta_version(spark, staging) == version
    assert not (lake_root / "quarantine" / "customers").exists()
    results = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "dq_results"))
    assert [tuple(r) for r in results.where("run_id = 'r2' AND rule = 'tiny_batches'")
            .select("observed", "outcome").collect()] == [("3", "failed")]
    log = spark.read.format("delta").load(str(lake_root / "_lakejobs" / "analytics_job_run"))
    failed = log.where("run_id = 'r2'").first()
    assert failed.status == "FAILED"
    assert json.loads(failed.summary)["customers"]["rules"]["tiny_batches"]["outcome"] == "failed"

    rules.write_text("table: customers\nrules:\n"
                     "  - {id: tiny_batches, check: row_count, max: 3, severity: fail}\n")
    assert run(spark, config, "r3").rows_read == 3  # the failed files were not marked processed


def test_orders_check_references_and_quarantine_unknown_fields(
    spark: SparkSession, config: Path, lake_root: Path
) -> None:
    land(lake_root, "customers", "dt=2026-11-22", CUSTOMERS[:2])
    run(spark, config, "r1", "--table", "customers")
    orders = [
        {"order_id": 1, "customer_id": 1, "order_status": "PAID", "order_total": "10.50",
         "currency": "gbp", "ordered_at": "2026-11-22T10:00:00Z"},
        {"order_id": 2, "customer_id": 7, "order_status": "placed", "order_total": 3,
         "currency": "EUR", "ordered_at": "2026-11-22T11:00:00Z"},
        {"order_id": 3, "customer_id": 2, "order_status": "placed", "order_total": 3,
         "currency": "EUR", "ordered_at": "2026-11-22T11:00:00Z", "coupon": "X"},
        {"order_id": 4, "customer_id": 2, "order_status": "placed", "order_total": 5,
         "ordered_at": "2026-11-22T11:00:00Z"},
    ]
    land(lake_root, "orders", "dt=2026-11-22", orders)

    result = run(spark, config, "r2", "--table", "orders")

    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (4, 2, 2)
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "orders")).select(
        "order_id", "order_status", "order_total", "currency", "_dq_warnings"
    )
    expected = rows_frame(spark,
        [(1, "paid", "10.50", "GBP", []),
         (2, "placed", "3.00", "EUR", ["customer_exists"])],
        "order_id long, order_status string, order_total string, currency string, "
        "_dq_warnings array<string>",
    ).withColumn("order_total", F.col("order_total").cast("decimal(12,2)"))
    assert_df_equality(staged, expected, ignore_row_order=True, ignore_nullable=True)
    quarantined = spark.read.format("delta").load(str(lake_root / "quarantine" / "orders")).select(
        F.get_json_object("raw_record", "$.order_id").cast("long").alias("order_id"),
        F.transform("failures", lambda f: f["rule"]).alias("rules"),
    )
    expected_bad = rows_frame(spark,
        [(3, ["contract_schema_drift"]),
         (4, ["total_needs_currency"])],
        "order_id long, rules array<string>",
    )
    assert_df_equality(quarantined, expected_bad, ignore_row_order=True, ignore_nullable=True)


def test_references_to_a_configured_table_not_written_yet_are_orphans(
    spark: SparkSession, config: Path, lake_root: Path
) -> None:
    land(lake_root, "orders", "dt=2026-11-22", [
        {"order_id": 1, "customer_id": 1, "order_status": "paid", "order_total": "10.50",
         "currency": "GBP", "ordered_at": "2026-11-22T10:00:00Z"}])

    result = run(spark, config, "r1", "--table", "orders")

    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (1, 1, 0)
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "orders"))
    assert [tuple(r) for r in staged.select("order_id", "_dq_warnings").collect()] == [
        (1, ["customer_exists"])]


def test_a_contract_that_changes_a_column_type_is_refused(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    contract = tmp_path / "customers.yaml"
    contract.write_text("table: customers\ncolumns:\n  - {name: customer_id, type: bigint}\n"
                        "  - {name: updated_at, type: timestamp}\n")
    config = write_config(tmp_path, lake_root, [{"name": "customers", "contract": str(contract)}])
    land(lake_root, "customers", "dt=2026-11-22", CUSTOMERS[:1])
    run(spark, config, "r1")

    contract.write_text("table: customers\ncolumns:\n  - {name: customer_id, type: string}\n"
                        "  - {name: updated_at, type: timestamp}\n  - {name: tier, type: int}\n")
    land(lake_root, "customers", "dt=2026-11-23", CUSTOMERS[1:2])
    with pytest.raises(ContractError, match="'customer_id' is bigint in staging but string"):
        run(spark, config, "r2")

    contract.write_text("table: customers\ncolumns:\n  - {name: customer_id, type: bigint}\n"
                        "  - {name: updated_at, type: timestamp}\n  - {name: tier, type: int}\n")
    assert run(spark, config, "r3").rows_written == 1  # a new nullable column is allowed
    staged = spark.read.format("delta").load(str(lake_root / "staging" / "customers"))
    assert staged.where("tier IS NULL").count() == 2


def test_data_docs_are_built_for_the_run_when_configured(
    spark: SparkSession, tmp_path: Path, lake_root: Path
) -> None:
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({
        "env": "dev", "lake": {"root": str(lake_root)},
        "validation": {"data_docs": str(tmp_path / "docs"), "tables": [
            {"name": "customers", "contract": "conf/contracts/customers.yaml",
             "rules": "expectations/customers.json"}]},
    }))
    land(lake_root, "customers", "dt=2026-11-22", CUSTOMERS)

    result = run(spark, config, "r1")

    page = Path(result.summary["customers"]["data_docs"])
    assert page.is_file() and page.is_relative_to(tmp_path / "docs")
    html = page.read_text()
    # the conformed batch, bad rows included, fails email_format and country_known in GX too
    assert "staging.customers" in html and "Failed" in html
    assert result.rows_read == 5


def test_a_rule_on_a_column_the_contract_lacks_is_a_config_error_naming_file_rule_and_column(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "orders-rules.yaml"
    rules.write_text(json.dumps({"table": "orders", "rules": [
        {"id": "status_known", "check": "in_set", "column": "order_stauts",
         "values": ["placed"]}]}))
    table = ValidationTable(name="orders", contract="conf/contracts/orders.yaml",
                            rules=str(rules))

    with pytest.raises(ConfigError) as error:
        table_rules(table)

    assert str(error.value) == (
        f"{rules}: rule 'status_known': column(s) ['order_stauts'] are not in the contract of "
        "orders: expected one of ['order_id', 'customer_id', 'order_status', 'order_total', "
        "'currency', 'ordered_at', 'updated_at']")
