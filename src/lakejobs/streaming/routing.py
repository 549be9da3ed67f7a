"""One micro-batch of Kafka records, decoded and routed: landing rows per route group, or
quarantine rows with a reason. Pure: the only side effect is asking the schema registry for
writer schemas of Avro records.

Every record ends in exactly one of the frames :func:`route_batch` returns:

- a *group* frame (one per Debezium/JSON/Avro route, one for all envelope routes) holding the
  landing columns of the group's routes, the raw Kafka columns (renamed apart from the routes'
  columns: :data:`~lakejobs.streaming.manifest.RECORD_COLUMNS`), ``_route`` and ``_error``;
  rows with ``_error`` set are quarantined from there, the others land;
- the *unrouted* frame: records too large to decode, on a topic no route reads, or of a
  Debezium source table no route names (or naming none), each with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import MAX_MICROS, MIN_MICROS
from lakejobs.streaming.debezium import decode_debezium
from lakejobs.streaming.envelope import decode_envelope
from lakejobs.streaming.manifest import (
    KAFKA_COLUMNS,
    PARTITION_COLUMNS,
    RECORD_COLUMNS,
    Manifest,
    Route,
)
from lakejobs.streaming.plain_json import decode_json
from lakejobs.streaming.reasons import OVERSIZE, UNDECODABLE, UNKNOWN_ROUTE

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("raw_key", T.BinaryType()),
    T.StructField("raw_value", T.BinaryType()),
    T.StructField("topic", T.StringType(), False),
    T.StructField("partition", T.IntegerType(), False),
    T.StructField("offset", T.LongType(), False),
    T.StructField("kafka_timestamp", T.TimestampType()),
    T.StructField("reason", T.StringType(), False),
    T.StructField("detail", T.StringType()),
    T.StructField("route", T.StringType()),
    T.StructField("ingested_at", T.TimestampType(), False),
    T.StructField("batch_id", T.LongType(), False),
    *[T.StructField(c, T.IntegerType(), False) for c in PARTITION_COLUMNS],
])


@dataclass(frozen=True)
class Group:
    """Records decoded together: one route, or every envelope route."""

    routes: tuple[Route, ...]
    frame: DataFrame  # landing columns + RECORD_COLUMNS + _route, _error, _error_detail

    @property
    def name(self) -> str:
        return "envelope" if self.routes[0].format == "envelope" else self.routes[0].name


@dataclass(frozen=True)
class RoutedBatch:
    groups: tuple[Group, ...]
    unrouted: DataFrame  # RECORD_COLUMNS + _error, _error_detail


AvroDecoder = Callable[[Route], Callable[[DataFrame], DataFrame]]


def route_batch(records: DataFrame, manifest: Manifest, *, ingested_at: datetime, batch_id: int,
                max_payload_bytes: int, avro_decoder: AvroDecoder | None = None,
                topics_present: set[str] | None = None) -> RoutedBatch:
    """Decode and route one micro-batch, stamped with its ingestion time and id: what
    :func:`decode_batch` and then :func:`stamp_batch` return."""
    decoded = decode_batch(records, manifest, max_payload_bytes=max_payload_bytes,
                           avro_decoder=avro_decoder, topics_present=topics_present)
    return stamp_batch(decoded, ingested_at=ingested_at, batch_id=batch_id)


def stamp_batch(routed: RoutedBatch, *, ingested_at: datetime, batch_id: int) -> RoutedBatch:
    """Every frame of ``routed`` with the batch's ``_ingested_at``, ``_batch_id`` and landing
    partition columns (the same values on every row)."""
    stamp = _stamp(ingested_at, batch_id)
    return RoutedBatch(tuple(Group(g.routes, g.frame.transform(stamp)) for g in routed.groups),
                       routed.unrouted.transform(stamp))


def decode_batch(records: DataFrame, manifest: Manifest, *, max_payload_bytes: int,
                 avro_decoder: AvroDecoder | None = None,
                 topics_present: set[str] | None = None) -> RoutedBatch:
    """Decode and route one micro-batch, without the batch's stamp (see :func:`stamp_batch`):
    what a new :class:`BatchDecoder` returns for it."""
    decoder = BatchDecoder(manifest, max_payload_bytes=max_payload_bytes,
                           avro_decoder=avro_decoder)
    return decoder(records, topics_present=topics_present)


class BatchDecoder:
    """Decodes and routes the micro-batches of one manifest.

    The decoding expressions of a route are built the first time a batch holds its records and
    reused for every later batch: building them costs hundreds of calls into the JVM, some
    0.1-0.3 s of driver time per route, more than a small batch's decoding. The decoded frames
    carry no value of the batch itself, so the code Spark generates for them is the same for
    every batch and compiled once per query.

    Args:
        manifest: the routes.
        max_payload_bytes: larger values are quarantined as ``oversize`` without decoding.
        avro_decoder: the decoder of an Avro route (needs the schema registry); required only
            when the manifest has Avro routes. Asked again for every batch (the writer schemas
            the batch names are looked up then).
    """

    def __init__(self, manifest: Manifest, *, max_payload_bytes: int,
                 avro_decoder: AvroDecoder | None = None) -> None:
        self.manifest = manifest
        self.avro_decoder = avro_decoder
        self._fits = F.coalesce(F.length(F.col("value")) <= max_payload_bytes, F.lit(True))
        self._decoders: dict[tuple[str, ...], Callable[[DataFrame], DataFrame]] = {}
        self._shared_topics = _shared_topics(manifest)
        self._unrouted: list[Column] | None = None

    def __call__(self, records: DataFrame, topics_present: set[str] | None = None
                 ) -> RoutedBatch:
        """Decode and route ``records`` (key, value, topic, partition, offset, timestamp);
        routes of topics not in ``topics_present`` (when known) are left out: no decoding, no
        Spark jobs for them."""
        def present(route: Route) -> bool:
            return topics_present is None or bool(set(route.topics) & topics_present)

        decodable = records.where(self._fits)
        groups: list[Group] = []
        envelope_routes = tuple(r for r in self.manifest.by_format("envelope") if present(r))
        if envelope_routes:
            groups.append(Group(envelope_routes, decodable.transform(
                self._decoder(envelope_routes))))
        for route in self.manifest.routes:
            if route.format == "envelope" or not present(route):
                continue
            decode = (_avro_route(route, self.avro_decoder) if route.format.startswith("avro")
                      else self._decoder((route,)))
            groups.append(Group((route,), decodable.transform(decode)))
        if self._unrouted is None:
            self._unrouted = _unrouted_columns(self.manifest, self._fits)
        unrouted = records.select(*self._unrouted).where(F.col("_error").isNotNull())
        return RoutedBatch(tuple(groups), unrouted)

    def _decoder(self, routes: tuple[Route, ...]) -> Callable[[DataFrame], DataFrame]:
        names = tuple(r.name for r in routes)
        if names not in self._decoders:
            self._decoders[names] = (
                _envelope_group(routes) if routes[0].format == "envelope"
                else _route_decoder(routes[0], shared_topics=self._shared_topics))
        return self._decoders[names]


def _envelope_group(routes: tuple[Route, ...]) -> Callable[[DataFrame], DataFrame]:
    topics = sorted({t for r in routes for t in r.topics})
    decode = decode_envelope(routes)
    columns = ["_row.*", *record_columns(), "_route", "_error", "_error_detail", "_event_time",
               F.col("_row.event_version").cast("string").alias("_schema_version")]
    on_topics = F.col("topic").isin(topics)

    def transform(records: DataFrame) -> DataFrame:
        return records.where(on_topics).transform(decode).select(*columns)

    return transform


def _avro_route(route: Route, avro_decoder: AvroDecoder | None
                ) -> Callable[[DataFrame], DataFrame]:
    if avro_decoder is None:
        raise ValueError(f"route {route.name}: Avro routes need a schema registry")
    return _route_decoder(route, avro_decoder(route))


def _route_decoder(route: Route, avro: Callable[[DataFrame], DataFrame] | None = None, *,
                   shared_topics: frozenset[str] = frozenset()
                   ) -> Callable[[DataFrame], DataFrame]:
    """The records of ``route`` (its topics, its Debezium source table) decoded into its landing
    columns, ``_route``, ``_error``, ``_error_detail``, ``_event_time``, ``_schema_version``;
    ``shared_topics``: the topics other routes read too (see :func:`_source_matches`)."""
    on_route = F.col("topic").isin(list(route.topics)) & _source_matches(route, shared_topics)
    columns = [F.col(f"_row.`{c.name}`").alias(c.name) for c in route.columns]
    common = [*record_columns(), F.lit(route.name).alias("_route"), "_error", "_error_detail"]
    if route.format == "debezium":
        decode = decode_debezium(route.columns, key_fields=route.key)
        source = F.col("_source")
        event_ms = F.coalesce(source["ts_ms"], F.col("_ts_ms"))
        # without a source position (a connector that sends none, a tombstone) the record's
        # Kafka position orders it: never a timestamp, which two changes of a row can share
        kafka_position = F.concat(
            F.lit("kafka|"), F.lpad(F.col("partition").cast("string"), 10, "0"),
            F.lit("|"), F.lpad(F.col("offset").cast("string"), 20, "0"))
        selected = [
            *columns, F.col("_op"),
            F.coalesce(F.col("_commit_position"), kafka_position).alias("_commit_position"),
            source["ts_ms"].alias("_source_ts_ms"),
            F.concat_ws(".", source["db"], source["schema"], source["table"])
            .alias("_source_table"),
            *common,
            # Debezium's own clock: outside years 1-9999 (a broken producer) it is unknown,
            # and timestamp_millis would fail the whole batch on overflow
            F.when(event_ms.between(MIN_MICROS // 1000, MAX_MICROS // 1000),
                   F.timestamp_millis(event_ms)).alias("_event_time"),
            F.lit(str(route.version)).alias("_schema_version"),
        ]
    else:
        if route.format == "json":
            decode = decode_json(route.columns, key_fields=route.key)
            version = F.lit(str(route.version))
        else:
            decode = avro
            version = F.col("_schema_id").cast("string")
        event_time = (F.col(f"_row.`{route.event_time}`").cast("timestamp") if route.event_time
                      else F.col("timestamp"))
        selected = [*columns, *common, event_time.alias("_event_time"),
                    version.alias("_schema_version")]

    def transform(records: DataFrame) -> DataFrame:
        return records.where(on_route).transform(decode).select(*selected)

    return transform


def _shared_topics(manifest: Manifest) -> frozenset[str]:
    """The topics more than one route reads."""
    return frozenset(t for t in manifest.topics if len(manifest.routes_for(t)) > 1)


def _source_matches(route: Route, shared_topics: frozenset[str] = frozenset()) -> Column:
    """Debezium routes naming a source table take only that table's records. A tombstone
    carries no source: it goes to the route only on a topic no other route reads; on a shared
    topic it is nobody's, and is quarantined (the delete event before it holds the delete)."""
    if route.source_table is None:
        return F.lit(True)
    schema_table, full = _source_names()
    tombstone = F.col("value").isNull() & ~F.col("topic").isin(
        sorted(shared_topics & set(route.topics)))
    return tombstone | (schema_table == route.source_table) | (full == route.source_table)


