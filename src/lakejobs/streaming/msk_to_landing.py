"""The Kafka (MSK) → landing job: a Structured Streaming query whose micro-batches are decoded,
routed by the manifest, deduplicated and written idempotently.

Per micro-batch (:class:`LandingSink`):

1. decode and route every record (:class:`lakejobs.streaming.routing.BatchDecoder`), keep the
   decoded rows (a local checkpoint per route group), then stamp them with the batch
   (:func:`~lakejobs.streaming.routing.stamp_batch`);
2. flag duplicates (within the batch and against the landing rows of the watermark) and late
   records;
3. count everything and check conservation (in = landed + quarantined + duplicates) *before*
   writing;
4. write each landing table, the quarantine table and the metrics row side by side, each write
   idempotent for (query, table, batch id) — so a crash anywhere followed by a restart (Spark
   replays the uncommitted batch from the checkpoint) neither loses nor duplicates a record (a
   replay finds the metrics row of an interrupted attempt written, with the same figures: every
   batch is stamped with the time Spark planned it, from the offset log, not with the clock);
5. log the metrics and append them to the run log, idempotent for (query, batch id) too: a
   crash after the run-log row but before Spark commits the batch makes the restarted run
   replay the batch, and its row is not written twice.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter

from lakejobs._compat import current_stack
from lakejobs.concurrency import run_side_by_side
from lakejobs.config import Settings
from lakejobs.errors import CheckpointError
from lakejobs.hadoop_files import read_lines
from lakejobs.local_rows import rows_frame
from lakejobs.paths import LakePaths, validate_name
from lakejobs.resources import resolve_location
from lakejobs.run_log import SUCCEEDED, RunRecord, append_run
from lakejobs.runtime import JobContext, JobResult
from lakejobs.spark_conf import temporary_conf
from lakejobs.streaming.dedupe import (
    duplicate_offsets,
    flag_duplicates,
    flag_late,
    recent_keys,
)
from lakejobs.streaming.kafka_source import read_kafka_stream, redacted, source_options
from lakejobs.streaming.landing_writer import (
    WRITE_CONF,
    append_once,
    landing_properties,
    read_landing,
    write_parquet_batch,
)
from lakejobs.streaming.manifest import (
    POSITION_COLUMNS,
    RECORD_COLUMNS,
    Manifest,
    Route,
    load_manifest,
    require_routes,
)
from lakejobs.streaming.metrics import METRICS_SCHEMA, BatchMetrics
from lakejobs.streaming.record_files import read_record_files
from lakejobs.streaming.routing import (
    BatchDecoder,
    Group,
    RoutedBatch,
    landing_rows,
    quarantine_rows,
    stamp_batch,
)

log = logging.getLogger(__name__)

UNCOMPRESSED_CACHE = {"spark.sql.inMemoryColumnarStorage.compressed": "false"}
DAY_SECONDS = 86_400.0


@dataclass
class Totals:
    """Figures of every batch of this run, for the run log."""

    batches: int = 0
    records_in: int = 0
    landed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    late: int = 0
    alerts: int = 0
    by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, m: BatchMetrics) -> None:
        self.batches += 1
        self.records_in += m.records_in
        self.landed += m.landed
        self.quarantined += m.quarantined
        self.duplicates += m.duplicates
        self.late += m.late
        self.alerts += int(m.alert)
        for reason, n in m.quarantined_by_reason.items():
            self.by_reason[reason] += n


class LandingSink:
    """The ``foreachBatch`` function of the streaming query."""

    def __init__(self, spark: SparkSession, settings: Settings, paths: LakePaths,
                 manifest: Manifest, run_id: str, checkpoint: str | None = None) -> None:
        self.spark = spark
        self.checkpoint = checkpoint
        self._query_id: str | None = None
        self.settings = settings
        self.streaming = settings.streaming
        self.paths = paths
        self.manifest = manifest
        self.run_id = run_id
        self.totals = Totals()
        avro_decoder = _avro_decoder(settings) if any(
            r.format.startswith("avro") for r in manifest.routes) else None
        # kept for the query's life: each route's decoding is built once, not per batch
        self._decoder = BatchDecoder(manifest, max_payload_bytes=self.streaming.max_payload_bytes,
                                     avro_decoder=avro_decoder)

    @property
    def writer_id(self) -> str:
        """Names this query's idempotent writes: the query name and the id Spark keeps in the
        checkpoint. A new checkpoint (reset) numbers its batches from 0 again, so it must not
        share transaction ids with the old one, or Delta would skip its writes as replays."""
        if self._query_id is None:
            self._query_id = _checkpoint_id(self.spark, self.checkpoint) if self.checkpoint else ""
        name = self.streaming.query_name
        return f"{name}:{self._query_id}" if self._query_id else name

    def landing_path(self, target: str) -> str:
        return self.paths.table("landing", validate_name(target, "table"))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch_time = (_batch_timestamp(self.spark, self.checkpoint, batch_id)
                      if self.checkpoint else None)
        self.process(batch, batch_id, ingested_at=batch_time)

    def process(self, batch: DataFrame, batch_id: int,
                ingested_at: datetime | None = None) -> BatchMetrics:
        """Land one micro-batch; returns its metrics."""
        # aware: pyspark reads a naive datetime in the Python process's local time zone
        ingested_at = ingested_at or datetime.now(UTC)
        watermark = timedelta(minutes=self.streaming.dedupe_watermark_minutes)
        cached: list[DataFrame] = []  # released when the batch ends, whatever happens
        try:
            # The records' cache lives for one batch: stored uncompressed, it costs less CPU to
            # fill (the setting is read when a cache is filled, hence the block around the count).
            with temporary_conf(self.spark, UNCOMPRESSED_CACHE):
                records = batch.select("key", "value", "topic", "partition", "offset",
                                       "timestamp").persist()
                cached.append(records)
                per_topic = {r["topic"]: r["count"]
                             for r in records.groupBy("topic").count().collect()}
            routed = self._decoder(records, topics_present=set(per_topic))
            # Each group is decoded once, by one job, and kept as rows (a local checkpoint):
            # cheaper to fill than a columnar cache of ~25 columns, and what reads it later
            # plans a scan of rows instead of the decoding. Kept without the raw value (the
            # records' cache holds it): only quarantined rows need it back (:func:`_with_values`).
            # Checkpointed before the batch's stamp: literals of the batch in the decoding code
            # would make Spark generate and compile it for every batch. A local checkpoint lives
            # on the executors that made it: losing one mid-batch fails the batch, and the query
            # restarts from its checkpoint (exactly once still holds).
            decoded = []
            for group in routed.groups:
                rows = group.frame.drop("_kafka_value").localCheckpoint(eager=True)
                cached.append(rows)
                decoded.append(Group(group.routes, rows))
            stamped = stamp_batch(RoutedBatch(tuple(decoded), routed.unrouted),
                                  ingested_at=ingested_at, batch_id=batch_id)
            duplicates: dict[int, DataFrame] = {}
            for family in _dedupe_families(stamped.groups):
                found = self._duplicates([stamped.groups[i] for i in family], ingested_at,
                                         watermark, batch_id)
                cached.append(found)
                duplicates.update(dict.fromkeys(family, found))
            groups = [Group(g.routes, g.frame.transform(flag_duplicates(duplicates[i]))
                            .transform(flag_late(ingested_at, watermark,
                                                 whole_days=_dated(g.routes[0]))))
                      for i, g in enumerate(stamped.groups)]
            metrics = self._measure(sum(per_topic.values()),
                                    RoutedBatch(tuple(groups), stamped.unrouted),
                                    batch_id, ingested_at)
            metrics.check_conservation()
            self._write(groups, stamped.unrouted, records, batch_id, metrics)
        finally:
            for frame in cached:
                _release(frame)
        self._record(metrics)
        return metrics

    def _duplicates(self, family: list[Group], ingested_at: datetime, watermark: timedelta,
                    batch_id: int) -> DataFrame:
        """The duplicates' positions among groups deduplicated together (see
        :func:`_dedupe_families`), cached (small; used by every action)."""
        keys = family[0].routes[0].dedupe_columns
        if not keys:
            return rows_frame(self.spark, [], "_topic string, _partition int, _offset long")
        routes = tuple(r for g in family for r in g.routes)
        history = self._history(routes, ingested_at, watermark, batch_id)
        return duplicate_offsets(keys, history, _dedupe_rows(family, keys)).persist()

    def _history(self, routes: tuple[Route, ...], ingested_at: datetime, watermark: timedelta,
                 batch_id: int) -> DataFrame | None:
        """Dedupe keys landed within the watermark by *other* batches. What an earlier attempt
        of this very batch landed is not history: in Delta, the rows of this batch id stamped
        with this batch's time (a replay is stamped as its first attempt; the same batch id at
        another time is another query's batch, landed before a checkpoint reset); in Parquet,
        the rows of this batch id (the replay replaces their folder; another query's folder of
        that batch id stops the write, see :func:`write_parquet_batch`)."""
        keys = routes[0].dedupe_columns
        if not keys:
            return None
        own = F.col("_batch_id") == batch_id
        if self.streaming.landing_format == "delta":
            own = own & (F.col("_ingested_at") == F.lit(ingested_at).cast("timestamp"))
        frames = []
        for target in sorted({r.target for r in routes}):
            landed = read_landing(self.spark, self.landing_path(target),
                                  self.streaming.landing_format)
            if landed is not None and all(k in landed.columns for k in keys):
                frames.append(recent_keys(landed.where(~own), keys, ingested_at - watermark))
        if not frames:
            return None
        history = frames[0]
        for frame in frames[1:]:
            history = history.unionByName(frame)
        return history

    def _measure(self, records_in: int, routed: RoutedBatch, batch_id: int,
                 ingested_at: datetime) -> BatchMetrics:
        """Every figure of the batch in two jobs over the checkpointed groups: outcome counts per
        (route, reason), then the lag percentiles of the landed rows.

        A record's lag is ``_ingested_at - _event_time`` in seconds, at least 0: an event time
        after the batch's time (a producer clock running ahead) arrived without delay. Measured
        as it is, it would be negative and pull the percentiles below the real delays (two such
        records in three made the p50 hours below zero), hiding the lag the metric watches.
        A ``date`` event time (``_event_time`` holds its midnight) is measured from the day's end,
        as lateness is (:func:`~lakejobs.streaming.dedupe.flag_late`): the least lag the record
        can have had. From its midnight, a record of today ingested at 10:30 counted 10.5 hours
        late, and a date route's percentiles measured the time of day, not the delay."""
        outcome_columns = ["_route", "_error", "_duplicate", "_is_late", "_lag"]
        unrouted = routed.unrouted.select(
            F.lit(None).cast("string").alias("_route"), "_error",
            F.lit(False).alias("_duplicate"), F.lit(False).alias("_is_late"),
            F.lit(None).cast("double").alias("_lag"))
        outcomes = unrouted
        for group in routed.groups:
            event_s = F.col("_event_time").cast("double")
            if _dated(group.routes[0]):
                event_s = event_s + DAY_SECONDS
            raw_lag = F.col("_ingested_at").cast("double") - event_s
            # not greatest(): it skips nulls, and a record without an event time has no lag
            lag = F.when(raw_lag < 0, F.lit(0.0)).otherwise(raw_lag)
            outcomes = outcomes.unionByName(group.frame.select(
                "_route", "_error", "_duplicate", "_is_late", lag.alias("_lag")
            ).select(*outcome_columns))
        # not cached: the groups are rows in memory already, scanned once per aggregation
        return self._figures(outcomes, records_in, batch_id, ingested_at)

    def _figures(self, outcomes: DataFrame, records_in: int, batch_id: int,
                 ingested_at: datetime) -> BatchMetrics:
        rows = outcomes.groupBy("_route", "_error").agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("_duplicate").cast("int")).alias("duplicates"),
            F.sum((F.col("_is_late") & ~F.col("_duplicate")).cast("int")).alias("late"),
        ).collect()
        targets = {r.name: r.target for r in self.manifest.routes}
        landed_by_table: dict[str, int] = defaultdict(int)
        by_reason: dict[str, int] = defaultdict(int)
        duplicates = late = 0
        for row in rows:
            if row["_error"] is not None:
                by_reason[row["_error"]] += row["n"]
                continue
            duplicates += row["duplicates"] or 0
            late += row["late"] or 0
            landed_by_table[targets[row["_route"]]] += row["n"] - (row["duplicates"] or 0)
        p50 = p95 = None
        if landed_by_table:
            landed = outcomes.where(F.col("_error").isNull() & ~F.col("_duplicate"))
            quantiles = landed.agg(F.percentile_approx("_lag", [0.5, 0.95]).alias("p")).first()
            p50, p95 = quantiles["p"] or (None, None)
        return BatchMetrics(
            query=self.streaming.query_name, run_id=self.run_id, batch_id=batch_id,
            ingested_at=ingested_at, records_in=records_in,
            landed=sum(landed_by_table.values()), quarantined=sum(by_reason.values()),
            duplicates=duplicates, late=late, lag_p50_s=p50, lag_p95_s=p95,
            alert_rate=self.streaming.schema_failure_alert_rate,
            landed_by_table=dict(landed_by_table), quarantined_by_reason=dict(by_reason))

    def _write(self, groups: list[Group], unrouted: DataFrame, records: DataFrame,
               batch_id: int, metrics: BatchMetrics) -> None:
        query = self.writer_id
        by_target: dict[str, list[DataFrame]] = defaultdict(list)
        for group in groups:
            for target in sorted({r.target for r in group.routes}):
                if metrics.landed_by_table.get(target):
                    by_target[target].append(landing_rows(group, target))
        def land(target: str, frames: list[DataFrame]) -> None:
            rows = frames[0]
            for frame in frames[1:]:
                rows = rows.unionByName(frame, allowMissingColumns=True)
            path = self.landing_path(target)
            if self.streaming.landing_format == "delta":
                keys = tuple(k for r in self.manifest.routes if r.target == target
                             for k in r.dedupe_columns)
                append_once(rows, path, app_id=f"{query}:{target}", batch_id=batch_id,
                            properties=landing_properties(rows.columns, keys))
            else:
                write_parquet_batch(rows, path, batch_id=batch_id, writer_id=query)

        def reject() -> None:
            quarantined = quarantine_rows(unrouted)
            for group in groups:
                quarantined = quarantined.unionByName(
                    quarantine_rows(_with_values(group.frame, records)))
            append_once(quarantined,
                        self.paths.table("quarantine", self.streaming.quarantine_table),
                        app_id=f"{query}:quarantine", batch_id=batch_id)

        def metrics_row() -> None:
            append_once(rows_frame(self.spark, [metrics.row()], METRICS_SCHEMA),
                        self.paths.table("system", self.streaming.metrics_table),
                        app_id=f"{query}:metrics", batch_id=batch_id, partition_by=())

        # every table is written once per batch (idempotent per batch id), so all of them go side
        # by side: the landing writes keep the executors busy while the metrics row's commit is
        # driver work. The metrics are final before anything is written (conservation checked).
        writes = [partial(land, target, frames) for target, frames in sorted(by_target.items())]
        if metrics.quarantined:
            writes.append(reject)
        writes.append(metrics_row)
        with temporary_conf(self.spark, WRITE_CONF):
            run_side_by_side(writes, self.settings.spark.table_threads)

    def _record(self, metrics: BatchMetrics) -> None:
        """Log the batch's figures and append them to the run log, once the batch is written (the
        metrics table row is written with the batch, see :meth:`_write`). The row is written once
        per (query, batch id), as the batch's tables are: a batch replayed by a restarted run
        (another run id) keeps the row of the run that first wrote it."""
        self.totals.add(metrics)
        summary = metrics.summary()
        line = json.dumps(summary, sort_keys=True, default=str)
        if metrics.alert:
            log.error("schema-failure rate %.4f above %.4f in batch %d: %s",
                      metrics.schema_failure_rate, metrics.alert_rate, metrics.batch_id, line)
        else:
            log.info("batch %d: %s", metrics.batch_id, line)
        append_run(self.spark, self.paths.table("system", self.settings.tables.run_log),
                   RunRecord(job_name=f"{self.streaming.query_name}:batch",
                             run_id=f"{self.run_id}:{metrics.batch_id}",
                             env=self.settings.env, client=self.settings.lake.client,
                             stack=current_stack().name, started_at=metrics.ingested_at,
                             completed_at=datetime.now(UTC), status=SUCCEEDED,
                             rows_read=metrics.records_in, rows_written=metrics.landed,
                             rows_quarantined=metrics.quarantined, error_message=None,
                             summary=line),
                   app_id=f"{self.writer_id}:run_log", batch_id=metrics.batch_id)


