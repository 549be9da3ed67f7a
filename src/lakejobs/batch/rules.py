"""Data-quality rules as data: typed rule models and the ``Column`` each one evaluates to.

A rule set is read from YAML (``conf/rules/<table>.yaml``) or from a Great Expectations suite
(``expectations/<table>.json``, see :mod:`lakejobs.batch.suites`); both become the same frozen
models. A *row rule* yields a boolean ``Column`` that is true where a row fails it; a *dataset
rule* (row count, freshness) is judged once per run from aggregates. Uniqueness and referential
integrity are row rules whose failing rows are found with one join (see
:mod:`lakejobs.batch.validate`).

Null handling follows Great Expectations, so that the engine's failure counts equal GX's
unexpected counts: every check except ``not_null`` ignores null values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pyspark.sql import Column
from pyspark.sql import functions as F

Severity = Literal["warn", "drop", "fail"]
RULE_ID = r"^[a-z][a-z0-9_]{0,127}$"
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=RULE_ID)]
    severity: Severity = "drop"
    description: str | None = None

    #: row rules mark failing rows; dataset rules are judged once from aggregates
    level: Literal["row", "dataset"] = "row"
    #: the reason code a failing row carries
    reason: str = "failed"

    @property
    def columns(self) -> tuple[str, ...]:
        return ()


class _ColumnRule(_Rule):
    column: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def failing(self) -> Column:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def _col(self) -> Column:
        return F.col(f"`{self.column}`")


class NotNull(_ColumnRule):
    """The column holds a value in every row."""

    check: Literal["not_null"] = "not_null"
    reason: str = "null"

    def failing(self) -> Column:
        return self._col().isNull()


class Between(_ColumnRule):
    """Values lie between ``min`` and ``max`` (inclusive unless strict); either bound optional."""

    check: Literal["between"] = "between"
    reason: str = "out_of_range"
    min: Any = None
    max: Any = None
    strict_min: bool = False
    strict_max: bool = False

    @model_validator(mode="after")
    def _has_a_bound(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("expected at least one of 'min' and 'max'")
        return self

    def failing(self) -> Column:
        value = self._col()
        outside = F.lit(False)
        if self.min is not None:
            low = F.lit(self.min)
            outside = outside | (value <= low if self.strict_min else value < low)
        if self.max is not None:
            high = F.lit(self.max)
            outside = outside | (value >= high if self.strict_max else value > high)
        return value.isNotNull() & outside


class InSet(_ColumnRule):
    """Values are one of ``values``."""

    check: Literal["in_set"] = "in_set"
    reason: str = "not_in_set"
    values: tuple[Any, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _without_null(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        # nulls are not checked, so a null in the set allows nothing; kept, it would make every
        # value outside the set compare as null (SQL's IN) and pass instead of failing
        values = tuple(v for v in value if v is not None)
        if not values:
            raise ValueError("expected at least one value that is not null")
        return values

    def failing(self) -> Column:
        return self._col().isNotNull() & ~self._col().isin(list(self.values))


class Regex(_ColumnRule):
    """Values match ``pattern`` somewhere (Java regex, ``re.search`` semantics; anchor it).

    The pattern is compiled by Spark's (Java's) regex engine when the rules are checked against
    the data (:func:`lakejobs.batch.validate.check_expressions`): Python's ``re`` accepts
    patterns Java refuses (``(?P<name>…)``) and refuses ones Java accepts (``\\p{Lu}``)."""

    check: Literal["regex"] = "regex"
    reason: str = "pattern_mismatch"
    pattern: str

    def failing(self) -> Column:
        as_text = self._col().cast("string")
        return as_text.isNotNull() & ~as_text.rlike(self.pattern)


class Length(_ColumnRule):
    """Text length lies between ``min`` and ``max`` characters (inclusive)."""

    check: Literal["length"] = "length"
    reason: str = "length_out_of_range"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _has_a_bound(self) -> Length:
        if self.min is None and self.max is None:
            raise ValueError("expected at least one of 'min' and 'max'")
        return self

    def failing(self) -> Column:
        length = F.length(self._col().cast("string"))
        outside = F.lit(False)
        if self.min is not None:
            outside = outside | (length < self.min)
        if self.max is not None:
            outside = outside | (length > self.max)
        return self._col().isNotNull() & outside


class Expression(_Rule):
    """A Spark SQL condition every row must meet; a row fails where it is false (null passes,
    as in a SQL CHECK constraint)."""

    check: Literal["sql"] = "sql"
    reason: str = "expression_false"
    expression: str = Field(min_length=1)

    def failing(self) -> Column:
        return F.coalesce(~F.expr(self.expression), F.lit(False))


class Unique(_Rule):
    """No two rows share a value of ``columns``. Every row of a duplicated group fails; rows with
    a null in any key column are not checked (as in Great Expectations)."""

    check: Literal["unique"] = "unique"
    reason: str = "duplicate_key"
    key: tuple[str, ...] = Field(alias="columns", min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key


class References(_Rule):
    """Every non-null value of ``columns`` exists in ``ref_columns`` of the staging ``table``."""

    check: Literal["references"] = "references"
    reason: str = "missing_reference"
    key: tuple[str, ...] = Field(alias="columns", min_length=1)
    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$")]
    ref_columns: tuple[str, ...] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key

    @property
    def target_columns(self) -> tuple[str, ...]:
        return self.ref_columns or self.key

    @model_validator(mode="after")
    def _same_arity(self) -> References:
        if self.ref_columns is not None and len(self.ref_columns) != len(self.key):
            raise ValueError("expected as many 'ref_columns' as 'columns'")
        return self


class RowCount(_Rule):
    """The batch holds between ``min`` and ``max`` rows."""

    check: Literal["row_count"] = "row_count"
    level: Literal["row", "dataset"] = "dataset"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)
    severity: Severity = "fail"

    def judge(self, row_count: int) -> bool:
        return (self.min is None or row_count >= self.min) and (
            self.max is None or row_count <= self.max
        )


class Aggregate(_Rule):
    """A column statistic (``min``, ``max``, ``mean``, ``sum``, ``stdev``) lies between ``min``
    and ``max`` (inclusive; either bound optional). Nulls are left out, as in SQL aggregates."""

    check: Literal["aggregate"] = "aggregate"
    level: Literal["row", "dataset"] = "dataset"
    column: str
    statistic: Literal["min", "max", "mean", "sum", "stdev"]
    min: float | None = None
    max: float | None = None
    severity: Severity = "warn"

    @model_validator(mode="after")
    def _has_a_bound(self) -> Aggregate:
        if self.min is None and self.max is None:
            raise ValueError("expected at least one of 'min' and 'max'")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def statistic_column(self) -> Column:
        functions = {"min": F.min, "max": F.max, "mean": F.avg, "sum": F.sum,
                     "stdev": F.stddev_samp}
        return functions[self.statistic](F.col(f"`{self.column}`"))

    def judge(self, value: Any) -> bool:
        if value is None:
            return False
        return (self.min is None or float(value) >= self.min) and (
            self.max is None or float(value) <= self.max
        )


class Freshness(_Rule):
    """The newest ``column`` value is at most ``max_age`` (``30m``, ``24h``, ``2d``) old."""

    check: Literal["freshness"] = "freshness"
    level: Literal["row", "dataset"] = "dataset"
    column: str
    max_age: str
    severity: Severity = "warn"

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value.strip()):
            raise ValueError("expected a duration such as '30m', '24h' or '2d'")
        return value.strip()

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def age(self) -> timedelta:
        amount, unit = _DURATION.match(self.max_age).groups()  # type: ignore[union-attr]
        return timedelta(**{_DURATION_UNITS[unit]: int(amount)})


Rule = Annotated[
    NotNull | Between | InSet | Regex | Length | Expression | Unique | References | RowCount
    | Aggregate | Freshness,
    Field(discriminator="check"),
]
ROW_CHECKS = ("not_null", "between", "in_set", "regex", "length", "sql")


class RuleSet(BaseModel):
    """The rules of one table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$")]
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id '{rule.id}' is used twice: expected unique ids")
            seen.add(rule.id)
            if rule.level == "dataset" and rule.severity == "drop":
                raise ValueError(
                    f"rule '{rule.id}' ({rule.check}) is judged on the whole batch: expected "
                    "severity 'warn' or 'fail', not 'drop'"
                )
        return self

    def by_id(self) -> Mapping[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def of_check(self, *checks: str) -> list[Any]:
        return [rule for rule in self.rules if rule.check in checks]

    @property
    def row_rules(self) -> list[Any]:
        return [rule for rule in self.rules if rule.level == "row"]

    @property
    def dataset_rules(self) -> list[Any]:
        return [rule for rule in self.rules if rule.level == "dataset"]


class Check(BaseModel):
    """What the engine needs to know about one check, whether a rule or implied by a contract."""

    model_config = ConfigDict(frozen=True)

    id: str
    check: str
    severity: Severity
    reason: str
    level: Literal["row", "dataset"] = "row"
    columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, rule: Any) -> Check:
        return cls(id=rule.id, check=rule.check, severity=rule.severity, reason=rule.reason,
                   level=rule.level, columns=tuple(rule.columns))


def flag_column(check_id: str) -> str:
    """Name of the boolean column that is true where a row fails ``check_id``."""
    return f"_dq_flag__{check_id}"