# The Debezium ``source`` block's names, in a value with or without the wrapper.
_SOURCE = T.StructType([T.StructField(n, T.StringType()) for n in ("db", "schema", "table")])
_SOURCE_BLOCKS = T.StructType([
    T.StructField("payload", T.StructType([T.StructField("source", _SOURCE)])),
    T.StructField("source", _SOURCE),
])


def _source_field(name: str) -> Column:
    """A field of the Debezium ``source`` block of the record's value: the wrapper's when there
    is one, as the decoder reads it (:mod:`lakejobs.streaming.debezium`: a parse that keeps a
    repeated key's last value), so a record is routed by the table it lands as."""
    blocks = F.from_json(F.col("value").cast("string"), _SOURCE_BLOCKS)
    source = F.when(blocks["payload"].isNotNull(), blocks["payload"]["source"]).otherwise(
        blocks["source"])
    return source[name]


def _source_names() -> tuple[Column, Column]:
    field = _source_field
    return (F.concat_ws(".", field("schema"), field("table")),
            F.concat_ws(".", field("db"), field("schema"), field("table")))


def _unrouted_columns(manifest: Manifest, fits: Column) -> list[Column]:
    """The Kafka columns with the reason a record has no route (null when it has one): too
    large to decode, a topic no route reads, or a Debezium source table no route names (on a
    topic read by source table, a value naming no table is undecodable)."""
    known = F.col("topic").isin(list(manifest.topics))
    shared = _shared_topics(manifest)
    claimed = F.lit(False)
    for topic in manifest.topics:
        routes = [r for r in manifest.routes_for(topic) if r.format == "debezium"]
        if routes and all(r.source_table is not None for r in routes):
            any_source = F.lit(False)
            for route in routes:
                any_source = any_source | _source_matches(route, shared)
            claimed = claimed | ((F.col("topic") == topic) & ~any_source)
    # of the records no source table claims, a value naming no table (not JSON, not a change
    # event: a connector's converter changed) is undecodable, a schema failure the alert
    # counts, not a table without a route
    nameless = claimed & F.col("value").isNotNull() & _source_field("table").isNull()
    unattributed = F.col("value").isNull() & F.col("topic").isin(sorted(shared))
    reason = (
        F.when(~fits, F.lit(OVERSIZE))
        .when(nameless, F.lit(UNDECODABLE))
        .when(~known | claimed, F.lit(UNKNOWN_ROUTE))
    )
    detail = (
        F.when(~fits, F.concat(F.lit("value of "), F.length("value").cast("string"),
                               F.lit(" bytes is larger than the limit")))
        .when(~known, F.concat(F.lit("no route reads topic "), F.col("topic")))
        .when(nameless, F.lit("not a Debezium change event naming its source table"))
        .when(unattributed, F.lit("a tombstone on a topic shared by several source tables "
                                  "names no table"))
        .otherwise(F.lit("no route for this Debezium source table"))
    )
    return [*record_columns(), reason.alias("_error"), detail.alias("_error_detail")]