def _dedupe_families(groups: tuple[Group, ...]) -> list[list[int]]:
    """The indexes of the groups deduplicated together: groups with the same dedupe columns that
    land in a common table (one change can arrive on two topics routed to one table, as when a
    connector moves to a new topic). Groups without dedupe columns stand alone."""
    families: list[list[int]] = []
    for index, group in enumerate(groups):
        keys = group.routes[0].dedupe_columns
        targets = {r.target for r in group.routes}
        joined = [f for f in families if keys and groups[f[0]].routes[0].dedupe_columns == keys
                  and targets & {r.target for i in f for r in groups[i].routes}]
        families = [f for f in families if f not in joined]
        families.append(sorted([index, *[i for f in joined for i in f]]))
    return families


def _dated(route: Route) -> bool:
    """Whether the route's event time is a date (late by whole days, see :func:`flag_late`)."""
    return any(c.name == route.event_time and c.type == "date" for c in route.columns)


def _dedupe_rows(family: list[Group], keys: tuple[str, ...]) -> DataFrame:
    """The dedupe keys, Kafka positions and errors of a family's records, in one frame. Keys
    whose types differ between the groups are compared as text."""
    columns = [*keys, *POSITION_COLUMNS, "_error"]
    frames = [g.frame.select(*[F.col(f"`{c}`") for c in columns]) for g in family]
    for key in keys:
        if len({f.schema[key].dataType for f in frames}) > 1:
            frames = [f.withColumn(key, F.col(f"`{key}`").cast("string")) for f in frames]
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    return rows


