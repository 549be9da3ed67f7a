"""Typed columns from JSON text, where a value that does not fit its type is an error, not a null.

Fields are first read as text (Spark keeps a field's JSON text when it is read as a string, so a
number, a string or a nested object all survive), then cast with ``try_cast`` (and refused
where Spark would accept a value the type cannot hold, a timestamp without a date, or a boolean
other than "true"/"false": see :func:`~lakejobs.columns.fitting_text_cast_sql`): a value present
in the JSON whose cast yields null is a contract violation, and so is a missing value of a
non-nullable field.

A ``string`` field takes a JSON string, or a JSON integer or boolean (Spark copies their text as
sent). A JSON number with a fraction or an exponent is a contract violation: Spark reads it
through a double and would land its rewrite (``1.50`` as ``"1.5"``, ``1E3`` as ``"1000.0"``,
``1e400`` as ``"\"Infinity\""``), a value the producer never sent (see :func:`number_struct`).
A JSON object or array lands as Spark's compact JSON text of it, its numbers rewritten the same
way (through a double: digits past the 17th lost, ``1e400`` as ``"Infinity"``); unlike a number
standing alone, nothing in that text tells a rewrite from what was sent, so it is not refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import (
    JSON_NUMBER_TEXT,
    fitting_cast_sql,
    fitting_text_cast_sql,
    wide_decimal,
)
from lakejobs.streaming.fields import FieldSpec

# Spark's text of a JSON number with a fraction or an exponent (Java's Double.toString; quoted
# for what a double cannot hold): a JSON string may read so too, which :func:`number_struct` tells
REWRITTEN_NUMBER = r'^(-?[0-9]+\.[0-9]+(E-?[0-9]+)?|"(NaN|-?Infinity)")$'


def number_struct(fields: Sequence[FieldSpec]) -> T.StructType | None:
    """The ``string`` fields as doubles (None when there are none). Read so, a field is null for
    a JSON string (Spark reads none as a double but "NaN" and "Infinity"-like words, whose text
    does not match :data:`REWRITTEN_NUMBER`) and a number for a JSON number: with the field's
    text matching :data:`REWRITTEN_NUMBER`, it marks a number Spark rewrote."""
    strings = [T.StructField(f.name, T.DoubleType(), True) for f in fields if f.type == "string"]
    return T.StructType(strings) if strings else None


def numbers_of(text: Column, parsed: str, fields: Sequence[FieldSpec]) -> Column | None:
    """The :func:`number_struct` of the JSON ``text`` whose text struct column is ``parsed``,
    read only for a record where a string field's text reads like a rewritten number (rare: the
    second parse costs those records only); null for the others. None when no field is a
    string."""
    numbers = number_struct(fields)
    if numbers is None:
        return None
    return F.when(reads_rewritten([f"`{parsed}`"], numbers.names), F.from_json(text, numbers))


def reads_rewritten(parents: Sequence[str], names: Sequence[str]) -> Column:
    """Whether a field ``name`` of a struct at one of the SQL paths ``parents`` holds text that
    reads like a number Spark rewrote (:data:`REWRITTEN_NUMBER`; false for nulls)."""
    suspect = F.lit(False)
    for parent in parents:
        for name in names:
            suspect = suspect | F.coalesce(
                F.col(f"{parent}.`{name}`").rlike(REWRITTEN_NUMBER), F.lit(False))
    return suspect


def rewritten(text: Column, number: Column) -> Column:
    """Whether a string field's ``text`` is Spark's rewrite of a JSON number (``number``: the
    field read as a double, see :func:`number_struct`)."""
    return text.rlike(REWRITTEN_NUMBER) & number.isNotNull()


def text_struct(fields: Sequence[FieldSpec]) -> T.StructType:
    """Every field as a string: the schema that reads JSON without losing anything."""
    return T.StructType([T.StructField(f.name, T.StringType(), True) for f in fields])


def decimal_struct(fields: Sequence[FieldSpec]) -> T.StructType | None:
    """The decimal fields as decimals (None when there are none): read so, a JSON number keeps
    every digit, while its text (see :func:`text_struct`) is Spark's rewrite of it as a double,
    17 significant digits at most. Each is read with more fraction digits than its type
    (:func:`~lakejobs.columns.wide_decimal`): Spark would round a number to the field's
    scale, and a number with more digits than that does not fit."""
    decimals = [T.StructField(f.name, wide_decimal(f.data_type), True) for f in fields
                if isinstance(f.data_type, T.DecimalType)]
    return T.StructType(decimals) if decimals else None


def typed_struct(parsed: str, fields: Sequence[FieldSpec], exact: str | None = None) -> Column:
    """The struct of ``fields`` cast from the text struct column named ``parsed``; a decimal
    field holding a number from the :func:`decimal_struct` column named ``exact`` when given
    (its text is a double's rewrite of it: see :func:`decimal_struct`)."""
    return F.struct(*[_value(parsed, f, exact).alias(f.name) for f in fields])


def violation(parsed: str, fields: Sequence[FieldSpec], numbers: str | None = None,
              exact: str | None = None) -> Column:
    """Why the text struct column ``parsed`` breaks ``fields`` (null when it does not): the first
    field whose value does not convert, or that is missing though not nullable; ``numbers``: the
    column of :func:`numbers_of` (a string field given a number Spark rewrites is refused);
    ``exact``: the column of :func:`decimal_struct` (a decimal field's number fits when its
    exact value does: see :func:`typed_struct`)."""
    problems = []
    for field in fields:
        text = F.col(f"`{parsed}`.`{field.name}`")
        if numbers is not None and field.type == "string":
            problems.append(F.when(
                rewritten(text, F.col(f"`{numbers}`.`{field.name}`")), F.concat(
                    F.lit(f"{field.name}: a JSON number with a fraction or an exponent (Spark's "
                          "text of it: '"), text,
                    F.lit("'): expected a JSON string or an integer"))))
        cast_failed = text.isNotNull() & _value(parsed, field, exact).isNull()
        problems.append(F.when(cast_failed, F.concat(
            F.lit(f"{field.name}: cannot decode '"), F.substring(text, 1, 80),
            F.lit(f"' as {field.type}"))))
        if not field.nullable:
            problems.append(F.when(text.isNull(), F.lit(f"{field.name}: missing")))
    return F.coalesce(*problems) if problems else F.lit(None).cast("string")


def _value(parsed: str, field: FieldSpec, exact: str | None) -> Column:
    """A field's typed value: cast from its text, or for a decimal holding a number, its exact
    value from the struct column ``exact`` when that holds it (a JSON string keeps its text)."""
    cast = _cast(parsed, field)
    if exact is None or not isinstance(field.data_type, T.DecimalType):
        return cast
    number = F.col(f"`{parsed}`.`{field.name}`").rlike(JSON_NUMBER_TEXT)
    path = f"`{exact}`.`{field.name}`"
    return F.when(number & F.col(path).isNotNull(),
                  fitting_cast_sql(path, field.type)).otherwise(cast)



def _cast(parsed: str, field: FieldSpec) -> Column:
    path = f"`{parsed}`.`{field.name}`"
    if field.type == "string":
        return F.col(path)
    return fitting_text_cast_sql(path, field.type)
