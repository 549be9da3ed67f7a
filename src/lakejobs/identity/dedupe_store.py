"""Reading and writing the master-data tables (Delta, in ``dedupe.zone``).

Every write goes through a MERGE that commits only what differs, so a rerun on unchanged
sources commits nothing, and ``canonical_profiles`` has Change Data Feed enabled: each new
version of a profile is one ``update_postimage`` row for downstream consumers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.delta_io import append, ensure_table, execute_merge, merge_changed
from lakejobs.identity.review_queue import DECISION_SCHEMA, QUEUE_SCHEMA
from lakejobs.identity.stable_ids import HISTORY_SCHEMA
from lakejobs.identity.store import ZoneTables
from lakejobs.identity.survivorship import PROFILE_ATTRIBUTES

PROFILE_SCHEMA = T.StructType(
    [T.StructField("canonical_id", T.StringType(), False)]
    + [T.StructField(a, T.DateType() if a == "birth_date" else T.StringType(), True)
       for a in PROFILE_ATTRIBUTES]
    + [
        T.StructField("profile_hash", T.StringType(), False),
        T.StructField("version", T.LongType(), False),
        T.StructField("created_at", T.TimestampType(), False),
        T.StructField("updated_at", T.TimestampType(), False),
        T.StructField("run_id", T.StringType(), False),
    ]
)
MEMBER_SCHEMA = T.StructType([
    T.StructField("identity_key", T.StringType(), False),
    T.StructField("canonical_id", T.StringType(), False),
    T.StructField("canonical_created_at", T.TimestampType(), False),
])
SOURCE_IDENTITY_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in ("identity_key", "source_system",
                                                "source_record_id")]
    + [T.StructField("updated_at", T.TimestampType())]
    + [T.StructField(c, T.DateType() if c == "birth_date" else T.StringType())
       for c in ("first_name", "last_name", "birth_date", "email", "phone", "address",
                 "postcode", "city", "government_id", "first_name_canonical",
                 "first_name_soundex", "last_name_soundex", "first_initial")]
    + [T.StructField("birth_year", T.IntegerType())]
    + [T.StructField(c, T.StringType()) for c in ("postcode_district", "first_name_display",
                                                  "last_name_display", "address_display",
                                                  "record_hash", "raw")]
)
USER_SCHEMA = T.StructType([
    T.StructField("canonical_id", T.StringType()),
    T.StructField("canonical_created_at", T.TimestampType()),
    T.StructField("records", T.LongType()),
    T.StructField("source_systems", T.ArrayType(T.StringType())),
    T.StructField("identity_keys", T.ArrayType(T.StringType())),
])
LINEAGE_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in ("canonical_id", "attribute", "value", "rule",
                                                "source_identity_key", "source_system",
                                                "source_record_id")]
    + [T.StructField("source_updated_at", T.TimestampType()),
       T.StructField("run_id", T.StringType())]
)
DESCRIPTIONS = {
    "source_identities": "one row per source people record: source system and record id, "
    "normalised name, birth date, email, phone, address, government id, blocking keys, "
    "`record_hash` and the raw payload; key `identity_key`",
    "potential_duplicates": "review queue: pairs scored 0.75-0.95 or with a high-risk "
    "conflict, both records, per-attribute comparison, score, status open/approved/dismissed/"
    "withdrawn; key `pair_id`",
    "merge_decisions": "reviewers' decisions (approve/dismiss, reviewer, decided_at), appended by "
    "the review tool, never changed by the job (audit)",
    "canonical_members": "source identity → `canonical_id`; key `identity_key`",
    "canonical_users": "one row per person: `canonical_id`, created_at, member records and "
    "source systems; key `canonical_id`",
    "canonical_profiles": "surviving attribute values per person, `version` +1 on every change, "
    "Change Data Feed enabled; key `canonical_id`",
    "attribute_lineage": "per canonical attribute: source record, system, updated_at and the "
    "survivorship rule that chose it; key (`canonical_id`, `attribute`)",
    "canonical_id_history": "created / merged / split / deleted canonical ids per run",
}
SCHEMAS = {
    "source_identities": SOURCE_IDENTITY_SCHEMA,
    "potential_duplicates": QUEUE_SCHEMA,
    "merge_decisions": DECISION_SCHEMA,
    "canonical_members": MEMBER_SCHEMA,
    "canonical_users": USER_SCHEMA,
    "canonical_profiles": PROFILE_SCHEMA,
    "attribute_lineage": LINEAGE_SCHEMA,
    "canonical_id_history": HISTORY_SCHEMA,
}


@dataclass(frozen=True)
class DedupeStore(ZoneTables):
    """The master-data tables of one lake."""

    SCHEMAS: ClassVar[Mapping[str, T.StructType]] = SCHEMAS

    def replace(self, table: str, rows: DataFrame, keys: tuple[str, ...],
                ignore: tuple[str, ...] = ()) -> dict[str, int]:
        """Make ``table`` hold exactly ``rows`` (by ``keys``), committing only what differs."""
        return merge_changed(rows, self.path(table), keys, ignore=ignore,
                             delete_missing=F.lit(True))

    def append_history(self, history: DataFrame) -> None:
        if not history.isEmpty():
            append(history.select(*HISTORY_SCHEMA.fieldNames()), self.path("canonical_id_history"))

    def write_profiles(self, profiles: DataFrame, now: datetime, run_id: str) -> dict[str, int]:
        """Upsert ``profiles`` (canonical_id, attributes, profile_hash): a changed hash makes a
        new version, a new id version 1, an id no longer present is deleted."""
        path = self.path("canonical_profiles")
        target = ensure_table(self.spark, path, PROFILE_SCHEMA,
                              properties={"delta.enableChangeDataFeed": "true"})
        current = target.toDF().select("canonical_id", "profile_hash")
        incoming = profiles.select("canonical_id", "profile_hash")
        if (incoming.join(current, ["canonical_id", "profile_hash"], "left_anti").isEmpty()
                and current.join(incoming, ["canonical_id", "profile_hash"], "left_anti")
                .isEmpty()):
            return {}
        ts = F.lit(now).cast("timestamp")
        source = profiles.withColumn("_now", ts).withColumn("_run", F.lit(run_id))
        values = {a: f"s.{a}" for a in (*PROFILE_ATTRIBUTES, "profile_hash")}
        merge = (
            target.alias("t").merge(source.alias("s"), "t.canonical_id = s.canonical_id")
            .whenMatchedUpdate(condition="t.profile_hash <> s.profile_hash", set={
                **values, "version": "t.version + 1", "updated_at": "s._now",
                "run_id": "s._run"})
            .whenNotMatchedInsert(values={
                "canonical_id": "s.canonical_id", **values, "version": "1",
                "created_at": "s._now", "updated_at": "s._now", "run_id": "s._run"})
            .whenNotMatchedBySourceDelete()
        )
        return execute_merge(merge, target)