def _release(frame: DataFrame) -> None:
    """Free what a batch kept: a cached frame's cache, a local checkpoint's blocks (which Spark
    would otherwise free only once the JVM's garbage collector finds the frame unreachable)."""
    plan = frame._jdf.queryExecution().analyzed()
    if plan.nodeName() == "LogicalRDD":
        # what Spark's own cleaner calls: RDD.unpersist would log a warning per batch that the
        # checkpoint cannot be recomputed (nothing will read it again)
        frame.sparkSession.sparkContext._jsc.sc().unpersistRDD(plan.rdd().id(), False)
    else:
        frame.unpersist()


def _with_values(frame: DataFrame, records: DataFrame) -> DataFrame:
    """The quarantined rows of a decoded group with their raw Kafka value, from the batch's
    records (one row per record: topic, partition and offset identify it)."""
    position = [F.col(c).alias(RECORD_COLUMNS[c]) for c in ("topic", "partition", "offset",
                                                             "value")]
    return frame.where(F.col("_error").isNotNull()).join(
        records.select(*position), on=list(POSITION_COLUMNS), how="left")


def _avro_decoder(settings: Settings):
    from lakejobs.errors import ConfigError
    from lakejobs.streaming.avro_wire import decode_avro
    from lakejobs.streaming.schema_registry import ConfluentRegistry, GlueRegistry

    registry_settings = settings.streaming.schema_registry
    confluent = (ConfluentRegistry(registry_settings.url, auth_env=registry_settings.auth_env)
                 if registry_settings else None)
    glue: GlueRegistry | None = None

    def decoder(route: Route):
        nonlocal glue
        if route.format == "avro_confluent":
            if confluent is None:
                raise ConfigError(f"route {route.name}: streaming.schema_registry: expected a "
                                  "registry URL for avro_confluent routes")
            return decode_avro(route.columns, confluent, "confluent", key_fields=route.key)
        if glue is None:
            import boto3

            glue = GlueRegistry(boto3.client("glue", region_name=settings.secrets.region))
        return decode_avro(route.columns, glue, "glue", key_fields=route.key)

    return decoder


