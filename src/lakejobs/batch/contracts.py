"""Table contracts: the columns, types, keys and allowed evolution of a staging table, as data.

A contract lives in ``conf/contracts/<table>.yaml`` (bundled in the wheel) or at a path or
``s3://`` URI given to the job. Example::

    table: customers
    format: json            # landing file format: json, parquet or csv
    keys: [customer_id]
    drift: carry            # unknown columns: carry (in _extra_columns) or quarantine the row
    evolution: additive     # staging may gain new nullable columns; anything else is an error
    columns:
      - {name: customer_id, type: bigint, nullable: false}
      - {name: email, type: string, normalize: email}
      - {name: phone, type: string, normalize: e164, default_country_code: "44"}
      - {name: updated_at, type: timestamp, nullable: false}
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pyspark.sql import types as T

from lakejobs.config.documents import load_document

_TYPE = re.compile(
    r"^(string|boolean|tinyint|smallint|int|bigint|float|double|date|timestamp|"
    r"decimal\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\))$"
)
Normalisation = Literal["none", "trim", "lower", "upper", "email", "e164"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(_Model):
    """One column: its Spark SQL type, nullability and normalisation."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    type: str = "string"
    nullable: bool = True
    normalize: Normalisation = "trim"
    default_country_code: Annotated[str, Field(pattern=r"^[1-9]\d{0,2}$")] | None = Field(
        None, description="for e164: country code of numbers written without one"
    )
    comment: str | None = None
    fallback: str | None = Field(
        None, description="a column of the same type whose value is taken when this one is "
        "missing (e.g. a CDC commit time that file drops do not carry: fall back to updated_at)")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower()
        if not _TYPE.match(value):
            raise ValueError(
                "expected a Spark SQL type: string, boolean, tinyint, smallint, int, bigint, "
                "float, double, date, timestamp or decimal(p,s)"
            )
        return value

    @model_validator(mode="after")
    def _normalisation_fits_type(self) -> ColumnContract:
        if self.normalize not in ("none", "trim") and self.type != "string":
            raise ValueError(f"normalize '{self.normalize}' applies to string columns only")
        return self

    @property
    def data_type(self) -> T.DataType:
        return T._parse_datatype_string(self.type)


class Contract(_Model):
    """The contract of one table."""

    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$")]
    version: int = Field(1, ge=1)
    format: Literal["json", "parquet", "csv"] = "json"
    keys: tuple[str, ...] = ()
    drift: Literal["carry", "quarantine"] = "carry"
    evolution: Literal["additive", "none"] = "additive"
    columns: tuple[ColumnContract, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _keys_are_columns(self) -> Contract:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("expected unique column names")
        for key in self.keys:
            if key not in names:
                raise ValueError(f"key '{key}' is not a column: expected one of {names}")
        types = {c.name: c.type for c in self.columns}
        for column in self.columns:
            if column.fallback is None:
                continue
            if types.get(column.fallback) != column.type or column.fallback == column.name:
                raise ValueError(
                    f"column '{column.name}': fallback '{column.fallback}': expected another "
                    f"column of type {column.type}")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def schema(self) -> T.StructType:
        """The staging schema of the contract's columns."""
        return T.StructType(
            [
                T.StructField(c.name, c.data_type, c.nullable, {"comment": c.comment or ""})
                for c in self.columns
            ]
        )


def load_contract(location: str) -> Contract:
    """Read a contract from YAML (local path or ``s3://``).

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    return load_document(location, Contract)
