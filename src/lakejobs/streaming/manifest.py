"""The streaming contract manifest: which Kafka records land in which table, with which schema.

Routes are data (``conf/streaming/manifest.yaml``, bundled in the wheel): adding a topic, a
Debezium table or an event version is a change to that file, not to code. Example::

    routes:
      - name: customers_cdc
        format: debezium             # debezium | envelope | json | avro_confluent | avro_glue
        topics: [retail.customer.cdc]
        target: customers            # landing table
        version: 1
        key: [customer_id]
        privacy_tier: pii
        columns:
          - {name: customer_id, type: bigint, nullable: false}
          - {name: updated_at, type: timestamp, logical: io.debezium.time.MicroTimestamp}
      - name: page_view_v1
        format: envelope
        topics: [analytics.events]
        event: page_view             # envelope routes match (meta.event, meta.v)
        version: 1
        target: events
        columns: [{name: page_url, type: string, nullable: false}]   # the payload's fields

A record is matched by its topic; on an envelope topic by (event, version) as well. Debezium
routes may name their ``source_table`` (``db.schema.table``) so that a record of another table
on the same topic is not landed under the wrong name; when several routes read a Debezium topic
each names its table, and a tombstone there (it names none) is quarantined. A json/avro route's
``event_time`` column is a ``timestamp`` or ``date``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakejobs.config.documents import load_document
from lakejobs.errors import ConfigError
from lakejobs.streaming.fields import FieldSpec

TABLE = r"^[a-z_][a-z0-9_]{0,127}$"
TOPIC = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,248}$"
Format = Literal["debezium", "envelope", "json", "avro_confluent", "avro_glue"]
# Columns every landing table gets from the streaming job; a route's own columns may not use them.
PARTITION_COLUMNS = ("year", "month", "day", "hour")
# Parquet landing puts each batch in a ``batch=N`` folder below the partitions: read back, a
# column of that name would hold the batch number, not the record's value.
RESERVED_COLUMNS = (*PARTITION_COLUMNS, "batch")
# The columns the streaming job gives a route's rows beside the route's own: the record's Kafka
# columns (renamed, see RECORD_COLUMNS) and the working columns it decodes them with
# (:mod:`lakejobs.streaming.routing`), the metadata it lands (``routing.landing_rows``). A route
# column of one of these names would make every batch holding the route's records fail (a name
# twice in the decoded rows) or vanish at landing: refused. Envelope routes are not concerned:
# their columns land inside ``payload``.
KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")
# A Kafka record's columns by the names they take in the decoded rows, beside the route's
# columns: a source column may be called ``timestamp``, ``value`` or ``key`` (a sensor reading,
# a settings table). The position and time are the names they land under.
RECORD_COLUMNS = {"key": "_kafka_key", "value": "_kafka_value", "topic": "_topic",
                  "partition": "_partition", "offset": "_offset",
                  "timestamp": "_kafka_timestamp"}
POSITION_COLUMNS = ("_topic", "_partition", "_offset")  # one record of the batch
WORKING_COLUMNS = ("_kafka_key", "_kafka_value", "_route", "_error", "_error_detail",
                   "_duplicate")
LANDING_METADATA_COLUMNS = ("_topic", "_partition", "_offset", "_kafka_timestamp",
                            "_partition_key", "_schema_version", "_privacy_tier", "_event_time",
                            "_is_late", "_ingested_at", "_batch_id")
# what a Debezium route lands of the change beside its row (``debezium.decode_debezium``)
DEBEZIUM_COLUMNS = ("_op", "_commit_position", "_source_ts_ms", "_source_table")
# The columns every landed envelope has (``envelope.EVENT_COLUMNS``): its payload fields land as
# JSON text in ``payload``, so an envelope route's dedupe key can only name these.
ENVELOPE_COLUMNS = ("event_id", "event_name", "event_version", "occurred_at", "user_id",
                    "anon_id", "session_id", "device_ua_hash", "payload")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Model):
    """Where one kind of record lands, and the schema it must have."""

    name: Annotated[str, Field(pattern=TABLE, description="route id, used in metrics")]
    format: Format
    topics: tuple[Annotated[str, Field(pattern=TOPIC)], ...] = Field(min_length=1)
    target: Annotated[str, Field(pattern=TABLE, description="landing table")]
    version: int = Field(1, ge=1, description="schema version (envelope routes: meta.v)")
    event: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] | None = Field(
        None, description="envelope routes: meta.event")
    source_table: str | None = Field(
        None, description="debezium routes: db.schema.table (or schema.table) of the source")
    key: tuple[str, ...] = Field((), description="record key columns (debezium, json, avro)")
    dedupe_key: tuple[str, ...] | None = Field(
        None, description="columns that identify a duplicate; default: key + commit position "
        "(debezium), request_id (envelope), key (json, avro); empty: no dedupe")
    event_time: str | None = Field(
        None, description="json/avro routes: timestamp column used for lateness and lag")
    privacy_tier: Literal["public", "internal", "pii", "sensitive"] = "internal"
    columns: tuple[FieldSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("expected unique column names")
        clash = sorted(set(names) & set(RESERVED_COLUMNS))
        if clash and self.format != "envelope":
            raise ValueError(f"route '{self.name}': columns {clash} clash with the landing "
                             f"partition columns {list(RESERVED_COLUMNS)}: expected other column "
                             "names")
        own = job_columns(self.format)
        clash = sorted(set(names) & set(own))
        if clash:
            raise ValueError(f"route '{self.name}': columns {clash} clash with the columns the "
                             f"streaming job adds to the rows of a {self.format} route (landing "
                             f"metadata, the Kafka record, working columns) {sorted(own)}: "
                             "expected other column names")
        for column in [*self.key, *([self.event_time] if self.event_time else [])]:
            if column not in names:
                raise ValueError(f"'{column}' is not a column: expected one of {names}")
        landed = list(ENVELOPE_COLUMNS) if self.format == "envelope" else names
        for column in self.dedupe_key or ():
            if column not in landed:
                raise ValueError(f"dedupe_key '{column}' is not a landed column: expected one "
                                 f"of {landed}")
        if (self.format == "envelope") != (self.event is not None):
            raise ValueError("'event' is required for envelope routes and only for them")
        if self.source_table is not None and self.format != "debezium":
            # only a Debezium event names its source table: on any other format the filter
            # would match no record, and every record of the topic would vanish unlanded
            raise ValueError(f"route '{self.name}': 'source_table' is for debezium routes only, "
                             f"not {self.format}: expected no source_table")
        if self.event_time:
            # cast to a timestamp for every record: any other type fails the batch on a value
            # that does not parse, or reads a number in a unit nobody chose
            declared = next(c.type for c in self.columns if c.name == self.event_time)
            if declared not in ("timestamp", "date"):
                raise ValueError(f"route '{self.name}': event_time column '{self.event_time}' "
                                 f"is {declared}: expected a timestamp or date column")
        if self.format != "envelope" and not self.key:
            raise ValueError("expected 'key' columns for a non-envelope route")
        return self

    @property
    def dedupe_columns(self) -> tuple[str, ...]:
        """Columns of the landed row that identify a duplicate (empty: no dedupe)."""
        if self.dedupe_key is not None:
            return self.dedupe_key
        if self.format == "envelope":
            return ("event_id",)
        if self.format == "debezium":
            return (*self.key, "_commit_position")
        return self.key


def job_columns(fmt: Format) -> tuple[str, ...]:
    """The names the streaming job gives its own columns in the rows of a route of format
    ``fmt`` (beside the partition columns): none of them may be a column of the route."""
    if fmt == "envelope":
        return ()
    own = (*WORKING_COLUMNS, *LANDING_METADATA_COLUMNS)
    return (*own, *DEBEZIUM_COLUMNS) if fmt == "debezium" else own


class Manifest(_Model):
    """Every route of the streaming job."""

    routes: tuple[Route, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unambiguous(self) -> Manifest:
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("expected unique route names")
        seen: dict[tuple, str] = {}
        formats: dict[str, str] = {}
        for route in self.routes:
            for topic in route.topics:
                if formats.setdefault(topic, route.format) != route.format:
                    raise ValueError(f"topic '{topic}' is routed with two formats")
                match = (topic, route.event, route.version if route.event else None,
                         route.source_table)
                if match in seen:
                    raise ValueError(f"routes '{seen[match]}' and '{route.name}' both match "
                                     f"{match[0]}")
                seen[match] = route.name
        # every envelope route is decoded and deduplicated as one group, by one dedupe key
        envelope_keys = {r.dedupe_columns for r in self.by_format("envelope")}
        if len(envelope_keys) > 1:
            raise ValueError(f"envelope routes have different dedupe keys {sorted(envelope_keys)}:"
                             " expected one dedupe_key for every envelope route (they are "
                             "deduplicated together)")
        for topic in self.topics:
            _check_source_tables(topic, self.routes_for(topic))
        _check_column_types(self.routes)
        return self

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({t for r in self.routes for t in r.topics}))

    def routes_for(self, topic: str) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if topic in r.topics)

    def format_of(self, topic: str) -> Format | None:
        routes = self.routes_for(topic)
        return routes[0].format if routes else None

    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({r.target for r in self.routes}))

    def by_format(self, fmt: str) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.format == fmt)


def _check_source_tables(topic: str, routes: tuple[Route, ...]) -> None:
    """Each record of a topic several Debezium routes read must match one route at most: each
    route names its source table, and no name matches a record another name matches (a record
    matches ``schema.table`` and ``db.schema.table``, so a dotted suffix matches as the name)."""
    if len(routes) < 2 or routes[0].format != "debezium":
        return
    for route in routes:
        if route.source_table is None:
            others = [r.name for r in routes if r is not route]
            raise ValueError(f"route '{route.name}' names no source_table but routes {others} "
                             f"also read topic '{topic}': expected a source_table on every "
                             "Debezium route of a topic several routes read")
    for i, route in enumerate(routes):
        for other in routes[i + 1:]:
            a, b = sorted((route.source_table or "", other.source_table or ""), key=len)
            if a == b or b.endswith(f".{a}"):
                raise ValueError(f"routes '{route.name}' and '{other.name}' on topic '{topic}': "
                                 f"source_table '{a}' matches the records of '{b}': expected "
                                 "source tables neither equal to nor a dotted suffix of another")


def _check_column_types(routes: tuple[Route, ...]) -> None:
    """Routes landing in one table declare each column they share with one type: Delta refuses
    to merge a column's types (even int into bigint), so every batch holding the records of the
    route that did not create the table would fail. Envelope routes land the envelope's columns
    (their payload as text), not theirs."""
    declared: dict[tuple[str, str], tuple[str, str]] = {}  # (table, column) -> (type, route)
    for route in routes:
        if route.format == "envelope":
            continue
        for column in route.columns:
            kind = re.sub(r"\s+", "", column.type)
            first = declared.setdefault((route.target, column.name), (kind, route.name))
            if first[0] != kind:
                raise ValueError(f"routes '{first[1]}' and '{route.name}' land column "
                                 f"'{column.name}' in table '{route.target}' as {first[0]} and "
                                 f"{kind}: expected one type per column of a table")


def load_manifest(location: str) -> Manifest:
    """Read the manifest (bundled name, path or ``s3://``).

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    return load_document(location, Manifest)


def require_routes(manifest: Manifest, topics: Iterable[str], source: str) -> None:
    """Fail at start-up when a configured topic has no route (its records would all quarantine).

    Raises:
        ConfigError: naming the topics without a route.
    """
    missing = sorted(set(topics) - set(manifest.topics))
    if missing:
        raise ConfigError(f"{source}: streaming.topics: {missing} have no route in the manifest: "
                          f"expected one of {list(manifest.topics)}")
