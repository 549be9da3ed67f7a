"""Writes of the landing → staging stage: staging and quarantine tables, and ``dq_results``.

Staging and quarantine writes are idempotent per source file: each replaces, in one Delta
commit, whatever an earlier attempt wrote for the same files (``replaceWhere`` on
``_source_file``), so a run retried after a crash between the write and the bookmark commit
does not duplicate rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.contracts import Contract
from lakejobs.batch.validate import RuleOutcome
from lakejobs.commit_versions import ROW_TRACKING_OPTIONS, VALIDATED_AT
from lakejobs.delta_io import is_delta_table
from lakejobs.errors import ContractError
from lakejobs.local_rows import rows_frame

DQ_RESULTS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("job_name", T.StringType(), False),
        T.StructField("table", T.StringType(), False),
        T.StructField("rule", T.StringType(), False),
        T.StructField("check", T.StringType(), False),
        T.StructField("severity", T.StringType(), False),
        T.StructField("level", T.StringType(), False),
        T.StructField("rows_checked", T.LongType(), False),
        T.StructField("rows_failed", T.LongType(), True),
        T.StructField("failure_rate", T.DoubleType(), True),
        T.StructField("observed", T.StringType(), True),
        T.StructField("outcome", T.StringType(), False),
        T.StructField("validated_at", T.TimestampType(), False),
    ]
)


def check_evolution(spark: SparkSession, path: str, contract: Contract) -> bool:
    """Whether writing ``contract``'s columns to the staging table at ``path`` needs a schema
    merge (new columns allowed by the contract's evolution policy).

    Raises:
        ContractError: the contract changes a column's type, drops a column, or adds one where
            its evolution policy does not allow it (or adds a non-nullable one).
    """
    if not is_delta_table(spark, path):
        return False
    existing = {f.name: f for f in spark.read.format("delta").load(path).schema.fields}
    wanted = {f.name: f for f in contract.schema().fields}
    problems = []
    for name, field in wanted.items():
        if name in existing and existing[name].dataType != field.dataType:
            problems.append(f"column '{name}' is {existing[name].dataType.simpleString()} in "
                            f"staging but {field.dataType.simpleString()} in the contract")
    added = [name for name in wanted if name not in existing]
    removed = [n for n in existing if n not in wanted and not n.startswith("_")]
    if removed:
        problems.append(f"columns {removed} are in staging but not in the contract")
    if added and contract.evolution != "additive":
        problems.append(f"new columns {added} but the contract's evolution is 'none'")
    required = [n for n in added if not wanted[n].nullable]
    if required:
        problems.append(f"new columns {required} must be nullable (old rows have no value)")
    if problems:
        raise ContractError(
            f"contract '{contract.table}' v{contract.version} does not fit staging table {path}: "
            + "; ".join(problems)
            + ": expected additive changes only (new nullable columns)"
        )
    return bool(added)


def replace_for_files(
    df: DataFrame, path: str, files: Sequence[str], *, merge_schema: bool,
    track_rows: bool = False,
) -> None:
    """Write ``df`` to the Delta table at ``path``, replacing its rows from ``files`` atomically.

    ``track_rows``: a table this creates keeps its rows' commit versions, for readers that take
    its new rows incrementally (staging; an existing table: :func:`enable_row_tracking`).
    """
    if not is_delta_table(df.sparkSession, path):
        writer = df.write.format("delta").mode("append")
        if track_rows:
            writer = writer.options(**ROW_TRACKING_OPTIONS)
        writer.save(path)
        return
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", _of_files(files))
    )
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    writer.save(path)


def delete_for_files(spark: SparkSession, path: str, files: Sequence[str]) -> None:
    """Delete the rows from ``files`` of the Delta table at ``path``, if it exists (a delete
    that matches no file commits nothing)."""
    if is_delta_table(spark, path):
        DeltaTable.forPath(spark, path).delete(_of_files(files))


def _of_files(files: Sequence[str]) -> str:
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"_source_file IN ({quoted})"


def staging_rows(good: DataFrame, run_id: str) -> DataFrame:
    """Good rows with their lineage: source file, run id and validation time."""
    return good.withColumns(
        {"_run_id": F.lit(run_id), VALIDATED_AT: F.current_timestamp()}
    )


def dq_result_rows(
    spark: SparkSession,
    outcomes: Sequence[RuleOutcome],
    *,
    run_id: str,
    job_name: str,
    table: str,
    validated_at: datetime,
) -> DataFrame:
    """The ``dq_results`` rows of one table's validation."""
    rows = [
        (run_id, job_name, table, o.rule, o.check, o.severity, o.level, o.rows_checked,
         o.rows_failed, o.failure_rate, o.observed, o.outcome, validated_at)
        for o in outcomes
    ]
    return rows_frame(spark, rows, DQ_RESULTS_SCHEMA)
