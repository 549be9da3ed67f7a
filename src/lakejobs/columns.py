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


# Spark's text of a JSON number read as a string: an integer's digits as sent, any other number
# Java's Double.toString of it (so at most 17 significant digits survive)
JSON_NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+(E-?[0-9]+)?)?$"

# 0001-01-01 .. 9999-12-31, the range Spark documents for dates and timestamps; Spark parses
# text beyond it ("+10000-01-01") without complaint, but such a value is not a date of the data
MIN_DAY, MAX_DAY = -719_162, 2_932_896
MIN_MICROS, MAX_MICROS = -62_135_596_800_000_000, 253_402_300_799_999_999
FLOAT_MAX = 3.4028234663852886e38  # the largest finite float


def fitting_cast_sql(expression: str, type_sql: str) -> Column:
    """:func:`try_cast_sql`, and null too where Spark's cast accepts a value its type cannot
    hold: a number beyond ``float``'s range (cast to infinity, while a text that says "Infinity"
    or "NaN" keeps its value) and a date or timestamp outside years 1 to 9999. Decoders read
    such a null as a value that does not fit its type, like any other failed cast."""
    value = try_cast_sql(expression, type_sql)
    kind = type_sql.strip().lower()
    if kind in ("float", "real"):
        wide = F.abs(try_cast_sql(expression, "double"))
        overflows = (wide > F.lit(FLOAT_MAX)) & (wide != F.lit(float("inf"))) & ~F.isnan(wide)
        return F.when(~overflows, value)
    if kind == "date":
        return F.when(F.unix_date(value).between(MIN_DAY, MAX_DAY), value)
    if kind == "timestamp":
        return F.when(F.unix_micros(value).between(MIN_MICROS, MAX_MICROS), value)
    return value


# Spark reads a time of day alone ("10:15:30", "T10:15:30Z") as a timestamp of the current date,
# a value that changes with the day it is read: a timestamp's text must start with its year
# (Spark skips leading whitespace and control characters, and wants four or more year digits)
DATED_TEXT = r"^[\x00-\x20]*[+-]?[0-9]{4}"
# Spark reads "t", "y", "yes", "1" (and their "false" kin, and any of them padded with spaces)
# as booleans; a contract's boolean is JSON's: the text "true" or "false", in any case
BOOLEAN_TEXT = ("true", "false")


def fitting_text_cast_sql(text_sql: str, type_sql: str) -> Column:
    """:func:`fitting_cast_sql` of text, and null too for a timestamp's text that holds no date
    (Spark would take today's) and for a boolean's text other than "true" or "false" (any
    case)."""
    value = fitting_cast_sql(text_sql, type_sql)
    kind = type_sql.strip().lower()
    if kind in ("timestamp", "timestamp_ntz"):
        return F.when(F.expr(text_sql).rlike(DATED_TEXT), value)
    if kind in ("boolean", "bool"):
        return F.when(F.lower(F.expr(text_sql)).isin(*BOOLEAN_TEXT), value)
    return value


def failed_checks(checks: dict[str, Column]) -> Column:
    """An array of the names of the ``checks`` whose condition is true (empty when none is)."""
    flagged = F.array(*[F.when(condition, F.lit(name)) for name, condition in checks.items()])
    return F.filter(flagged, lambda reason: reason.isNotNull())
