"""The master-data dedupe job: source people records → matched pairs → canonical users.

Steps (each documented in its module):

1. ``source_identities`` from every ``dedupe.sources`` table (:mod:`.source_identities`); rows
   without a record id are quarantined with a reason, as are records whose key a record of
   another table shares (``key_collision``); older versions of a record give way to the latest.
2. Candidate pairs by blocking rules (:mod:`.blocking`).
3. Comparison levels, Fellegi–Sunter weights by EM, decisions (:mod:`.matching`).
4. Reviewer decisions applied, review queue rebuilt (:mod:`.review_queue`).
5. Auto-merged and approved pairs → connected components (:mod:`.components`, shared with
   identity resolution) → stable ``canonical_id`` s (:mod:`.stable_ids`, prefix ``cu_``).
6. ``canonical_users``, ``canonical_profiles`` (versioned, Change Data Feed) and
   ``attribute_lineage`` by survivorship (:mod:`.survivorship`).

Every run recomputes from all source records (master data is small next to events: millions of
rows, not billions); writes commit only what changed, so a rerun on unchanged data commits
nothing and profile versions move only when a surviving value does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakejobs.__about__ import __version__
from lakejobs.concurrency import run_side_by_side
from lakejobs.config import DedupeSettings, DedupeSource
from lakejobs.delta_io import insert_new, table_state
from lakejobs.errors import ConfigError, ConservationError
from lakejobs.identity.blocking import blocking_report, candidate_pairs
from lakejobs.identity.components import connected_components, materialize
from lakejobs.identity.constrained_clusters import split_contradicting_components
from lakejobs.identity.dedupe_store import DedupeStore
from lakejobs.identity.matching import (
    AUTO_MERGE,
    REVIEW,
    MatchModel,
    classify,
    comparison_detail,
    comparisons,
    pair_records,
    train,
    with_conflicts,
    with_gammas,
    with_probability,
)
from lakejobs.identity.review_queue import (
    OPEN,
    apply_decisions,
    approved_pairs,
    dismissed_pairs,
    latest_decisions,
    next_queue,
    pair_id,
    unknown_pairs,
)
from lakejobs.identity.source_identities import (
    nickname_frame,
    read_source,
    split_unusable,
    with_match_keys,
)
from lakejobs.identity.source_tables import read_sources
from lakejobs.identity.stable_ids import assign_identity_ids
from lakejobs.identity.survivorship import attribute_candidates, choose, profiles
from lakejobs.package_digest import package_digest
from lakejobs.runtime import JobContext, JobResult

log = logging.getLogger(__name__)

QUARANTINE_TABLE = "source_identities"
# a key (``<system>:<id>``) that records of two tables, or two (system, id) pairs, share
KEY_COLLISION = "key_collision"
# the bookmark holding the fingerprint of the tables and settings the last computing run saw
INPUTS = "inputs"


@dataclass(frozen=True)
class LoadedIdentities:
    """The source identities (latest version per record), the quarantined rows, and counts:
    per source table its rows and quarantined rows, in all the identities and older versions."""

    identities: DataFrame
    quarantined: DataFrame
    sources: dict[str, dict[str, int]]
    count: int
    older_versions: int

    @property
    def rows(self) -> int:
        return sum(f["rows"] for f in self.sources.values())

    @property
    def quarantined_count(self) -> int:
        return sum(f["quarantined"] for f in self.sources.values())


def load_identities(context: JobContext) -> LoadedIdentities | None:
    """Every source table's records as source identities; ``None`` when no source table
    exists yet."""
    spark, settings = context.spark, context.settings.dedupe
    names = nickname_frame(spark)
    kept, bad, figures = [], [], {}
    for source, name, rows in read_sources(context, settings.sources, "dedupe.sources",
                                           _wanted_columns):
        identities = read_source(rows, source, settings.phone_country_code)
        good, rejected = split_unusable(identities)
        kept.append(good.withColumn("_source_table", F.lit(name)))
        bad.append(rejected.select(F.lit(name).alias("source_table"), "reason", "raw"))
        figures[name] = {"rows": rows.count()}
    if not kept:
        return None
    union = kept[0]
    for more in kept[1:]:
        union = union.unionByName(more)
    colliding, union = _split_collisions(union)
    bad.append(colliding.select(F.col("_source_table").alias("source_table"),
                                F.lit(KEY_COLLISION).alias("reason"), "raw"))
    newest = Window.partitionBy("_key").orderBy(F.desc_nulls_last("updated_at"), "raw")
    ranked = union.withColumn("_v", F.row_number().over(newest))
    identities = materialize(ranked.where("_v = 1").drop("_v", "_key", "_source_table")
                             .transform(with_match_keys(names)))
    quarantined = bad[0]
    for more in bad[1:]:
        quarantined = quarantined.unionByName(more)
    quarantined = materialize(quarantined)
    totals = {r.source_table: r.n for r in quarantined.groupBy("source_table").agg(
        F.count("*").alias("n")).collect()}
    for name, f in figures.items():
        f["quarantined"] = totals.get(name, 0)
    return LoadedIdentities(identities, quarantined, figures, count=identities.count(),
                            older_versions=ranked.where("_v > 1").count())


def _split_collisions(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(records whose key another record shares, the others with their key as ``_key``).

    A record is keyed by its source system and record id (``<system>:<id>``): the versions of
    one record come from one table and name one system and id. A key that two tables give (a
    ``system_column`` row naming another source's fixed system), or two (system, id) pairs give
    (a system or id holding ``:``), names different records: taken for one, all but the newest
    would be dropped as older versions (and a DSAR of one would delete the others). They are
    quarantined, every version, as ``key_collision``. The config refuses what it can see of
    this (two sources with one fixed system, one table twice); this is the data's part.
    """
    key = F.concat_ws(":", "source_system", "source_record_id")
    record = F.struct("_source_table", "source_system", "source_record_id")
    shared = F.size(F.collect_set(record).over(Window.partitionBy("_key"))) > 1
    marked = records.withColumn("_key", key).withColumn("_collides", shared)
    return (marked.where("_collides").drop("_collides"),
            marked.where("not _collides").drop("_collides"))


