"""Avro records in the Confluent wire format or the AWS Glue Schema Registry framing, each decoded
with its own writer schema.

Framings::

    confluent  0x00 | schema id (4 bytes, big-endian)                          | Avro body
    glue       0x03 | compression (0x00 none, 0x05 zlib) | schema version UUID (16 bytes) | body

How a batch is decoded:

1. The header of every record is read with Spark built-ins.
2. The distinct schema ids of the batch are collected on the driver (a bounded number) and each
   writer schema is fetched once from the registry, which caches it across batches.
3. Each id's bodies are read by one ``from_avro`` with that id's schema, guarded by
   ``CASE WHEN _schema_id = id``. All of them sit in one projection, so decoding reads the batch
   once and keeps one row per record by construction (a filter and a union per id would read the
   Kafka batch once per id, and any gap between the filters would lose records).
4. The declared fields are taken from the writer record by name and cast to their declared type
   (with :func:`~lakejobs.columns.fitting_value_cast_sql`, as the JSON decoders do, so a value
   its type cannot hold is a contract violation); a declared field that the writer schema lacks
   is null.
   Avro logical types (decimal, date, timestamp-millis/micros) already arrive as Spark decimals,
   dates and timestamps; a field's ``logical`` (a Debezium / Connect JSON encoding) plays no part
   here.

``from_avro`` runs in PERMISSIVE mode, where a body that does not parse yields a struct of nulls on
Spark 3.5 and 4.1 alike, indistinguishable from a record whose fields are all null. So it reads
with a reader schema that is the writer schema plus one boolean field defaulting to true: Avro
schema resolution fills it in for every body that parses, and it is null only for one that does
not. Avro reads a record and stops, so bytes after a whole record go unnoticed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.avro.functions import from_avro

from lakejobs.columns import fitting_value_cast_sql, try_cast_sql
from lakejobs.errors import ConfigError, ContractError
from lakejobs.local_rows import rows_frame
from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.reasons import (
    CONTRACT_VIOLATION,
    MISSING_KEY,
    UNDECODABLE,
    UNKNOWN_SCHEMA_ID,
)
from lakejobs.streaming.schema_registry import SchemaLookup

Framing = Literal["confluent", "glue"]

# More distinct writer schemas than this in one batch is not a topic's history but noise read
# as headers (e.g. a binary topic routed as Avro): stop rather than ask the registry for each.
MAX_SCHEMA_IDS = 1000
# A zlib body is inflated up to this size; a larger one is quarantined (a zip bomb would
# otherwise exhaust the executor's Python worker).
MAX_INFLATED_BYTES = 64 * 1024 * 1024
_MARKER = "lakejobs_decoded"
# Confluent schema ids are positive Java ints, allocated from 1. The header's 4 bytes are read
# unsigned, so noise read as a header can name an id the registry's REST API cannot parse, which
# it answers with a plain 404 rather than "schema not found" (40403).
_MAX_CONFLUENT_ID = 2**31 - 1
# Types whose same-typed Avro values can still be ones the lake cannot hold (an Avro date or
# timestamp beyond year 9999): these go through fitting_value_cast_sql even when no cast is needed.
_RANGE_GUARDED = (T.FloatType(), T.DateType(), T.TimestampType())
# Avro records, arrays and maps: a field declared string takes their JSON text.
_NESTED = (T.StructType, T.ArrayType, T.MapType)
# Glue framing: header version, compression codes.
_GLUE_VERSION = "03"
_GLUE_NONE, _GLUE_ZLIB = "00", "05"


def decode_avro(fields: Sequence[FieldSpec], registry: SchemaLookup, framing: Framing,
                value_col: str = "value", *, key_fields: Sequence[str] = (),
                max_schema_ids: int = MAX_SCHEMA_IDS) -> Callable[[DataFrame], DataFrame]:
    """Decode framed Avro values: adds ``_schema_id``, ``_row`` (the declared fields, typed;
    null when the record cannot land), ``_error`` and ``_error_detail``. One row out per row in.

    The transform runs one Spark job to collect the batch's distinct schema ids; persist a
    ``foreachBatch`` frame before decoding it, or Kafka is read twice.

    Args:
        fields: the route's landed columns.
        registry: where writer schemas come from (:class:`ConfluentRegistry` for the Confluent
            framing, :class:`GlueRegistry` for the Glue one).
        framing: ``confluent`` or ``glue``.
        value_col: the binary Kafka value column.
        key_fields: the route's key columns; a record where one is null (or that the writer
            schema lacks) is ``missing_key``, as in the JSON decoders.
        max_schema_ids: the most distinct writer schemas one batch may hold.

    Raises:
        ConfigError: ``framing`` is neither ``confluent`` nor ``glue``.
        ContractError: (when applied) the batch holds more than ``max_schema_ids`` schema ids.
        SchemaRegistryError: (when applied) the registry cannot be reached.
    """
    if framing not in ("confluent", "glue"):
        raise ConfigError(f"'framing' in decode_avro: expected 'confluent' or 'glue', got "
                          f"{framing!r}")
    fields = tuple(fields)
    key_fields = tuple(key_fields)

    def transform(records: DataFrame) -> DataFrame:
        header = _confluent_header if framing == "confluent" else _glue_header
        problem, parts = header(F.col(value_col))
        # two projections: the framing problem is computed once and the parts read it
        framed = records.select("*", problem.alias("_frame_error")).select("*", *parts)
        found = (framed.where(F.col("_frame_error").isNull()).groupBy("_schema_id")
                 .agg(F.max("_zlib").alias("_zlib")).limit(max_schema_ids + 1).collect())
        if len(found) > max_schema_ids:
            raise ContractError(f"{value_col}: more than {max_schema_ids} distinct schema ids in "
                                f"one batch: expected the few writer schemas of a topic (is it "
                                f"Avro in the {framing} framing?)")
        if any(row["_zlib"] for row in found):
            framed = _inflated(framed)
        writers = [_writer(framed, index, row["_schema_id"], registry, framing)
                   for index, row in enumerate(sorted(found, key=lambda r: r["_schema_id"]))]
        decoded = framed.select("*", *[w.decode() for w in writers if w.reader is not None])
        spark = records.sparkSession
        values, cases = _fields_and_cases(spark, writers, fields, key_fields)
        error, detail = _first_of(cases)
        row = F.struct(*[values[f.name].alias(f.name) for f in fields])
        return (
            decoded.withColumn("_error", error)
            .withColumn("_error_detail", detail)
            .withColumn("_row", F.when(F.col("_error").isNull(), row))
            .select(*[F.col(f"`{c}`") for c in records.columns],
                    "_schema_id", "_row", "_error", "_error_detail")
        )

    return transform


def _confluent_header(value: Column) -> tuple[Column, list[Column]]:
    """The framing problem of a record, then (given ``_frame_error``) its ``_schema_id``
    (decimal text), ``_body`` and ``_zlib``."""
    size = F.length(value)
    magic = F.hex(value.substr(1, 1))
    problem = (
        F.when(value.isNull(), F.lit("no value (a tombstone)"))
        .when(size < 5, F.concat(F.lit("too short for the Confluent header: "),
                                 size.cast("string"), F.lit(" bytes")))
        .when(magic != "00", F.concat(F.lit("magic byte 0x"), magic,
                                      F.lit(" is not 0x00 (not the Confluent wire format)")))
    )
    framed = F.col("_frame_error").isNull()
    return problem, [
        F.when(framed, F.conv(F.hex(value.substr(2, 4)), 16, 10)).alias("_schema_id"),
        F.when(framed, value.substr(F.lit(6), size)).alias("_body"),
        F.lit(False).alias("_zlib"),
    ]


def _glue_header(value: Column) -> tuple[Column, list[Column]]:
    """The framing problem of a record, then (given ``_frame_error``) its ``_schema_id``
    (canonical UUID), ``_body`` and ``_zlib``."""
    size = F.length(value)
    version = F.hex(value.substr(1, 1))
    compression = F.hex(value.substr(2, 1))
    problem = (
        F.when(value.isNull(), F.lit("no value (a tombstone)"))
        .when(size < 18, F.concat(F.lit("too short for the Glue Schema Registry header: "),
                                  size.cast("string"), F.lit(" bytes")))
        .when(version != _GLUE_VERSION, F.concat(
            F.lit("header version 0x"), version,
            F.lit(" is not 0x03 (not the Glue Schema Registry framing)")))
        .when(~compression.isin(_GLUE_NONE, _GLUE_ZLIB), F.concat(
            F.lit("compression byte 0x"), compression, F.lit(" is not 0x00 (none) or 0x05 (zlib)")))
    )
    framed = F.col("_frame_error").isNull()
    uuid_hex = F.lower(F.hex(value.substr(3, 16)))
    uuid = F.concat_ws("-", *[F.substring(uuid_hex, start, length)
                              for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))])
    return problem, [
        F.when(framed, uuid).alias("_schema_id"),
        F.when(framed, value.substr(F.lit(19), size)).alias("_body"),
        (framed & (compression == _GLUE_ZLIB)).alias("_zlib"),
    ]


def inflate(body: bytes | None) -> bytes | None:
    """A zlib body inflated, or None when it is corrupt, truncated or over MAX_INFLATED_BYTES."""
    if body is None:
        return None
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(bytes(body), MAX_INFLATED_BYTES)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof:
        return None
    return inflated


def _inflate(body: Column) -> Column:
    # A Python UDF, on purpose: Spark has no built-in that inflates zlib. It is applied only to
    # the zlib rows of a batch (a UDF under CASE WHEN would still see every row), so uncompressed
    # records never leave the JVM. Built when used, like the envelope's, and without Arrow so
    # that executors need no pyarrow for it.
    return F.udf(lambda b: inflate(b), T.BinaryType(), useArrow=False)(body)


def _inflated(framed: DataFrame) -> DataFrame:
    """The frame with zlib bodies inflated; a body that does not inflate is a framing error."""
    zlib_rows = F.col("_zlib")  # never null: false for every row with a framing error
    inflated = framed.where(zlib_rows).withColumn("_body", _inflate(F.col("_body"))).withColumn(
        "_frame_error", F.when(F.col("_body").isNull(), F.lit(
            f"zlib body does not inflate (corrupt, truncated or over {MAX_INFLATED_BYTES} "
            "bytes)")))
    return framed.where(~zlib_rows).unionByName(inflated)


@dataclass(frozen=True)
class _Writer:
    """One writer schema of a batch: how to read its bodies, or why they cannot be read."""

    schema_id: str
    column: str  # the decoded struct column
    schema: str | None = None
    reader: str | None = None  # writer schema + marker field; None: cannot be read
    marker: str = _MARKER
    struct: T.StructType | None = None
    problem: tuple[str, str] | None = None  # (reason, detail) of all its records

    def decode(self) -> Column:
        options = {"mode": "PERMISSIVE", "avroSchema": self.reader}
        return F.when(self.rows, from_avro(F.col("_body"), self.schema, options)).alias(
            self.column)

    @property
    def rows(self) -> Column:
        return F.col("_schema_id") == self.schema_id


def _writer(framed: DataFrame, index: int, schema_id: str, registry: SchemaLookup,
            framing: Framing) -> _Writer:
    """Fetch one writer schema and check that Spark can read bodies with it."""
    column = f"_avro_{index}"
    if framing == "confluent" and not 0 < int(schema_id) <= _MAX_CONFLUENT_ID:
        return _Writer(schema_id, column, problem=(
            UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not a schema registry id (1 to "
            f"{_MAX_CONFLUENT_ID})"))
    schema = registry.schema(int(schema_id) if framing == "confluent" else schema_id)
    if schema is None:
        return _Writer(schema_id, column, problem=(
            UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not in the schema registry"))
    unreadable = _Writer(schema_id, column, problem=(
        UNDECODABLE, f"writer schema {schema_id} is not an Avro record schema Spark can read"))
    try:
        record = json.loads(schema)
    except ValueError:
        return unreadable
    if not isinstance(record, dict) or record.get("type") != "record" or not isinstance(
            record.get("fields"), list):
        return unreadable
    names = {f["name"] for f in record["fields"]
             if isinstance(f, dict) and isinstance(f.get("name"), str)}
    # Spark resolves struct fields case-insensitively (spark.sql.caseSensitive is false by
    # default), so fields "id" and "ID", distinct in Avro, make a reference to either ambiguous
    # and fail the whole batch
    folded = {n.lower() for n in names}
    if len(folded) < len(names):
        return _Writer(schema_id, column, problem=(
            UNDECODABLE, f"writer schema {schema_id} has field names that differ only in case, "
            "which Spark cannot tell apart"))
    marker = _MARKER
    while marker in folded:  # lower case, so the marker clashes with no field in any case
        marker += "_"
    reader = json.dumps({**record, "fields": [
        *record["fields"], {"name": marker, "type": "boolean", "default": True}]})
    writer = _Writer(schema_id, column, schema, reader, marker)
    try:
        # analysis only, no job: Spark parses the schema here and fails on one it cannot map
        struct = framed.select(writer.decode()).schema[0].dataType
    except (Py4JJavaError, PySparkException):
        return unreadable
    assert isinstance(struct, T.StructType)  # from_avro of a record schema
    return _Writer(schema_id, column, schema, reader, marker, struct)


Case = tuple[Column, str, Column]  # (condition, reason, detail)


def _fields_and_cases(spark: SparkSession, writers: Sequence[_Writer],
                      fields: Sequence[FieldSpec], key_fields: Sequence[str]
                      ) -> tuple[dict[str, Column], list[Case]]:
    """Each declared field's value over all writers, and the error cases in order (per writer,
    as in the JSON decoders: undecodable, then missing key, then contract violation)."""
    values = {f.name: F.lit(None).cast(f.type) for f in fields}
    cases: list[Case] = [(F.col("_frame_error").isNotNull(), UNDECODABLE, F.col("_frame_error"))]
    castable: dict[tuple[str, str], bool] = {}
    for writer in writers:
        if writer.problem is not None:
            reason, detail = writer.problem
            cases.append((writer.rows, reason, F.lit(detail)))
            continue
        assert writer.struct is not None
        parsed = F.col(writer.column).getField(writer.marker).isNotNull()
        cases.append((writer.rows & ~parsed, UNDECODABLE,
                      F.lit(f"body does not parse with writer schema {writer.schema_id}")))
        if key_fields:
            missing_key = F.lit(False)
            for key in key_fields:
                missing_key = missing_key | (
                    F.col(f"`{writer.column}`.`{key}`").isNull() if key in writer.struct.names
                    else F.lit(True))
            cases.append((writer.rows & missing_key, MISSING_KEY,
                          F.lit(f"key {list(key_fields)} is missing")))
        problems = []
        for field in fields:
            value, field_problems = _field(spark, writer, field, castable)
            values[field.name] = F.when(writer.rows, value).otherwise(values[field.name])
            problems.extend(field_problems)
        if problems:
            violation = F.coalesce(*problems)
            cases.append((writer.rows & violation.isNotNull(), CONTRACT_VIOLATION, violation))
    return values, cases


def _field(spark: SparkSession, writer: _Writer, field: FieldSpec,
           castable: dict[tuple[str, str], bool]) -> tuple[Column, list[Column]]:
    """One declared field read from a writer's record: its value and what can be wrong with it."""
    assert writer.struct is not None
    if field.name not in writer.struct.names:
        absent = F.lit(f"{field.name}: missing (not in writer schema {writer.schema_id})")
        return F.lit(None).cast(field.type), [] if field.nullable else [absent]
    path = f"`{writer.column}`.`{field.name}`"
    raw = F.col(path)
    source = writer.struct[field.name].dataType
    problems = []
    same_type = source == field.data_type
    if same_type and field.data_type not in _RANGE_GUARDED:
        value = raw
    elif isinstance(source, _NESTED) and isinstance(field.data_type, T.StringType):
        # a record, array or map as its JSON text, as the JSON decoders land one: Spark's cast
        # to string drops field names and quotes (["a, b"] and ["a", "b"] both "[a, b]")
        value = F.to_json(raw)
    elif same_type or (_can_try_cast(spark, source, field.type, castable)
                       and not _number_as_boolean(source, field.data_type)):
        value = fitting_value_cast_sql(path, source, field.type)
        problems.append(F.when(raw.isNotNull() & value.isNull(), F.concat(
            F.lit(f"{field.name}: cannot convert '"), F.substring(raw.cast("string"), 1, 80),
            F.lit(f"' to {field.type}"))))
    else:
        value = F.lit(None).cast(field.type)
        problems.append(F.when(raw.isNotNull(), F.lit(
            f"{field.name}: writer type {source.simpleString()} does not convert to {field.type}")))
    if not field.nullable:
        problems.append(F.when(raw.isNull(), F.lit(f"{field.name}: missing")))
    return value, problems


