"""Analytics event envelopes: ``meta`` / ``context`` / ``payload``, signature verified, routed by
(event, version), payload checked against its route's fields.

An envelope as the web and app SDKs post it::

    {"meta": {"event": "page_view", "v": 1, "request_id": "9f1c…", "occurred_at": "…Z",
              "signature": "<hex SHA-256 of the canonical payload>"},
     "context": {"user_id": "u-1", "anon_id": "a-1", "session_id": "s-1",
                 "device": {"ua_hash": "…"}},
     "payload": {"page_url": "/home"}}

The canonical payload is the payload serialised with keys sorted at every depth, no whitespace
and non-ASCII characters kept (Python's ``json.dumps(p, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``); a record whose signature does not match it was altered after the SDK
signed it and is quarantined as ``bad_signature``. The ids (``meta.request_id``, ``context``'s
``user_id``, ``anon_id`` and ``session_id``) are JSON strings or integers; any other JSON value
is a ``contract_violation`` (see :data:`ID_FIELDS`), and so is a ``payload`` that is no JSON object
(see :func:`payload_problem`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.columns import fitting_text_cast_sql, try_cast_sql
from lakejobs.streaming.json_values import numbers_of, text_struct, violation
from lakejobs.streaming.manifest import Route
from lakejobs.streaming.reasons import (
    BAD_SIGNATURE,
    CONTRACT_VIOLATION,
    MISSING_KEY,
    UNDECODABLE,
    UNKNOWN_EVENT,
    UNKNOWN_VERSION,
)

ENVELOPE = T.StructType([
    T.StructField("meta", T.StructType([
        T.StructField("event", T.StringType()),
        T.StructField("v", T.StringType()),
        T.StructField("request_id", T.StringType()),
        T.StructField("occurred_at", T.StringType()),
        T.StructField("signature", T.StringType()),
    ])),
    T.StructField("context", T.StructType([
        T.StructField("user_id", T.StringType()),
        T.StructField("anon_id", T.StringType()),
        T.StructField("session_id", T.StringType()),
        T.StructField("device", T.StructType([T.StructField("ua_hash", T.StringType())])),
    ])),
    T.StructField("payload", T.StringType()),  # the payload's JSON text, checked per route
])
# ``context`` as JSON text, and its ``device``: present though :data:`ENVELOPE` reads them as
# null structs, they are not objects (a string, a number, an array), and the event would land
# without its identifiers. ``meta`` needs no such check: without it nothing lands (undecodable).
CONTEXT_TEXT = T.StructType([T.StructField("context", T.StringType())])
DEVICE_TEXT = T.StructType([T.StructField("device", T.StringType())])

# The envelope columns every landed event carries, ahead of ``payload``.
EVENT_COLUMNS = T.StructType([
    T.StructField("event_id", T.StringType(), False),
    T.StructField("event_name", T.StringType(), False),
    T.StructField("event_version", T.IntegerType(), False),
    T.StructField("occurred_at", T.TimestampType(), True),
    T.StructField("user_id", T.StringType(), True),
    T.StructField("anon_id", T.StringType(), True),
    T.StructField("session_id", T.StringType(), True),
    T.StructField("device_ua_hash", T.StringType(), True),
    T.StructField("payload", T.StringType(), True),
])


class _Ambiguous(dict):
    """A JSON object that names a key more than once (its last value kept, as Spark does)."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    unique = dict(pairs)
    return _Ambiguous(unique) if len(unique) < len(pairs) else unique