def _wanted_columns(source: DedupeSource) -> list[str]:
    wanted = [source.record_id, source.updated_column, *source.columns.values()]
    if source.system_column is not None:
        wanted.append(source.system_column)
    return wanted


def score_pairs(identities: DataFrame, records: int, settings: DedupeSettings
                ) -> tuple[DataFrame, MatchModel, dict]:
    """Candidate pairs with gammas, probability, conflicts, ``score``, ``decision``, ``reason``
    and the review columns; the model; the blocking figures."""
    pairs = materialize(candidate_pairs(identities, settings.blocking, settings.max_block_size))
    report = blocking_report(pairs, identities, settings.blocking, settings.max_block_size)
    comps = comparisons()
    compared = materialize(pair_records(pairs, identities).transform(with_gammas(comps)))
    model = train(compared, identities, records, comps, settings.blocking,
                  sample_records=settings.u_sample_records,
                  iterations=settings.em_iterations)
    scored = (
        compared.transform(with_probability(model, comps))
        .transform(with_conflicts(comps, settings.high_risk))
        .transform(classify(settings.thresholds))
        .select(
            pair_id(F.col("left_key"), F.col("right_key")).alias("pair_id"),
            "left_key", "right_key",
            F.col("l_record_hash").alias("left_hash"), F.col("r_record_hash").alias("right_hash"),
            F.round("score", 6).alias("score"), F.round("match_weight", 4).alias("match_weight"),
            "decision", "reason", "blocked_by",
            comparison_detail(comps, model).alias("comparison"),
            F.col("l_raw").alias("left_record"), F.col("r_raw").alias("right_record"),
        )
    )
    figures = {"candidate_pairs": report.candidate_pairs, "pairs_by_rule": report.pairs_by_rule,
               "skipped_blocks": report.skipped_blocks}
    return materialize(scored), model, figures