def _checkpoint_id(spark: SparkSession, checkpoint: str) -> str:
    """The query id Spark wrote to ``<checkpoint>/metadata`` when the query first started."""
    lines = read_lines(spark, f"{checkpoint}/metadata", 1)
    if not lines:
        raise CheckpointError(f"{checkpoint}/metadata: no query id (Spark writes it when the "
                              "query starts)")
    return str(json.loads(lines[0])["id"])


def _batch_timestamp(spark: SparkSession, checkpoint: str, batch_id: int) -> datetime | None:
    """The batch's time as Spark planned it, from the offset log (``<checkpoint>/offsets/N``: a
    version line, then the batch's metadata). Spark writes it before running the batch and reuses
    it when it replays the batch after a crash, so a replay stamps, deduplicates, flags late
    records and measures exactly as the interrupted attempt did (the clock would move the
    watermark). None when the log lacks it (the caller then takes the clock)."""
    lines = read_lines(spark, f"{checkpoint}/offsets/{batch_id}", 2) or []
    try:
        millis = int(json.loads(lines[1])["batchTimestampMs"])
    except (IndexError, KeyError, TypeError, ValueError) as e:
        log.warning("batch %d: no batch time in the offset log (%s): using the clock", batch_id, e)
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


# Spark 4.1's Kafka source fails the progress report of a batch replayed after a restart
# (SPARK-55271: its latest offsets are not known yet, metrics() dereferences them). The replayed
# batch is written and committed before the report, so restarting the query continues correctly.
_SPARK_55271 = ("IterableOps.map", "Option.get()")
_RESTARTS = 3


