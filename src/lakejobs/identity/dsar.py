"""DSAR deletion: forget a person everywhere the lake holds their identifiers.

For one request (a raw ``user_id``):

1. **Their nodes.** The user node, plus every node of their identity that is tied to no other
   user once the user node is gone (their anon ids, sessions; devices only they used). A node
   that also leads to another user stays: the component is re-split instead.
2. **Graph.** Their nodes and every edge touching them leave ``identity_nodes`` and
   ``identity_edges``; the rest of their identity, and of any other identity one of their
   nodes is in (linked to them by an edge that has expired since), is resolved again
   (stable-id rules: the largest remaining part keeps the id, ``identity_id_history`` records
   the split/delete).
3. **Never again.** Their nodes go on ``identity_deny_list``: the identity job drops them from
   every new row before linking, so a new event from them links nothing.
4. **Tombstone.** One ``identity_tombstones`` row (their identity id and hashed nodes only) for
   downstream purges, written before the graph changes: the retry of a failed run finds their
   identity gone from the graph, and keeps the tombstone the failed run wrote.
5. **Tables.** Rows of every configured landing/staging/curated table whose identifier columns
   hash to one of their nodes are deleted (Delta MERGE … WHEN MATCHED DELETE, with the matching
   raw values as the merge source: the commit log records the join condition, never the values),
   then each table is vacuumed with the maintenance retention — deleted rows stay in older files
   until that retention has passed, and every later run vacuums the table again until one has
   run after it (``dsar_purged_tables``).
6. **Audit.** One ``dsar_audit`` row per table (and one for the graph) says what was removed.
   A user id found nowhere (no graph node, no row of a DSAR table, never denied: a typo?) is
   still answered, its node denied, but its rows say ``not_found`` (``absent`` for a table that
   does not exist) and a warning is logged, so the requester can tell it from a deletion; the
   run log's summary counts such requests (``not_found``).

A request may name a ``canonical_id`` instead of (or besides) a user id: the master-data
records of that canonical user are deleted from the dedupe sources and the master-data tables
(:mod:`lakejobs.identity.dsar_master_data`), with one audit row per table (``not_found`` when
master data never knew the canonical id).

The raw user id is only ever hashed: it is not logged or written anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.config import Settings
from lakejobs.delta_io import (
    append,
    insert_new,
    is_delta_table,
    read_delta,
    vacuum_tables,
)
from lakejobs.identity.components import connected_components, materialize
from lakejobs.identity.dsar_master_data import canonical_id_known, forget_canonical_user
from lakejobs.identity.graph import edge_ends, hashed, salt_frame, with_salt
from lakejobs.identity.resolution import parse_as_of, resolve_scope
from lakejobs.identity.store import TOMBSTONE_SCHEMA, IdentityStore, delete_matching
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths
from lakejobs.runtime import JobContext, JobResult, cleanup_step
from lakejobs.secrets import read_secret

log = logging.getLogger(__name__)

USER_PREFIX = "u"
REQUESTS_TABLE = "dsar_requests"
AUDIT_TABLE = "dsar_audit"
# tables a deletion purged, until a VACUUM after the retention has removed the purged files
PURGED_TABLE = "dsar_purged_tables"
PURGED_SCHEMA = T.StructType([T.StructField("path", T.StringType(), False),
                              T.StructField("purged_at", T.TimestampType(), False)])
# audit status of every existing target of a request whose ids the lake never held
NOT_FOUND = "not_found"
ABSENT = "absent"
# the identity tables a deletion rewrites (hashed nodes of the person until vacuumed)
GRAPH_TABLES = ("identity_nodes", "identity_edges", "identity_resolution")
REQUEST_SCHEMA = T.StructType(
    [
        T.StructField("request_id", T.StringType(), False),
        T.StructField("user_id", T.StringType(), True),
        T.StructField("requested_at", T.TimestampType(), True),
        T.StructField("canonical_id", T.StringType(), True),
    ]
)
AUDIT_SCHEMA = T.StructType(
    [
        T.StructField("request_id", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("user_node", T.StringType(), False),
        T.StructField("target", T.StringType(), False),
        T.StructField("rows_deleted", T.LongType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("completed_at", T.TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class DsarRequest:
    """One deletion request. ``user_id`` is the raw id; it is hashed before any use.
    ``canonical_id`` names the person in master data (a pseudonymous id, kept for the audit)."""

    request_id: str
    user_id: str | None
    requested_at: datetime | None = None
    canonical_id: str | None = None


def user_node(user_id: str, salt: str) -> str:
    """The graph node of a raw user id (the same hash :func:`lakejobs.identity.graph.hashed`
    computes in Spark: sha256 of the space-trimmed id followed by the salt)."""
    digest = hashlib.sha256((user_id.strip(" ") + salt).encode("utf-8")).hexdigest()
    return f"{USER_PREFIX}:{digest}"


def persons_nodes(store: IdentityStore, node: str) -> DataFrame:
    """The nodes that belong to the user ``node`` alone (see the module docstring)."""
    spark = store.spark
    edges = store.read("identity_edges").select("src", "dst")
    resolution = store.read("identity_resolution").select("node", "identity_id")
    identity = resolution.where(F.col("node") == node).select("identity_id")
    members = resolution.join(identity, on="identity_id", how="left_semi")
    # each step kept (one person's surroundings: bounded), so that each query reads the edges
    # once: their non-linkable neighbours (devices) and the users those lead to, so that a
    # shared device is seen to be shared
    start = materialize(
        members.select("node").union(rows_frame(spark, [(node,)], "node string")).distinct())
    ends = edge_ends(edges)
    near = materialize(ends.join(start, on="node", how="left_semi")
                       .select(F.col("other").alias("node")).distinct())
    beyond = materialize(ends.join(near, on="node", how="left_semi")
                         .join(start.withColumnRenamed("node", "other"), on="other",
                               how="left_anti"))
    users_of_near = beyond.where(F.col("other").startswith(f"{USER_PREFIX}:")).select(
        F.col("other").alias("node"))
    # a near node leads to another user through that user's identity too: a device they used
    # before logging in is tied to them by their anonymous id, a session after its link to
    # them expired by theirs (each: near node -> the users of its neighbour's identity)
    users = resolution.where(F.col("node").startswith(f"{USER_PREFIX}:")
                             & (F.col("node") != node)).withColumnRenamed("node", "user")
    via_identity = materialize(
        beyond.join(resolution.withColumnRenamed("node", "other"), on="other")
        .join(users, on="identity_id").select(F.col("node").alias("src"),
                                              F.col("user").alias("dst")).distinct())
    candidates = materialize(start.union(near).union(users_of_near)
                             .union(via_identity.select(F.col("dst").alias("node"))).distinct())
    inside = (
        edges.join(candidates.withColumnRenamed("node", "src"), on="src", how="left_semi")
        .join(candidates.withColumnRenamed("node", "dst"), on="dst", how="left_semi")
        .where((F.col("src") != node) & (F.col("dst") != node))
        .unionByName(via_identity)
    )
    others = candidates.where(F.col("node") != node)
    parts = connected_components(inside.select("src", "dst"), others)
    shared = parts.where(F.col("node").startswith(f"{USER_PREFIX}:")).select("component").distinct()
    alone = parts.join(shared, on="component", how="left_anti").select("node")
    result = alone.union(rows_frame(spark, [(node,)], "node string")).distinct()
    return result.localCheckpoint(eager=True)


def purge_table(
    paths: LakePaths, zone: str, table: str, columns: dict[str, str], nodes: DataFrame,
    salt: DataFrame,
) -> int | None:
    """Delete the rows of a Delta table whose identifier columns hash to one of ``nodes``.

    Returns the rows deleted, or None when the table does not exist.
    """
    spark = nodes.sparkSession
    path = paths.table(zone, table)
    if not is_delta_table(spark, path):
        return None
    deleted = 0
    for column, prefix in columns.items():
        raw = (
            read_delta(spark, path).select(F.col(column).alias("_raw"))
            .where(F.col("_raw").isNotNull())
            .distinct().transform(with_salt(salt))
            .withColumn("node", hashed(F.col("_raw"), prefix))
            .join(nodes, on="node", how="left_semi").select("_raw")
        ).localCheckpoint(eager=True)  # bounded: one person's identifiers
        if not raw.isEmpty():
            deleted += delete_matching(spark, path, raw, f"t.`{column}` = s._raw")
    return deleted


def delete_person(
    context: JobContext, store: IdentityStore, request: DsarRequest, salt: str,
    *, as_of: datetime | None = None,
) -> list[tuple]:
    """Carry out one request (steps in the module docstring). Returns the audit rows."""
    spark, settings = context.spark, context.settings
    now = as_of or datetime.now(UTC)
    node = user_node(request.user_id, salt)
    identity_row = store.read("identity_resolution").where(F.col("node") == node) \
        .select("identity_id").first()
    identity_id = identity_row.identity_id if identity_row else None
    # with the nodes an earlier attempt of this request put on the deny list: once its graph
    # deletion is committed the graph no longer ties them to the user node, and a retry would
    # leave their rows in the tables below
    deny_list = store.read("identity_deny_list")
    denied = deny_list.where(F.col("request_id") == request.request_id).select("node")
    # read before this attempt denies anything: a retry, or a request for someone forgotten
    # before, is not a request for an id the lake never held
    denied_before = not deny_list.where(
        (F.col("request_id") == request.request_id) | (F.col("node") == node)).isEmpty()
    theirs = persons_nodes(store, node).union(denied).distinct().localCheckpoint(eager=True)
    # every identity one of their nodes is in, not only the user's: a node linked to them by an
    # edge that has since expired (a session, an old anon id) can sit in another identity
    resolution = store.read("identity_resolution")
    touched = resolution.join(theirs, on="node", how="left_semi").select("identity_id")
    scope = resolution.join(touched.distinct(), on="identity_id", how="left_semi").select(
        "node").union(theirs).distinct().localCheckpoint(eager=True)
    node_list = sorted(r.node for r in theirs.collect())  # one person's identifiers: bounded
    # before the graph is changed: once it is, their identity id is read nowhere, and the retry
    # of a run that stopped in between keeps this row (one per request)
    tombstone = rows_frame(
        spark, [(request.request_id, identity_id, node_list, request.requested_at, now)],
        TOMBSTONE_SCHEMA)
    insert_new(tombstone, store.path("identity_tombstones"), keys=["request_id"])
    # denied before the graph is changed: the deny list is what a retry finds them by
    insert_new(theirs.select("node", F.lit(request.request_id).alias("request_id"),
                             F.lit(now).cast("timestamp").alias("denied_at")),
               store.path("identity_deny_list"), keys=["node"])
    removed = store.delete_nodes(theirs)
    # one resolution per request, each naming its request: new ids hash the component with the
    # run id, and a second request of the run splitting the part the first split off would
    # give its new piece the id of that part (two components, one id; no history row)
    resolve_scope(store, settings.identity, scope, as_of=now,
                  run_id=f"{context.run_id}/{request.request_id}")
    audit = [(request.request_id, context.run_id, node, "identity_graph",
              removed["identity_nodes"] + removed["identity_edges"], "deleted", now)]
    salt_df = salt_frame(spark, salt)
    vacuum_after, purged = settings.identity.vacuum_after_dsar, []
    for t in settings.identity.dsar_tables:
        count = purge_table(context.paths, t.zone, t.table, dict(t.columns), theirs, salt_df)
        status = ABSENT if count is None else "deleted+vacuumed" if vacuum_after else "deleted"
        if count is not None:
            purged.append(context.paths.table(t.zone, t.table))
        audit.append((request.request_id, context.run_id, node, f"{t.zone}.{t.table}",
                      count or 0, status, now))
    if vacuum_after and purged:  # before the audit rows are written: "vacuumed" holds then
        _vacuum_purged(context, purged)
    log.info("DSAR %s: %d nodes removed; %s", request.request_id, len(node_list),
             [(a[3], a[4]) for a in audit])
    if not denied_before and not any(a[4] for a in audit):
        log.warning("DSAR %s: the user id is found nowhere (no graph node, no row of a DSAR "
                    "table, never denied): answered %s; its node is denied all the same",
                    request.request_id, NOT_FOUND)
        return _not_found(audit)
    return audit


def delete_master_records(context: JobContext, request: DsarRequest,
                          *, as_of: datetime | None = None) -> list[tuple]:
    """Carry out the master-data part of a request (its ``canonical_id``). Returns the audit
    rows: one per dedupe source and master-data table, the canonical id as the subject."""
    spark, settings = context.spark, context.settings
    now = as_of or datetime.now(UTC)
    vacuum_after = settings.identity.vacuum_after_dsar
    # asked before the records go: a retry finds the id in canonical_id_history, which stays
    known = canonical_id_known(spark, context.paths, settings.dedupe, request.canonical_id)
    purged = forget_canonical_user(
        spark, context.paths, settings.dedupe, request.canonical_id,
        vacuum=(lambda path: _vacuum_purged(context, [path])) if vacuum_after else None)
    done = "deleted+vacuumed" if vacuum_after else "deleted"
    audit = [(request.request_id, context.run_id, request.canonical_id, p.target,
              p.rows_deleted or 0, ABSENT if p.rows_deleted is None else done, now)
             for p in purged]
    if not known and not any(a[4] for a in audit):
        log.warning("DSAR %s: the canonical id is found nowhere in master data (no member "
                    "record, no canonical_id_history row): answered %s", request.request_id,
                    NOT_FOUND)
        return _not_found(audit)
    return audit


def _not_found(audit: list[tuple]) -> list[tuple]:
    """The audit rows of a request whose ids were found nowhere: ``not_found`` for every
    target that exists (``absent`` ones stay ``absent``)."""
    return [a if a[5] == ABSENT else (*a[:5], NOT_FOUND, *a[6:]) for a in audit]


def _vacuum_purged(context: JobContext, paths: list[str]) -> None:
    """VACUUM tables a deletion just purged, and hold them in :data:`PURGED_TABLE`: the purged
    files stay until the retention has passed (this VACUUM cannot remove them yet), so every
    later run vacuums the table again until one runs after it."""
    purged_at = datetime.now(UTC)  # the files' clock, not the run's as_of
    append(rows_frame(context.spark, [(p, purged_at) for p in paths], PURGED_SCHEMA),
           context.paths.table("system", PURGED_TABLE))
    _vacuum(context.spark, paths, context.settings)


def _vacuum_every_run(context: JobContext, store: IdentityStore) -> None:
    """The VACUUM of every run: the job's own tables (requests, graph) and the tables purged
    within the retention (:func:`_vacuum_purged`); a purged table is released once a VACUUM
    ran after its retention, which removed the files the deletion left."""
    spark, settings = context.spark, context.settings
    held_path = context.paths.table("system", PURGED_TABLE)
    held = ([r.path for r in read_delta(spark, held_path).select("path").distinct().collect()]
            if is_delta_table(spark, held_path) else [])
    cutoff = datetime.now(UTC) - timedelta(hours=settings.maintenance.retention_hours)
    own = [context.paths.table("system", REQUESTS_TABLE), *(store.path(t) for t in GRAPH_TABLES)]
    _vacuum(spark, [p for p in dict.fromkeys([*own, *held]) if is_delta_table(spark, p)],
            settings)
    if held:
        DeltaTable.forPath(spark, held_path).delete(F.col("purged_at") <= F.lit(cutoff))


def _vacuum(spark, paths: list[str], settings: Settings) -> None:
    """VACUUM ``paths`` with the maintenance retention, side by side (``spark.table_threads``)."""
    vacuum_tables(spark, paths, settings.maintenance.retention_hours,
                  allow_short_retention=settings.maintenance.allow_short_retention,
                  threads=settings.spark.table_threads)


def pending_requests(context: JobContext) -> list[DsarRequest]:
    """Requests in ``dsar_requests`` (system zone) that no audit row answers yet."""
    spark, paths = context.spark, context.paths
    requests = read_delta(spark, paths.table("system", REQUESTS_TABLE), REQUEST_SCHEMA)
    if "canonical_id" not in requests.columns:  # a requests table from before master data
        requests = requests.withColumn("canonical_id", F.lit(None).cast("string"))
    audit = read_delta(spark, paths.table("system", AUDIT_TABLE), AUDIT_SCHEMA)
    open_ = requests.where(F.col("user_id").isNotNull() | F.col("canonical_id").isNotNull()).join(
        audit.select("request_id"), on="request_id", how="left_anti")
    # requests arrive a handful a day: bounded
    return [DsarRequest(r.request_id, r.user_id, r.requested_at, r.canonical_id)
            for r in open_.orderBy("requested_at", "request_id").collect()]


def forget_raw_ids(context: JobContext) -> None:
    """Blank the raw user id of every answered request (an audit row exists): the request is
    kept, the id is forgotten. Run after the requests of a run, it also catches up a request
    whose run stopped between its audit and this step."""
    spark, paths = context.spark, context.paths
    path = paths.table("system", REQUESTS_TABLE)
    if not is_delta_table(spark, path):
        return
    answered = read_delta(spark, paths.table("system", AUDIT_TABLE), AUDIT_SCHEMA) \
        .select("request_id").distinct()
    (DeltaTable.forPath(spark, path).alias("r")
     .merge(answered.alias("a"), "r.request_id = a.request_id AND r.user_id IS NOT NULL")
     .whenMatchedUpdate(set={"user_id": F.lit(None).cast("string")})
     .execute())


def run(context: JobContext) -> JobResult:
    """The ``identity_dsar`` job: carry out every pending request, then blank its raw user id.

    Returns:
        The run's figures for the run log: ``requests`` answered, ``rows_deleted`` (graph and
        table rows, all requests) and ``not_found``, the requests among them with an id (user
        id or canonical id) found nowhere, audited ``not_found`` (a typo to follow up with the
        requester).
    """
    settings = context.settings
    salt = read_secret(settings.secrets.identity_salt, region=settings.secrets.region)
    store = IdentityStore(context.spark, context.paths, settings.identity.zone)
    as_of = parse_as_of(context.args.get("as_of"))
    requests = pending_requests(context)
    audit_path = context.paths.table("system", AUDIT_TABLE)
    deleted = not_found = 0
    try:
        for request in requests:
            rows = []
            if request.user_id is not None:
                rows += delete_person(context, store, request, salt, as_of=as_of)
            if request.canonical_id is not None:
                rows += delete_master_records(context, request, as_of=as_of)
            append(rows_frame(context.spark, rows, AUDIT_SCHEMA), audit_path)
            deleted += sum(r[4] for r in rows)
            if any(r[5] == NOT_FOUND for r in rows):  # its user or canonical id: nowhere
                not_found += 1
    finally:
        # also when a later request fails: the ids of those answered are forgotten now
        cleanup_step(partial(forget_raw_ids, context), failing=sys.exc_info()[1] is not None,
                     what="identity_dsar: blanking the raw ids of answered requests",
                     logger=log)
    if settings.identity.vacuum_after_dsar:
        # Deleted rows and the blanked ids stay in older files until the retention has passed:
        # every run vacuums the job's own tables and the tables purged within it, so they are
        # gone at the first run after it.
        _vacuum_every_run(context, store)
    return JobResult(rows_read=len(requests), rows_written=len(requests),
                     summary={"requests": len(requests), "rows_deleted": deleted,
                              "not_found": not_found})
