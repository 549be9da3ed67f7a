"""Debezium change events (JSON) decoded into a route's typed columns.

A record's value is a Debezium envelope, with the JsonConverter's ``{"schema": …, "payload": …}``
wrapper (``schemas.enable=true``) or without it: ``{"before", "after", "source", "op", "ts_ms"}``.
A null value is a tombstone; its Kafka key (JSON, wrapped or not) names the deleted row. A
truncate event (op ``t`` in a value) names no row: it is quarantined as undecodable.

The route's :class:`~lakejobs.streaming.fields.FieldSpec` list is the contract: each field is read
as JSON text (one ``from_json`` per record; Spark keeps the text of a string-typed field, nested
objects included) and decoded by its declared ``logical`` type:

- ``io.debezium.time.Date``, ``org.apache.kafka.connect.data.Date`` (days since epoch): ``date``.
- ``io.debezium.time.Timestamp``, ``org.apache.kafka.connect.data.Timestamp`` (ms),
  ``MicroTimestamp`` (µs), ``NanoTimestamp`` (ns): ``timestamp``. ``ZonedTimestamp`` (ISO-8601
  with ``Z`` or an offset, 0-9 fraction digits): ``timestamp``, the same instant.
- ``io.debezium.time.Time``, ``org.apache.kafka.connect.data.Time`` (ms of day), ``MicroTime``
  (µs), ``NanoTime`` (ns), ``ZonedTime`` (``10:15:30.5+02:00``): Spark has no time type, so the
  field is declared ``string`` (``HH:mm:ss.SSSSSS``, always six fraction digits) or ``bigint``
  (microseconds of the day). A ``ZonedTime`` is normalised to UTC.
- ``org.apache.kafka.connect.data.Decimal`` (``decimal.handling.mode=precise``): base64 of the
  big-endian two's-complement unscaled value; the scale is the record schema's
  ``parameters.scale`` when the wrapper carries it, else the declared type's. ``decimal(p,s)``.
- ``io.debezium.data.VariableScaleDecimal`` (``{"scale": 2, "value": "<base64>"}``): ``decimal``.
- no logical type: the JSON value cast to the declared type (numbers, numeric strings as
  ``decimal.handling.mode=string`` sends them, booleans, ISO dates and timestamps; ``binary`` from
  base64, as the JsonConverter writes bytes). A ``string`` field takes a JSON string, integer or
  boolean, landed as sent; a number with a fraction or an exponent is a contract violation
  (Spark reads it through a double: ``1.50`` would land as ``"1.5"``), in a value's images and
  in a tombstone's key alike.

Spark keeps microseconds: nanoseconds (``NanoTime``, ``NanoTimestamp``, a ``ZonedTimestamp`` with
more than six fraction digits) are truncated towards the past. A decimal whose record scale is
larger than the declared one is rounded half-up to it, as a cast would. An unquoted JSON number is
kept through a double when read as text, so decimals in ``decimal.handling.mode=double`` are
exact to 15 significant digits (as the connector's doubles are); the precise and string modes
are exact at any precision. Dates and timestamps
outside years 1 to 9999, and numbers beyond a ``float`` field's range, do not fit their type:
contract violations, whatever their encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import MAX_DAY, MAX_MICROS, MIN_DAY, MIN_MICROS, fitting_text_cast_sql
from lakejobs.columns import try_cast_sql as _try_cast
from lakejobs.errors import ConfigError
from lakejobs.streaming.fields import FieldSpec
from lakejobs.streaming.json_values import number_struct, reads_rewritten, rewritten
from lakejobs.streaming.reasons import CONTRACT_VIOLATION, MISSING_KEY, UNDECODABLE

OPS = ("c", "u", "d", "r")
TOMBSTONE = "t"
# a value whose own op is "t": Debezium's truncate event, which names no row (only a null value
# is a tombstone); marked apart so that it is quarantined, never taken for a tombstone
TRUNCATE = "truncate"
OUTPUT_COLUMNS = ("_op", "_row", "_before", "_source", "_ts_ms", "_commit_position", "_error",
                  "_error_detail")
SOURCE_FIELDS = ("connector", "name", "db", "schema", "table", "ts_ms", "snapshot", "lsn",
                 "change_lsn", "commit_lsn", "event_serial_no", "file", "pos", "row", "scn",
                 "commit_scn")

DECIMAL = "org.apache.kafka.connect.data.Decimal"
VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
ZONED_TIME = "io.debezium.time.ZonedTime"
ZONED_TIMESTAMP = "io.debezium.time.ZonedTimestamp"
DAYS = ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date")
# integer encodings of a time of day / an instant, by unit
TIME_UNITS = {"io.debezium.time.Time": "ms", "org.apache.kafka.connect.data.Time": "ms",
              "io.debezium.time.MicroTime": "us", "io.debezium.time.NanoTime": "ns"}
TIMESTAMP_UNITS = {"io.debezium.time.Timestamp": "ms",
                   "org.apache.kafka.connect.data.Timestamp": "ms",
                   "io.debezium.time.MicroTimestamp": "us", "io.debezium.time.NanoTimestamp": "ns"}

DAY_MICROS = 86_400_000_000
ZONE_SUFFIX = r"(Z|[+-][0-9]{2}:[0-9]{2}(:[0-9]{2})?)$"
ZONED_TIME_TEXT = r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?" + ZONE_SUFFIX

# The parts of a wrapper's Connect schema that carry per-field parameters (the decimal scale).
FIELD_PARAMS = T.ArrayType(T.StructType([
    T.StructField("field", T.StringType()),
    T.StructField("parameters", T.MapType(T.StringType(), T.StringType())),
]))
VALUE_SCHEMA = T.StructType([T.StructField("fields", T.ArrayType(T.StructType([
    T.StructField("field", T.StringType()), T.StructField("fields", FIELD_PARAMS)])))])
KEY_SCHEMA = T.StructType([T.StructField("fields", FIELD_PARAMS)])


def decode_debezium(fields: Sequence[FieldSpec], key_fields: Sequence[str] = (),
                    value_col: str = "value", key_col: str = "key"
                    ) -> Callable[[DataFrame], DataFrame]:
    """Decode Debezium JSON change events into typed columns; one row out per row in.

    Keeps the input columns and adds ``_op`` (``c``/``u``/``d``/``r``, ``t`` for a tombstone),
    ``_row`` (the declared fields, typed: ``after`` for c/u/r, ``before`` for d, the key fields
    of the Kafka key for a tombstone), ``_before``, ``_source`` (connector, name, db, schema,
    table, ts_ms, snapshot and the commit position fields), ``_ts_ms``, ``_commit_position``
    (orders one table's changes as strings), ``_error`` (``undecodable``, ``contract_violation``,
    ``missing_key``) and ``_error_detail``. An undecodable record has null decoded columns; a
    record with another error keeps what decoded.

    Args:
        fields: the route's landed columns; the contract the events are decoded against.
        key_fields: the fields that identify a row (must be among ``fields``).
        value_col: the Kafka value column (binary or string, JSON).
        key_col: the Kafka key column, read for tombstones.

    Raises:
        ConfigError: a key field is not declared, or a logical type does not fit its field type.
    """
    fields, key_fields = tuple(fields), tuple(key_fields)
    _check_declaration(fields, key_fields)
    keys = [f for f in fields if f.name in key_fields]
    wants_params = any(f.logical == DECIMAL for f in fields)
    envelope = _envelope_schema(fields, wants_params)
    key_schema = _key_schema(keys)

    # Every expression is built here, once per route, not per batch: building them is hundreds of
    # calls into the JVM, more driver time than decoding a small batch takes.
    tombstone = F.col(value_col).isNull()
    value = F.from_json(F.col(value_col).cast("string"), envelope)
    key = F.when(tombstone, F.from_json(F.col(key_col).cast("string"), key_schema))
    images = _images(fields, keys, key_schema, tombstone, wants_params)
    numbers = _numbers(fields, keys, key_schema, tombstone, F.col(value_col).cast("string"),
                       F.col(key_col).cast("string"))
    # each field is decoded in a few steps, each a named column the next reads by name: Spark
    # evaluates a named value once, and SQL try_cast needs a name
    plans = {f"__dbz_{image}_{f.name}": _steps(
        f"`__dbz_{image}`.`{f.name}`", f, f"__dbz_{image}_{f.name}",
        f"__dbz_{image}_params" if wants_params else None,
        f"`__dbzn_{image}`.`{f.name}`" if numbers else None)
        for image in ("row", "before") for f in fields}
    steps = [{column: plan[step] for column, plan in plans.items() if step < len(plan)}
             for step in range(max((len(p) for p in plans.values()), default=0))]
    # the checks are named columns too: each is read several times below (the error and its
    # detail), and a named value is computed once per record
    checks = _checks(fields, keys)
    outputs = _outputs(fields, keys)

    def transform(records: DataFrame) -> DataFrame:
        decoded = records.withColumn("__dbz", value)
        if keys:  # the key is read only where it is needed: for tombstones
            decoded = decoded.withColumn("__dbz_key", key)
        decoded = decoded.withColumns(images)
        for step in numbers:
            decoded = decoded.withColumns(step)
        for step in steps:
            decoded = decoded.withColumns(step)
        decoded = decoded.withColumns(checks)
        kept = [c for c in records.columns if c not in OUTPUT_COLUMNS]
        return decoded.select(*kept, *outputs)

    return transform


def _check_declaration(fields: tuple[FieldSpec, ...], key_fields: tuple[str, ...]) -> None:
    names = [f.name for f in fields]
    unknown = [k for k in key_fields if k not in names]
    if unknown:
        raise ConfigError(f"debezium key_fields {unknown} are not fields: expected some of "
                          f"{names}")
    for field in fields:
        expected = _types_for(field.logical)
        if expected and not any(field.type.startswith(t) for t in expected):
            raise ConfigError(f"debezium field '{field.name}': logical type {field.logical} "
                              f"decodes to {' or '.join(expected)}, not {field.type}")


def _types_for(logical: str | None) -> tuple[str, ...]:
    """The field types a logical type can be decoded to (empty: any)."""
    if logical in DAYS:
        return ("date",)
    if logical in TIME_UNITS or logical == ZONED_TIME:
        return ("string", "bigint")
    if logical in TIMESTAMP_UNITS or logical == ZONED_TIMESTAMP:
        return ("timestamp",)
    if logical in (DECIMAL, VARIABLE_SCALE_DECIMAL):
        return ("decimal",)
    return ()


def _text_struct(fields: Sequence[FieldSpec]) -> T.StructType:
    return T.StructType([T.StructField(f.name, T.StringType()) for f in fields])


def _envelope_schema(fields: tuple[FieldSpec, ...], wants_params: bool) -> T.StructType:
    """Both envelope shapes in one schema, so that each record is parsed once."""
    image = _text_struct(fields)
    source = _text_struct([FieldSpec(name=n) for n in SOURCE_FIELDS])
    envelope = [T.StructField("before", image), T.StructField("after", image),
                T.StructField("source", source), T.StructField("op", T.StringType()),
                T.StructField("ts_ms", T.StringType())]
    wrapper = [T.StructField("payload", T.StructType(envelope))]
    if wants_params:
        wrapper.append(T.StructField("schema", VALUE_SCHEMA))
    return T.StructType(envelope + wrapper)


def _key_schema(keys: list[FieldSpec]) -> T.StructType:
    key = _text_struct(keys)
    if {"payload", "schema"} & {k.name for k in keys}:
        return key  # a key column named like the wrapper: read unwrapped keys only
    wrapper = [T.StructField("payload", key)]
    if any(k.logical == DECIMAL for k in keys):
        wrapper.append(T.StructField("schema", KEY_SCHEMA))
    return T.StructType(key.fields + wrapper)


def _images(fields: tuple[FieldSpec, ...], keys: list[FieldSpec], key_schema: T.StructType,
            tombstone: Column, wants_params: bool) -> dict[str, Column]:
    """The envelope's parts, unwrapped: op, the row and before images (as text), source, ts_ms."""
    wrapped = F.col("__dbz.payload").isNotNull()

    def part(name: str) -> Column:
        return F.when(wrapped, F.col(f"__dbz.payload.{name}")).otherwise(F.col(f"__dbz.{name}"))

    key_names = {k.name for k in keys}

    def key_has(part: str) -> bool:
        return _key_wrapper_has(part, key_schema, key_names)

    wrapped_key = key_has("payload")
    key_image = F.struct(*[
        (_key_field("__dbz_key", f.name, wrapped_key) if f.name in key_names
         else F.lit(None).cast("string")).alias(f.name)
        for f in fields])
    is_delete = part("op") == "d"
    images = {
        "__dbz_op": F.when(tombstone, F.lit(TOMBSTONE))
        .when(part("op") == TOMBSTONE, F.lit(TRUNCATE)).otherwise(part("op")),
        "__dbz_row": F.when(tombstone, key_image).when(is_delete, part("before"))
        .otherwise(part("after")),
        "__dbz_before": part("before"),
        "__dbz_source": part("source"),
        "__dbz_ts_ms": part("ts_ms"),
    }
    if wants_params:
        key_params = (F.col("__dbz_key.schema.fields") if key_has("schema")
                      else F.lit(None).cast(FIELD_PARAMS))
        images["__dbz_row_params"] = F.when(tombstone, key_params).when(
            is_delete, _schema_of("before")).otherwise(_schema_of("after"))
        images["__dbz_before_params"] = _schema_of("before")
    return images