def _run_query(writer: DataStreamWriter) -> None:
    """Start the query and wait for it to end, restarting it after SPARK-55271 only."""
    from pyspark.errors import StreamingQueryException

    for attempt in range(_RESTARTS + 1):
        try:
            writer.start().awaitTermination()
            return
        except StreamingQueryException as e:
            if attempt == _RESTARTS or not all(s in str(e) for s in _SPARK_55271):
                raise
            log.warning("Kafka source progress report failed after a replayed batch "
                        "(SPARK-55271); restarting the query from its checkpoint")


def checkpoint_location(paths: LakePaths, query_name: str) -> str:
    """One checkpoint per query, in the system zone."""
    return f"{paths.zone('system')}/checkpoints/{validate_name(query_name, 'table')}"


def run(context: JobContext) -> JobResult:
    """Run the streaming query: until stopped (processing-time trigger) or until the records
    available at start are landed (``available_now``). With ``--records_path`` the records come
    from Parquet files of Kafka records (:mod:`lakejobs.streaming.record_files`) instead of the
    brokers: same decoding, routing, dedupe and writes."""
    streaming = context.settings.streaming
    if context.args.get("bootstrap_servers"):
        streaming = streaming.model_copy(
            update={"bootstrap_servers": context.args["bootstrap_servers"]})
    manifest_location = resolve_location(streaming.manifest)
    manifest = load_manifest(manifest_location)
    topics = streaming.topics or manifest.topics
    if not streaming.topic_pattern:
        require_routes(manifest, topics, manifest_location)
    records_path = context.args.get("records_path")
    checkpoint = checkpoint_location(context.paths, streaming.query_name)
    sink = LandingSink(context.spark, context.settings, context.paths, manifest, context.run_id,
                       checkpoint=checkpoint)
    if records_path:
        log.info("reading Kafka records from the files under %s", records_path)
        source = read_record_files(context.spark, records_path)
    else:
        options = source_options(streaming, topics, region=context.settings.secrets.region)
        log.info("reading Kafka with %s", redacted(options))
        source = read_kafka_stream(context.spark, options)
    writer = (
        source.writeStream
        .queryName(streaming.query_name)
        .option("checkpointLocation", checkpoint)
        .foreachBatch(sink)
    )
    if streaming.trigger == "available_now":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=streaming.trigger_interval)
    _run_query(writer)
    totals = sink.totals
    return JobResult(
        rows_read=totals.records_in, rows_written=totals.landed,
        rows_quarantined=totals.quarantined,
        summary={"batches": totals.batches, "duplicates": totals.duplicates,
                 "late": totals.late, "alerts": totals.alerts,
                 "quarantined_by_reason": dict(totals.by_reason)})
