"""Column helpers shared by the stages: ``Column -> Column`` functions."""

from __future__ import annotations

import re

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T


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


# digits of the largest value of each integral type (bigint: 9223372036854775807)
INTEGRAL_DIGITS = {"tinyint": 3, "byte": 3, "smallint": 5, "short": 5, "int": 10,
                   "integer": 10, "bigint": 19, "long": 19}
_DECIMAL = re.compile(r"^(?:decimal|dec|numeric)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")


def decimal_precision_scale(type_sql: str) -> tuple[int, int] | None:
    """(precision, scale) of a decimal type's SQL name (``decimal`` alone is ``decimal(10,0)``);
    None for other types."""
    match = _DECIMAL.match(type_sql.strip().lower())
    if match is None:
        return None
    return int(match.group(1) or 10), int(match.group(2) or 0)


def wide_scale(precision: int, scale: int) -> int:
    """The scale of ``decimal(38, …)`` with the integer digits of ``decimal(precision, scale)``
    and as many more fraction digits as fit: a value read as it keeps the digits a cast to the
    narrower type would round away (a cast to a decimal rounds half up, silently)."""
    return min(38, scale + 38 - precision)


def wide_decimal(data_type: T.DecimalType) -> T.DecimalType:
    """The decimal type of :func:`wide_scale` for ``data_type``."""
    return T.DecimalType(38, wide_scale(data_type.precision, data_type.scale))


def wide_decimal_sql(precision: int, scale: int) -> str:
    """The SQL name of the decimal type of :func:`wide_scale`."""
    return f"decimal(38, {wide_scale(precision, scale)})"


def fitting_cast_sql(expression: str, type_sql: str) -> Column:
    """:func:`try_cast_sql`, and null too where Spark's cast accepts a value its type cannot
    hold: a number beyond ``float``'s range (cast to infinity, while a text that says "Infinity"
    or "NaN" keeps its value), a date or timestamp outside years 1 to 9999, and a number with
    more fraction digits than a decimal's scale (``19.995`` for ``decimal(10,2)``, which Spark
    rounds to ``20.00``; ``19.990`` fits: its value has two). Decoders read such a null as a
    value that does not fit its type, like any other failed cast."""
    value = try_cast_sql(expression, type_sql)
    kind = type_sql.strip().lower()
    decimal = decimal_precision_scale(kind)
    if decimal is not None:
        return F.when(value == try_cast_sql(expression, wide_decimal_sql(*decimal)), value)
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
    case). A number's text for an integral type may have a fraction of zeros or an exponent
    (``3.0``, ``1.0E7``: a whole number, as JSON Schema's ``integer`` takes it, and as a Parquet
    double's value converts); a fraction that is not zero does not convert."""
    value = fitting_cast_sql(text_sql, type_sql)
    kind = type_sql.strip().lower()
    if kind in ("timestamp", "timestamp_ntz"):
        return F.when(F.expr(text_sql).rlike(DATED_TEXT), value)
    if kind in ("boolean", "bool"):
        return F.when(F.lower(F.expr(text_sql)).isin(*BOOLEAN_TEXT), value)
    decimal = decimal_precision_scale(kind)
    if decimal is not None:
        # digits past the wide type's scale are rounded by the check's own cast: in plain
        # notation the text tells them
        return F.when(~_digits_past_scale(text_sql, decimal[1]), value)
    if kind in INTEGRAL_DIGITS:
        return F.coalesce(value, _whole_number(text_sql, kind))
    return value


def fitting_value_cast_sql(expression: str, source: T.DataType, type_sql: str) -> Column:
    """The fitting cast of a value of type ``source``: text as :func:`fitting_text_cast_sql`; a
    ``float``, ``double`` or decimal for an integral or decimal type by its number's shortest
    text (a ``float`` means ``0.1``, not the ``0.10000000149011612`` a cast through a double
    makes of it; a cast to an integral type would truncate ``5.7`` to ``5``), so a typed number
    converts exactly when its JSON text does; anything else as :func:`fitting_cast_sql`."""
    if isinstance(source, T.StringType):
        return fitting_text_cast_sql(expression, type_sql)
    kind = type_sql.strip().lower()
    numeric = kind in INTEGRAL_DIGITS or decimal_precision_scale(kind) is not None
    if numeric and isinstance(source, (T.FloatType, T.DoubleType, T.DecimalType)):
        return fitting_text_cast_sql(f"CAST({expression} AS STRING)", type_sql)
    return fitting_cast_sql(expression, type_sql)


def _digits_past_scale(text_sql: str, scale: int) -> Column:
    """Whether a number's text in plain notation has a digit other than 0 past ``scale`` fraction
    digits (false for other text)."""
    return F.coalesce(F.expr(text_sql).rlike(
        rf"^\s*[+-]?[0-9]*\.[0-9]{{{scale}}}[0-9]*[1-9][0-9]*\s*$"), F.lit(False))


def _whole_number(text_sql: str, kind: str) -> Column:
    """The integral value of a number's text with a fraction of zeros or an exponent (null when
    it has another fraction or does not fit ``kind``)."""
    wide = f"try_cast({text_sql} AS decimal(38, {38 - INTEGRAL_DIGITS[kind]}))"
    whole = F.expr(f"{wide} = floor({wide})") & ~_digits_past_scale(text_sql, 0)
    return F.when(whole, F.expr(f"try_cast({wide} AS {kind})"))


def failed_checks(checks: dict[str, Column]) -> Column:
    """An array of the names of the ``checks`` whose condition is true (empty when none is)."""
    flagged = F.array(*[F.when(condition, F.lit(name)) for name, condition in checks.items()])
    return F.filter(flagged, lambda reason: reason.isNotNull())
