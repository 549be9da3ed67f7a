"""Conforming landed records to their contract: casts, trims and normalisations, with a flag per
failed contract check instead of a silent null.

Input is a *landed* frame as :mod:`lakejobs.batch.landing` reads it: the contract's columns as
landed (text for JSON and CSV, typed for Parquet), ``_extra_columns`` (fields the contract does
not know, as text), ``_raw_record``, ``_malformed`` and ``_source_file``. Output has the contract's
columns with their contract types and one boolean ``_dq_flag__<check>`` column per contract check
(see :func:`contract_checks`), which the validation engine turns into reasons.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.contracts import ColumnContract, Contract
from lakejobs.batch.rules import Check, flag_column
from lakejobs.columns import fitting_value_cast_sql

E164 = r"^\+[1-9][0-9]{6,14}$"
LANDED_META = ("_extra_columns", "_raw_record", "_malformed", "_source_file")


def contract_checks(contract: Contract) -> list[Check]:
    """The checks a contract implies, in a stable order: malformed record, drift, then per column
    cast failure, null in a non-nullable column and failed normalisation."""
    checks = [
        Check(id="contract_malformed_record", check="contract", severity="drop",
              reason="malformed_record"),
        Check(id="contract_schema_drift", check="contract",
              severity="drop" if contract.drift == "quarantine" else "warn",
              reason="unknown_columns"),
    ]
    for column in contract.columns:
        if column.type != "string":
            checks.append(Check(id=f"contract_{column.name.lower()}_type", check="contract",
                                severity="drop", reason=f"not_{_type_word(column)}",
                                columns=(column.name,)))
        if not column.nullable:
            checks.append(Check(id=f"contract_{column.name.lower()}_required", check="contract",
                                severity="drop", reason="null", columns=(column.name,)))
        if column.normalize == "e164":
            checks.append(Check(id=f"contract_{column.name.lower()}_e164", check="contract",
                                severity="drop", reason="not_e164_phone",
                                columns=(column.name,)))
    return checks


def conform(contract: Contract) -> Callable[[DataFrame], DataFrame]:
    """A transform from a landed frame to contract-typed columns plus contract check flags."""

    def transform(landed: DataFrame) -> DataFrame:
        typed: list[Column] = []
        flags: dict[str, Column] = {
            "contract_malformed_record": F.col("_malformed"),
            "contract_schema_drift": F.coalesce(F.size("_extra_columns") > 0, F.lit(False)),
        }
        present = set(landed.columns)
        by_name = {c.name: c for c in contract.columns}

        def landed_value(column: ColumnContract) -> tuple[Column, Column, T.DataType | None]:
            """The conformed value, whether it is missing, and the landed type."""
            raw = F.col(f"`{column.name}`") if column.name in present else F.lit(None)
            landed_type = landed.schema[column.name].dataType if column.name in present else None
            value = _conformed(column, raw, landed_type or T.NullType())
            # blank text counts as missing; a typed value (Parquet) is only missing when null
            as_text = landed_type is None or isinstance(landed_type, T.StringType)
            return value, _blank(raw) if as_text else raw.isNull(), landed_type

        for column in contract.columns:
            value, missing, landed_type = landed_value(column)
            key = column.name.lower()
            # a value that is present but does not convert is a failure with a reason, never a
            # silent null; a malformed record is reported once, not once per column
            well_formed = ~F.col("_malformed")
            # a value that already has the contract's type cannot fail to convert
            as_typed = landed_type is not None and landed_type.simpleString() == column.type
            if column.fallback:
                other, other_missing, _ = landed_value(by_name[column.fallback])
                typed.append(F.coalesce(value, other).alias(column.name))
                missing_either = missing & other_missing
            else:
                typed.append(value.alias(column.name))
                missing_either = missing
            if column.type != "string":
                flags[f"contract_{key}_type"] = (
                    F.lit(False) if as_typed else well_formed & ~missing & value.isNull()
                )
            if not column.nullable:
                flags[f"contract_{key}_required"] = well_formed & missing_either
            if column.normalize == "e164":
                flags[f"contract_{key}_e164"] = (
                    well_formed & value.isNotNull() & ~value.rlike(E164)
                )
        return landed.select(
            *typed,
            *[F.col(name) for name in LANDED_META],
            *[condition.alias(flag_column(name)) for name, condition in flags.items()],
        )

    return transform


def _conformed(column: ColumnContract, raw: Column, landed_type: T.DataType) -> Column:
    if column.type == "string":
        text = raw.cast("string")
        if column.normalize == "none":
            return text
        text = F.nullif(F.trim(text), F.lit(""))
        if column.normalize in ("lower", "email"):
            return F.lower(text)
        if column.normalize == "upper":
            return F.upper(text)
        if column.normalize == "e164":
            return _e164(text, column.default_country_code)
        return text
    if landed_type.simpleString() == column.type:
        return raw
    name = f"`{column.name}`"
    # text is trimmed and a blank value counts as missing before it is converted
    text_sql = f"nullif(trim({name}), '')" if isinstance(landed_type, T.StringType) else name
    if isinstance(landed_type, T.NullType):
        return F.lit(None).cast(column.type)
    if column.type == "boolean" and isinstance(landed_type, T.StringType):
        lowered = F.lower(F.expr(text_sql))
        return (F.when(lowered.isin("true", "t", "yes", "y", "1"), F.lit(True))
                .when(lowered.isin("false", "f", "no", "n", "0"), F.lit(False)))
    # a value that does not convert becomes null, reported instead of failing the job; a typed
    # number converts as its text would (5.7 is no bigint, 19.995 no decimal(10,2)), so a
    # quarantined Parquet row replayed from its JSON gets the same verdict
    return fitting_value_cast_sql(text_sql, landed_type, column.type)


def _blank(raw: Column) -> Column:
    return raw.isNull() | (F.trim(raw.cast("string")) == "")


def _e164(text: Column, default_country_code: str | None) -> Column:
    """Phone numbers as E.164: separators removed, ``00`` turned into ``+``, a national number
    prefixed with the default country code (its trunk ``0`` dropped)."""
    digits = F.regexp_replace(text, r"[\s().\-/]", "")
    international = F.regexp_replace(digits, r"^00", "+")
    if default_country_code is None:
        return international
    national = F.regexp_replace(international, r"^0", "")
    return F.when(international.startswith("+"), international).otherwise(
        F.concat(F.lit(f"+{default_country_code}"), national)
    )


def _type_word(column: ColumnContract) -> str:
    return column.type.split("(")[0]
