"""Builders of Kafka records for the streaming tests: envelopes (signed), Debezium events."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakejobs.local_rows import rows_frame
from lakejobs.streaming.record_files import RECORD_SCHEMA

KAFKA_SCHEMA = RECORD_SCHEMA  # what the Kafka source (and a record file) holds
T0 = datetime(2026, 11, 25, 10, 0, 0)


def signature(payload: dict[str, Any]) -> str:
    """What the SDK signs: SHA-256 of the payload with sorted keys, compact, UTF-8."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def envelope(event: str, v: int, request_id: str | None, payload: dict[str, Any], *,
             occurred_at: str = "2026-11-25T09:59:00Z", user_id: str | None = "u-1",
             anon_id: str | None = "a-1", session_id: str | None = "s-1",
             signed: dict[str, Any] | None = None) -> bytes:
    """An SDK envelope; ``signed`` is the payload the signature was computed over (tampering)."""
    meta = {"event": event, "v": v, "occurred_at": occurred_at,
            "signature": signature(payload if signed is None else signed)}
    if request_id is not None:
        meta["request_id"] = request_id
    body = {"meta": meta,
            "context": {"user_id": user_id, "anon_id": anon_id, "session_id": session_id,
                        "device": {"ua_hash": "d-1"}},
            "payload": payload}
    return json.dumps(body).encode("utf-8")


def kafka_frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """Kafka-shaped rows: (topic, offset, value[, key]) with partition 0 and timestamp T0."""
    full = []
    for row in rows:
        topic, offset, value = row[:3]
        key = row[3] if len(row) > 3 else None
        full.append((key, value, topic, 0, offset, T0))
    return rows_frame(spark, full, KAFKA_SCHEMA)