def _ambiguous(value: Any) -> bool:
    """Whether an object at any depth of ``value`` names a key twice (a walk, not a recursion:
    as deep a payload as the parser reads)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Ambiguous):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


# The envelope's identifiers: each lands as text, so each must be a JSON string or an integer
# (whose digits Spark copies as sent). Spark reads any other JSON value as its own text of it:
# an object or array re-serialised (``{"id":"u-1"}`` as a user id), a number with a fraction
# or an exponent rewritten through a double, a boolean as "true" - no id the producer meant.
ID_FIELDS = (("meta", "request_id"), ("context", "user_id"), ("context", "anon_id"),
             ("context", "session_id"))


def id_problem(envelope: Any) -> str | None:
    """Why an id of a parsed envelope cannot land (None when every id present is a JSON string
    or an integer): the first id of :data:`ID_FIELDS` holding another JSON value."""
    if not isinstance(envelope, dict):
        return None
    for part, name in ID_FIELDS:
        section = envelope.get(part)
        value = section.get(name) if isinstance(section, dict) else None
        if value is None or isinstance(value, str):
            continue
        if isinstance(value, bool):
            kind = "a JSON boolean"
        elif isinstance(value, int):
            continue
        elif isinstance(value, float):
            kind = "a JSON number with a fraction or an exponent"
        elif isinstance(value, dict):
            kind = "a JSON object"
        else:
            kind = "a JSON array"
        return f"{part}.{name}: {kind}: expected a string or an integer"
    return None


def payload_problem(envelope: Any) -> str | None:
    """Why a parsed envelope's ``payload`` cannot land (None when it is a JSON object, or absent:
    then it fails the signature). A route's contract names the fields of an object: Spark reads
    a string, number, boolean or array as no object at all, so none of its fields would be
    checked, and a JSON string would land as its bare content, which is no JSON text."""
    if not isinstance(envelope, dict):
        return None
    payload = envelope.get("payload")
    if payload is None or isinstance(payload, dict):
        return None
    kind = ("a JSON string" if isinstance(payload, str) else "a JSON array"
            if isinstance(payload, list) else "a JSON boolean" if isinstance(payload, bool)
            else "a JSON number")
    return f"payload: {kind}: expected a JSON object"


def envelope_checks(value: str | None) -> tuple[str | None, str | None, str | None]:
    """The checks of an envelope that need its JSON values as written, from one parse: the
    :func:`canonical_payload_digest`, the :func:`id_problem` and the :func:`payload_problem`
    (None for an envelope that does not parse: it fails the signature, or is undecodable)."""
    if value is None:
        return None, None, None
    try:
        envelope = json.loads(value, object_pairs_hook=_object)
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        return None, None, None
    return _digest_of(envelope), id_problem(envelope), payload_problem(envelope)


def canonical_payload_digest(value: str | None) -> str | None:
    """Hex SHA-256 of the canonical form of an envelope's payload; None if there is none, or if
    it cannot be hashed: not JSON, nested deeper than Python's parser follows, or holding a lone
    UTF-16 surrogate (legal JSON escape, not encodable as UTF-8). Such a record fails the
    signature check and is quarantined; it must never fail the batch. A payload that names a key
    twice has no canonical form (the SDK's dict cannot hold it, and the landed text would keep a
    value the signature never covered): None too."""
    if value is None:
        return None
    try:
        return _digest_of(json.loads(value, object_pairs_hook=_object))
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        return None


def _digest_of(envelope: Any) -> str | None:
    """:func:`canonical_payload_digest` of a parsed envelope."""
    try:
        payload = envelope["payload"]
        if payload is None or _ambiguous(payload):
            return None
        return payload_signature(payload)
    except (ValueError, TypeError, KeyError, RecursionError):  # UnicodeError is a ValueError
        return None


def payload_signature(payload: Any) -> str:
    """What the SDK signs: hex SHA-256 of the payload's canonical JSON."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


CHECKS = T.StructType([T.StructField("digest", T.StringType()),
                       T.StructField("ids", T.StringType()),
                       T.StructField("payload", T.StringType())])


def _envelope_checks(value: Column) -> Column:
    # A Python UDF, on purpose: canonical JSON (keys sorted at every depth, the shortest number
    # form) has no Spark built-in on Spark 3.5, and re-serialising through a Spark schema would
    # change numbers and drop unknown fields, so the hash would not be the SDK's. Its parse also
    # tells the JSON type of each id, which Spark's reading as text hides.
    return F.udf(lambda v: envelope_checks(v), CHECKS)(value)