def _numbers(fields: tuple[FieldSpec, ...], keys: list[FieldSpec], key_schema: T.StructType,
             tombstone: Column, text: Column, key_text: Column) -> list[dict[str, Column]]:
    """Working columns (two steps) that read the ``string`` fields of the row and before images
    as doubles (see :func:`~lakejobs.streaming.json_values.number_struct`): only for a record
    where one of them reads like a number Spark rewrote. Empty when no field is a string.
    A tombstone's row is its Kafka key's fields (``key_text``, read with ``key_schema``): they
    are read so from the key, so that a tombstone naming ``1.50`` is refused as a value is,
    never landed as a delete of ``"1.5"``."""
    numbers = number_struct([f for f in fields if not f.logical])  # a time's text is not read
    if numbers is None:
        return []
    envelope = [T.StructField("before", numbers), T.StructField("after", numbers)]
    schema = T.StructType([*envelope, T.StructField("payload", T.StructType(envelope))])
    suspect = reads_rewritten([f"__dbz.{image}" for image in (
        "before", "after", "payload.before", "payload.after")], numbers.names)
    wrapped = F.col("__dbz.payload").isNotNull()

    def part(name: str) -> Column:
        return F.when(wrapped, F.col(f"__dbzn.payload.{name}")).otherwise(F.col(f"__dbzn.{name}"))

    is_delete = F.col("__dbz_op") == "d"
    first = {"__dbzn": F.when(suspect, F.from_json(text, schema))}
    row = F.when(is_delete, part("before")).otherwise(part("after"))
    key_numbers = number_struct([k for k in keys if not k.logical])
    if key_numbers is not None:
        first["__dbzn_key"], key_row = _key_numbers(key_numbers, numbers, key_schema,
                                                    {k.name for k in keys}, tombstone, key_text)
        row = F.when(tombstone, key_row).otherwise(row)
    else:
        row = F.when(~tombstone, row)
    return [first, {"__dbzn_row": row, "__dbzn_before": part("before")}]


