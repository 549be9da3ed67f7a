"""The landing → staging job: complete landing files validated once, good rows staged, bad rows
quarantined with their reasons, every rule's figures appended to ``dq_results``.

Per configured table (``validation.tables`` in the environment YAML):

1. new files of complete landing folders (completion marker + the job's bookmarks);
2. read, conform to the contract, flag every row rule (one pass);
3. one aggregation measures every check; the figures go to ``dq_results`` whatever happens next;
4. a failed ``fail`` rule stops the run here: nothing is written to staging or quarantine and
   the files stay unprocessed;
5. otherwise good rows go to staging and bad rows to quarantine (Delta, idempotent per file), and
   conservation is checked against the rows Delta reports written.

With ``validation.data_docs`` set, Great Expectations also validates the conformed batch with the
same rules and renders Data Docs there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyspark.sql import DataFrame

from lakejobs.batch.conform import conform, contract_checks
from lakejobs.batch.contracts import Contract, load_contract
from lakejobs.batch.landing import complete_files, read_landed
from lakejobs.batch.rules import Check, RuleSet
from lakejobs.batch.suites import load_rules, to_gx_suite
from lakejobs.batch.validate import (
    Measurement,
    all_checks,
    flag_rows,
    good_rows,
    held_duplicated_keys,
    measure_and_hold_bad_rows,
)
from lakejobs.batch.validation_io import (
    DQ_RESULTS_SCHEMA,
    check_evolution,
    delete_for_files,
    dq_result_rows,
    replace_for_files,
    staging_rows,
)
from lakejobs.commit_versions import enable_row_tracking
from lakejobs.concurrency import run_side_by_side
from lakejobs.config import ValidationTable
from lakejobs.delta_io import (
    append,
    ensure_table,
    is_delta_table,
    read_delta,
    rows_written_since,
    table_version,
)
from lakejobs.errors import (
    ConfigError,
    ConservationError,
    DataQualityError,
    JobArgumentError,
)
from lakejobs.resources import resolve_location
from lakejobs.runtime import JobContext, JobResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableRun:
    """What validating one table did."""

    table: str
    files: int
    measurement: Measurement | None
    staged: int = 0
    quarantined: int = 0
    docs: str | None = None

    def summary(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"files": self.files, "staged": self.staged,
                                   "quarantined": self.quarantined}
        if self.measurement is not None:
            figures["rows"] = self.measurement.rows
            figures["rules"] = {
                o.rule: {"outcome": o.outcome, "failed": o.rows_failed, "observed": o.observed}
                for o in self.measurement.outcomes
                if o.outcome != "passed"
            }
        if self.docs:
            figures["data_docs"] = self.docs
        return figures


def run(context: JobContext) -> JobResult:
    """Validate every configured table (or the one named by ``--table``)."""
    tables = context.settings.validation.tables
    wanted = context.args.get("table")
    if wanted:
        tables = (configured_table(context, wanted),)
    # the shared results table exists before tables are validated side by side
    ensure_table(context.spark,
                 context.paths.table("system", context.settings.validation.results_table),
                 DQ_RESULTS_SCHEMA)
    done: dict[str, TableRun] = {}
    waiting = list(tables)
    while waiting:
        # a table whose references are validated in this run waits for them
        names = {t.name for t in waiting}
        ready = [t for t in waiting if not names & set(t.references)] or waiting
        runs = run_side_by_side([partial(validate_table, context, t) for t in ready],
                                context.settings.spark.table_threads)
        done.update((run.table, run) for run in runs)
        waiting = [t for t in waiting if t.name not in done]
    runs = [done[t.name] for t in tables]
    return JobResult(
        rows_read=sum(r.measurement.rows for r in runs if r.measurement),
        rows_written=sum(r.staged for r in runs),
        rows_quarantined=sum(r.quarantined for r in runs),
        summary={r.table: r.summary() for r in runs},
    )


def configured_table(context: JobContext, name: str) -> ValidationTable:
    """The validation settings of table ``name``.

    Raises:
        JobArgumentError: the table is not configured.
    """
    tables = context.settings.validation.tables
    for table in tables:
        if table.name == name:
            return table
    names = ", ".join(t.name for t in tables) or "none"
    raise JobArgumentError(f"--table {name}: not configured: expected one of {names}")


def table_rules(table: ValidationTable) -> tuple[Contract, RuleSet]:
    """The contract and the rules of a configured table.

    Raises:
        ConfigError: a rule names a column the contract does not have (a typo would otherwise
            surface as Spark's unresolved-column error in the middle of the run).
    """
    contract = load_contract(resolve_location(table.contract))
    rules = load_rules(resolve_location(table.rules)) if table.rules else RuleSet(table=table.name)
    for rule in rules.rules:
        unknown = [c for c in rule.columns if c not in contract.names]
        if unknown:
            raise ConfigError(f"{table.rules}: rule '{rule.id}': column(s) {unknown} are not in "
                              f"the contract of {contract.table}: expected one of "
                              f"{list(contract.names)}")
    return contract, rules


def reference_tables(context: JobContext, table: ValidationTable) -> dict[str, DataFrame]:
    """The staging tables the ``references`` rules of ``table`` check against, by name. A
    configured table not written yet is empty (its contract's columns): every reference to it
    is an orphan, judged by the rule's severity.

    Raises:
        ConfigError: a reference is neither a staging table nor a configured one.
    """
    frames = {}
    configured = {t.name: t for t in context.settings.validation.tables}
    for name in table.references:
        path = context.paths.table("staging", name)
        if name in configured:
            # empty with the contract's columns while the table is not written yet
            schema = load_contract(resolve_location(configured[name].contract)).schema()
            frames[name] = read_delta(context.spark, path, schema)
        elif is_delta_table(context.spark, path):
            frames[name] = read_delta(context.spark, path)
        else:
            raise ConfigError(
                f"validation.tables ({table.name}).references: '{name}': expected a staging "
                f"table or one of the configured tables {sorted(configured)}")
    return frames


def validate_table(context: JobContext, table: ValidationTable) -> TableRun:
    """Validate the new complete landing files of one table."""
    spark, paths = context.spark, context.paths
    contract, rule_set = table_rules(table)
    staging_path = paths.table("staging", table.name)
    merge_schema = check_evolution(spark, staging_path, contract)  # before any work is done
    ready = complete_files(spark, paths.table("landing", table.name), table.marker)
    files = context.bookmarks.unprocessed(table.name, ready)
    if not files:
        log.info("%s: no new complete landing files", table.name)
        return TableRun(table=table.name, files=0, measurement=None)
    references = reference_tables(context, table)
    checks = all_checks(rule_set, contract_checks(contract))
    conformed = read_landed(spark, files, contract).transform(conform(contract))
    # the flags are evaluated twice (measure, then write): uniqueness keys are aggregated once
    with held_duplicated_keys(conformed, rule_set) as duplicated:
        flagged = conformed.transform(
            flag_rows(rule_set, references, duplicated, source=str(table.rules)))
        run = _measure_and_write(context, table, files, contract, rule_set, checks, flagged,
                                 merge_schema=merge_schema)
    context.bookmarks.mark_processed(table.name, files)
    return run


def _measure_and_write(
    context: JobContext, table: ValidationTable, files: list[str], contract: Contract,
    rule_set: RuleSet, checks: list[Check], flagged: DataFrame, *, merge_schema: bool,
) -> TableRun:
    """Measure the flagged batch, record the figures, then (no ``fail`` rule failed) write
    staging and quarantine and check conservation."""
    spark, paths = context.spark, context.paths
    staging_path = paths.table("staging", table.name)
    measurement, bad = measure_and_hold_bad_rows(flagged, rule_set, checks, table=table.name,
                                                 run_id=context.run_id)
    try:
        validated_at = datetime.now(UTC)
        append(
            dq_result_rows(spark, measurement.outcomes, run_id=context.run_id,
                           job_name=context.args["JOB_NAME"], table=table.name,
                           validated_at=validated_at),
            paths.table("system", context.settings.validation.results_table),
        )
        docs = _data_docs(context, table.name, flagged, contract, rule_set)
        run = TableRun(table=table.name, files=len(files), measurement=measurement, docs=docs)
        if measurement.failed:
            failed = ", ".join(
                f"{o.rule} ({o.check}: {o.observed if o.rows_failed is None else o.rows_failed})"
                for o in measurement.failed
            )
            raise DataQualityError(
                f"{table.name}: fail-level rules failed: {failed}: nothing was written",
                summary={table.name: run.summary()},
            )
        # staging's incremental readers follow commit versions; turned on (a table written
        # before) ahead of the version the written rows are counted from
        enable_row_tracking(spark, staging_path)
        before = table_version(spark, staging_path)
        replace_for_files(
            flagged.transform(good_rows(contract.names, checks)).transform(
                lambda good: staging_rows(good, context.run_id)
            ),
            staging_path,
            files,
            merge_schema=merge_schema,
            track_rows=True,
        )
        staged = rows_written_since(spark, staging_path, before)
        quarantined = 0
        quarantine_path = paths.table("quarantine", table.name)
        if measurement.rows_bad:
            before = table_version(spark, quarantine_path)
            replace_for_files(bad, quarantine_path, files, merge_schema=False)
            quarantined = rows_written_since(spark, quarantine_path, before)
        else:
            # an earlier attempt on these files (failed before its bookmarks were committed)
            # may have quarantined rows that this run stages
            delete_for_files(spark, quarantine_path, files)
    finally:
        bad.unpersist()
    if staged + quarantined != measurement.rows:
        raise ConservationError(
            f"{table.name}: {measurement.rows} rows validated but {staged} staged + "
            f"{quarantined} quarantined"
        )
    return TableRun(table=table.name, files=len(files), measurement=measurement, staged=staged,
                    quarantined=quarantined, docs=docs)


def _data_docs(
    context: JobContext, table: str, flagged: DataFrame, contract: Contract, rule_set: RuleSet
) -> str | None:
    folder = context.settings.validation.data_docs
    if not folder:
        return None
    from lakejobs.batch.gx_validation import run_gx_suite

    batch = flagged.select(*contract.names)
    report = run_gx_suite(batch, to_gx_suite(rule_set), project_dir=folder,
                          run_name=f"{table}-{context.run_id}")
    return str(report.validation_page or report.docs_index)