APPROVED_WEIGHT = 2.0  # above any score: a reviewer's approval is the strongest merge edge
IN_COMPONENT_CONFLICT = "high_risk_conflict_in_component"


def merge_edges(scored: DataFrame, queue: DataFrame, identities: DataFrame) -> DataFrame:
    """``src``, ``dst``, ``weight``: auto-merged pairs (less those a reviewer dismissed, records
    unchanged) weighted by score, and approved pairs whose records both still exist, weighted
    :data:`APPROVED_WEIGHT`."""
    auto = scored.where(F.col("decision") == AUTO_MERGE).join(
        dismissed_pairs(queue), on=["pair_id", "left_hash", "right_hash"], how="left_anti")
    keys = identities.select("identity_key")
    approved = (approved_pairs(queue)
                .join(keys.withColumnRenamed("identity_key", "left_key"), "left_key", "left_semi")
                .join(keys.withColumnRenamed("identity_key", "right_key"), "right_key",
                      "left_semi"))
    return (auto.select("left_key", "right_key", F.col("score").alias("weight"))
            .unionByName(approved.withColumn("weight", F.lit(APPROVED_WEIGHT)))
            .groupBy(F.col("left_key").alias("src"), F.col("right_key").alias("dst"))
            .agg(F.max("weight").alias("weight")))


def merge_components(edges: DataFrame, identities: DataFrame, settings: DedupeSettings
                     ) -> tuple[DataFrame, DataFrame]:
    """(``node``, ``component`` of every identity; ``src``, ``dst`` of the merge edges refused
    because their component would hold two government ids, see
    :mod:`~lakejobs.identity.constrained_clusters`; with ``government_id`` among
    ``high_risk``)."""
    nodes = identities.select(F.col("identity_key").alias("node"))
    components = connected_components(edges, nodes)
    if "government_id" not in settings.high_risk:
        return components, edges.select("src", "dst").limit(0)
    ids = identities.where(F.col("government_id").isNotNull()).select(
        F.col("identity_key").alias("node"), F.col("government_id").alias("value"))
    return split_contradicting_components(components, edges, ids)


def refused_for_review(scored: DataFrame, refused: DataFrame) -> DataFrame:
    """The auto-merge pairs among the ``refused`` edges, as review pairs (their reason says
    why a pair scored to merge waits for a reviewer)."""
    return (scored.where(F.col("decision") == AUTO_MERGE)
            .join(refused.select(F.col("src").alias("left_key"), F.col("dst").alias("right_key")),
                  on=["left_key", "right_key"], how="left_semi")
            .withColumn("decision", F.lit(REVIEW))
            .withColumn("reason", F.lit(IN_COMPONENT_CONFLICT)))