def record_columns() -> list[Column]:
    """The Kafka columns of the batch's records under their names in the decoded rows
    (:data:`~lakejobs.streaming.manifest.RECORD_COLUMNS`)."""
    return [F.col(c).alias(RECORD_COLUMNS[c]) for c in KAFKA_COLUMNS]


def _stamp(ingested_at: datetime, batch_id: int) -> Callable[[DataFrame], DataFrame]:
    def transform(rows: DataFrame) -> DataFrame:
        return rows.select(
            "*",
            F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
            F.lit(batch_id).cast("bigint").alias("_batch_id"),
            F.lit(ingested_at.year).alias("year"),
            F.lit(ingested_at.month).alias("month"),
            F.lit(ingested_at.day).alias("day"),
            F.lit(ingested_at.hour).alias("hour"),
        )

    return transform


def landing_rows(group: Group, target: str) -> DataFrame:
    """The rows of ``group`` that land in ``target``: no error, not a duplicate; landing columns
    only. One filter for all the group's routes to that table (every event version, say)."""
    routes = [r for r in group.routes if r.target == target]
    # an Avro key is framed binary (magic byte, schema id, Avro): as text it would be invalid
    # UTF-8, mangled on the way, so it lands as the hex of its bytes
    binary_key = routes[0].format.startswith("avro")
    partition_key = F.hex("_kafka_key") if binary_key else F.col("_kafka_key").cast("string")
    tier = F.lit(routes[0].privacy_tier)
    for route in routes[1:]:
        tier = F.when(F.col("_route") == route.name, route.privacy_tier).otherwise(tier)
    # manifest.LANDING_METADATA_COLUMNS: the names a route's own columns may not take
    metadata = [
        "_topic", "_partition", "_offset", "_kafka_timestamp",
        partition_key.alias("_partition_key"), "_schema_version",
        tier.alias("_privacy_tier"), "_event_time", "_is_late",
        "_ingested_at", "_batch_id", *PARTITION_COLUMNS,
    ]
    data = _data_columns(group)
    return (group.frame.where(F.col("_error").isNull() & ~F.col("_duplicate")
                              & F.col("_route").isin([r.name for r in routes]))
            .select(*[F.col(f"`{c}`") for c in data], *metadata))


def quarantine_rows(frame: DataFrame) -> DataFrame:
    """Rows with ``_error`` set, in the quarantine table's shape."""
    route = F.col("_route") if "_route" in frame.columns else F.lit(None).cast("string")
    return frame.where(F.col("_error").isNotNull()).select(
        F.col("_kafka_key").alias("raw_key"), F.col("_kafka_value").alias("raw_value"),
        F.col("_topic").alias("topic"), F.col("_partition").alias("partition"),
        F.col("_offset").alias("offset"), F.col("_kafka_timestamp").alias("kafka_timestamp"),
        F.col("_error").alias("reason"), F.col("_error_detail").alias("detail"),
        route.alias("route"), F.col("_ingested_at").alias("ingested_at"),
        F.col("_batch_id").alias("batch_id"), *PARTITION_COLUMNS,
    )


_NOT_DATA = {*RECORD_COLUMNS.values(), "_route", "_error", "_error_detail", "_event_time",
             "_schema_version", "_ingested_at", "_batch_id", "_duplicate", "_is_late",
             *PARTITION_COLUMNS}


def _data_columns(group: Group) -> Sequence[str]:
    return [c for c in group.frame.columns if c not in _NOT_DATA]
