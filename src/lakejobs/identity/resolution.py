"""The identity resolution job: new source rows → graph → components → stable identity ids.

Incremental: a run recomputes only the identities its new rows touch, plus those whose edges or
nodes aged out of their retention window since the last run (``--full true`` recomputes all).
The scope is every node of every touched identity, so the components computed inside it are the
components of the whole graph (an untouched identity has no live edge into the scope).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakejobs.commit_versions import COMMIT_VERSION, VALIDATED_AT
from lakejobs.concurrency import run_side_by_side
from lakejobs.config import IdentitySettings, IdentitySource
from lakejobs.errors import ConservationError, JobArgumentError
from lakejobs.identity.components import connected_components, materialize
from lakejobs.identity.confidence import node_confidence
from lakejobs.identity.graph import (
    edge_ends,
    edge_observations,
    is_live_edge,
    is_live_node,
    node_observations,
    salt_frame,
    with_nodes,
    with_salt,
)
from lakejobs.identity.source_tables import read_sources
from lakejobs.identity.stable_ids import assign_identity_ids
from lakejobs.identity.store import IdentityStore
from lakejobs.incremental import by_commit_version, watermark_batches
from lakejobs.local_rows import rows_frame
from lakejobs.runtime import JobContext, JobResult
from lakejobs.secrets import read_secret

log = logging.getLogger(__name__)

AS_OF = "as_of"  # bookmark: the time the last run resolved the graph at


@dataclass(frozen=True)
class ScopeResult:
    """What resolving one scope changed."""

    nodes: int
    identities: int
    history: dict[str, int]


def resolve_scope(
    store: IdentityStore,
    settings: IdentitySettings,
    scope: DataFrame,
    *,
    as_of: datetime,
    run_id: str,
) -> ScopeResult:
    """Recompute the identities of the nodes in ``scope`` (column ``node``) and write them.

    ``scope`` must be closed: every node of every identity it touches (see
    :func:`close_scope`). Nodes in scope that are no longer live leave the resolution.
    """
    types = settings.types
    # Each intermediate is materialized (lineage cut): the plans would otherwise nest the whole
    # run (ingest, scope, components) in every later query, and planning and broadcasting those
    # costs minutes even on ten rows.
    scope = materialize(scope.select("node").distinct())
    live_nodes = materialize(store.read("identity_nodes").where(is_live_node(types, as_of)).join(
        scope, on="node", how="left_semi"
    ))
    src_in = scope.select(F.col("node").alias("src"))
    dst_in = scope.select(F.col("node").alias("dst"))
    live_edges = (
        store.read("identity_edges").where(is_live_edge(types, as_of))
        .join(src_in, on="src", how="left_semi").join(dst_in, on="dst", how="left_semi")
    )
    live_edges = materialize(live_edges)
    components = connected_components(
        live_edges.select("src", "dst"), live_nodes.select("node"),
        strategy=settings.strategy, local_max_edges=settings.local_max_edges,
    )
    previous = materialize(store.read("identity_resolution").join(
        scope, on="node", how="left_semi").select("node", "identity_id", "identity_created_at"))
    assigned, history = assign_identity_ids(components, previous, run_id=run_id, now=as_of)
    rows = materialize(
        assigned.join(live_nodes, on="node", how="inner")
        .join(node_confidence(live_edges, types), on="node", how="left")
        .select(
            "node", "node_type", "identity_id", "identity_created_at",
            F.coalesce("confidence_score", F.lit(1.0)).alias("confidence_score"),
            "first_seen", "last_seen", F.lit(run_id).alias("run_id"),
        )
    )
    history = materialize(history)
    store.replace_resolution(rows, previous.select("node"))
    changes = {r.change: r.n for r in history.groupBy("change").agg(F.count("*").alias("n"))
               .collect()}  # at most four rows
    if changes:
        store.append_history(history)
    sizes = rows.agg(F.count("*").alias("nodes"),
                     F.count_distinct("identity_id").alias("identities")).first()
    return ScopeResult(nodes=sizes.nodes, identities=sizes.identities, history=changes)


def close_scope(store: IdentityStore, touched: DataFrame, settings: IdentitySettings,
                as_of: datetime) -> DataFrame:
    """``touched`` nodes plus every node of every identity they, or their live neighbours,
    belong to."""
    resolution = store.read("identity_resolution").select("node", "identity_id")
    edges = store.read("identity_edges").where(is_live_edge(settings.types, as_of))
    # kept: the plan below uses it twice, and it reads Delta tables (the aged-out nodes and
    # edges); a table read twice in one query has its files listed once more at execution (the
    # second read's attributes differ from those its file list was prepared for)
    touched = materialize(touched.select("node").distinct())
    neighbours = (
        edge_ends(edges).join(touched, on="node", how="left_semi")
        .select(F.col("other").alias("node"))
    )
    reached = touched.union(neighbours).distinct()
    identities = resolution.join(reached, on="node", how="left_semi").select("identity_id")
    members = resolution.join(identities.distinct(), on="identity_id", how="left_semi")
    return reached.union(members.select("node")).distinct()


def aged_out(store: IdentityStore, settings: IdentitySettings, since: datetime,
             as_of: datetime) -> DataFrame:
    """Nodes of nodes and edges that were live at ``since`` and are not at ``as_of``."""
    types = settings.types
    nodes = store.read("identity_nodes").where(
        is_live_node(types, since) & ~is_live_node(types, as_of)
    ).select("node")
    edges = store.read("identity_edges").where(
        is_live_edge(types, since) & ~is_live_edge(types, as_of)
    )
    return nodes.union(edge_ends(edges).select("node"))


def ingest_sources(
    context: JobContext, store: IdentityStore, salt: str, as_of: datetime
) -> tuple[DataFrame, dict[str, dict[str, int]]]:
    """Read each source's new rows, add their nodes and edges to the graph.

    A source with a watermark column is read in watermark batches (:func:`watermark_batches`),
    each added under its batch id: a retry of a run that failed after adding a batch reads it
    again and adds it nowhere twice, as observations add up. A source without one is read whole
    every run.

    Returns the nodes observed (column ``node``) and per source: rows read, rows with two or
    more identifiers (linked), with one, with none (nothing to link: counted, not stored).
    """
    spark, settings = context.spark, context.settings.identity
    salt_df = salt_frame(spark, salt)
    deny = store.read("identity_deny_list").select("node")
    observed, figures = [], {}
    for source, name, rows in read_sources(context, settings.sources, "identity.sources",
                                           _wanted_columns):
        if source.watermark_column is None:
            batches = [(None, rows)]
        else:
            frame, bookmark, column = rows, name, source.watermark_column
            if column == VALIDATED_AT:  # lakejobs' stamp: by commit version where tracked
                frame, bookmark, column = by_commit_version(rows, context.bookmarks, name, column)
            batches = [(f"{context.bookmarks.job_name}:{name}:{batch.batch_id}",
                        batch_rows.drop(COMMIT_VERSION))
                       for batch, batch_rows in watermark_batches(
                           frame, context.bookmarks, bookmark, column)]
        figures[name] = dict.fromkeys(("rows", "linked", "single", "no_identifier"), 0)
        for writer_id, batch_rows in batches:
            with_ids = materialize(
                batch_rows.transform(with_salt(salt_df))
                .transform(with_nodes(source.identifiers, settings.types, deny))
                .select(source.time_column, "_nodes")
            )
            sizes = with_ids.select(F.size("_nodes").alias("k")).agg(
                F.count("*").alias("rows"),
                F.count(F.when(F.col("k") >= 2, 1)).alias("linked"),
                F.count(F.when(F.col("k") == 1, 1)).alias("single"),
                F.count(F.when(F.col("k") == 0, 1)).alias("no_identifier"),
            ).first().asDict()
            figures[name] = {k: figures[name][k] + v for k, v in sizes.items()}
            nodes = materialize(with_ids.transform(node_observations(source.time_column)))
            # two tables, each MERGE with the batch's own transaction id: side by side
            edges = with_ids.transform(edge_observations(name, source.time_column))
            run_side_by_side([partial(store.accumulate_nodes, nodes, writer_id=writer_id),
                              partial(store.accumulate_edges, edges, writer_id=writer_id)],
                             context.settings.spark.table_threads)
            observed.append(nodes.select("node"))
    touched = observed[0] if observed else rows_frame(spark, [], "node string")
    for more in observed[1:]:
        touched = touched.union(more)
    return touched, figures


def _wanted_columns(source: IdentitySource) -> list[str]:
    wanted = [*source.identifiers, source.time_column]
    if source.watermark_column is not None:
        wanted.append(source.watermark_column)
    return wanted


def run(context: JobContext) -> JobResult:
    """The ``identity_resolution`` job."""
    settings = context.settings.identity
    as_of = parse_as_of(context.args.get("as_of"))
    salt = read_secret(context.settings.secrets.identity_salt, region=context.settings.secrets.region)
    store = IdentityStore(context.spark, context.paths, settings.zone)
    touched, figures = ingest_sources(context, store, salt, as_of)
    previous = context.bookmarks.watermark(AS_OF)
    full = context.args.get("full", "false").lower() == "true" or previous is None
    if full:
        scope = store.read("identity_nodes").select("node").union(
            store.read("identity_resolution").select("node"))
    else:
        since = datetime.fromisoformat(previous)
        scope = close_scope(store, touched.union(aged_out(store, settings, since, as_of)),
                            settings, as_of)
    result = resolve_scope(store, settings, scope, as_of=as_of, run_id=context.run_id)
    context.bookmarks.advance_watermark(AS_OF, as_of.isoformat())
    for name, f in figures.items():
        if f["rows"] != f["linked"] + f["single"] + f["no_identifier"]:
            raise ConservationError(f"identity source {name}: rows read != linked + single + "
                                    f"without identifier: {f}")
    summary = {"sources": figures, "full": full, "as_of": as_of.isoformat(),
               "scope_nodes": result.nodes, "identities": result.identities,
               "id_changes": result.history}
    log.info("identity resolution: %s", summary)
    return JobResult(
        rows_read=sum(f["rows"] for f in figures.values()),
        rows_written=sum(f["linked"] + f["single"] for f in figures.values()),
        summary=summary,
    )


def parse_as_of(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise JobArgumentError(
            f"--as_of {value!r}: expected an ISO-8601 time such as 2026-11-25T00:00:00+00:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
