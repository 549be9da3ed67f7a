"""A landing column as the streaming contract manifest declares it: name, Spark type, encoding.

The decoders (:mod:`lakejobs.streaming.debezium`, :mod:`lakejobs.streaming.avro_wire`) turn
wire values into these columns; ``logical`` names how the source encodes the value (Debezium /
Kafka Connect semantic type, e.g. ``io.debezium.time.MicroTimestamp``) when its JSON form is not
the Spark type's own.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyspark.sql import types as T

SPARK_TYPE = re.compile(
    r"^(string|boolean|tinyint|smallint|int|bigint|float|double|date|timestamp|binary|"
    r"decimal\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\))$"
)
DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
MAX_PRECISION = 38  # Spark's

# Debezium / Kafka Connect semantic types the decoders understand.
LOGICAL_TYPES = (
    "io.debezium.time.Date",
    "io.debezium.time.Time",
    "io.debezium.time.MicroTime",
    "io.debezium.time.NanoTime",
    "io.debezium.time.Timestamp",
    "io.debezium.time.MicroTimestamp",
    "io.debezium.time.NanoTimestamp",
    "io.debezium.time.ZonedTimestamp",
    "io.debezium.time.ZonedTime",
    "org.apache.kafka.connect.data.Date",
    "org.apache.kafka.connect.data.Time",
    "org.apache.kafka.connect.data.Timestamp",
    "org.apache.kafka.connect.data.Decimal",
    "io.debezium.data.VariableScaleDecimal",
)


class FieldSpec(BaseModel):
    """One landing column of a route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    type: str = Field("string", description="Spark SQL type of the landed column")
    nullable: bool = True
    logical: str | None = Field(
        None, description="source encoding (Debezium / Connect semantic type); null: plain JSON"
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower()
        if not SPARK_TYPE.match(value):
            raise ValueError(
                "expected a Spark SQL type: string, boolean, tinyint, smallint, int, bigint, "
                "float, double, date, timestamp, binary or decimal(p,s)"
            )
        decimal = DECIMAL.fullmatch(value)
        if decimal:
            # Spark refuses these only when a batch is decoded: every batch would fail
            precision, scale = int(decimal[1]), int(decimal[2])
            if not 1 <= precision <= MAX_PRECISION or scale > precision:
                raise ValueError(
                    f"{value}: expected decimal(p,s) with a precision p from 1 to "
                    f"{MAX_PRECISION} and a scale s of at most p"
                )
        return value

    @field_validator("logical")
    @classmethod
    def _known_logical(cls, value: str | None) -> str | None:
        if value is not None and value not in LOGICAL_TYPES:
            raise ValueError(f"expected one of {', '.join(LOGICAL_TYPES)}")
        return value

    @property
    def data_type(self) -> T.DataType:
        return T._parse_datatype_string(self.type)


def struct_of(fields: tuple[FieldSpec, ...] | list[FieldSpec]) -> T.StructType:
    """The Spark struct of a route's landed columns."""
    return T.StructType([T.StructField(f.name, f.data_type, f.nullable) for f in fields])