def _key_wrapper_has(part: str, key_schema: T.StructType, key_names: set[str]) -> bool:
    """Whether the key schema reads the JsonConverter wrapper's ``part`` (not a key column of
    that name, see :func:`_key_schema`)."""
    return part in key_schema.fieldNames() and part not in key_names


def _key_field(parsed: str, name: str, wrapped: bool) -> Column:
    """A key field of the parsed key column ``parsed``: the wrapper payload's when the key has
    one (``wrapped``: the schema reads the wrapper), else the field itself."""
    plain = F.col(f"`{parsed}`.`{name}`")
    if not wrapped:
        return plain
    # the payload is tested on the parsed key text (__dbz_key), whichever column is read
    return F.when(F.col("__dbz_key.payload").isNotNull(),
                  F.col(f"`{parsed}`.`payload`.`{name}`")).otherwise(plain)


def _key_numbers(key_numbers: T.StructType, numbers: T.StructType, key_schema: T.StructType,
                 key_names: set[str], tombstone: Column, key_text: Column
                 ) -> tuple[Column, Column]:
    """The ``string`` key fields of a tombstone's Kafka key read as doubles (only where one reads
    like a rewritten number), and the row of :func:`_numbers` they make: the key fields, the
    payload's when the key is wrapped (as :func:`_images` reads the key), null for the others."""
    wrapper = _key_wrapper_has("payload", key_schema, key_names)
    schema = T.StructType([*key_numbers.fields,
                           *([T.StructField("payload", key_numbers)] if wrapper else [])])
    parents = ["__dbz_key", *(["__dbz_key.payload"] if wrapper else [])]
    suspect = tombstone & reads_rewritten(parents, key_numbers.names)

    def number(name: str) -> Column:
        if name not in key_numbers.names:
            return F.lit(None).cast("double")
        return _key_field("__dbzn_key", name, wrapper)

    return (F.when(suspect, F.from_json(key_text, schema)),
            F.struct(*[number(name).alias(name) for name in numbers.names]))


