"""Validation benchmark: the lakejobs engine against Great Expectations and a hand-written floor.

One process, one generated Parquet data set (``--rows`` orders x 20 columns, ``--files`` files,
every value a fixed function of the row number and ``SEED``), one 50-rule suite: 35 row rules
(not_null, between incl. strict, in_set, regex, length, sql), 10 dataset rules (a row count and
nine column statistics) and 5 uniqueness rules (single and compound keys). Every rule has a GX
equivalent, and the suite GX runs is the rule set exported by ``lakejobs.batch.suites.to_gx_suite``,
so both engines check exactly the same rules. The data fails most rules at realistic rates
(0.1%-5% of rows).

Methods:

* ``lakejobs`` (A) the landing -> staging job itself, ``validate_table``, on a lake whose landing
  table holds the data, with the contract (its types are the Parquet types) and the rules read
  from YAML files: list the complete files, read and conform them, flag every row rule, measure
  all checks in one pass, append ``dq_results``, write good rows to the staging Delta table and
  bad rows to the quarantine Delta table, check conservation. Each run starts from an empty
  lake apart from landing (bookmarks are not committed; outputs are removed between runs);
* ``gx`` (B) ``lakejobs.batch.gx_validation.run_gx_suite`` (GX Core's Spark engine, its
  Checkpoint path, no Data Docs) on the frame the job hands GX: the conformed contract columns;
* ``floor`` (C) a hand-written pass computing the same figures: one ``agg`` (a conditional count
  per row rule, the row count and the statistics) plus, per uniqueness rule, a ``groupBy`` of its
  key counting the rows of duplicated groups. No writes.

Each method gets one warm-up run, then timed runs (``--runs`` for A and C, ``--gx-runs`` for B),
interleaved across methods; the median is reported. The per-rule figures of the three methods
are compared afterwards: A's failing-row counts (row and uniqueness rules) and observed values
(dataset rules) against GX's unexpected counts / observed values, and against the floor's.

Usage:
    python benchmarks/validation_benchmark.py [--rows 5000000] [--files 32] [--runs 3]
        [--gx-runs 3] [--out benchmarks/results/validation.json] [--workdir /tmp/validation-bench]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.batch.conform import conform, contract_checks
from lakejobs.batch.contracts import Contract
from lakejobs.batch.landing import complete_files, read_landed
from lakejobs.batch.landing_to_staging import validate_table
from lakejobs.batch.rules import RuleSet
from lakejobs.batch.suites import load_rules, rules_from_mapping, to_gx_suite
from lakejobs.batch.validate import Measurement
from lakejobs.bookmarks import BookmarkStore
from lakejobs.config import (
    LakeSettings,
    Settings,
    SparkSettings,
    ValidationSettings,
    ValidationTable,
)
from lakejobs.paths import LakePaths
from lakejobs.runtime import JobContext
from lakejobs.session import build_local_session

SEED = 20240601
TABLE = "orders"
JOB_NAME = "validation-benchmark"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "validation.json"
ANCHOR = "Great Expectations 1.24.1 (Spark execution engine)"
GOAL_GX_OVER_OURS = 10.0  # A at least 10x faster than B
GOAL_OURS_OVER_FLOOR = 1.5  # A within 1.5x of C
BASE_EPOCH = 1_704_067_200  # 2024-01-01 00:00:00 UTC: orders fall in the 366 days after
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled", "returned")
COUNTRIES = ("DE", "FR", "GB", "NL", "BE", "AT", "CH", "ES", "IT", "PL", "SE", "DK")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
CHANNELS = ("web", "app", "store", "phone")

# name, Spark SQL type, contract normalisation: the Parquet types are the contract's types and
# the generated text is already normalised, so conforming changes no value.
COLUMNS = (
    ("order_id", "bigint", "trim"), ("line_no", "int", "trim"),
    ("customer_id", "bigint", "trim"), ("status", "string", "trim"),
    ("order_code", "string", "trim"), ("email", "string", "email"),
    ("country", "string", "upper"), ("currency", "string", "upper"),
    ("sku", "string", "trim"), ("channel", "string", "lower"),
    ("payment_ref", "string", "trim"), ("amount", "double", "trim"),
    ("quantity", "int", "trim"), ("unit_price", "double", "trim"),
    ("discount", "double", "trim"), ("tax", "double", "trim"),
    ("order_ts", "timestamp", "trim"), ("ship_date", "date", "trim"),
    ("warehouse_id", "int", "trim"), ("promo_code", "string", "trim"),
)


# ------------------------------------------------------------------------------------ data
def uniform(k: int) -> Column:
    """A value in [0, 1), a fixed function of the row number, ``SEED`` and the stream ``k``."""
    return F.pmod(F.hash(F.col("id"), F.lit(SEED), F.lit(k)), F.lit(1_000_000)) / 1_000_000.0


def pick(k: int, modulus: int) -> Column:
    """An integer in [0, modulus), a fixed function of the row number, ``SEED`` and ``k``."""
    return F.pmod(F.hash(F.col("id"), F.lit(SEED), F.lit(k)), F.lit(modulus))


def one_of(values: tuple[str, ...], k: int) -> Column:
    """One of ``values``, picked by a fixed function of the row number, ``SEED`` and ``k``."""
    index = (pick(k, len(values)) + 1).cast("int")
    return F.element_at(F.array(*[F.lit(v) for v in values]), index)


def orders(spark: SparkSession, rows: int, files: int) -> DataFrame:
    """``rows`` order lines. Each column's bad values (wrong, malformed, missing, duplicated)
    are a fixed, small share of rows, 0.05% to 2%."""
    i = F.col("id")
    customers = max(rows // 10, 1)
    # 0.2% of rows repeat the previous row's order id (both rows of the pair fail uniqueness)
    order_id = F.when(uniform(1) < 0.002, i).otherwise(i + 1)
    line_no = F.when(uniform(2) < 0.001, F.lit(0)).otherwise(pick(3, 5) + 1).cast("int")
    customer_id = F.when(uniform(4) < 0.0005, F.lit(None)).otherwise(pick(5, customers) + 1)
    quantity = F.when(uniform(6) < 0.002, F.lit(0)).otherwise(pick(7, 20) + 1).cast("int")
    unit_price = F.when(uniform(8) < 0.001, F.lit(0.0)).otherwise(
        F.round(F.lit(1.0) + uniform(9) * 199, 2))
    u_discount = uniform(10)
    discount = (F.when(u_discount < 0.10, F.lit(None))
                .when(u_discount < 0.105, F.lit(0.75))
                .otherwise(F.round(uniform(11) * 0.5, 2)))
    gross = F.round(unit_price * quantity * (F.lit(1.0) - F.coalesce(discount, F.lit(0.0))), 2)
    u_amount = uniform(12)
    amount = (F.when(u_amount < 0.003, -gross)
              .when(u_amount < 0.004, F.lit(None))
              .otherwise(gross))
    # 0.1% of orders are dated in 2023, before the range the rules allow
    order_ts = F.timestamp_seconds(F.lit(BASE_EPOCH) + pick(13, 366 * 86_400)
                                   - F.when(uniform(33) < 0.001, 366 * 86_400).otherwise(0))
    u_ship = uniform(14)
    ship_date = (F.when(u_ship < 0.10, F.lit(None))
                 .when(u_ship < 0.103, F.date_sub(F.to_date(order_ts), 2))
                 .otherwise(F.date_add(F.to_date(order_ts), pick(15, 10).cast("int"))))
    u_code = uniform(16)
    code_number = F.pmod(order_id, F.lit(100_000_000))
    order_code = F.when(u_code < 0.003, F.format_string("ORD%08d", code_number)).otherwise(
        F.format_string("ORD-%08d", code_number))
    u_email = uniform(17)
    email_customer = F.coalesce(customer_id, F.lit(0))
    email = (F.when(u_email < 0.02, F.lit(None))
             .when(u_email < 0.03, F.format_string("customer%d.example.com", email_customer))
             .otherwise(F.format_string("customer%d@example.com", email_customer)))
    u_country = uniform(18)
    country = (F.when(u_country < 0.002, F.lit("XX"))
               .when(u_country < 0.003, F.lit("USA"))
               .otherwise(one_of(COUNTRIES, 19)))
    u_currency = uniform(20)
    currency = (F.when(u_currency < 0.001, F.lit(None))
                .when(u_currency < 0.002, F.lit("XXX"))
                .otherwise(one_of(CURRENCIES, 21)))
    sku_number = pick(22, 100_000)
    sku = F.when(uniform(23) < 0.002, F.format_string("SKU%05d", sku_number)).otherwise(
        F.format_string("SKU-%05d", sku_number))
    u_channel = uniform(24)
    channel = (F.when(u_channel < 0.05, F.lit(None))
               .when(u_channel < 0.055, F.lit("fax"))
               .otherwise(one_of(CHANNELS, 25)))
    u_ref = uniform(26)
    payment_ref = (F.when(u_ref < 0.03, F.lit(None))
                   .when(u_ref < 0.031, F.format_string("PAY-%010d", i - 1))
                   .when(u_ref < 0.032, F.format_string("pay-%010d", i))
                   .otherwise(F.format_string("PAY-%010d", i)))
    u_status = uniform(27)
    status = F.when(u_status < 0.004, F.lit("unknown")).otherwise(one_of(STATUSES, 28))
    u_warehouse = uniform(29)
    warehouse_id = (F.when(u_warehouse < 0.01, F.lit(None))
                    .when(u_warehouse < 0.012, F.lit(99))
                    .otherwise(pick(30, 40) + 1)).cast("int")
    u_promo = uniform(31)
    promo_code = (F.when(u_promo < 0.8, F.lit(None))
                  .when(u_promo < 0.801, F.lit("promo-x"))
                  .when(u_promo < 0.802, F.lit("PROMO1234567"))
                  .otherwise(F.upper(F.substring(F.sha2(i.cast("string"), 256), 1, 10))
                             .substr(F.lit(1), (pick(32, 5) + 6).cast("int"))))
    values = {
        "order_id": order_id, "line_no": line_no, "customer_id": customer_id, "status": status,
        "order_code": order_code, "email": email, "country": country, "currency": currency,
        "sku": sku, "channel": channel, "payment_ref": payment_ref, "amount": amount,
        "quantity": quantity, "unit_price": unit_price, "discount": discount,
        "tax": F.round(amount * 0.2, 2), "order_ts": order_ts, "ship_date": ship_date,
        "warehouse_id": warehouse_id, "promo_code": promo_code,
    }
    return spark.range(rows, numPartitions=files).select(
        *[values[name].cast(sql_type).alias(name) for name, sql_type, _ in COLUMNS]
    )


CONTRACT: dict[str, Any] = {
    "table": TABLE,
    "format": "parquet",
    "keys": ["order_id"],
    "columns": [{"name": n, "type": t, "normalize": m} for n, t, m in COLUMNS],
}


def contract() -> Contract:
    return Contract.model_validate(CONTRACT)


# ------------------------------------------------------------------------------------ rules
def rule(rule_id: str, check: str, severity: str = "drop", **fields: Any) -> dict[str, Any]:
    return {"id": rule_id, "check": check, "severity": severity, **fields}


RULES: tuple[dict[str, Any], ...] = (
    # row rules (35)
    rule("order_id_present", "not_null", column="order_id"),
    rule("customer_id_present", "not_null", column="customer_id"),
    rule("status_present", "not_null", column="status"),
    rule("currency_present", "not_null", column="currency"),
    rule("amount_present", "not_null", column="amount"),
    rule("quantity_present", "not_null", column="quantity"),
    rule("order_ts_present", "not_null", column="order_ts"),
    rule("email_present", "not_null", "warn", column="email"),
    rule("amount_range", "between", column="amount", min=0, max=100_000),
    rule("quantity_range", "between", column="quantity", min=1, max=100),
    rule("unit_price_positive", "between", column="unit_price", min=0, strict_min=True),
    rule("discount_range", "between", column="discount", min=0, max=0.5),
    rule("tax_range", "between", column="tax", min=0, max=20_000),
    rule("line_no_range", "between", column="line_no", min=1, max=10),
    rule("warehouse_range", "between", column="warehouse_id", min=1, max=50),
    rule("customer_id_positive", "between", column="customer_id", min=1),
    rule("order_ts_range", "between", column="order_ts", min="2024-01-01 00:00:00",
         max="2025-12-31 23:59:59", strict_max=True),
    rule("status_known", "in_set", column="status", values=list(STATUSES)),
    rule("country_known", "in_set", column="country", values=list(COUNTRIES)),
    rule("currency_known", "in_set", column="currency", values=list(CURRENCIES)),
    rule("channel_known", "in_set", "warn", column="channel", values=list(CHANNELS)),
    rule("line_no_known", "in_set", column="line_no", values=[1, 2, 3, 4, 5]),
    rule("order_code_format", "regex", column="order_code", pattern=r"^ORD-[0-9]{8}$"),
    rule("email_format", "regex", column="email", pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"),
    rule("sku_format", "regex", column="sku", pattern=r"^SKU-[0-9]{5}$"),
    rule("payment_ref_format", "regex", column="payment_ref", pattern=r"^PAY-[0-9]{10}$"),
    rule("promo_code_format", "regex", "warn", column="promo_code", pattern=r"^[A-Z0-9]+$"),
    rule("country_length", "length", column="country", min=2, max=2),
    rule("sku_length", "length", column="sku", min=9, max=9),
    rule("order_code_length", "length", column="order_code", min=12, max=12),
    rule("promo_code_length", "length", column="promo_code", min=6, max=10),
    rule("ships_after_order", "sql", expression="ship_date >= to_date(order_ts)"),
    rule("tax_within_amount", "sql", expression="tax <= amount"),
    rule("amount_within_list_price", "sql", "warn",
         expression="amount <= quantity * unit_price"),
    rule("delivered_has_ship_date", "sql",
         expression="status <> 'delivered' OR ship_date IS NOT NULL"),
    # dataset rules (10)
    rule("batch_size", "row_count", "fail", min=1, max=1_000_000_000),
    rule("amount_mean", "aggregate", "warn", column="amount", statistic="mean", min=50, max=5000),
    rule("amount_max", "aggregate", "warn", column="amount", statistic="max", max=100_000),
    rule("amount_min", "aggregate", "warn", column="amount", statistic="min", min=-100_000),
    rule("quantity_sum", "aggregate", "warn", column="quantity", statistic="sum", min=1),
    rule("discount_mean", "aggregate", "warn", column="discount", statistic="mean", min=0,
         max=0.5),
    rule("unit_price_stdev", "aggregate", "warn", column="unit_price", statistic="stdev", min=1,
         max=200),
    rule("tax_sum", "aggregate", "warn", column="tax", statistic="sum", min=0),
    rule("line_no_max", "aggregate", "warn", column="line_no", statistic="max", max=5),
    rule("warehouse_max", "aggregate", "warn", column="warehouse_id", statistic="max", max=50),
    # uniqueness rules (5)
    rule("order_id_unique", "unique", columns=["order_id"]),
    rule("payment_ref_unique", "unique", columns=["payment_ref"]),
    rule("order_line_unique", "unique", columns=["order_id", "line_no"]),
    rule("customer_ts_unique", "unique", "warn", columns=["customer_id", "order_ts"]),
    rule("order_code_sku_unique", "unique", columns=["order_code", "sku"]),
)


def rule_set() -> RuleSet:
    return rules_from_mapping({"table": TABLE, "rules": list(RULES)}, source="benchmark")


def kind(spec: dict[str, Any]) -> str:
    if spec["check"] == "unique":
        return "unique"
    return "dataset" if spec["check"] in ("row_count", "aggregate") else "row"


# --------------------------------------------------------------------------------- methods
@dataclass(frozen=True)
class Lake:
    """The benchmark's lake: landing data, and the contract and rules files the job reads."""

    root: Path
    contract: Path
    rules: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing" / TABLE

    def clear_outputs(self) -> None:
        """Remove what a job run wrote (staging, quarantine, system tables); landing stays."""
        for zone in ("staging", "quarantine", "_lakejobs"):
            shutil.rmtree(self.root / zone, ignore_errors=True)


