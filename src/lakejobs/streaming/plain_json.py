"""Plain JSON topics: one JSON object per record, its fields checked against the route."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.json_values import (
    decimal_struct,
    numbers_of,
    text_struct,
    typed_struct,
    violation,
)
from lakejobs.streaming.reasons import CONTRACT_VIOLATION, MISSING_KEY, UNDECODABLE


def decode_json(fields: Sequence[FieldSpec], key_fields: Sequence[str] = (),
                value_col: str = "value") -> Callable[[DataFrame], DataFrame]:
    """Adds ``_row`` (typed struct of ``fields``), ``_error`` and ``_error_detail``."""
    fields = tuple(fields)

    # built once per route, applied to every batch
    text = F.col(value_col).cast("string")
    # from_json gives a struct of nulls for text that is not JSON: ask for an object first
    is_object = F.json_object_keys(text).isNotNull()
    # from_json and json_object_keys read the first document and ignore what follows it (more
    # documents, junk), which would vanish unlanded. In "[" + text + "]" a parser reads elements
    # up to the first "]" at the top level: one element there and two in "[" + text + ",0]"
    # means nothing follows the first document (a "]" after it would end both arrays at one)
    one_document = (
        (F.json_array_length(F.concat(F.lit("["), text, F.lit("]"))) == 1)
        & (F.json_array_length(F.concat(F.lit("["), text, F.lit(",0]"))) == 2))
    # a named column, read by the parse, the error and its detail: computed once per record
    shape = F.when(is_object, F.when(F.coalesce(one_document, F.lit(False)), F.lit("one"))
                   .otherwise(F.lit("trailing")))
    trailing = F.col("_json_shape") == "trailing"
    parsed = F.when(F.col("_json_shape") == "one", F.from_json(text, text_struct(fields)))
    decimals = decimal_struct(fields)
    exact = {} if decimals is None else {
        "_json_exact": F.when(F.col("_json_shape") == "one", F.from_json(text, decimals))}
    # string fields given a number Spark rewrites (1.50 read as "1.5") are refused
    numbers = numbers_of(text, "_json", fields)
    checks = {} if numbers is None else {"_json_numbers": numbers}
    problem = violation("_json", fields, numbers="_json_numbers" if checks else None,
                        exact="_json_exact" if exact else None)
    missing_key = F.lit(False)
    for key in key_fields:
        missing_key = missing_key | F.col(f"_json.`{key}`").isNull()
    error = (
        F.when(F.col("_json").isNull(), F.lit(UNDECODABLE))
        .when(missing_key, F.lit(MISSING_KEY))
        .when(problem.isNotNull(), F.lit(CONTRACT_VIOLATION))
    )
    detail = (
        F.when(trailing, F.lit("text after the JSON object: expected one JSON object per record"))
        .when(F.col("_json").isNull(), F.lit("not a JSON object"))
        .when(missing_key, F.lit(f"key {list(key_fields)} is missing"))
        .otherwise(problem)
    )
    row = typed_struct("_json", fields, exact="_json_exact" if exact else None)

    def transform(records: DataFrame) -> DataFrame:
        return (
            records.withColumn("_json_shape", shape)
            .withColumn("_json", parsed)
            .withColumns(exact)
            .withColumns(checks)
            .withColumn("_error", error)
            .withColumn("_error_detail", detail)
            .withColumn("_row", row)
            .drop("_json", "_json_shape", *exact, *checks)
        )

    return transform
