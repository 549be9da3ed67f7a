"""DSAR deletion in master data: forget the people records of one canonical user.

A request that names a ``canonical_id`` (the person as ``master_data_dedupe`` resolved them,
looked up by whoever verified the requester) removes every source record merged into that
canonical user:

1. **Sources.** Their rows in every ``dedupe.sources`` table (all versions of each record, by
   source system and record id, normalised as the dedupe job reads them), so the next dedupe
   run does not build the person again.
2. **Master-data tables** (``dedupe.zone``): ``source_identities`` and ``canonical_members``
   (by identity key), ``potential_duplicates`` (a pair holding one of their records),
   ``canonical_users``, ``canonical_profiles`` and ``attribute_lineage`` (by canonical id).
   ``canonical_profiles`` keeps a Change Data Feed: the delete's change rows hold the old values
   until the vacuum removes them with the rest.

Reviewer decisions (``merge_decisions``: pair ids, decisions, reviewers) and
``canonical_id_history`` (ids only) hold no personal data and stay as the audit trail. Rows of
the dedupe quarantine have no record id to tie them to anyone and are not reached.

Each deletion is a Delta MERGE … DELETE whose source holds the values (the commit log records
the join condition, never the values), followed by a VACUUM when the caller passes one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import DedupeSettings, DedupeSource
from lakejobs.delta_io import is_delta_table
from lakejobs.identity.dedupe_store import DedupeStore
from lakejobs.identity.store import delete_matching
from lakejobs.paths import LakePaths

log = logging.getLogger(__name__)

# master-data table → (the column of the person's frame it is matched on, the join condition)
MASTER_TABLES = {
    "source_identities": ("identity_key", "t.identity_key = s.identity_key"),
    "potential_duplicates": ("identity_key",
                             "t.left_key = s.identity_key OR t.right_key = s.identity_key"),
    "canonical_members": ("identity_key", "t.identity_key = s.identity_key"),
    "canonical_users": ("canonical_id", "t.canonical_id = s.canonical_id"),
    "canonical_profiles": ("canonical_id", "t.canonical_id = s.canonical_id"),
    "attribute_lineage": ("canonical_id", "t.canonical_id = s.canonical_id"),
}


@dataclass(frozen=True)
class Purged:
    """Rows deleted from one table (None: the table does not exist)."""

    target: str
    rows_deleted: int | None


def person_records(store: DedupeStore, canonical_id: str) -> DataFrame:
    """``identity_key``, ``source_system``, ``source_record_id`` of the canonical user's member
    records (one person's records: bounded, kept as rows). The identity key is
    ``<source_system>:<record_id>`` and a source system holds no colon."""
    keys = store.read("canonical_members").where(F.col("canonical_id") == canonical_id)
    return keys.select(
        "identity_key",
        F.substring_index("identity_key", ":", 1).alias("source_system"),
        F.expr("substring(identity_key, instr(identity_key, ':') + 1)").alias("source_record_id"),
    ).localCheckpoint(eager=True)


def source_condition(source: DedupeSource) -> str:
    """The MERGE condition matching a source table's rows (``t``) to person records (``s``),
    with the record id and source system normalised as :func:`read_source` reads them."""
    record = f"trim(CAST(t.`{source.record_id}` AS STRING)) = s.source_record_id"
    if source.system_column is None:
        return record  # the caller keeps only records of the source's own system
    return f"lower(trim(t.`{source.system_column}`)) = s.source_system AND {record}"


def forget_canonical_user(
    spark: SparkSession, paths: LakePaths, settings: DedupeSettings, canonical_id: str,
    *, vacuum: Callable[[str], None] | None = None,
) -> list[Purged]:
    """Delete the canonical user's records from the dedupe sources and the master-data tables
    (see the module docstring); ``vacuum`` is called with each table's path after its delete."""
    store = DedupeStore(spark, paths, settings.zone)
    records = person_records(store, canonical_id)
    person = spark.createDataFrame([(canonical_id,)], "canonical_id string")
    purged = []
    for source in settings.sources:
        mine: Column = (F.col("source_system") == source.source_system
                        if source.source_system is not None else F.lit(True))
        purged.append(_purge(spark, paths.table(source.zone, source.table),
                             f"{source.zone}.{source.table}", records.where(mine),
                             source_condition(source), vacuum))
    for table, (column, condition) in MASTER_TABLES.items():
        rows = records.select(column) if column == "identity_key" else person
        purged.append(_purge(spark, store.path(table), f"{settings.zone}.{table}", rows,
                             condition, vacuum))
    log.info("DSAR master data: %s", [(p.target, p.rows_deleted) for p in purged])
    return purged


def _purge(spark: SparkSession, path: str, target: str, rows: DataFrame, condition: str,
           vacuum: Callable[[str], None] | None) -> Purged:
    if not is_delta_table(spark, path):
        return Purged(target, None)
    deleted = delete_matching(spark, path, rows, condition) if not rows.isEmpty() else 0
    if vacuum is not None:
        vacuum(path)
    return Purged(target, deleted)