def run_lakejobs(spark: SparkSession, lake: Lake, run_id: str) -> dict[str, Any]:
    """The landing -> staging job itself (``validate_table``) on the landing table, timed from
    its start to its return: list complete files, skip bookmarked ones, read, conform, flag,
    measure, append ``dq_results``, write staging and quarantine, check conservation.

    The run's bookmarks are never committed (that, and the run log, are the job runtime's work),
    so every run finds every file new; its outputs are removed before the next run.
    """
    lake.clear_outputs()
    table = ValidationTable(name=TABLE, contract=str(lake.contract), rules=str(lake.rules))
    settings = Settings(env="bench", lake=LakeSettings(root=str(lake.root)),
                        validation=ValidationSettings(tables=(table,)))
    paths = LakePaths(settings.lake)
    bookmarks = BookmarkStore(spark, paths.table("system", settings.tables.bookmarks))
    context = JobContext(spark, settings, {"JOB_NAME": JOB_NAME}, run_id, paths,
                         bookmarks.load(JOB_NAME))
    started = time.perf_counter()
    result = validate_table(context, table)
    seconds = time.perf_counter() - started
    lake.clear_outputs()
    return {"seconds": seconds, "measurement": result.measurement, "staged": result.staged,
            "quarantined": result.quarantined, "files": result.files}


