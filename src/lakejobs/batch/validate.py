"""The validation engine: every row check in one pass, failures as data, one aggregation for all
the counts, then a good/bad split.

Steps, each a ``DataFrame -> DataFrame`` transform or a single action:

1. :func:`flag_rows` adds a boolean ``_dq_flag__<rule>`` column per row rule. Plain row rules are
   column expressions evaluated in the same projection; uniqueness and referential integrity
   each add one join against a small keyed frame (the duplicated keys, the reference keys), so
   no rule needs its own scan of the data.
2. :func:`measure` computes, in one aggregation, the row count, the failing-row count of every
   check and the aggregates dataset rules need (freshness maxima), and judges every rule.
3. :func:`with_failures` folds the flags into ``_dq_failures`` (rule, severity, reason per failed
   check); :func:`good_rows` and :func:`bad_rows` split on it. Rows failing only ``warn`` rules
   stay good and carry the rule ids in ``_dq_warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.rules import Check, RuleSet, flag_column
from lakejobs.errors import ConfigError

PASSED, WARNED, QUARANTINED, FAILED = "passed", "warned", "quarantined", "failed"
_OUTCOME = {"warn": WARNED, "drop": QUARANTINED, "fail": FAILED}
FAILURE_TYPE = T.ArrayType(
    T.StructType(
        [
            T.StructField("rule", T.StringType(), False),
            T.StructField("severity", T.StringType(), False),
            T.StructField("reason", T.StringType(), False),
        ]
    ),
    False,
)


@dataclass(frozen=True)
class RuleOutcome:
    """How one check fared in one run."""

    rule: str
    check: str
    severity: str
    level: str
    rows_checked: int
    rows_failed: int | None
    observed: str | None
    outcome: str

    @property
    def failure_rate(self) -> float | None:
        if self.rows_failed is None or self.rows_checked == 0:
            return None
        return self.rows_failed / self.rows_checked


@dataclass(frozen=True)
class Measurement:
    """Counts and outcomes of one validation run."""

    rows: int
    rows_bad: int
    outcomes: tuple[RuleOutcome, ...]

    @property
    def failed(self) -> tuple[RuleOutcome, ...]:
        """Outcomes of ``fail`` rules that failed: the run must not write anything."""
        return tuple(o for o in self.outcomes if o.outcome == FAILED)

    def by_rule(self) -> dict[str, RuleOutcome]:
        return {o.rule: o for o in self.outcomes}


def all_checks(rule_set: RuleSet, implied: Sequence[Check] = ()) -> list[Check]:
    """The contract's implied checks followed by the rule set's rules."""
    return [*implied, *(Check.of(rule) for rule in rule_set.rules)]


def flag_rows(rule_set: RuleSet, references: Mapping[str, DataFrame] | None = None):
    """A transform adding one ``_dq_flag__<rule>`` boolean column per row rule of ``rule_set``.

    Args:
        rule_set: the rules.
        references: the frames ``references`` rules check against, by table name.

    Raises:
        ConfigError: a ``references`` rule names a table missing from ``references``.
    """
    references = references or {}

    def transform(df: DataFrame) -> DataFrame:
        flagged = df
        plain = {}
        for rule in rule_set.row_rules:
            if rule.check == "unique":
                flagged = _flag_duplicates(flagged, rule.columns, flag_column(rule.id))
            elif rule.check == "references":
                if rule.table not in references:
                    raise ConfigError(
                        f"rule '{rule.id}': references table '{rule.table}', which was not "
                        f"given: expected one of {sorted(references) or 'none'}"
                    )
                flagged = _flag_orphans(flagged, rule, references[rule.table])
            else:
                plain[flag_column(rule.id)] = rule.failing()
        return flagged.withColumns(plain) if plain else flagged

    return transform


def measure(
    flagged: DataFrame,
    rule_set: RuleSet,
    checks: Sequence[Check],
    *,
    as_of: datetime | None = None,
) -> Measurement:
    """Count rows and failures of every check in one aggregation and judge every rule."""
    as_of = as_of or datetime.now(UTC)
    row_checks = [c for c in checks if c.level == "row"]
    blocking = F.lit(False)
    for check in row_checks:
        if check.severity != "warn":
            blocking = blocking | F.col(flag_column(check.id))
    aggregates: list[Column] = [
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(blocking, 1)).alias("rows_bad"),
    ]
    aggregates += [
        F.count(F.when(F.col(flag_column(c.id)), 1)).alias(f"failed_{i}")
        for i, c in enumerate(row_checks)
    ]
    freshness = rule_set.of_check("freshness")
    for i, rule in enumerate(freshness):
        # judged inside Spark, so the session time zone (not the driver's) applies
        newest = F.max(F.col(f"`{rule.column}`"))
        aggregates.append(newest.cast("string").alias(f"newest_{i}"))
        aggregates.append(F.coalesce(newest >= F.lit(as_of - rule.age), F.lit(False))
                          .alias(f"fresh_{i}"))
    statistics = rule_set.of_check("aggregate")
    aggregates += [r.statistic_column().alias(f"stat_{i}") for i, r in enumerate(statistics)]
    totals = flagged.agg(*aggregates).first()
    rows = int(totals["rows"])
    outcomes = [
        _row_outcome(check, rows, int(totals[f"failed_{i}"])) for i, check in enumerate(row_checks)
    ]
    for rule in rule_set.of_check("row_count"):
        outcomes.append(_dataset_outcome(rule, rows, str(rows), rule.judge(rows)))
    for i, rule in enumerate(statistics):
        value = totals[f"stat_{i}"]
        outcomes.append(_dataset_outcome(rule, rows, None if value is None else str(value),
                                         rule.judge(value)))
    for i, rule in enumerate(freshness):
        outcomes.append(
            _dataset_outcome(rule, rows, totals[f"newest_{i}"], bool(totals[f"fresh_{i}"]))
        )
    return Measurement(rows=rows, rows_bad=int(totals["rows_bad"]), outcomes=tuple(outcomes))


def with_failures(checks: Sequence[Check]):
    """A transform folding the flag columns of ``checks`` into ``_dq_failures`` (and dropping
    them): one struct (rule, severity, reason) per failed check, in check order."""
    row_checks = [c for c in checks if c.level == "row"]

    def transform(flagged: DataFrame) -> DataFrame:
        entries = [
            F.when(
                F.col(flag_column(c.id)),
                F.struct(F.lit(c.id).alias("rule"), F.lit(c.severity).alias("severity"),
                         F.lit(c.reason).alias("reason")),
            )
            for c in row_checks
        ]
        failures = F.filter(F.array(*entries), lambda f: f.isNotNull()) if entries else (
            F.array().cast(FAILURE_TYPE)
        )
        return flagged.withColumn("_dq_failures", failures).drop(
            *[flag_column(c.id) for c in row_checks]
        )

    return transform


def is_bad(failures: Column | None = None) -> Column:
    """True for a row with at least one ``drop`` or ``fail`` failure."""
    failures = failures if failures is not None else F.col("_dq_failures")
    return F.exists(failures, lambda f: f["severity"] != "warn")


def good_rows(columns: Sequence[str]):
    """A transform keeping rows without blocking failures: ``columns``, the carried unknown
    fields (``_extra_columns``), ``_source_file`` and the ids of failed ``warn`` rules
    (``_dq_warnings``)."""

    def transform(df: DataFrame) -> DataFrame:
        warnings = F.transform(F.col("_dq_failures"), lambda f: f["rule"])
        return df.where(~is_bad()).select(
            *[F.col(f"`{c}`") for c in columns],
            F.col("_extra_columns"),
            F.col("_source_file"),
            warnings.alias("_dq_warnings"),
        )

    return transform


def bad_rows(table: str, run_id: str):
    """A transform keeping rows with blocking failures, as quarantine records: the original
    record, where it came from and every failure."""

    def transform(df: DataFrame) -> DataFrame:
        return df.where(is_bad()).select(
            F.lit(table).alias("table"),
            F.col("_source_file"),
            F.sha2(F.col("_raw_record"), 256).alias("record_hash"),
            F.col("_raw_record").alias("raw_record"),
            F.col("_dq_failures").alias("failures"),
            F.lit(run_id).alias("run_id"),
            F.current_timestamp().alias("quarantined_at"),
        )

    return transform


def _flag_duplicates(df: DataFrame, key: Sequence[str], flag: str) -> DataFrame:
    # Rows whose key values are all null are not checked (GX ignores them too); otherwise null
    # equals null within a compound key, as in a GROUP BY.
    present = F.lit(False)
    for column in key:
        present = present | F.col(f"`{column}`").isNotNull()
    duplicated = (
        df.where(present)
        .groupBy(*[F.col(f"`{c}`") for c in key])
        .agg(F.count(F.lit(1)).alias("_dq_n"))
        .where(F.col("_dq_n") > 1)
        .select(*[F.col(f"`{c}`").alias(f"_dq_k{i}") for i, c in enumerate(key)],
                F.lit(True).alias(flag))
    )
    matches = [F.col(f"`{c}`").eqNullSafe(F.col(f"_dq_k{i}")) for i, c in enumerate(key)]
    condition = matches[0]
    for match in matches[1:]:
        condition = condition & match
    joined = df.join(duplicated, on=condition & present, how="left")
    return joined.drop(*[f"_dq_k{i}" for i in range(len(key))]).withColumn(
        flag, F.coalesce(F.col(flag), F.lit(False))
    )


def _flag_orphans(df: DataFrame, rule: Any, reference: DataFrame) -> DataFrame:
    flag = flag_column(rule.id)
    known = reference.select(
        *[F.col(f"`{t}`").alias(f"_dq_r{i}") for i, t in enumerate(rule.target_columns)]
    ).distinct().withColumn("_dq_known", F.lit(True))
    condition = F.lit(True)
    checked = F.lit(True)
    for i, column in enumerate(rule.columns):
        condition = condition & (F.col(f"`{column}`") == F.col(f"_dq_r{i}"))
        checked = checked & F.col(f"`{column}`").isNotNull()
    joined = df.join(known, on=condition, how="left")
    return joined.withColumn(flag, checked & F.col("_dq_known").isNull()).drop(
        "_dq_known", *[f"_dq_r{i}" for i in range(len(rule.columns))]
    )


def _row_outcome(check: Check, rows: int, failed: int) -> RuleOutcome:
    return RuleOutcome(
        rule=check.id, check=check.check, severity=check.severity, level="row",
        rows_checked=rows, rows_failed=failed, observed=None,
        outcome=PASSED if failed == 0 else _OUTCOME[check.severity],
    )


def _dataset_outcome(rule: Any, rows: int, observed: str | None, passed: bool) -> RuleOutcome:
    return RuleOutcome(
        rule=rule.id, check=rule.check, severity=rule.severity, level="dataset",
        rows_checked=rows, rows_failed=None, observed=observed,
        outcome=PASSED if passed else _OUTCOME[rule.severity],
    )