def decode_envelope(routes: Sequence[Route], value_col: str = "value"
                    ) -> Callable[[DataFrame], DataFrame]:
    """Decode envelopes: adds ``_route`` (route name), ``_row`` (:data:`EVENT_COLUMNS`),
    ``_event_time``, ``_error`` and ``_error_detail``. One row out per row in.

    Args:
        routes: the envelope routes of the topics in the frame (each takes the records of its
            own topics: the frame's ``topic`` column).
        value_col: the binary Kafka value column.
    """
    routes = tuple(routes)

    # built once per set of routes, applied to every batch
    text = F.col(value_col).cast("string")
    meta = F.col("_env.meta")
    version = try_cast_sql("`_env`.`meta`.`v`", "INT")
    # a route takes (event, version) on its own topics only: two topics may carry one event
    # to different tables or contracts, and an event no route of its topic names is unknown
    route_name = F.lit(None).cast("string")
    events: dict[tuple[str, ...], set[str]] = {}  # the events of each set of topics
    for route in routes:
        on_topics = F.col("topic").isin(list(route.topics))
        route_name = F.when(
            on_topics & (meta["event"] == route.event) & (version == route.version), route.name
        ).otherwise(route_name)
        events.setdefault(route.topics, set()).add(str(route.event))
    known_event = F.lit(False)
    for topics, names in events.items():
        known_event = known_event | (F.col("topic").isin(list(topics))
                                     & meta["event"].isin(sorted(names)))
    # payload fields typed per route; rows of other routes yield nulls
    payloads = {}
    payload_problem = F.lit(None).cast("string")
    payload_numbers = {}  # string fields given a number Spark rewrites: read as doubles
    for route in routes:
        column = f"_p_{route.name}"
        payloads[column] = F.when(F.col("_route") == route.name,
                                  F.from_json(F.col("_env.payload"), text_struct(route.columns)))
        numbers = numbers_of(F.col("_env.payload"), column, route.columns)
        if numbers is not None:
            payload_numbers[f"_n_{route.name}"] = numbers
        payload_problem = F.when(F.col("_route") == route.name, violation(
            column, route.columns, numbers=f"_n_{route.name}" if numbers is not None else None)
        ).otherwise(payload_problem)
    occurred_at = fitting_text_cast_sql("`_env`.`meta`.`occurred_at`", "timestamp")
    error, detail = _classify(meta, version, known_event, _context_problem(), payload_problem,
                              occurred_at)
    row = F.struct(
        meta["request_id"].alias("event_id"),
        meta["event"].alias("event_name"),
        version.alias("event_version"),
        occurred_at.alias("occurred_at"),
        F.col("_env.context.user_id").alias("user_id"),
        F.col("_env.context.anon_id").alias("anon_id"),
        F.col("_env.context.session_id").alias("session_id"),
        F.col("_env.context.device.ua_hash").alias("device_ua_hash"),
        # the payload lands as its JSON text (one events table for every event and version);
        # its fields were checked against the route above
        F.col("_env.payload").alias("payload"),
    )
    parsed = {"_env": F.from_json(text, ENVELOPE), "_context": F.from_json(text, CONTEXT_TEXT),
              "_checks": _envelope_checks(text)}

    def transform(records: DataFrame) -> DataFrame:
        return (
            records.withColumns(parsed)
            .withColumn("_route", route_name)
            .withColumns(payloads)
            .withColumns(payload_numbers)
            .withColumn("_error", error)
            .withColumn("_error_detail", detail)
            .withColumn("_row", F.when(F.col("_error").isNull(), row))
            .withColumn("_event_time", occurred_at)
            .drop("_env", "_context", "_checks", *payloads, *payload_numbers)
        )

    return transform


def _context_problem() -> Column:
    """Why the envelope's ``context`` cannot land (null when it can): present but not a JSON
    object, or holding a ``device`` that is not one."""
    text = F.col("_context.context")
    device_text = F.from_json(text, DEVICE_TEXT)["device"]
    return (
        F.when(text.isNotNull() & F.col("_env.context").isNull(),
               F.lit("context: expected a JSON object"))
        .when(device_text.isNotNull() & F.col("_env.context.device").isNull(),
              F.lit("context.device: expected a JSON object"))
    )


def _classify(meta: Column, version: Column, known_event: Column, context_problem: Column,
              payload_problem: Column, occurred_at: Column) -> tuple[Column, Column]:
    """The first reason an envelope cannot land (``known_event``: a route of the record's topic
    names its event), and its detail."""
    cases = [
        (F.col("_env").isNull() | F.col("_env.meta").isNull(), UNDECODABLE,
         F.lit("not a JSON envelope with meta")),
        (meta["request_id"].isNull() | (F.trim(meta["request_id"]) == ""), MISSING_KEY,
         F.lit("meta.request_id is missing")),
        (~known_event, UNKNOWN_EVENT, F.concat(F.lit("event "), F.coalesce(meta["event"],
                                                                           F.lit("null")))),
        (F.col("_route").isNull(), UNKNOWN_VERSION,
         F.concat(F.lit("event "), meta["event"], F.lit(" v"), F.coalesce(meta["v"],
                                                                          F.lit("null")))),
        (meta["signature"].isNull() | F.col("_checks.digest").isNull()
         | (F.lower(meta["signature"]) != F.col("_checks.digest")), BAD_SIGNATURE,
         F.lit("signature does not match the canonical payload")),
        (context_problem.isNotNull(), CONTRACT_VIOLATION, context_problem),
        (F.col("_checks.ids").isNotNull(), CONTRACT_VIOLATION, F.col("_checks.ids")),
        (meta["occurred_at"].isNotNull() & occurred_at.isNull(), CONTRACT_VIOLATION,
         F.concat(F.lit("meta.occurred_at: cannot decode '"), meta["occurred_at"], F.lit("'"))),
        (F.col("_checks.payload").isNotNull(), CONTRACT_VIOLATION, F.col("_checks.payload")),
        (payload_problem.isNotNull(), CONTRACT_VIOLATION, payload_problem),
    ]
    error = F.lit(None).cast("string")
    detail = F.lit(None).cast("string")
    for condition, reason, text in reversed(cases):  # the first matching case wins
        error = F.when(condition, F.lit(reason)).otherwise(error)
        detail = F.when(condition, text).otherwise(detail)
    return error, detail