def run_gx(
    spark: SparkSession, landing: Path, suite: dict[str, Any], project: Path, run_name: str
) -> dict[str, Any]:
    """GX on the conformed contract columns, as the job hands GX its batch (less the flags)."""
    from lakejobs.batch.gx_validation import run_gx_suite

    spec = contract()
    batch = read_landed(spark, complete_files(spark, str(landing)), spec).transform(
        conform(spec)).select(*spec.names)
    started = time.perf_counter()
    report = run_gx_suite(batch, suite, project_dir=project, run_name=run_name, build_docs=False)
    return {"seconds": time.perf_counter() - started, "report": report}


def floor_failing(spec: dict[str, Any]) -> Column:
    """Where a row fails a row rule, written out by hand (nulls pass all but not_null)."""
    check = spec["check"]
    if check == "sql":
        return F.expr(f"NOT ({spec['expression']})")  # null is not counted: it passes
    value = F.col(spec["column"])
    if check == "not_null":
        return value.isNull()
    if check == "in_set":
        return ~value.isin(spec["values"])
    if check == "regex":
        return ~value.rlike(spec["pattern"])
    measured = F.length(value) if check == "length" else value
    outside = []
    if spec.get("min") is not None:
        low = F.lit(spec["min"])
        outside.append(measured <= low if spec.get("strict_min") else measured < low)
    if spec.get("max") is not None:
        high = F.lit(spec["max"])
        outside.append(measured >= high if spec.get("strict_max") else measured > high)
    return value.isNotNull() & (outside[0] if len(outside) == 1 else outside[0] | outside[1])