def run(context: JobContext) -> JobResult:
    """The ``master_data_dedupe`` job."""
    spark, settings = context.spark, context.settings.dedupe
    if not settings.sources:
        raise ConfigError(f"conf/{context.settings.env}.yaml: dedupe.sources is empty: expected "
                          "at least one table of people records")
    now = datetime.now(UTC)
    store = DedupeStore(spark, context.paths, settings.zone)
    inputs, outputs = _input_states(context, store), _output_states(context, store)
    full = context.args.get("full", "false").lower() == "true"
    if not full and context.bookmarks.watermark(INPUTS) == _fingerprint(settings, inputs, outputs):
        log.info("master data dedupe: no source table, review decision, master-data table or "
                 "setting changed since the last run: nothing to recompute")
        return JobResult(summary={"skipped": "inputs unchanged",
                                  **_queue_figures(store.read("potential_duplicates"), now)})
    loaded = load_identities(context)
    if loaded is None:
        log.warning("master data dedupe: no source table exists yet: nothing to do")
        return JobResult(summary={"sources": {}, "identities": 0})
    identities = loaded.identities
    threads = context.settings.spark.table_threads
    run_side_by_side([
        lambda: insert_new(loaded.quarantined.select(
            "source_table", "reason", "raw", F.lit(now).cast("timestamp").alias("quarantined_at"),
            F.lit(context.run_id).alias("run_id")),
            context.paths.table("quarantine", QUARANTINE_TABLE), ["source_table", "raw"]),
        lambda: store.replace("source_identities", identities, ("identity_key",)),
    ], threads)

    scored, model, blocking = score_pairs(identities, loaded.count, settings)

    good, invalid = latest_decisions(store.read("merge_decisions"))
    queue_before = store.read("potential_duplicates")
    decided = materialize(apply_decisions(queue_before, good))
    unknown = unknown_pairs(queue_before, good).count()
    # the decisions (approvals, dismissals) are the queue's before this run's review pairs join
    # it; a merge refused by its component joins them
    edges = materialize(merge_edges(scored, decided, identities))
    components, refused = merge_components(edges, identities, settings)
    components, refused = materialize(components), materialize(refused)
    review = scored.where(F.col("decision") == REVIEW).unionByName(
        refused_for_review(scored, refused))
    queue = materialize(next_queue(decided, review, now))
    store.replace("potential_duplicates", queue, ("pair_id",))

    # materialized before the members table is rewritten: the history compares with it
    previous = materialize(store.read("canonical_members").select(
        F.col("identity_key").alias("node"), F.col("canonical_id").alias("identity_id"),
        F.col("canonical_created_at").alias("identity_created_at")))
    assigned, history = assign_identity_ids(components, previous, run_id=context.run_id,
                                            now=now, prefix="cu_")
    members = materialize(assigned.select(
        F.col("node").alias("identity_key"), F.col("identity_id").alias("canonical_id"),
        F.col("identity_created_at").alias("canonical_created_at")))
    history = materialize(history)
    run_side_by_side([lambda: store.replace("canonical_members", members, ("identity_key",)),
                      lambda: store.append_history(history)], threads)

    with_records = materialize(members.join(identities, on="identity_key", how="inner"))
    users = with_records.groupBy("canonical_id", "canonical_created_at").agg(
        F.count("*").alias("records"),
        F.array_sort(F.collect_set("source_system")).alias("source_systems"),
        F.array_sort(F.collect_list("identity_key")).alias("identity_keys"),
    )
    lineage = materialize(choose(attribute_candidates(with_records, settings), context.run_id))

    def lineage_and_profiles() -> int:
        store.replace("attribute_lineage", lineage, ("canonical_id", "attribute"),
                      ignore=("run_id",))
        return store.write_profiles(profiles(lineage), now, context.run_id)

    _, profile_changes = run_side_by_side(
        [lambda: store.replace("canonical_users", users, ("canonical_id",)),
         lineage_and_profiles], threads)

    summary = _summary(loaded, blocking, scored, queue, good, invalid, unknown, users,
                       profile_changes, model, now)
    summary["merges_refused_in_component"] = refused.count()
    accounted = loaded.count + loaded.older_versions + loaded.quarantined_count
    if loaded.rows != accounted:
        raise ConservationError(f"master_data_dedupe: {loaded.rows} source rows but {accounted} "
                                f"identities + older versions + quarantined: {loaded.sources}")
    log.info("master data dedupe: %s", {k: v for k, v in summary.items() if k != "model"})
    # the inputs as they were before they were read (a change since then makes the next run
    # recompute), the job's own tables as this run left them
    context.bookmarks.advance_watermark(
        INPUTS, _fingerprint(settings, inputs, _output_states(context, store)))
    return JobResult(rows_read=loaded.rows, rows_written=loaded.count,
                     rows_quarantined=loaded.quarantined_count, summary=summary)