def _number_as_boolean(source: T.DataType, target: T.DataType) -> bool:
    """Spark casts any non-zero number to true; a contract's boolean is a boolean (or its text,
    as in the JSON decoders, where a number is no boolean either)."""
    return isinstance(source, T.NumericType) and isinstance(target, T.BooleanType)


def _can_try_cast(spark: SparkSession, source: T.DataType, target: str,
                  known: dict[tuple[str, str], bool]) -> bool:
    """Whether Spark accepts ``try_cast`` from ``source`` to ``target``: an analysis-time rule
    that differs between Spark versions and ANSI settings, so Spark is asked (once per pair, on an
    empty frame) rather than a table kept here."""
    key = (source.json(), target)
    if key not in known:
        probe = rows_frame(spark, [], T.StructType([T.StructField("v", source)]))
        try:
            probe.select(try_cast_sql("v", target))
            known[key] = True
        except AnalysisException:
            known[key] = False
    return known[key]


def _first_of(cases: Sequence[Case]) -> tuple[Column, Column]:
    """The reason and detail of the first case that holds (nulls when none does)."""
    error = F.lit(None).cast("string")
    detail = F.lit(None).cast("string")
    for condition, reason, text in reversed(cases):
        error = F.when(condition, F.lit(reason)).otherwise(error)
        detail = F.when(condition, text).otherwise(detail)
    return error, detail