def _schema_of(image: str) -> Column:
    """The wrapper schema's fields of ``before`` or ``after`` (null without the wrapper)."""
    part = F.get(F.filter("__dbz.schema.fields", lambda f: f["field"] == image), 0)
    return part["fields"]


def _steps(raw: str, field: FieldSpec, column: str, params: str | None,
           number: str | None = None) -> list[Column]:
    """The successive values of working ``column`` that decode the JSON text at SQL path ``raw``
    into ``field``; a step reads the previous one as ``column``; ``number``: the SQL path of a
    string field read as a double (see :func:`_numbers`)."""
    text, previous = F.col(raw), F.col(column)
    logical = field.logical
    if logical in DAYS:
        days = _try_cast(raw, "int")
        return [F.when(days.between(MIN_DAY, MAX_DAY), F.date_from_unix_date(days))]
    if logical in TIMESTAMP_UNITS:
        micros = _micros(_try_cast(raw, "bigint"), TIMESTAMP_UNITS[logical])
        return [micros, F.when(previous.between(MIN_MICROS, MAX_MICROS),
                               F.timestamp_micros(previous))]
    if logical == ZONED_TIMESTAMP:
        # without a zone Spark would read the session's: require one, as Debezium writes it
        return [F.when(text.rlike(ZONE_SUFFIX), fitting_text_cast_sql(raw, "timestamp"))]
    if logical in TIME_UNITS or logical == ZONED_TIME:
        if logical == ZONED_TIME:
            instant = _try_cast(f"concat('1970-01-01T', {raw})", "TIMESTAMP")
            micros = F.when(text.rlike(ZONED_TIME_TEXT),
                            F.pmod(F.unix_micros(instant), F.lit(DAY_MICROS)))
        else:
            micros = _micros(_try_cast(raw, "bigint"), TIME_UNITS[logical])
        of_day = [micros, F.when(previous.between(0, DAY_MICROS), previous)]
        return of_day if field.type == "bigint" else [*of_day, _time_text(previous)]
    if logical in (DECIMAL, VARIABLE_SCALE_DECIMAL):
        if logical == DECIMAL:
            # Debezium pads its base64; try_to_binary would also take an unpadded text
            base64 = F.when(F.length(text) % 4 == 0, text)
            scale = F.coalesce(_record_scale(params, field.name), F.lit(field.data_type.scale))
        else:
            value = F.regexp_extract(text, r'"value"\s*:\s*"([A-Za-z0-9+/=]+)"', 1)
            scale_text = F.regexp_extract(text, r'"scale"\s*:\s*(-?[0-9]{1,4})[,}\s]', 1)
            base64 = F.when(value != "", value)
            scale = F.when(scale_text != "", scale_text.cast("int"))
        return [
            F.struct(F.hex(F.try_to_binary(base64, F.lit("base64"))).alias("hex"),
                     scale.alias("scale")),
            _decimal_text(previous["hex"], previous["scale"]),
            _try_cast(f"`{column}`", field.type),
        ]
    if field.type == "string":
        # a JSON number Spark rewrote (1.50 read as "1.5") does not decode: never landed changed
        return [text if number is None else F.when(~rewritten(text, F.col(number)), text)]
    if field.type == "binary":
        return [F.try_to_binary(text, F.lit("base64"))]
    return [fitting_text_cast_sql(raw, field.type)]