def _input_states(context: JobContext, store: DedupeStore) -> dict[str, str | None]:
    """The state (:func:`~lakejobs.delta_io.table_state`) of every table the job reads: the
    sources and the reviewers' decisions."""
    spark = context.spark
    inputs = {f"{s.zone}.{s.table}": table_state(spark, context.paths.table(s.zone, s.table))
              for s in context.settings.dedupe.sources}
    inputs["merge_decisions"] = table_state(spark, store.path("merge_decisions"))
    return inputs


def _output_states(context: JobContext, store: DedupeStore) -> dict[str, str | None]:
    """The state of every table the job writes."""
    spark = context.spark
    outputs = {t: table_state(spark, store.path(t)) for t in store.SCHEMAS
               if t != "merge_decisions"}
    outputs["quarantine"] = table_state(spark, context.paths.table("quarantine",
                                                                   QUARANTINE_TABLE))
    return outputs


def _fingerprint(settings: DedupeSettings, inputs: dict[str, str | None],
                 outputs: dict[str, str | None]) -> str:
    """What a run's result depends on: the tables' states, the settings and lakejobs' code
    (matching rules and nicknames ship with it): its version and the digest of its files, which
    also tells apart builds of one version. Equal fingerprints: a recompute would commit
    nothing."""
    seen = {"lakejobs": __version__, "code": package_digest(),
            "settings": settings.model_dump(mode="json"),
            "inputs": inputs, "outputs": outputs}
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()


def _queue_figures(queue: DataFrame, now: datetime) -> dict:
    """The review queue's rows by status and the age of its oldest open pair (for alerting:
    reported by every run, also one that recomputes nothing)."""
    figures = queue.groupBy("status").agg(
        F.count("*").alias("n"),
        F.min(F.when(F.col("status") == OPEN, F.col("queued_at"))).alias("oldest")).collect()
    statuses = {r.status: r.n for r in figures}
    oldest = min((r.oldest for r in figures if r.oldest is not None), default=None)
    return {
        "queue": statuses,
        "queue_open": statuses.get(OPEN, 0),
        "dismissed": statuses.get("dismissed", 0),
        "approved": statuses.get("approved", 0),
        "queue_age_hours": round((now.replace(tzinfo=None) - oldest).total_seconds() / 3600, 2)
        if oldest is not None else 0.0,
    }


def _summary(loaded: LoadedIdentities, blocking, scored, queue, decisions, invalid, unknown,
             users, profile_changes, model: MatchModel, now: datetime) -> dict:
    by_decision: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for r in scored.groupBy("decision", "reason").agg(F.count("*").alias("n")).collect():
        by_decision[r.decision] = by_decision.get(r.decision, 0) + r.n
        by_reason[r.reason] = by_reason.get(r.reason, 0) + r.n
    applied = {r.status: r.n for r in decisions.groupBy("status").agg(
        F.count("*").alias("n")).collect()}
    sizes = users.agg(F.count("*").alias("users"),
                      F.sum(F.when(F.col("records") > 1, F.col("records"))).alias("merged"),
                      ).first()
    return {
        "sources": loaded.sources,
        "identities": loaded.count,
        "older_versions": loaded.older_versions,
        "quarantined": loaded.quarantined_count,
        **blocking,
        "pairs_compared": sum(by_decision.values()),
        "auto_merged": by_decision.get(AUTO_MERGE, 0),
        "queued_for_review": by_decision.get(REVIEW, 0),
        "no_link": by_decision.get("no_link", 0),
        "reasons": by_reason,
        **_queue_figures(queue, now),
        "decisions_latest": applied,
        "decisions_invalid": invalid.count(),
        "decisions_unknown_pair": unknown,
        "canonical_users": sizes.users,
        "records_merged": int(sizes.merged or 0),
        "profile_changes": {k: v for k, v in profile_changes.items()
                            if k in ("numTargetRowsInserted", "numTargetRowsUpdated",
                                     "numTargetRowsDeleted")},
        "model": model.as_dict(comparisons()),
    }
