"""The validation engine: every row check in one pass, failures as data, one aggregation for all
the counts, then a good/bad split.

Steps, each a ``DataFrame -> DataFrame`` transform or a single action:

1. :func:`flag_rows` adds a boolean ``_dq_flag__<rule>`` column per row rule. Plain row rules are
   column expressions evaluated in the same projection; uniqueness and referential integrity
   each add one join against a small keyed frame (the duplicated keys, the reference keys), so
   no rule needs its own scan of the data.
2. :func:`measure` computes, in one aggregation, the row count, the failing-row count of every
   check and the aggregates dataset rules need (freshness maxima), and judges every rule.
3. :func:`good_rows` and :func:`bad_rows` split on the flags of blocking (``drop``/``fail``)
   checks. Bad rows carry ``failures`` (rule, severity, reason per failed check); rows failing
   only ``warn`` checks stay good and carry the check ids in ``_dq_warnings``.
   :func:`measure_and_hold_bad_rows` does steps 2 and 3's bad side in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException, IllegalArgumentException, ParseException
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs._compat import current_stack
from lakejobs.batch.landing import raw_record_json
from lakejobs.batch.rules import Check, RuleSet, flag_column
from lakejobs.columns import try_cast_sql
from lakejobs.errors import ConfigError
from lakejobs.spark_conf import frame_in, session_with

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


def flag_rows(
    rule_set: RuleSet,
    references: Mapping[str, DataFrame] | None = None,
    duplicated: Mapping[str, DataFrame] | None = None,
    *,
    source: str = "rules",
):
    """A transform adding one ``_dq_flag__<rule>`` boolean column per row rule of ``rule_set``.

    Args:
        rule_set: the rules.
        references: the frames ``references`` rules check against, by table name.
        duplicated: the duplicated keys of uniqueness rules, by rule id, as
            :func:`duplicated_keys` gives them (e.g. held by :func:`held_duplicated_keys`);
            a uniqueness rule missing here is computed from the transform's input.

        source: where the rules come from (their file), for errors.

    Raises:
        ConfigError: a ``references`` rule names a table missing from ``references`` or a
            column that table lacks; a ``sql`` rule's expression is not a condition on the
            input's columns; a ``regex`` rule's pattern is not a Java regular expression; an
            ``in_set`` value or a ``between`` bound is no value of its column's type.
    """
    references = references or {}
    duplicated = duplicated or {}

    def transform(df: DataFrame) -> DataFrame:
        check_expressions(rule_set, df, source)
        flagged = df
        plain = {}
        for rule in rule_set.row_rules:
            if rule.check == "unique":
                # duplicated keys come from the input, not from the frame joined so far: each
                # uniqueness rule then costs one key-only scan instead of the whole plan before it
                keys = duplicated.get(rule.id)
                if keys is None:
                    keys = duplicated_keys(df, rule.columns)
                flagged = _flag_duplicates(flagged, keys, rule.columns, flag_column(rule.id))
            elif rule.check == "references":
                if rule.table not in references:
                    raise ConfigError(
                        f"rule '{rule.id}': references table '{rule.table}', which was not "
                        f"given: expected one of {sorted(references) or 'none'}"
                    )
                reference = references[rule.table]
                missing = [c for c in rule.target_columns if c not in reference.columns]
                if missing:
                    raise ConfigError(
                        f"{source}: rule '{rule.id}': column(s) {missing} are not in "
                        f"'{rule.table}': expected one of {reference.columns}")
                flagged = _flag_orphans(flagged, rule, reference)
            elif rule.check != "sql":
                # a flag is true or false, never null: a null flag would send the row neither
                # to staging nor to quarantine
                plain[flag_column(rule.id)] = F.coalesce(rule.failing(), F.lit(False))
        # the flags in the rules' order, whichever session analysed them
        order = [*flagged.columns, *[flag_column(rule.id) for rule in rule_set.row_rules
                                     if rule.check not in ("unique", "references")]]
        flagged = flagged.withColumns(plain) if plain else flagged
        return flagged.transform(_flag_expressions(rule_set)).select(
            *[F.col(f"`{name}`") for name in order])

    return transform


# ANSI mode's runtime errors (Glue 6.0's default) in a user's expression: without ANSI, Spark 3.5's
# default (Glue 5.1), the value is null instead
LENIENT = {"spark.sql.ansi.enabled": "false"}


def _flag_expressions(rule_set: RuleSet) -> Callable[[DataFrame], DataFrame]:
    """Flags of the ``sql`` rules, their expressions analysed without ANSI mode: a row for which
    an expression cannot be computed (a division by zero, an overflow, a cast that fails) gets
    null, and passes (null passes, as in a SQL CHECK constraint), instead of failing the whole
    table's run at that row, on Glue 6.0 as on Glue 5.1. The frame stays one of the caller's
    session; only these expressions are analysed in a copy of it."""

    def transform(df: DataFrame) -> DataFrame:
        rules = rule_set.of_check("sql")
        if not rules:
            return df
        flags = {flag_column(rule.id): F.coalesce(rule.failing(), F.lit(False)) for rule in rules}
        spark = df.sparkSession
        # without a default: Spark's own (true on Spark 4, false on 3.5) when the key is unset
        if str(spark.conf.get("spark.sql.ansi.enabled")).lower() != "true":
            return df.withColumns(flags)
        return frame_in(frame_in(df, session_with(spark, LENIENT)).withColumns(flags), spark)

    return transform


def check_expressions(rule_set: RuleSet, df: DataFrame, source: str) -> None:
    """Every ``sql`` rule's expression parses and is a boolean condition on ``df``'s columns
    (analysed, not run), and every ``regex`` rule's pattern compiles as a Java regular expression
    (the engine ``rlike`` uses): a typo is a config error at the start, not a Spark error mid-run.

    Raises:
        ConfigError: naming the file, the rule and Spark's reason.
    """
    for rule in rule_set.of_check("regex"):
        # rlike compiles its pattern with java.util.regex when a task first evaluates it
        java_regex = df.sparkSession.sparkContext._jvm.java.util.regex.Pattern
        try:
            java_regex.compile(rule.pattern)
        except IllegalArgumentException as e:  # Java's PatternSyntaxException, converted
            reason = str(e).strip().splitlines()[0]
            raise ConfigError(f"{source}: rule '{rule.id}': pattern {rule.pattern!r}: expected "
                              f"a Java regular expression ({reason})") from None
    _check_literals(rule_set, df, source)
    for rule in rule_set.of_check("sql"):
        where = f"{source}: rule '{rule.id}': expression {rule.expression!r}"
        try:
            data_type = df.select(F.expr(rule.expression).alias("_condition")).schema[0].dataType
        except (ParseException, AnalysisException) as e:
            reason = str(e).strip().splitlines()[0]
            raise ConfigError(f"{where}: expected a Spark SQL condition on the table's columns "
                              f"({reason})") from None
        if not isinstance(data_type, T.BooleanType):
            raise ConfigError(f"{where}: expected a boolean condition, got {data_type.simpleString()}")


def _check_literals(rule_set: RuleSet, df: DataFrame, source: str) -> None:
    """Every ``in_set`` value and ``between`` bound is a value of its column's type. Spark casts
    it to that type to compare: under ANSI mode (Glue 6.0) ``"unknown"`` in the set of an
    ``int`` column fails the run at its first row, without ANSI it compares as null (the rule
    then fails or passes rows by accident). One Spark job, on a row of literals.

    Raises:
        ConfigError: naming the file, the rule, the value and the column's type.
    """
    literals = [(rule, value) for rule in rule_set.of_check("in_set") for value in rule.values]
    literals += [(rule, bound) for rule in rule_set.of_check("between")
                 for bound in (rule.min, rule.max) if bound is not None]
    typed = [(rule, value, df.schema[rule.column].dataType) for rule, value in literals
             if rule.column in df.columns]
    if not typed:
        return
    probe = df.sparkSession.range(1).select(
        *[F.lit(value).alias(f"v{i}") for i, (_, value, _) in enumerate(typed)])
    casts = probe.select(*[try_cast_sql(f"v{i}", data_type.simpleString()).isNull().alias(f"v{i}")
                           for i, (_, _, data_type) in enumerate(typed)]).first()
    for i, (rule, value, data_type) in enumerate(typed):
        if casts is not None and casts[f"v{i}"]:
            raise ConfigError(f"{source}: rule '{rule.id}': value {value!r} is not a "
                              f"{data_type.simpleString()}: expected values of column "
                              f"'{rule.column}' ({data_type.simpleString()})")


def metrics(rule_set: RuleSet, checks: Sequence[Check], *, as_of: datetime) -> list[Column]:
    """The aggregate columns :func:`judge` needs: row count, blocking rows, failing rows per row
    check, the statistics of ``aggregate`` rules and the freshness of ``freshness`` rules."""
    row_checks = [c for c in checks if c.level == "row"]
    columns: list[Column] = [
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(blocking(checks), 1)).alias("rows_bad"),
    ]
    columns += [
        F.count(F.when(F.col(flag_column(c.id)), 1)).alias(f"failed_{i}")
        for i, c in enumerate(row_checks)
    ]
    for i, rule in enumerate(rule_set.of_check("aggregate")):
        columns.append(rule.statistic_column().alias(f"stat_{i}"))
    for i, rule in enumerate(rule_set.of_check("freshness")):
        # judged inside Spark, so the session time zone (not the driver's) applies
        newest = F.max(F.col(f"`{rule.column}`"))
        columns.append(newest.cast("string").alias(f"newest_{i}"))
        columns.append(F.coalesce(newest >= F.lit(as_of - rule.age), F.lit(False))
                       .alias(f"fresh_{i}"))
    return columns


def judge(totals: Mapping[str, Any], rule_set: RuleSet, checks: Sequence[Check]) -> Measurement:
    """Outcomes of every check from the values of :func:`metrics`."""
    rows = int(totals["rows"])
    row_checks = [c for c in checks if c.level == "row"]
    outcomes = [
        _row_outcome(check, rows, int(totals[f"failed_{i}"])) for i, check in enumerate(row_checks)
    ]
    for rule in rule_set.of_check("row_count"):
        outcomes.append(_dataset_outcome(rule, rows, str(rows), rule.judge(rows)))
    for i, rule in enumerate(rule_set.of_check("aggregate")):
        value = totals[f"stat_{i}"]
        outcomes.append(_dataset_outcome(rule, rows, None if value is None else str(value),
                                         rule.judge(value)))
    for i, rule in enumerate(rule_set.of_check("freshness")):
        outcomes.append(
            _dataset_outcome(rule, rows, totals[f"newest_{i}"], bool(totals[f"fresh_{i}"]))
        )
    return Measurement(rows=rows, rows_bad=int(totals["rows_bad"]), outcomes=tuple(outcomes))


def measure(
    flagged: DataFrame,
    rule_set: RuleSet,
    checks: Sequence[Check],
    *,
    as_of: datetime | None = None,
) -> Measurement:
    """Count rows and failures of every check in one aggregation and judge every rule."""
    columns = metrics(rule_set, checks, as_of=as_of or datetime.now(UTC))
    return judge(flagged.agg(*columns).first().asDict(), rule_set, checks)


def measure_and_hold_bad_rows(
    flagged: DataFrame,
    rule_set: RuleSet,
    checks: Sequence[Check],
    *,
    table: str,
    run_id: str,
    as_of: datetime | None = None,
) -> tuple[Measurement, DataFrame]:
    """:func:`measure` and the quarantine records in one pass over the data.

    The counts are observed (``DataFrame.observe``) while the bad rows, usually few, are computed
    and cached; the caller writes them only if no ``fail`` rule failed, and unpersists them.
    Compared with measuring first and filtering bad rows later, this saves a full scan. On
    Spark 3.5 (see ``Stack.observes_through_cache``) it measures first, then caches.
    """
    columns = metrics(rule_set, checks, as_of=as_of or datetime.now(UTC))
    if not current_stack().observes_through_cache:
        measurement = judge(flagged.agg(*columns).first().asDict(), rule_set, checks)
        held = flagged.transform(bad_rows(table, run_id, checks)).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        held.count()
        return measurement, held
    observation = Observation("lakejobs_dq")
    held = (
        flagged.observe(observation, *columns)
        .transform(bad_rows(table, run_id, checks))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    held.count()  # the one pass: fills the cache and the observation
    return judge(observation.get, rule_set, checks), held


def blocking(checks: Sequence[Check]) -> Column:
    """True for a row failing at least one ``drop`` or ``fail`` check (from the flags)."""
    condition = F.lit(False)
    for check in checks:
        if check.level == "row" and check.severity != "warn":
            condition = condition | F.col(flag_column(check.id))
    return condition


def failures(checks: Sequence[Check]) -> Column:
    """The failed checks of a row: one struct (rule, severity, reason) each, in check order."""
    entries = [
        F.when(
            F.col(flag_column(c.id)),
            F.struct(F.lit(c.id).alias("rule"), F.lit(c.severity).alias("severity"),
                     F.lit(c.reason).alias("reason")),
        )
        for c in checks
        if c.level == "row"
    ]
    if not entries:
        return F.array().cast(FAILURE_TYPE)
    return F.filter(F.array(*entries), lambda f: f.isNotNull())


def good_rows(columns: Sequence[str], checks: Sequence[Check], keep: Sequence[str] = ()):
    """A transform keeping rows without blocking failures: ``columns``, the carried unknown
    fields (``_extra_columns``), ``_source_file``, the ids of failed ``warn`` checks
    (``_dq_warnings``) and the ``keep`` columns (lineage a caller added)."""
    warn = [c for c in checks if c.level == "row" and c.severity == "warn"]

    def transform(flagged: DataFrame) -> DataFrame:
        ids = [F.when(F.col(flag_column(c.id)), F.lit(c.id)) for c in warn]
        warnings = (F.filter(F.array(*ids), lambda i: i.isNotNull()) if ids
                    else F.array().cast("array<string>"))
        return flagged.where(~blocking(checks)).select(
            *[F.col(f"`{c}`") for c in columns],
            F.col("_extra_columns"),
            F.col("_source_file"),
            warnings.alias("_dq_warnings"),
            *[F.col(c) for c in keep],
        )

    return transform


def bad_rows(table: str, run_id: str, checks: Sequence[Check]):
    """A transform keeping rows with blocking failures, as quarantine records: the original
    record, where it came from and every failure."""

    def transform(flagged: DataFrame) -> DataFrame:
        raw = F.col("_raw_record")
        if not isinstance(flagged.schema["_raw_record"].dataType, T.StringType):
            raw = raw_record_json(raw)
        return flagged.where(blocking(checks)).select(
            F.lit(table).alias("table"),
            F.col("_source_file"),
            F.sha2(raw, 256).alias("record_hash"),
            raw.alias("raw_record"),
            failures(checks).alias("failures"),
            F.lit(run_id).alias("run_id"),
            F.current_timestamp().alias("quarantined_at"),
        )

    return transform


def _key_present(key: Sequence[str]) -> Column:
    # Rows whose key values are all null are not checked (GX ignores them too); otherwise null
    # equals null within a compound key, as in a GROUP BY.
    present = F.lit(False)
    for column in key:
        present = present | F.col(f"`{column}`").isNotNull()
    return present


def duplicated_keys(df: DataFrame, key: Sequence[str]) -> DataFrame:
    """The values of ``key`` that occur in more than one row of ``df``, as columns
    ``_dq_k0``, ``_dq_k1`` …; keys whose values are all null are left out."""
    return (
        df.where(_key_present(key))
        .groupBy(*[F.col(f"`{c}`") for c in key])
        .agg(F.count(F.lit(1)).alias("_dq_n"))
        .where(F.col("_dq_n") > 1)
        .select(*[F.col(f"`{c}`").alias(f"_dq_k{i}") for i, c in enumerate(key)])
    )


@contextmanager
def held_duplicated_keys(df: DataFrame, rule_set: RuleSet) -> Iterator[dict[str, DataFrame]]:
    """The duplicated keys of every uniqueness rule of ``rule_set`` in ``df``, cached while the
    block runs (for :func:`flag_rows`' ``duplicated``).

    A job that measures a batch and then writes it evaluates the flags twice; held, each
    uniqueness rule aggregates the batch once instead of once per pass.
    """
    held = {rule.id: duplicated_keys(df, rule.columns).persist()
            for rule in rule_set.row_rules if rule.check == "unique"}
    try:
        yield held
    finally:
        for frame in held.values():
            frame.unpersist()


def _flag_duplicates(df: DataFrame, keys: DataFrame, key: Sequence[str], flag: str) -> DataFrame:
    present = _key_present(key)
    # Broadcast: duplicated keys are the exception, so the set is small, and joining it by
    # shuffle would move every row of the batch. (A batch made mostly of duplicates needs a
    # driver big enough for its keys.)
    duplicated = F.broadcast(keys.withColumn(flag, F.lit(True)))
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