def _div(dividend: Column, divisor: int) -> Column:
    # SQL integral division: `/` goes through double, which loses nanoseconds since the epoch
    return F.call_function("div", dividend, F.lit(divisor))


def _micros(number: Column, unit: str) -> Column:
    """Microseconds from a count of ``unit``; nanoseconds rounded down (towards the past)."""
    if unit == "ms":
        return F.when(number.between(-(2**63 // 1000), 2**63 // 1000), number * 1000)
    if unit == "ns":  # div truncates towards zero; a negative remainder takes one more step
        behind = (number < 0) & (F.pmod(number, F.lit(1000)) != 0)
        return _div(number, 1000) - F.when(behind, 1).otherwise(0)
    return number


def _time_text(micros: Column) -> Column:
    """``HH:mm:ss.SSSSSS`` of microseconds of the day, whatever the session time zone."""
    return F.when(micros.isNotNull(), F.format_string(
        "%02d:%02d:%02d.%06d", _div(micros, 3_600_000_000),
        F.pmod(_div(micros, 60_000_000), F.lit(60)), F.pmod(_div(micros, 1_000_000), F.lit(60)),
        F.pmod(micros, F.lit(1_000_000))))


def _record_scale(params: str | None, name: str) -> Column:
    """The scale the record's own schema gives the field (null when it gives none)."""
    if params is None:
        return F.lit(None).cast("int")
    entry = F.get(F.filter(params, lambda f: f["field"] == name), 0)
    scale = entry["parameters"].getItem("scale")
    return F.when(scale.rlike("^-?[0-9]{1,4}$"), scale.cast("int"))


def _decimal_text(hexa: Column, scale: Column) -> Column:
    """``<unscaled>E<-scale>`` from the hex digits of a big-endian two's-complement integer.

    ``conv`` reads at most 64 bits: up to 8 bytes the number is sign-extended to 64 bits and read
    as a signed long; 9 to 16 bytes (precision above 18) are read as two unsigned halves joined in
    ``decimal(38,0)``, a negative number through its ones' complement ``-x - 1``, which is not
    negative. More than 16 bytes cannot fit ``decimal(38)``.
    """
    digits = F.length(hexa)
    negative = F.substring(hexa, 1, 1) >= "8"  # the sign bit
    short = F.conv(F.when(negative, F.lpad(hexa, 16, "F")).otherwise(hexa), 16, -10)
    ones = F.when(negative, F.translate(hexa, "0123456789ABCDEF", "FEDCBA9876543210")
                  ).otherwise(hexa)
    padded = F.lpad(ones, 32, "0")
    high = F.conv(F.substring(padded, 1, 16), 16, 10).cast("decimal(20,0)")
    low = F.conv(F.substring(padded, 17, 16), 16, 10).cast("decimal(20,0)")
    two_64 = F.lit("18446744073709551616").cast("decimal(20,0)")
    magnitude = F.try_add(F.try_multiply(high, two_64), low)
    wide = F.when(negative, F.concat(F.lit("-"), F.try_add(magnitude, F.lit(1)).cast("string"))
                  ).otherwise(magnitude.cast("string"))
    unscaled = F.when(digits.between(1, 16), short).when(digits.between(17, 32), wide)
    return F.concat(unscaled, F.lit("E"), (-scale).cast("string"))


def _undecodable_cases() -> tuple[tuple[Column, Column], ...]:
    op = F.col("__dbz_op")
    required_image = F.when(op == "d", "before").otherwise("after")
    return (
        (op.isNull(), F.lit("not a Debezium change event: no op")),
        (op == TRUNCATE, F.lit("op 't' (a table truncate) is not a row change")),
        (~op.isin(*OPS, TOMBSTONE), F.concat(F.lit("unknown op '"), op, F.lit("'"))),
        (F.col("__dbz_row").isNull(),
         F.concat(F.lit("op '"), op, F.lit("' without "), required_image, F.lit(" image"))),
    )


def _checks(fields: tuple[FieldSpec, ...], keys: list[FieldSpec]) -> dict[str, Column]:
    """What is wrong with a record, as working columns: undecodable, the fields that failed to
    decode, missing keys, missing required fields."""
    op = F.col("__dbz_op")
    is_undecodable = F.lit(False)
    for condition, _ in _undecodable_cases():
        is_undecodable = is_undecodable | condition
    row_failures = [_failure("row", f, "") for f in fields]
    # an update's before image is data too; a delete's is its row, checked once
    before_failures = [F.when(op == "u", _failure("before", f, "before.")) for f in fields]
    required = [f for f in fields if not f.nullable and f.name not in {k.name for k in keys}]
    return {
        "__dbz_undecodable": F.coalesce(is_undecodable, F.lit(True)),
        "__dbz_failures": _joined([*row_failures, *before_failures]),
        "__dbz_missing_keys": _joined([F.when(F.col(f"__dbz_row_{k.name}").isNull(),
                                              F.lit(f"{k.name}: key is missing")) for k in keys]),
        "__dbz_missing": _joined([F.when((op != TOMBSTONE) & F.col(f"__dbz_row_{f.name}").isNull(),
                                         F.lit(f"{f.name}: missing, not nullable"))
                                  for f in required]),
    }


def _outputs(fields: tuple[FieldSpec, ...], keys: list[FieldSpec]) -> list[Column]:
    """The added columns, from the working columns; decides the error of each record."""
    op = F.col("__dbz_op")
    source = F.col("__dbz_source")
    undecodable = _undecodable_cases()
    is_undecodable = F.col("__dbz_undecodable")
    failures = F.col("__dbz_failures")
    missing_keys = F.col("__dbz_missing_keys")
    missing = F.col("__dbz_missing")
    cases = [(condition, UNDECODABLE, text) for condition, text in undecodable] + [
        (failures.isNotNull(), CONTRACT_VIOLATION, failures),
        (missing_keys.isNotNull(), MISSING_KEY, missing_keys),
        (missing.isNotNull(), CONTRACT_VIOLATION, missing),
    ]
    error = detail = F.lit(None).cast("string")
    for condition, reason, text in reversed(cases):  # the first matching case wins
        error = F.when(condition, F.lit(reason)).otherwise(error)
        detail = F.when(condition, text).otherwise(detail)

    def decoded(column: Column) -> Column:
        return F.when(~is_undecodable, column)

    def struct(image: str) -> Column:
        return F.struct(*[F.col(f"__dbz_{image}_{f.name}").alias(f.name) for f in fields])

    return [
        decoded(op).alias("_op"),
        decoded(struct("row")).alias("_row"),
        decoded(F.when(F.col("__dbz_before").isNotNull(), struct("before"))).alias("_before"),
        decoded(F.when(source.isNotNull(), _source(source))).alias("_source"),
        decoded(_try_cast("`__dbz_ts_ms`", "bigint")).alias("_ts_ms"),
        decoded(_commit_position(source)).alias("_commit_position"),
        error.alias("_error"),
        detail.alias("_error_detail"),
    ]


def _failure(image: str, field: FieldSpec, prefix: str) -> Column:
    """Why a field present in the JSON did not decode (null when it did, or is absent)."""
    raw = F.col(f"`__dbz_{image}`.`{field.name}`")
    as_what = field.type + (f" ({field.logical.rsplit('.', 1)[1]})" if field.logical else "")
    if field.type == "string" and not field.logical:  # only a rewritten number fails
        as_what += (" (a JSON number with a fraction or an exponent, which Spark rewrites: "
                    "expected a JSON string or an integer)")
    return F.when(raw.isNotNull() & F.col(f"__dbz_{image}_{field.name}").isNull(), F.concat(
        F.lit(f"{prefix}{field.name}: cannot decode '"), F.substring(raw, 1, 80),
        F.lit(f"' as {as_what}")))


def _joined(messages: list[Column]) -> Column:
    """The non-null messages joined by ``; `` (null when there is none)."""
    if not messages:
        return F.lit(None).cast("string")
    # the join (a new string per record) only where some message is set: most records have none
    return F.when(F.coalesce(*messages).isNotNull(), F.concat_ws("; ", *messages))


def _source(source: Column) -> Column:
    return F.struct(*[
        (_try_cast("`__dbz_source`.`ts_ms`", "bigint") if name == "ts_ms" else source[name])
        .alias(name) for name in SOURCE_FIELDS])


def _commit_position(source: Column) -> Column:
    """A string whose order is the order of one table's changes (null when unknown).

    SQL Server: ``commit_lsn``, then ``change_lsn``, then ``event_serial_no``, the order of
    Debezium's own offsets (a transaction's changes land at its commit; a snapshot read has a
    commit LSN and no change LSN). LSNs are fixed-width hex, so text order is LSN order.
    Postgres: ``lsn``, zero-padded to 20 digits so that text order is numeric order.
    MySQL: binlog ``file``, ``pos`` (the event) and ``row`` (within it), the numbers zero-padded
    so that text order is binlog order (binlog file names are numbered at fixed width).
    Oracle: ``commit_scn``, then ``scn``, zero-padded (a snapshot read has only ``scn``).
    Connectors that send none of these: null, never a timestamp, which two changes can share.
    """
    def number(name: str, width: int) -> Column:
        return source[name].rlike(f"^[0-9]{{1,{width}}}$")

    def padded(name: str, width: int) -> Column:
        """The field zero-padded to ``width`` digits (all zeros when it is not a number)."""
        return F.lpad(F.when(number(name, width), source[name]).otherwise(F.lit("0")), width, "0")

    sql_server = F.concat(
        F.coalesce(source["commit_lsn"], F.lit("")), F.lit("|"),
        F.coalesce(source["change_lsn"], F.lit("")), F.lit("|"), padded("event_serial_no", 19))
    mysql = F.concat(source["file"], F.lit("|"), padded("pos", 20), F.lit("|"),
                     padded("row", 10))
    oracle = F.concat(padded("commit_scn", 20), F.lit("|"), padded("scn", 20))
    return (F.when(source["commit_lsn"].isNotNull() | source["change_lsn"].isNotNull(), sql_server)
            .when(number("lsn", 20), padded("lsn", 20))
            .when(source["file"].isNotNull() & number("pos", 20), mysql)
            .when(number("commit_scn", 20) | number("scn", 20), oracle))