STATISTICS = {"min": F.min, "max": F.max, "mean": F.avg, "sum": F.sum, "stdev": F.stddev_samp}


def run_floor(spark: SparkSession, landing: Path) -> dict[str, Any]:
    """The same figures with the least work: one aggregation, one groupBy per uniqueness key."""
    started = time.perf_counter()
    data = spark.read.parquet(str(landing))
    row_specs = [s for s in RULES if kind(s) == "row"]
    stat_specs = [s for s in RULES if s["check"] == "aggregate"]
    totals = data.agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.count(F.when(floor_failing(s), 1)).alias(s["id"]) for s in row_specs],
        *[STATISTICS[s["statistic"]](F.col(s["column"])).alias(s["id"]) for s in stat_specs],
    ).first().asDict()
    figures: dict[str, Any] = {s["id"]: totals[s["id"]] for s in (*row_specs, *stat_specs)}
    figures.update({s["id"]: totals["rows"] for s in RULES if s["check"] == "row_count"})
    for spec in (s for s in RULES if kind(s) == "unique"):
        key = spec["columns"]
        checked = F.lit(False)
        for column in key:
            checked = checked | F.col(column).isNotNull()
        in_duplicates = (
            data.where(checked).groupBy(*key).count().where(F.col("count") > 1)
            .agg(F.coalesce(F.sum("count"), F.lit(0)).alias("n")).first()["n"]
        )
        figures[spec["id"]] = int(in_duplicates)
    return {"seconds": time.perf_counter() - started, "figures": figures}


