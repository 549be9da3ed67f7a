"""Reason codes of quarantined Kafka records: one per way a record can fail to land."""

from __future__ import annotations

UNDECODABLE = "undecodable"  # not JSON / not Avro / wrong framing / not the expected envelope
UNKNOWN_SCHEMA_ID = "unknown_schema_id"  # the schema registry does not know the writer schema
UNKNOWN_ROUTE = "unknown_route"  # no route for the topic (or the Debezium source table)
UNKNOWN_EVENT = "unknown_event"  # envelope event name not in the manifest
UNKNOWN_VERSION = "unknown_version"  # known event, unknown version
CONTRACT_VIOLATION = "contract_violation"  # a value does not fit its declared type / is missing
BAD_SIGNATURE = "bad_signature"  # envelope payload altered after the SDK signed it
MISSING_KEY = "missing_key"  # no key / request_id to identify the record
OVERSIZE = "oversize"  # value larger than streaming.max_payload_bytes

ALL = (UNDECODABLE, UNKNOWN_SCHEMA_ID, UNKNOWN_ROUTE, UNKNOWN_EVENT, UNKNOWN_VERSION,
       CONTRACT_VIOLATION, BAD_SIGNATURE, MISSING_KEY, OVERSIZE)
