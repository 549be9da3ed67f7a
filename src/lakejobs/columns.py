"""Column helpers shared by the stages: ``Column -> Column`` functions."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def try_cast(name: str, type_sql: str) -> Column:
    """Cast a column, yielding null instead of an error when a value does not convert.

    SQL ``try_cast`` behaves the same with ANSI mode on (Spark 4's default) and off (Spark 3.5's),
    so a bad value becomes a reportable null on both stacks instead of failing the job.
    """
    return try_cast_sql(f"`{name}`", type_sql)


def try_cast_sql(expression: str, type_sql: str) -> Column:
    """:func:`try_cast` of a SQL expression (e.g. a nested field path ```s`.`f```); pyspark 3.5
    has no ``Column.try_cast``, hence SQL."""
    return F.expr(f"try_cast({expression} AS {type_sql})")


def failed_checks(checks: dict[str, Column]) -> Column:
    """An array of the names of the ``checks`` whose condition is true (empty when none is)."""
    flagged = F.array(*[F.when(condition, F.lit(name)) for name, condition in checks.items()])
    return F.filter(flagged, lambda reason: reason.isNotNull())