# ------------------------------------------------------------------------------- figures
def ours_figures(measurement: Measurement) -> dict[str, Any]:
    """Per rule: failing rows (row and uniqueness rules) or the observed value (dataset rules)."""
    figures: dict[str, Any] = {}
    for outcome in measurement.outcomes:
        if outcome.rows_failed is not None:
            figures[outcome.rule] = outcome.rows_failed
        elif outcome.check == "row_count":
            figures[outcome.rule] = int(outcome.observed)
        else:
            figures[outcome.rule] = None if outcome.observed is None else float(outcome.observed)
    return figures


def gx_figures(report: Any) -> tuple[dict[str, Any], dict[str, bool]]:
    """Per rule: GX's unexpected count (the observed count for SQL rules, whose expectation
    reports it there; the observed value for dataset rules) and GX's verdict."""
    figures, success = {}, {}
    for result in report.results:
        rule_id = result.meta["rule_id"]
        figures[rule_id] = (result.unexpected_count if result.unexpected_count is not None
                            else result.observed_value)
        success[rule_id] = result.success
    return figures, success


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def compare(
    ours: dict[str, Any], other: dict[str, Any], other_name: str,
    passed: dict[str, bool] | None = None, other_passed: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Rule by rule: figures equal (floats to 1e-9 relative) and, if given, verdicts equal."""
    mismatches = []
    for spec in RULES:
        rule_id = spec["id"]
        verdicts_differ = (passed is not None and other_passed is not None
                           and passed[rule_id] != other_passed.get(rule_id))
        if not same(ours.get(rule_id), other.get(rule_id)) or verdicts_differ:
            entry = {"rule": rule_id, "check": spec["check"], "lakejobs": ours.get(rule_id),
                     other_name: other.get(rule_id)}
            if verdicts_differ:
                entry |= {"lakejobs_passed": passed[rule_id],
                          f"{other_name}_passed": other_passed.get(rule_id)}
            mismatches.append(entry)
    return {"agreement": not mismatches, "mismatches": mismatches}


# --------------------------------------------------------------------------------- harness
def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of generated orders")
    parser.add_argument("--files", type=int, default=32, help="Parquet files of the data set")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs of lakejobs and the floor, each after 1 warm-up")
    parser.add_argument("--gx-runs", type=int, default=3,
                        help="timed GX runs after 1 warm-up (GX takes minutes per run at 5M "
                        "rows; 0 skips GX)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/validation-bench"))
    args = parser.parse_args(argv)
    if args.rows < 1000 or args.runs < 1 or args.gx_runs < 0 or args.files < 1:
        parser.error("expected --rows >= 1000, --runs >= 1, --gx-runs >= 0, --files >= 1")
    # The published numbers are for >= 5M rows; a smoke run must not overwrite them.
    if args.rows < 5_000_000 and args.out.resolve() == DEFAULT_OUT:
        parser.error(f"--rows {args.rows} is a smoke-test size: pass --out elsewhere")
    if args.gx_runs < 3 and args.out.resolve() == DEFAULT_OUT:
        parser.error(f"--gx-runs {args.gx_runs}: the published ratio needs 3: pass --out elsewhere")
    return args


def build_session(workdir: Path) -> SparkSession:
    return build_local_session(SparkSettings(
        master="local[2]",
        app_name="validation-benchmark",
        shuffle_partitions=8,
        driver_memory="8g",
        conf={"spark.sql.warehouse.dir": str(workdir / "warehouse")},
    ))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    conf = args.workdir / "conf"
    lake = Lake(root=args.workdir / "lake", contract=conf / f"{TABLE}.contract.yaml",
                rules=conf / f"{TABLE}.rules.yaml")
    # The job reads its contract and rules from files, as in production.
    lake.contract.parent.mkdir(parents=True)
    lake.contract.write_text(yaml.safe_dump(CONTRACT, sort_keys=False))
    lake.rules.write_text(yaml.safe_dump({"table": TABLE, "rules": list(RULES)}, sort_keys=False))
    rules = rule_set()
    if load_rules(str(lake.rules)) != rules:
        raise RuntimeError(f"{lake.rules} does not read back as the benchmark's rule set")
    suite = to_gx_suite(rules)
    if suite["meta"].get("lakejobs_only_rules") or len(suite["expectations"]) != len(RULES):
        raise RuntimeError(f"rules without a GX equivalent: {suite['meta']}")
    spark = build_session(args.workdir)
    started = time.perf_counter()
    log(f"generating {args.rows} rows x {len(COLUMNS)} columns in {args.files} Parquet files")
    orders(spark, args.rows, args.files).write.parquet(str(lake.landing))

    times: dict[str, list[float]] = {"lakejobs": [], "gx": [], "floor": []}
    last: dict[str, Any] = {}

    def once(method: str, label: str) -> float:
        if method == "lakejobs":
            result = run_lakejobs(spark, lake, run_id=label)
        elif method == "gx":
            result = run_gx(spark, lake.landing, suite, args.workdir / "gx", run_name=label)
        else:
            result = run_floor(spark, lake.landing)
        last[method] = result
        log(f"{method}: {label} {result['seconds']:.1f}s")
        return round(result["seconds"], 3)

    methods = ["lakejobs", "floor"] + (["gx"] if args.gx_runs else [])
    warmups = {m: once(m, "warmup") for m in methods}
    for run in range(max(args.runs, args.gx_runs)):
        for method in methods:
            if run < (args.gx_runs if method == "gx" else args.runs):
                times[method].append(once(method, f"run{run + 1}"))
        write_json(args.out.with_suffix(".partial.json"),
                   report(args, times, warmups, last, time.perf_counter() - started))
    payload = report(args, times, warmups, last, time.perf_counter() - started)
    write_json(args.out, payload)
    args.out.with_suffix(".partial.json").unlink(missing_ok=True)
    log(f"ours {payload['ours_s']}s, gx {payload['anchor_s']}s, floor {payload['floor_s']}s; "
        f"gx agreement={payload['agreement']}, floor agreement="
        f"{payload['floor_agreement']['agreement']}")
    log(f"wrote {args.out}")
    spark.stop()


def report(
    args: argparse.Namespace, times: dict[str, list[float]], warmups: dict[str, float],
    last: dict[str, Any], elapsed_s: float,
) -> dict[str, Any]:
    def median(method: str) -> float | None:
        return round(statistics.median(times[method]), 3) if times[method] else None

    ours, anchor, floor = median("lakejobs"), median("gx"), median("floor")
    measurement: Measurement = last["lakejobs"]["measurement"]
    mine = ours_figures(measurement)
    my_verdicts = {o.rule: o.outcome == "passed" for o in measurement.outcomes}
    figures: dict[str, Any] = {
        s["id"]: {"check": s["check"], "severity": s["severity"], "lakejobs": mine[s["id"]],
                  "floor": last["floor"]["figures"][s["id"]],
                  "lakejobs_passed": my_verdicts[s["id"]]}
        for s in RULES
    }
    gx_check: dict[str, Any] = {"agreement": None, "mismatches": []}
    if "gx" in last:
        theirs, their_verdicts = gx_figures(last["gx"]["report"])
        for rule_id, value in theirs.items():
            figures[rule_id] |= {"gx": value, "gx_passed": their_verdicts[rule_id]}
        gx_check = compare(mine, theirs, "gx", my_verdicts, their_verdicts)
    ratio = round(anchor / ours, 3) if ours and anchor else None
    ours_vs_floor = round(ours / floor, 3) if ours and floor else None
    by_kind: dict[str, int] = {}
    by_check: dict[str, int] = {}
    for spec in RULES:
        by_kind[kind(spec)] = by_kind.get(kind(spec), 0) + 1
        by_check[spec["check"]] = by_check.get(spec["check"], 0) + 1
    return {
        "name": "validation",
        "params": {
            "rows": args.rows,
            "columns": len(COLUMNS),
            "files": args.files,
            "seed": SEED,
            "rules": {"total": len(RULES), "by_kind": by_kind, "by_check": by_check},
            "contract_checks": len(contract_checks(contract())),
            "warmup_runs": 1,
            "spark": importlib.metadata.version("pyspark"),
            "delta": importlib.metadata.version("delta-spark"),
            "great_expectations": _version("great_expectations"),
            "master": "local[2]",
            "cpus": os.cpu_count(),
        },
        "ours_s": ours,
        "anchor": ANCHOR,
        "anchor_s": anchor,
        "ratio": ratio,
        "runs": args.runs,
        "gx_runs": args.gx_runs,
        "floor_s": floor,
        "ours_vs_floor": ours_vs_floor,
        "agreement": gx_check["agreement"],
        "mismatches": gx_check["mismatches"],
        "floor_agreement": compare(mine, last["floor"]["figures"], "floor"),
        "goals": {
            "gx_over_ours": {"target": f">= {GOAL_GX_OVER_OURS}", "value": ratio,
                             "met": None if ratio is None else ratio >= GOAL_GX_OVER_OURS},
            "ours_over_floor": {"target": f"<= {GOAL_OURS_OVER_FLOOR}", "value": ours_vs_floor,
                                "met": None if ours_vs_floor is None
                                else ours_vs_floor <= GOAL_OURS_OVER_FLOOR},
        },
        "results": {
            "lakejobs": {"median_s": ours, "runs_s": times["lakejobs"],
                         "warmup_s": warmups.get("lakejobs"), "files": last["lakejobs"]["files"],
                         "rows": measurement.rows, "rows_bad": measurement.rows_bad,
                         "staged": last["lakejobs"]["staged"],
                         "quarantined": last["lakejobs"]["quarantined"]},
            "gx": {"median_s": anchor, "runs_s": times["gx"], "warmup_s": warmups.get("gx"),
                   "success": last["gx"]["report"].success if "gx" in last else None},
            "floor": {"median_s": floor, "runs_s": times["floor"],
                      "warmup_s": warmups.get("floor")},
        },
        "figures": figures,
        "elapsed_s": round(elapsed_s, 1),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
