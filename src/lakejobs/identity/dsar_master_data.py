"""DSAR deletion in master data: forget the people records of one canonical user.

A request that names a ``canonical_id`` (the person as ``master_data_dedupe`` resolved them,
looked up by whoever verified the requester) removes every source record merged into that
canonical user (or, when a dedupe run has merged that id into another since, the canonical
user it was merged into: ``merged`` rows of ``canonical_id_history``):

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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import DedupeSettings, DedupeSource
from lakejobs.delta_io import is_delta_table
from lakejobs.identity.dedupe_store import DedupeStore
from lakejobs.identity.store import delete_matching
from lakejobs.local_rows import rows_frame
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


def person_ids(store: DedupeStore, canonical_id: str) -> list[str]:
    """The canonical id and every id it has been merged into since (``merged`` rows of
    ``canonical_id_history``): a dedupe run after the request was filed may have merged the
    person into an older canonical user, whose id then holds their records."""
    merged = store.read("canonical_id_history").where(F.col("change") == "merged")
    ids = [canonical_id]
    while True:  # a chain of merges, one short query each (an id is merged at most once)
        row = merged.where(F.col("identity_id") == ids[-1]).select("new_identity_id").first()
        if row is None or row.new_identity_id is None or row.new_identity_id in ids:
            return ids
        ids.append(row.new_identity_id)


def canonical_id_known(spark: SparkSession, paths: LakePaths, settings: DedupeSettings,
                       canonical_id: str) -> bool:
    """Whether master data knows ``canonical_id``: a ``canonical_members`` row, or any
    ``canonical_id_history`` row naming it (ids only, kept when a request deletes the person,
    so the retry of a request whose run stopped after the deletion still finds it)."""
    store = DedupeStore(spark, paths, settings.zone)
    members = store.read("canonical_members").where(F.col("canonical_id") == canonical_id)
    history = store.read("canonical_id_history").where(
        (F.col("identity_id") == canonical_id) | (F.col("new_identity_id") == canonical_id))
    return not (members.isEmpty() and history.isEmpty())


def person_records(store: DedupeStore, person: DataFrame) -> DataFrame:
    """``identity_key`` (``<source_system>:<record_id>``) of the member records of the canonical
    ids in ``person`` (one person's records: bounded, kept as rows)."""
    return store.read("canonical_members").join(person, on="canonical_id", how="left_semi") \
        .select("identity_key").localCheckpoint(eager=True)


def source_records(records: DataFrame, source: DedupeSource) -> DataFrame:
    """The person's records a source table can hold, in the columns :func:`source_condition`
    matches on: the identity key for a source naming its system per row, the record id of
    the keys of its own system for a source of one system."""
    if source.system_column is not None:
        return records
    prefix = f"{source.source_system}:"
    key = F.col("identity_key")
    return records.where(key.startswith(prefix)).select(
        key.substr(F.lit(len(prefix) + 1), F.length(key)).alias("source_record_id"))


def _column(name: str) -> str:
    """A configured source column as SQL: ``a.b`` names field ``b`` of struct ``a``, as the
    dedupe job reads it (``F.col``)."""
    return ".".join(f"`{part}`" for part in name.split("."))


def source_condition(source: DedupeSource) -> str:
    """The MERGE condition matching a source table's rows (``t``) to person records (``s``,
    :func:`source_records`), with the record id and source system normalised as
    :func:`read_source` reads them."""
    record = f"trim(CAST(t.{_column(source.record_id)} AS STRING))"
    if source.system_column is None:
        return f"{record} = s.source_record_id"
    # the identity key built as the dedupe job builds it: a system named by the data may hold
    # a ':' itself, so a key cannot be split back into its system and record id
    system = f"lower(trim(t.{_column(source.system_column)}))"
    return f"concat({system}, ':', {record}) = s.identity_key"


def forget_canonical_user(
    spark: SparkSession, paths: LakePaths, settings: DedupeSettings, canonical_id: str,
    *, vacuum: Callable[[str], None] | None = None,
) -> list[Purged]:
    """Delete the canonical user's records from the dedupe sources and the master-data tables
    (see the module docstring); ``vacuum`` is called with each table's path after its delete."""
    store = DedupeStore(spark, paths, settings.zone)
    ids = person_ids(store, canonical_id)
    person = rows_frame(spark, [(i,) for i in ids], "canonical_id string")
    records = person_records(store, person)
    purged = []
    for source in settings.sources:
        purged.append(_purge(spark, paths.table(source.zone, source.table),
                             f"{source.zone}.{source.table}", source_records(records, source),
                             source_condition(source), vacuum))
    for table, (column, condition) in MASTER_TABLES.items():
        rows = records if column == "identity_key" else person
        purged.append(_purge(spark, store.path(table), f"{settings.zone}.{table}", rows,
                             condition, vacuum))
    log.info("DSAR master data: %d canonical id(s) (merges followed); %s", len(ids),
             [(p.target, p.rows_deleted) for p in purged])
    return purged


def _purge(spark: SparkSession, path: str, target: str, rows: DataFrame, condition: str,
           vacuum: Callable[[str], None] | None) -> Purged:
    if not is_delta_table(spark, path):
        return Purged(target, None)
    deleted = delete_matching(spark, path, rows, condition) if not rows.isEmpty() else 0
    if vacuum is not None:
        vacuum(path)
    return Purged(target, deleted)
