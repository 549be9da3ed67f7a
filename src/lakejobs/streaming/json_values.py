"""Typed columns from JSON text, where a value that does not fit its type is an error, not a null.

Fields are first read as text (Spark keeps a field's JSON text when it is read as a string, so a
number, a string or a nested object all survive), then cast with ``try_cast`` (and refused
where Spark would accept a value the type cannot hold, a timestamp without a date, or a boolean
other than "true"/"false": see :func:`~lakejobs.columns.fitting_text_cast_sql`): a value present
in the JSON whose cast yields null is a contract violation, and so is a missing value of a
non-nullable field.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import fitting_text_cast_sql
from lakejobs.streaming.fields import FieldSpec


def text_struct(fields: Sequence[FieldSpec]) -> T.StructType:
    """Every field as a string: the schema that reads JSON without losing anything."""
    return T.StructType([T.StructField(f.name, T.StringType(), True) for f in fields])


def decimal_struct(fields: Sequence[FieldSpec]) -> T.StructType | None:
    """The decimal fields as their own type (None when there are none): read so, a JSON number
    keeps every digit, while its text (see :func:`text_struct`) is Spark's rewrite of it as a
    double, 17 significant digits at most."""
    decimals = [T.StructField(f.name, f.data_type, True) for f in fields
                if isinstance(f.data_type, T.DecimalType)]
    return T.StructType(decimals) if decimals else None


def typed_struct(parsed: str, fields: Sequence[FieldSpec], exact: str | None = None) -> Column:
    """The struct of ``fields`` cast from the text struct column named ``parsed``; decimal
    fields from the :func:`decimal_struct` column named ``exact`` when given (where their text
    converts: which values fit is decided on the text, as by :func:`violation`)."""
    def value(field: FieldSpec) -> Column:
        cast = _cast(parsed, field)
        if exact is None or not isinstance(field.data_type, T.DecimalType):
            return cast
        return F.when(cast.isNotNull(), F.coalesce(F.col(f"`{exact}`.`{field.name}`"), cast))

    return F.struct(*[value(f).alias(f.name) for f in fields])


def violation(parsed: str, fields: Sequence[FieldSpec]) -> Column:
    """Why the text struct column ``parsed`` breaks ``fields`` (null when it does not): the first
    field whose value does not convert, or that is missing though not nullable."""
    problems = []
    for field in fields:
        text = F.col(f"`{parsed}`.`{field.name}`")
        cast_failed = text.isNotNull() & _cast(parsed, field).isNull()
        problems.append(F.when(cast_failed, F.concat(
            F.lit(f"{field.name}: cannot decode '"), F.substring(text, 1, 80),
            F.lit(f"' as {field.type}"))))
        if not field.nullable:
            problems.append(F.when(text.isNull(), F.lit(f"{field.name}: missing")))
    return F.coalesce(*problems) if problems else F.lit(None).cast("string")


def _cast(parsed: str, field: FieldSpec) -> Column:
    path = f"`{parsed}`.`{field.name}`"
    if field.type == "string":
        return F.col(path)
    return fitting_text_cast_sql(path, field.type)
